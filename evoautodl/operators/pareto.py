"""Pareto dominance for minimised objectives: the one non-dominated sort of evoautodl.

Everything that ranks by dominance calls these functions: NSGA-II's
environmental selection and crowded tournaments (:mod:`.selection`), the
algorithms' Pareto fronts, and the analysis of run directories (a Pareto
front of logged trials is ``non_dominated(values)``).

Conventions: ``objectives`` is an array of shape ``(n,)`` or ``(n, m)``, all
objectives minimised; NaN counts as +inf (a failed trial is dominated by
every finite one). ``a`` dominates ``b`` when ``a <= b`` in every objective
and ``a < b`` in at least one, so equal rows never dominate each other.

Fast non-dominated sorting (Deb et al. 2002)::

    D[i, j] <- i dominates j                         # computed in row blocks
    count[j] <- number of i with D[i, j]
    front <- {j : count[j] = 0};  rank <- 0
    while front not empty:
        ranks[front] <- rank
        count <- count - sum of D[front, :];  front <- the rows whose count fell to 0
        rank <- rank + 1

Crowding distance and the NSGA-II selection follow the same paper: whole
fronts in rank order, the last front cut by decreasing crowding distance
(boundary points first, ties by index).

Reference: K. Deb, A. Pratap, S. Agarwal & T. Meyarivan, "A fast and elitist
multiobjective genetic algorithm: NSGA-II", IEEE TEVC 6(2), 2002.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evoautodl.operators.base import declare

__all__ = ["as_objectives", "crowding_distance", "dominates", "non_dominated", "nsga2_select", "pareto_ranks"]

#: rows per block when comparing every row with every other (bounds memory at ~block * n * m bytes)
_BLOCK_CELLS = 4_000_000


def as_objectives(objectives: Any) -> np.ndarray:
    """``objectives`` as a new float (n, m) array; NaN -> +inf."""
    f = np.array(objectives, dtype=np.float64)
    if f.ndim == 1:
        f = f[:, None]
    if f.ndim != 2:
        raise ValueError(f"objectives must have shape (n,) or (n, m), got {f.shape}")
    f[np.isnan(f)] = np.inf
    return f


def dominates(a: Any, b: Any) -> bool:
    """True when objective vector ``a`` Pareto-dominates ``b`` (minimisation)."""
    fa, fb = as_objectives([a])[0], as_objectives([b])[0]
    if fa.shape != fb.shape:
        raise ValueError(f"dominates: vectors of different lengths {fa.shape} and {fb.shape}")
    return bool((fa <= fb).all() and (fa < fb).any())


def _blocks(n: int, m: int) -> range:
    step = max(1, _BLOCK_CELLS // max(1, n * m))
    return range(0, n, step)


def _dominates(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``d[i, j]``: row ``a[i]`` dominates row ``b[j]`` (no worse in every objective, better in at least one).

    Built one objective at a time: numpy reduces a short last axis (``.all(axis=2)`` over the
    objectives) element by element, several times slower than these whole-matrix operations.
    """
    m = a.shape[1]
    if m == 0:
        return np.zeros((len(a), len(b)), dtype=bool)
    le = a[:, None, 0] <= b[None, :, 0]
    lt = a[:, None, 0] < b[None, :, 0]
    for j in range(1, m):
        col_a, col_b = a[:, None, j], b[None, :, j]
        le &= col_a <= col_b
        lt |= col_a < col_b
    return le & lt


def non_dominated(objectives: Any) -> np.ndarray:
    """Boolean mask of the rows no other row dominates (the first front); memory bounded for large n."""
    f = as_objectives(objectives)
    n, m = f.shape
    if n == 0:
        return np.zeros(0, dtype=bool)
    if m == 1:
        return f[:, 0] == f[:, 0].min()
    keep = np.ones(n, dtype=bool)
    for start in _blocks(n, m):
        block = f[start:start + _blocks(n, m).step]
        keep[start:start + len(block)] = ~_dominates(f, block).any(axis=0)  # no row dominates block row b
    return keep


def pareto_ranks(objectives: Any) -> np.ndarray:
    """Non-domination rank of each row (0 = Pareto front), by fast non-dominated sorting."""
    f = as_objectives(objectives)
    n, m = f.shape
    if m == 1:
        _, inv = np.unique(f[:, 0], return_inverse=True)
        return inv.astype(np.int64).reshape(n)
    dominates_ = np.zeros((n, n), dtype=bool)  # dominates_[i, j]: i dominates j
    for start in _blocks(n, m):
        block = f[start:start + _blocks(n, m).step]
        dominates_[start:start + len(block)] = _dominates(block, f)
    ranks = np.zeros(n, dtype=np.int64)
    counts = dominates_.sum(axis=0)
    front = np.flatnonzero(counts == 0)
    rank = 0
    while front.size:
        ranks[front] = rank
        counts = counts - dominates_[front].sum(axis=0)
        counts[front] = -1
        front = np.flatnonzero(counts == 0)
        rank += 1
    return ranks


def crowding_distance(objectives: Any) -> np.ndarray:
    """NSGA-II crowding distance of each row within the given set (boundary points: inf)."""
    f = as_objectives(objectives)
    n, m = f.shape
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(m):
        order = np.argsort(f[:, j], kind="stable")
        col = f[order, j]
        dist[order[0]] = dist[order[-1]] = np.inf
        if not (np.isfinite(col[0]) and np.isfinite(col[-1])):
            continue  # failed (inf) members: boundaries only, no interior spacing
        span = col[-1] - col[0]
        if span <= 0:
            continue
        dist[order[1:-1]] += (col[2:] - col[:-2]) / span
    return dist


@declare(arity=0, n_children=0, kind="selection")
def nsga2_select(objectives: Any, k: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """NSGA-II environmental selection: indices of ``k`` rows, whole fronts first, the last cut by crowding.

    Deterministic: ``rng`` is accepted (the selection calling convention) and never used.
    """
    f = as_objectives(objectives)
    if not 0 <= k <= len(f):
        raise ValueError(f"nsga2_select: k={k} must be in [0, {len(f)}]")
    ranks = pareto_ranks(f)
    chosen: list[int] = []
    for r in np.unique(ranks):
        members = np.flatnonzero(ranks == r)
        room = k - len(chosen)
        if room <= 0:
            break
        if len(members) <= room:
            chosen.extend(members.tolist())
            continue
        cd = crowding_distance(f[members])
        order = np.lexsort((members, -cd))  # larger crowding first, ties by index
        chosen.extend(members[order[:room]].tolist())
    return np.array(chosen, dtype=np.int64)
