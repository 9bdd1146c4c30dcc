"""Selection on objective arrays (all objectives MINIMISED); returns indices.

Convention: selection functions take ``objectives``, an array of shape ``(n,)``
(one objective) or ``(n, m)``, and return a numpy array of indices into the
population, so they work for genomes, records or DEAP individuals alike. NaN
objectives (failed trials) count as +inf (worst). For a list of DEAP
individuals use :func:`objectives_of` (it turns any DEAP fitness, whatever its
weights, into minimised objectives)::

    idx = tournament(objectives_of(pop), k=len(pop), rng=rng)
    parents = [pop[i] for i in idx]

With several objectives, tournament and truncation rank by Pareto front, then
by crowding distance (the crowded-comparison operator of NSGA-II).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from deap import base, tools

from evoautodl.operators.base import declare

__all__ = [
    "as_objectives",
    "objectives_of",
    "pareto_ranks",
    "crowding_distance",
    "tournament",
    "truncation",
    "nsga2_select",
]


def as_objectives(objectives: Any) -> np.ndarray:
    """``objectives`` as a float (n, m) array; NaN -> +inf."""
    f = np.array(objectives, dtype=np.float64)
    if f.ndim == 1:
        f = f[:, None]
    if f.ndim != 2:
        raise ValueError(f"objectives must have shape (n,) or (n, m), got {f.shape}")
    f[np.isnan(f)] = np.inf
    return f


def objectives_of(individuals: Sequence[Any]) -> np.ndarray:
    """Minimised objectives (n, m) of DEAP individuals: ``-fitness.wvalues``; invalid fitness -> +inf."""
    if not individuals:
        return np.empty((0, 1))
    m = max(len(ind.fitness.weights) for ind in individuals)
    out = np.full((len(individuals), m), np.inf)
    for r, ind in enumerate(individuals):
        if ind.fitness.valid:
            out[r] = [-w for w in ind.fitness.wvalues]
    out[np.isnan(out)] = np.inf
    return out


def pareto_ranks(objectives: Any) -> np.ndarray:
    """Non-domination rank of each row (0 = Pareto front), by fast non-dominated sorting."""
    f = as_objectives(objectives)
    n = len(f)
    ranks = np.zeros(n, dtype=np.int64)
    if f.shape[1] == 1:
        _, inv = np.unique(f[:, 0], return_inverse=True)
        return inv.astype(np.int64)
    le = (f[:, None, :] <= f[None, :, :]).all(axis=2)
    lt = (f[:, None, :] < f[None, :, :]).any(axis=2)
    dominates = le & lt  # dominates[i, j]: i dominates j
    counts = dominates.sum(axis=0)
    front = np.flatnonzero(counts == 0)
    rank = 0
    while front.size:
        ranks[front] = rank
        counts = counts - dominates[front].sum(axis=0)
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


def _sort_keys(f: np.ndarray) -> np.ndarray:
    """Lexicographic key per row, smaller is better: objective, or (rank, -crowding)."""
    if f.shape[1] == 1:
        return f[:, 0]
    ranks = pareto_ranks(f)
    crowd = np.zeros(len(f))
    for r in np.unique(ranks):
        members = np.flatnonzero(ranks == r)
        crowd[members] = crowding_distance(f[members])
    # rank dominates; within a rank, larger crowding is better
    finite = np.where(np.isinf(crowd), 0.0, crowd)
    return ranks - np.where(np.isinf(crowd), 0.999, finite / (1.0 + finite) * 0.998)


@declare(arity=0, n_children=0, kind="selection")
def tournament(objectives: Any, k: int, rng: np.random.Generator, *, size: int = 3) -> np.ndarray:
    """``k`` winners of tournaments among ``size`` individuals drawn uniformly with replacement.

    Ties go to the lower index. Multi-objective: crowded comparison.
    """
    f = as_objectives(objectives)
    n = len(f)
    if n == 0 or k < 0 or size < 1:
        raise ValueError(f"tournament needs a non-empty population, k >= 0, size >= 1 (n={n}, k={k}, size={size})")
    keys = _sort_keys(f)
    entrants = rng.integers(0, n, size=(k, size))
    best = np.lexsort((entrants, keys[entrants]), axis=1)[:, 0] if k else np.empty(0, dtype=np.int64)
    return entrants[np.arange(k), best].astype(np.int64)


@declare(arity=0, n_children=0, kind="selection")
def truncation(objectives: Any, k: int) -> np.ndarray:
    """Indices of the ``k`` best individuals, best first (stable: ties keep population order)."""
    f = as_objectives(objectives)
    if not 0 <= k <= len(f):
        raise ValueError(f"truncation: k={k} must be in [0, {len(f)}]")
    return np.argsort(_sort_keys(f), kind="stable")[:k].astype(np.int64)


class _MinFitness(base.Fitness):
    weights = (-1.0,)

    def __init__(self, values: Sequence[float]):
        self.weights = (-1.0,) * len(values)
        super().__init__(values)


class _Row:
    __slots__ = ("fitness", "index")

    def __init__(self, index: int, values: Sequence[float]):
        self.index = index
        self.fitness = _MinFitness(values)


@declare(arity=0, n_children=0, kind="selection")
def nsga2_select(objectives: Any, k: int) -> np.ndarray:
    """NSGA-II environmental selection of ``k`` indices (via ``deap.tools.selNSGA2``, log-time sort).

    Whole Pareto fronts first, the last front cut by crowding distance.
    Objectives are minimised; +inf (failed) rows are replaced by a large
    finite value so that DEAP's crowding arithmetic stays finite.
    """
    f = as_objectives(objectives)
    if not 0 <= k <= len(f):
        raise ValueError(f"nsga2_select: k={k} must be in [0, {len(f)}]")
    finite = f[np.isfinite(f)]
    big = (np.abs(finite).max() + 1.0) * 10.0 if finite.size else 1.0
    f = np.where(np.isfinite(f), f, big)
    rows = [_Row(i, tuple(r)) for i, r in enumerate(f.tolist())]
    chosen = tools.selNSGA2(rows, k, nd="log")  # Fortin et al. 2013: O(N log^(M-1) N) sorting
    return np.array([r.index for r in chosen], dtype=np.int64)
