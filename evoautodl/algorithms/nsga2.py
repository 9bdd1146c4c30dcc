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
lands in the last front. The selection and crowding come from
:mod:`evoautodl.operators.selection` (``tournament``, ``nsga2_select``).

Reference: K. Deb, A. Pratap, S. Agarwal & T. Meyarivan, "A fast and elitist
multiobjective genetic algorithm: NSGA-II", IEEE Trans. Evolutionary
Computation 6(2), 2002.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from evoautodl.algorithms.base import Member
from evoautodl.algorithms.ga import GeneticAlgorithm
from evoautodl.errors import ConfigError
from evoautodl.fidelity import BudgetLadder
from evoautodl.operators import nsga2_select, pareto_ranks, tournament
from evoautodl.records import Result
from evoautodl.space import SearchSpace

__all__ = ["NSGA2"]

logger = logging.getLogger(__name__)


class NSGA2(GeneticAlgorithm):
    """NSGA-II, generational, on the GA's (mu + lambda) machinery.

    Args:
        space: the search space.
        seed: root seed.
        n_objectives: number of minimised objectives the workload reports (default 2).
        max_budget: budget of every trial (without a ladder).
        ladder: fidelity ladder; every trial runs at its max_budget.
        population_size: mu.
        offspring_size: lambda (default mu).
        crossover: ``"sbx"`` (Deb's choice), ``"uniform"`` (condition-aware) or ``"one_point"``.
        crossover_prob: probability that a pair of parents is crossed over.
        crossover_eta: SBX distribution index (larger: children closer to the parents).
        mutation_rate: per-gene mutation probability (default 1 / active mutable genes).
        mutation_eta: polynomial mutation distribution index.
    """

    name = "nsga2"

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        n_objectives: int = 2,
        max_budget: float = 1.0,
        ladder: BudgetLadder | None = None,
        population_size: int = 20,
        offspring_size: int | None = None,
        crossover: Literal["sbx", "uniform", "one_point"] = "sbx",
        crossover_prob: float = 0.9,
        crossover_eta: float = 15.0,
        mutation_rate: float | None = None,
        mutation_eta: float = 20.0,
    ):
        if int(n_objectives) < 1:
            raise ConfigError(f"nsga2: n_objectives must be >= 1, got {n_objectives!r}")
        if int(n_objectives) == 1:
            logger.warning("nsga2 with a single objective: non-dominated sorting reduces to ranking")
        if not crossover_eta > 0 or not mutation_eta > 0:
            raise ConfigError(f"nsga2: crossover_eta and mutation_eta must be > 0, "
                              f"got {crossover_eta!r}, {mutation_eta!r}")
        super().__init__(space, seed=seed, n_objectives=n_objectives, max_budget=max_budget, ladder=ladder,
                         population_size=population_size, offspring_size=offspring_size, replacement="plus",
                         crossover=crossover, crossover_prob=crossover_prob, mutation_rate=mutation_rate,
                         tournament_size=2)
        self.crossover_eta = float(crossover_eta)
        self.mutation_eta = float(mutation_eta)
        self._crossover_params = {"eta": self.crossover_eta} if crossover == "sbx" else {}
        self._mutation_params = {"float_op": "polynomial", "eta": self.mutation_eta}

    def _member(self, result: Result) -> Member:
        return Member.from_result(result, self.n_objectives, birth=self.n_told)

    def _parents(self, k: int) -> np.ndarray:
        """Binary tournaments on the crowded comparison (rank, then crowding distance)."""
        return tournament(_objectives(self.population), k, self.rng, size=2)

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
