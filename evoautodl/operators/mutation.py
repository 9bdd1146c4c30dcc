"""Type-aware mutation in the unit-cube genome (pure functions, explicit rng).

Per-type dispatch, as pymoo's mixed-variable mating does::

    mutate(space, genome, rng):
        g <- copy of genome (repaired first if it has NaN / out-of-range genes)
        C <- mutable genes (more than one value), active ones only by default
        M <- each gene of C with probability rate (default 1 / |C|);
             if M is empty, one gene of C at random (ensure_change)
        for i in M:
            float:       Gaussian step N(0, sigma) reflected into [0, 1],
                         or Deb's bounded polynomial mutation (eta)
            int:         the same step on the gene; when it stays on the same
                         integer, one integer step in the step's direction
            ordinal:     step to an adjacent level ("neighbour") or resample
            categorical: resample another choice uniformly
        with probability branch_rate: branch_flip (activate/deactivate a branch)
        return space.repair(g, rng)

References: Deb & Goyal, "A combined genetic adaptive search (GeneAS)", 1996
(polynomial mutation); pymoo's mixed-variable operators (Blank & Deb, 2020).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from evoautodl.operators.base import as_gene_list, as_genome, declare, gene_groups
from evoautodl.space import GeneKind, SearchSpace

__all__ = ["mutate", "branch_flip", "gaussian_step", "polynomial_step"]

_FLOAT, _INT, _CAT, _ORD = int(GeneKind.FLOAT), int(GeneKind.INT), int(GeneKind.CATEGORICAL), int(GeneKind.ORDINAL)


def _reflect(x: float) -> float:
    """Reflect a real number into [0, 1] (mirror at both ends)."""
    if 0.0 <= x <= 1.0:
        return x
    x = abs(x) % 2.0
    return 2.0 - x if x > 1.0 else x


def gaussian_step(x: float, rng: np.random.Generator, sigma: float) -> float:
    """``x + N(0, sigma)`` reflected into [0, 1]."""
    return _reflect(x + sigma * float(rng.standard_normal()))


def polynomial_step(x: float, rng: np.random.Generator, eta: float) -> float:
    """Deb's bounded polynomial mutation of ``x`` on [0, 1] (distribution index ``eta``)."""
    r = float(rng.random())
    power = 1.0 / (eta + 1.0)
    if r < 0.5:
        val = 2.0 * r + (1.0 - 2.0 * r) * (1.0 - x) ** (eta + 1.0)
        dq = val**power - 1.0
    else:
        val = 2.0 * (1.0 - r) + 2.0 * (r - 0.5) * x ** (eta + 1.0)
        dq = 1.0 - val**power
    return min(1.0, max(0.0, x + dq))


def _other_level(level: int, k: int, rng: np.random.Generator) -> int:
    other = int(rng.random() * (k - 1))
    return other + 1 if other >= level else other


def _mutate_gene(
    space: SearchSpace, i: int, kind: int, x: float, k: int, rng: np.random.Generator,
    float_op: str, sigma: float, eta: float, ordinal: str,
) -> float:
    if kind in (_FLOAT, _INT):
        y = gaussian_step(x, rng, sigma) if float_op == "gaussian" else polynomial_step(x, rng, eta)
        if kind == _FLOAT:
            return y
        old, new = space.decode_gene(i, x), space.decode_gene(i, y)
        if new != old:
            return space.encode_gene(i, new)
        lo, hi = int(space.hyperparameters[i].lower), int(space.hyperparameters[i].upper)
        up = y > x if y != x else rng.random() < 0.5
        if (up and old >= hi) or (not up and old <= lo):
            up = not up
        return space.encode_gene(i, old + 1 if up else old - 1)
    level = min(int(x * k), k - 1)
    if kind == _ORD and ordinal == "neighbour":
        if level == 0:
            new_level = 1
        elif level == k - 1:
            new_level = k - 2
        else:
            new_level = level + (1 if rng.random() < 0.5 else -1)
    else:
        new_level = _other_level(level, k, rng)
    return (new_level + 0.5) / k


@declare(arity=1, n_children=1, kind="mutation")
def mutate(
    space: SearchSpace,
    genome: Any,
    rng: np.random.Generator,
    *,
    rate: float | None = None,
    float_op: Literal["gaussian", "polynomial"] = "gaussian",
    sigma: float = 0.1,
    eta: float = 20.0,
    ordinal: Literal["neighbour", "resample"] = "neighbour",
    branch_rate: float = 0.0,
    mutate_inactive: bool = False,
    ensure_change: bool = True,
) -> np.ndarray:
    """A mutated, repaired copy of ``genome`` (see the module docstring).

    Args:
        space: the search space.
        genome: parent genome (any sequence of dim floats; left untouched).
        rng: numpy Generator, the only source of randomness.
        rate: per-gene mutation probability (default 1 / number of candidate genes).
        float_op: ``"gaussian"`` (sigma, in unit-cube units) or ``"polynomial"`` (eta).
        sigma: standard deviation of the Gaussian step (unit cube).
        eta: distribution index of polynomial mutation (larger = smaller steps).
        ordinal: ``"neighbour"`` (adjacent level) or ``"resample"``.
        branch_rate: probability of an additional :func:`branch_flip` move.
        mutate_inactive: also mutate inactive genes (they drift silently).
        ensure_change: mutate one gene when the rate selected none.
    """
    if float_op not in ("gaussian", "polynomial"):
        raise ValueError(f"float_op must be 'gaussian' or 'polynomial', got {float_op!r}")
    if ordinal not in ("neighbour", "resample"):
        raise ValueError(f"ordinal must be 'neighbour' or 'resample', got {ordinal!r}")
    genes = as_gene_list(space, genome)
    if not all(0.0 <= x <= 1.0 for x in genes):  # NaN fails too
        genes = space.repair_genes(genes, rng).tolist()
    groups = gene_groups(space)
    cands = groups.mutable_list
    if groups.has_conditions and not mutate_inactive:
        vals = space.decode_activity(genes)
        cands = [i for i in cands if vals[i] is not None]
    n = len(cands)
    if n:
        p = 1.0 / n if rate is None else rate
        draws = rng.random(n).tolist()
        chosen = [i for i, u in zip(cands, draws) if u < p]
        if not chosen and ensure_change:
            chosen = [cands[int(rng.random() * n)]]
        kinds, n_levels = groups.kinds_list, groups.n_levels_list
        for i in chosen:
            genes[i] = _mutate_gene(space, i, kinds[i], genes[i], n_levels[i], rng, float_op, sigma, eta, ordinal)
    if branch_rate > 0.0 and rng.random() < branch_rate:
        return space.repair(_flip(space, np.array(genes), rng), rng)
    return space.repair_genes(genes, rng)


@declare(arity=1, n_children=1, kind="mutation")
def branch_flip(space: SearchSpace, genome: Any, rng: np.random.Generator, *, tries: int = 8) -> np.ndarray:
    """Activate or deactivate a conditional branch.

    Picks an active gene some condition depends on and gives it a new value
    that changes which of its descendants are active (all other levels of a
    discrete gene in random order, or ``tries`` random values of a numeric
    one). Returns a repaired copy; unchanged (but repaired) when no such move
    exists.
    """
    g = space.repair(as_genome(space, genome), rng)
    return space.repair(_flip(space, g, rng, tries), rng)


def _flip(space: SearchSpace, g: np.ndarray, rng: np.random.Generator, tries: int = 8) -> np.ndarray:
    groups = gene_groups(space)
    if not groups.has_conditions:
        return g
    active = space.active_mask(g)
    cands = groups.branch[active[groups.branch]]
    if not len(cands):
        return g
    i = int(cands[int(rng.random() * len(cands))])
    desc = list(space.descendants[i])
    before = active[desc]
    k = int(groups.n_levels[i])
    if groups.kinds[i] in (_CAT, _ORD) or (groups.kinds[i] == _INT and k <= tries):
        level = min(int(g[i] * k), k - 1) if groups.kinds[i] != _INT else -1
        options = [j for j in rng.permutation(k).tolist() if j != level]
        if groups.kinds[i] == _INT:
            lo = int(space.hyperparameters[i].lower)
            genes = [space.encode_gene(i, lo + j) for j in options]
        else:
            genes = [(j + 0.5) / k for j in options]
    else:
        genes = rng.random(tries).tolist()
    for x in genes:
        h = g.copy()
        h[i] = x
        if (space.active_mask(h)[desc] != before).any():
            return h
    return g
