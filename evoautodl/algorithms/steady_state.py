"""Steady-state asynchronous evolutionary algorithm (no generation barrier).

Pseudocode::

    P <- {}                                        # the current population, at most P_max members
    ask():  if fewer than P_max random genomes were asked, or P is empty:
                return a random genome
            a, b <- selection(P)                   # tournament (tournament_size)
            with crossover_prob: child <- crossover(a, b) (first child) else child <- a
            return mutation(child)                 # per-type, repaired (operators as values)
    tell(x, f(x)):                                 # whenever any worker finishes
            P <- P + {x}                           # failed trials enter with f = +inf
            if |P| > P_max: remove the worst (removal = "worst", ties: the oldest)
                            or the oldest (removal = "oldest") member of P

A new child is bred whenever a worker is free, from whatever population the
results so far have built, so every worker stays busy (Whitley's GENITOR;
asynchronous master-worker EAs as in Scott & De Jong, GECCO 2015).

References: D. Whitley, "The GENITOR algorithm and selection pressure", ICGA
1989; E. O. Scott & K. A. De Jong, "Understanding simple asynchronous
evolutionary algorithms", FOGA 2015.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from evoautodl.algorithms import options as opt
from evoautodl.algorithms.base import Algorithm, Member
from evoautodl.records import Result, Trial
from evoautodl.space import SearchSpace

__all__ = ["SteadyStateEA"]

class SteadyStateEA(Algorithm):
    """Asynchronous steady-state EA: one child per free worker, insert-and-remove on every result.

    Args:
        space: the search space.
        population_size: P, the population size (and the number of initial random genomes).
        tournament_size: size of the built-in tournament selection.
        crossover: ``"uniform"`` (condition-aware), ``"one_point"``, ``"sbx"`` or a two-parent
            operator (its first child is used); see :mod:`evoautodl.operators.values`.
        crossover_params: keyword parameters of the crossover.
        crossover_prob: probability that a child comes from crossover before mutation.
        mutation: ``"gaussian"``, ``"polynomial"`` or a one-parent, one-child operator.
        mutation_params: keyword parameters of the mutation.
        mutation_rate: per-gene mutation probability of the built-in mutation (default 1 / active mutable genes).
        mutation_sigma: std of the built-in Gaussian step on numeric genes (unit-cube units).
        selection: ``"tournament"``, ``"truncation"`` or a selection operator (two parents per child).
        selection_params: keyword parameters of the selection.
        removal: which member leaves when the population overflows: ``"worst"`` or ``"oldest"``.
        **common: seed, n_objectives, max_budget, ladder (see :class:`Algorithm`); every
            trial runs at the maximum budget.
    """

    name = "steady_state"
    asynchronous = True
    manages_checkpoints = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        population_size: int = 20,
        tournament_size: int = 3,
        crossover: Any = "uniform",
        crossover_params: dict[str, Any] | None = None,
        crossover_prob: float = 0.5,
        mutation: Any = "gaussian",
        mutation_params: dict[str, Any] | None = None,
        mutation_rate: float | None = None,
        mutation_sigma: float = 0.1,
        selection: Any = "tournament",
        selection_params: dict[str, Any] | None = None,
        removal: Literal["worst", "oldest"] = "worst",
        **common: Any,
    ):
        super().__init__(space, **common)
        population_size = opt.at_least(self.name, "population_size", population_size, 2)
        tournament_size = opt.at_least(self.name, "tournament_size", tournament_size, 1)
        crossover_prob = opt.probability(self.name, "crossover_prob", crossover_prob)
        mutation_rate, mutation_sigma = opt.mutation(self.name, mutation_rate, mutation_sigma)
        opt.one_of(self.name, "removal", removal, ("worst", "oldest"))
        self.crossover_op = self.resolve_operator(crossover, kind="crossover", option="crossover", arity=2,
                                                  params=crossover_params)
        self.mutation_op = self.resolve_mutation(mutation, mutation_params, mutation_rate, mutation_sigma,
            default_rate=None, default_sigma=0.1)
        self.selection_op = self.resolve_selection(selection, selection_params, tournament_size)
        self.population_size = int(population_size)
        self.tournament_size = int(tournament_size)
        self.crossover_prob = float(crossover_prob)
        self.mutation_rate = mutation_rate
        self.mutation_sigma = float(mutation_sigma)
        self.removal = removal
        self.n_sampled = 0
        #: the current population, oldest first
        self.population: list[Member] = []
        self._fitness: list[float] = []  # first objective of each member, in step with population (rebuilt on load)

    def ask(self, n: int) -> list[Trial]:
        out: list[Trial] = []
        rung = self.top_rung
        for _ in range(max(0, n)):
            if self.n_sampled < self.population_size or not self.population:
                self.n_sampled += 1
                genome, parents, op = self.space.sample(self.rng), (), "sample"
            else:
                genome, parents, op = self._breed()
            out.append(self.make_trial(genome, parent_ids=parents, operator=op, rung=rung))
        return out

    def _breed(self) -> tuple[np.ndarray, tuple[int, ...], str]:
        i, j = self.selection_op.select(list(self._fitness), 2, self.rng)
        a, b = self.population[int(i)], self.population[int(j)]
        genome: Sequence[Any] = a.genome
        parents: tuple[int, ...] = (a.individual_id,)
        mut = self.mutation_op
        op = mut.label
        if self.rng.random() < self.crossover_prob:
            genome = self.crossover_op.vary(self.space, (a.genome, b.genome), self.rng)[0]
            parents, op = (a.individual_id, b.individual_id), f"{self.crossover_op.label}+{mut.label}"
        child = mut.vary(self.space, (genome,), self.rng)[0]
        return child, parents, op

    def on_result(self, result: Result) -> None:
        member = self.member(result)
        self.population.append(member)
        self._fitness.append(member.objectives[0])
        while len(self.population) > self.population_size:
            k = _first_worst(self._fitness) if self.removal == "worst" else 0
            del self._fitness[k]
            gone = self.population.pop(k)
            self.discard_checkpoint(gone.checkpoint)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._fitness = [m.objectives[0] for m in self.population]  # derived (absent from older states)


def _first_worst(fitness: list[float]) -> int:
    """Index of the first (oldest) largest value; NaN never counts as the worst (0 when every value is NaN)."""
    if fitness[0] == fitness[0]:  # max() keeps its first value when that is NaN: only then take the long way
        return fitness.index(max(fitness))
    k, worst = 0, -math.inf
    for i, v in enumerate(fitness):
        if v > worst:
            k, worst = i, v
    return k
