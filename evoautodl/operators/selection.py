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
by crowding distance (the crowded-comparison operator of NSGA-II); the
non-dominated sort itself lives in :mod:`evoautodl.operators.pareto`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from evoautodl.operators.base import declare
from evoautodl.operators.pareto import as_objectives, crowding_distance, nsga2_select, pareto_ranks

__all__ = [
    "as_objectives",
    "objectives_of",
    "pareto_ranks",
    "crowding_distance",
    "tournament",
    "truncation",
    "nsga2_select",
]


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


_SEQUENCE = (list, tuple)
_NUMBER = (float, int)
#: tournaments of one objective with at most this many entrants in all run in plain Python (faster than numpy)
_SMALL_TOURNAMENT = 256


@declare(arity=0, n_children=0, kind="selection")
def tournament(objectives: Any, k: int, rng: np.random.Generator, *, size: int = 3) -> np.ndarray:
    """``k`` winners of tournaments among ``size`` individuals drawn uniformly with replacement.

    Ties go to the lower index. Multi-objective: crowded comparison.
    """
    plain = isinstance(objectives, _SEQUENCE) and (not objectives or isinstance(objectives[0], _NUMBER))
    f = None if plain else np.asarray(objectives, dtype=np.float64)
    n = len(objectives) if plain else len(f)  # type: ignore[arg-type]
    if n == 0 or k < 0 or size < 1:
        raise ValueError(f"tournament needs a non-empty population, k >= 0, size >= 1 (n={n}, k={k}, size={size})")
    single = plain or f.ndim == 1 or (f.ndim == 2 and f.shape[1] == 1)  # type: ignore[union-attr]
    if single and k * size <= _SMALL_TOURNAMENT:
        values = list(objectives) if plain else f.reshape(n).tolist()  # type: ignore[union-attr]
        inf = math.inf
        winners = []
        for row in rng.integers(0, n, size=(k, size)).tolist():
            best = row[0]
            best_v = values[best]
            if best_v != best_v:
                best_v = inf  # NaN (failed) counts as +inf
            for j in range(1, size):
                i = row[j]
                v = values[i]
                if v != v:
                    v = inf
                if v < best_v or (v == best_v and i < best):  # ties: the lower index
                    best, best_v = i, v
            winners.append(best)
        return np.array(winners, dtype=np.int64)
    f = np.asarray(objectives, dtype=np.float64)
    keys = _sort_keys(as_objectives(f))
    entrants = rng.integers(0, n, size=(k, size))
    best = np.lexsort((entrants, keys[entrants]), axis=1)[:, 0] if k else np.empty(0, dtype=np.int64)
    return entrants[np.arange(k), best].astype(np.int64)


@declare(arity=0, n_children=0, kind="selection")
def truncation(objectives: Any, k: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Indices of the ``k`` best individuals, best first (stable: ties keep population order).

    Deterministic: ``rng`` is accepted (the selection calling convention) and never used.
    """
    f = as_objectives(objectives)
    if not 0 <= k <= len(f):
        raise ValueError(f"truncation: k={k} must be in [0, {len(f)}]")
    return np.argsort(_sort_keys(f), kind="stable")[:k].astype(np.int64)
