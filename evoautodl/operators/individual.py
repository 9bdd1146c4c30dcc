"""DEAP-compatible individuals without ``deap.creator`` globals.

:class:`Individual` is a ``list`` of floats (the genome) with a ``fitness``
attribute; :class:`Fitness` is a ``deap.base.Fitness`` whose weights are given
per instance (minimisation of one objective by default). Both are defined at
module level, so they pickle across MPI ranks and processes, and they survive
``copy.deepcopy`` (DEAP's ``toolbox.clone``) with their weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from deap import base

__all__ = ["Fitness", "Individual", "minimise"]


def minimise(n_objectives: int = 1) -> tuple[float, ...]:
    """Weights that minimise ``n_objectives`` objectives."""
    if n_objectives < 1:
        raise ValueError(f"n_objectives must be >= 1, got {n_objectives}")
    return (-1.0,) * n_objectives


class Fitness(base.Fitness):
    """A DEAP fitness with per-instance weights (default: minimise one objective).

    Args:
        values: initial objective values (empty = invalid fitness).
        weights: one weight per objective; negative minimises, positive maximises.
    """

    weights: tuple[float, ...] = (-1.0,)

    def __init__(self, values: Sequence[float] = (), weights: Iterable[float] | None = None):
        if weights is not None:
            w = tuple(float(x) for x in weights)
            if not w or any(x == 0.0 for x in w):
                raise ValueError(f"fitness weights must be a non-empty sequence of non-zero numbers, got {w}")
            self.weights = w
        super().__init__(tuple(values))

    def __deepcopy__(self, memo: dict[int, Any]) -> Fitness:
        copy_ = self.__class__(weights=self.weights)
        copy_.wvalues = self.wvalues
        return copy_

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_fitness, (self.__class__, self.weights, self.wvalues))


def _rebuild_fitness(cls: type[Fitness], weights: tuple[float, ...], wvalues: tuple[float, ...]) -> Fitness:
    fit = cls(weights=weights)
    fit.wvalues = wvalues
    return fit


class Individual(list):  # type: ignore[type-arg]
    """A genome (list of floats in the unit cube) with a DEAP ``fitness``.

    Args:
        genes: the genome (any sequence of numbers).
        weights: fitness weights (default: minimise one objective).
    """

    def __init__(self, genes: Iterable[float] = (), weights: Iterable[float] | None = None):
        super().__init__(float(x) for x in genes)
        self.fitness = Fitness(weights=weights)

    @property
    def genome(self) -> np.ndarray:
        """A float64 numpy copy of the genes."""
        return np.array(self, dtype=np.float64)

    def set_genome(self, genome: Iterable[float]) -> None:
        """Replace the genes in place (the object identity DEAP relies on is kept)."""
        self[:] = [float(x) for x in genome]

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_individual, (self.__class__, list(self), self.fitness, dict(self.__dict__)))

    def __repr__(self) -> str:
        return f"Individual({list.__repr__(self)}, fitness={self.fitness})"


def _rebuild_individual(
    cls: type[Individual], genes: list[float], fitness: Fitness, state: dict[str, Any]
) -> Individual:
    ind = cls.__new__(cls)
    list.extend(ind, genes)
    ind.__dict__.update(state)
    ind.fitness = fitness
    return ind
