"""NSGA-II: elitist non-dominated sorting GA for two or more minimised objectives.

Pseudocode (Deb et al. 2002)::

    P <- mu random genomes, evaluated                               # generation 0
    for g = 1, 2, ...:
        rank P by non-domination, crowding distance within each front
        O <- lambda children, in pairs:
             a, b <- binary tournaments on the crowded comparison   # lower rank, then larger crowding
             with crossover_prob: a, b <- SBX(a, b)                 # numeric genes; discrete genes swapped
             a, b <- polynomial mutation(a), (b)                    # per-type, repaired
        evaluate O                                                  # generation barrier
        P <- nsga2_select(P + O, mu): whole fronts in rank order,
             the last front cut by crowding distance

Objectives are the workload's first ``n_objectives`` values (e.g. validation
error and parameter count); a failed trial has every objective +inf and so
lands in the last front. The non-dominated sort, crowding and environmental
selection come from :mod:`evoautodl.operators.pareto`; crossover, mutation
and parent selection are operator values as in the GA.

Reference: K. Deb, A. Pratap, S. Agarwal & T. Meyarivan, "A fast and elitist
multiobjective genetic algorithm: NSGA-II", IEEE Trans. Evolutionary
Computation 6(2), 2002.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from evoautodl.algorithms.base import Member
from evoautodl.algorithms.ga import GeneticAlgorithm
from evoautodl.errors import ConfigError
from evoautodl.operators import nsga2_select, pareto_ranks
from evoautodl.records import Result
from evoautodl.space import SearchSpace

__all__ = ["NSGA2"]

logger = logging.getLogger(__name__)


class NSGA2(GeneticAlgorithm):
    """NSGA-II, generational, on the GA's (mu + lambda) machinery.

    Args:
        space: the search space.
        population_size: mu.
        offspring_size: lambda (default mu).
        crossover: ``"sbx"`` (Deb's choice), ``"uniform"`` (condition-aware), ``"one_point"``
            or a two-parent operator (see :class:`~evoautodl.algorithms.ga.GeneticAlgorithm`).
        crossover_params: keyword parameters of the crossover.
        crossover_prob: probability that a pair of parents is crossed over.
        crossover_eta: SBX distribution index of the built-in SBX (larger: children closer to the parents).
        mutation: ``"polynomial"`` (Deb's choice), ``"gaussian"`` or a one-parent operator.
        mutation_params: keyword parameters of the mutation.
        mutation_rate: per-gene mutation probability of the built-in mutation (default 1 / active mutable genes).
        mutation_eta: distribution index of the built-in polynomial mutation.
        selection: parent selection, ``"tournament"`` (binary, on the crowded comparison) or a
            selection operator given the (n, n_objectives) objectives.
        selection_params: keyword parameters of the selection.
        n_objectives: minimised objectives the workload reports (default 2).
        **common: seed, max_budget, ladder (see :class:`Algorithm`).
    """

    name = "nsga2"
    multi_objective = True
    default_tournament_size = 2  # binary tournaments

    def __init__(
        self,
        space: SearchSpace,
        *,
        population_size: int = 20,
        offspring_size: int | None = None,
        crossover: Any = "sbx",
        crossover_params: dict[str, Any] | None = None,
        crossover_prob: float = 0.9,
        crossover_eta: float = 15.0,
        mutation: Any = "polynomial",
        mutation_params: dict[str, Any] | None = None,
        mutation_rate: float | None = None,
        mutation_eta: float = 20.0,
        selection: Any = "tournament",
        selection_params: dict[str, Any] | None = None,
        n_objectives: int = 2,
        **common: Any,
    ):
        if isinstance(n_objectives, int) and n_objectives == 1:
            logger.warning("nsga2 with a single objective: non-dominated sorting reduces to ranking")
        for option, value in (("crossover_eta", crossover_eta), ("mutation_eta", mutation_eta)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"nsga2: {option} must be > 0, got {value!r}")
        cx_params = dict(crossover_params or {})
        if crossover == "sbx":
            cx_params = {"eta": float(crossover_eta), **cx_params}
        elif crossover_eta != 15.0:
            raise ConfigError(f"nsga2: crossover_eta sets the built-in 'sbx' crossover, but crossover is "
                              f"{crossover!r}; give its parameters in crossover_params")
        super().__init__(space, population_size=population_size, offspring_size=offspring_size, replacement="plus",
                         crossover=crossover, crossover_params=cx_params, crossover_prob=crossover_prob,
                         mutation=mutation, mutation_params=mutation_params, mutation_rate=mutation_rate,
                         selection=selection, selection_params=selection_params, tournament_size=2,
                         n_objectives=n_objectives, **common)
        self.crossover_eta = float(crossover_eta)
        self.mutation_eta = float(mutation_eta)
        if self.mutation_op.builtin:
            if self.mutation_op.params.get("float_op") != "polynomial" and mutation_eta != 20.0:
                raise ConfigError(f"nsga2: mutation_eta does not apply to the "
                                  f"{self.mutation_op.params.get('float_op')} mutation (mutation={mutation!r})")
            self.mutation_op = dataclasses.replace(self.mutation_op,
                                                   params={**self.mutation_op.params, "eta": self.mutation_eta})
        elif mutation_eta != 20.0:
            raise ConfigError(f"nsga2: mutation_eta sets the built-in mutation, but mutation is "
                              f"{self.mutation_op.label!r}; give its parameters in mutation_params")

    def _member(self, result: Result) -> Member:
        return self.member(result, self.n_objectives)

    def _selection_objectives(self) -> np.ndarray:
        """All objectives: the built-in tournament compares by rank, then crowding distance."""
        return _objectives(self.population)

    def _survivors(self, parents: list[Member], children: list[Member]) -> list[Member]:
        pool = parents + children
        return [pool[int(i)] for i in nsga2_select(_objectives(pool), self.population_size)]

    def pareto_front(self) -> list[Member]:
        """The non-dominated, successfully evaluated members of the current population."""
        ok = [m for m in self.population if np.isfinite(m.objectives).all()]
        if not ok:
            return []
        ranks = pareto_ranks(_objectives(ok))
        return [m for m, r in zip(ok, ranks) if r == 0]


def _objectives(members: list[Member]) -> np.ndarray:
    return np.array([m.objectives for m in members], dtype=np.float64).reshape(len(members), -1)
