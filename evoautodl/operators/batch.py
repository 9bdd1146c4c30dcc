"""Many children at once: condition-aware uniform crossover + type-aware Gaussian mutation on arrays.

An algorithm that breeds many candidates per new configuration (``adaptive_mf``
pre-screens 24 with its model) spends most of its ask on calling the
per-genome operators once per child. :func:`breed` produces ``n`` children in
one pass with the rules of :func:`~evoautodl.operators.crossover.uniform_crossover`
(its first child) followed by :func:`~evoautodl.operators.mutation.mutate`
(Gaussian steps, ``ensure_change``, no branch flips, active genes only), its
random draws made for all children at once. Pseudocode (row ``i``)::

    child <- first[i]
    if cross[i]:                      # uniform crossover, first child
        swap_j ~ U < swap_prob per gene; a branch gene whose value differs
        between the parents carries its swap decision to its descendants
        child_j <- second[i]_j where swap_j
    C <- mutable genes of child, active ones only
    M <- each gene of C with probability rate (None: 1/|C|); if M is empty,
         one gene of C at random
    float gene: x + N(0, sigma) reflected into [0, 1]
    int gene:   the same step; when it stays on the same integer, one integer
                step in the step's direction (reversed at a bound)
    ordinal:    a neighbouring level ("neighbour") or another level ("resample")
    categorical: another level, uniformly
    child <- repair (forbidden clauses; every gene is already in range and snapped)

The children follow the same distribution as the per-genome operators'; the
random stream differs (draws are made per batch, not per child), and a
crossover child that violates a forbidden clause is repaired once, after its
mutation, instead of also in between. Parents must be repaired genomes. Pure:
no state, ``rng`` is the only source of randomness.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from evoautodl.operators.base import gene_groups
from evoautodl.space import GeneKind, SearchSpace

__all__ = ["breed"]

_FLOAT, _INT, _CAT, _ORD = int(GeneKind.FLOAT), int(GeneKind.INT), int(GeneKind.CATEGORICAL), int(GeneKind.ORDINAL)


def _reflect(x: np.ndarray) -> np.ndarray:
    """Reflect real numbers into [0, 1] (mirror at both ends), as the per-genome mutation does."""
    inside = (x >= 0.0) & (x <= 1.0)
    y = np.abs(x) % 2.0
    y = np.where(y > 1.0, 2.0 - y, y)
    return np.where(inside, x, y)


def breed(
    space: SearchSpace,
    first: np.ndarray,
    second: np.ndarray,
    cross: np.ndarray,
    rng: np.random.Generator,
    *,
    swap_prob: float = 0.5,
    rate: float | None = None,
    sigma: float = 0.1,
    ordinal: Literal["neighbour", "resample"] = "neighbour",
) -> np.ndarray:
    """``n`` children (rows): crossover of ``first[i]`` and ``second[i]`` where ``cross[i]``, then mutation.

    Args:
        space: the search space.
        first: (n, dim) repaired genomes, the first parent of each child (the only one where not crossed).
        second: (n, dim) repaired genomes, the second parent (read where ``cross``).
        cross: (n,) booleans: child ``i`` is a crossover of its two parents.
        rng: numpy Generator, the only source of randomness.
        swap_prob: per-gene probability that the crossover child takes the second parent's gene.
        rate: per-gene mutation probability (None: 1 / number of active mutable genes).
        sigma: standard deviation of the Gaussian step (unit cube).
        ordinal: ``"neighbour"`` (adjacent level) or ``"resample"`` for ordinal genes.

    Returns:
        (n, dim) repaired genomes.
    """
    if ordinal not in ("neighbour", "resample"):
        raise ValueError(f"ordinal must be 'neighbour' or 'resample', got {ordinal!r}")
    a = np.array(first, dtype=np.float64).reshape(-1, space.dim)
    b = np.asarray(second, dtype=np.float64).reshape(-1, space.dim)
    cross = np.asarray(cross, dtype=bool).reshape(-1)
    n, d = a.shape
    if b.shape != a.shape or cross.shape != (n,):
        raise ValueError(f"breed: first {a.shape}, second {b.shape} and cross {cross.shape} do not match")
    if n == 0:
        return a
    groups = gene_groups(space)
    # ---- crossover (first child)
    swap = (rng.random((n, d)) < swap_prob) & cross[:, None]
    if groups.has_conditions and cross.any():
        rows = np.flatnonzero(cross)
        ra, rb = a[rows], b[rows]
        act_a, act_b = space.active_masks(ra), space.active_masks(rb)
        # a branch gene's value differs: active in one parent only, or active in both with different genes
        differs = (act_a != act_b) | (act_a & act_b & (ra != rb))
        for i, desc in groups.branch_descendants:  # in gene order, as the per-genome crossover
            hit = rows[differs[:, i]]
            if len(hit):
                swap[np.ix_(hit, desc)] = swap[hit, i][:, None]
    child = np.where(swap, b, a)
    # ---- mutation: which genes
    cand = np.broadcast_to(groups.mutable_mask, (n, d))
    if groups.has_conditions:
        cand = cand & space.active_masks(child)
    n_cand = cand.sum(axis=1)
    p = (1.0 / np.maximum(n_cand, 1))[:, None] if rate is None else rate
    chosen = cand & (rng.random((n, d)) < p)
    pick = rng.random(n)  # ensure_change: the position of the one gene among the candidates
    for r in np.flatnonzero(~chosen.any(axis=1) & (n_cand > 0)).tolist():
        chosen[r, np.flatnonzero(cand[r])[int(pick[r] * n_cand[r])]] = True
    # ---- mutation: new genes
    kinds = groups.kinds
    step = sigma * rng.standard_normal((n, d))
    coin = rng.random((n, d))
    numeric = chosen & ((kinds == _FLOAT) | (kinds == _INT))
    moved = np.where(numeric, _reflect(child + step), child)
    out = np.where(chosen & (kinds == _FLOAT), moved, child)
    k = np.asarray(groups.n_levels, dtype=np.float64)
    discrete = chosen & ((kinds == _CAT) | (kinds == _ORD))
    if discrete.any():
        level = np.minimum(np.floor(child * k), k - 1)
        other = np.floor(coin * (k - 1))
        other = np.where(other >= level, other + 1, other)  # another level, uniformly
        if ordinal == "neighbour":
            nb = np.where(coin < 0.5, level + 1, level - 1)
            nb = np.where(level == 0, 1, np.where(level == k - 1, k - 2, nb))
            other = np.where(kinds == _ORD, nb, other)
        out = np.where(discrete, (other + 0.5) / np.maximum(k, 1), out)
    ints = chosen & (kinds == _INT)
    if ints.any():
        for i in np.flatnonzero(ints.any(axis=0)).tolist():
            r = np.flatnonzero(ints[:, i])
            out[r, i] = _int_steps(space, i, child[r, i], moved[r, i], coin[r, i])
    if not space.forbidden_clauses:
        return out
    return np.array([space.repair_snapped(row, rng) for row in out.tolist()])


def _int_steps(space: SearchSpace, i: int, x: np.ndarray, y: np.ndarray, coin: np.ndarray) -> np.ndarray:
    """Integer gene ``i`` moved from ``x`` towards ``y``: at least one integer step (the per-genome rule); the
    new genes are the codec's bin centres, exactly those a repair would give."""
    hp = space.hyperparameters[i]
    ilo, ihi = int(hp.lower), int(hp.upper)
    old, new = space.decode_int_genes(i, x), space.decode_int_genes(i, y)
    up = np.where(y != x, y > x, coin < 0.5)
    up = np.where(up, old < ihi, old <= ilo)  # the step is reversed at a bound
    return space.encode_int_genes(i, np.where(new != old, new, np.where(up, old + 1, old - 1)))
