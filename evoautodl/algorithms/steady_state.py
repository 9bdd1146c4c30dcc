"""Steady-state asynchronous evolutionary algorithm (no generation barrier).

Pseudocode::

    P <- {}                                        # the current population, at most P_max members
    ask():  if fewer than P_max random genomes were asked, or P is empty:
                return a random genome
            a, b <- tournament(P, tournament_size)
            with crossover_prob: child <- crossover(a, b) (first child) else child <- a
            return mutate(child)                   # per-type, repaired
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

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from evoautodl.algorithms import options as opt
from evoautodl.algorithms.base import Algorithm, Member
from evoautodl.fidelity import BudgetLadder
from evoautodl.operators import mutate, one_point_crossover, sbx_crossover, tournament, uniform_crossover
from evoautodl.records import Result, Trial
from evoautodl.space import SearchSpace

__all__ = ["SteadyStateEA"]

_CROSSOVERS = {"uniform": uniform_crossover, "one_point": one_point_crossover, "sbx": sbx_crossover}


class SteadyStateEA(Algorithm):
    """Asynchronous steady-state EA: one child per free worker, insert-and-remove on every result.

    Args:
        space: the search space.
        seed: root seed.
        n_objectives: objectives the workload reports (the first is minimised).
        max_budget: budget of every trial (without a ladder).
        ladder: fidelity ladder; every trial runs at its max_budget.
        population_size: P, the population size (and the number of initial random genomes).
        tournament_size: parents are tournament winners among this many members.
        crossover: ``"uniform"`` (condition-aware), ``"one_point"`` or ``"sbx"``.
        crossover_prob: probability that a child comes from crossover before mutation.
        mutation_rate: per-gene mutation probability (default 1 / active mutable genes).
        mutation_sigma: std of the Gaussian step on numeric genes (unit-cube units).
        removal: which member leaves when the population overflows: ``"worst"`` or ``"oldest"``.
    """

    name = "steady_state"
    asynchronous = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        n_objectives: int = 1,
        max_budget: float = 1.0,
        ladder: BudgetLadder | None = None,
        population_size: int = 20,
        tournament_size: int = 3,
        crossover: Literal["uniform", "one_point", "sbx"] = "uniform",
        crossover_prob: float = 0.5,
        mutation_rate: float | None = None,
        mutation_sigma: float = 0.1,
        removal: Literal["worst", "oldest"] = "worst",
    ):
        super().__init__(space, seed=seed, n_objectives=n_objectives, max_budget=max_budget, ladder=ladder)
        population_size = opt.at_least(self.name, "population_size", population_size, 2)
        tournament_size = opt.at_least(self.name, "tournament_size", tournament_size, 1)
        opt.one_of(self.name, "crossover", crossover, _CROSSOVERS)
        crossover_prob = opt.probability(self.name, "crossover_prob", crossover_prob)
        mutation_rate, mutation_sigma = opt.mutation(self.name, mutation_rate, mutation_sigma)
        opt.one_of(self.name, "removal", removal, ("worst", "oldest"))
        self.population_size = int(population_size)
        self.tournament_size = int(tournament_size)
        self.crossover = crossover
        self.crossover_prob = float(crossover_prob)
        self.mutation_rate = mutation_rate
        self.mutation_sigma = float(mutation_sigma)
        self.removal = removal
        self.n_sampled = 0
        #: the current population, oldest first
        self.population: list[Member] = []

    def ask(self, n: int) -> list[Trial]:
        out: list[Trial] = []
        rung = self.ladder.n_rungs - 1 if self.ladder is not None else 0
        for _ in range(max(0, n)):
            if self.n_sampled < self.population_size or not self.population:
                self.n_sampled += 1
                genome, parents, op = self.space.sample(self.rng), (), "sample"
            else:
                genome, parents, op = self._breed()
            out.append(self.make_trial(genome, parent_ids=parents, operator=op, rung=rung))
        return out

    def _breed(self) -> tuple[np.ndarray, tuple[int, ...], str]:
        fitness = np.array([m.fitness for m in self.population])
        i, j = tournament(fitness, 2, self.rng, size=self.tournament_size)
        a, b = self.population[int(i)], self.population[int(j)]
        genome: Sequence[Any] = a.genome
        parents: tuple[int, ...] = (a.individual_id,)
        op = "mutate"
        if self.rng.random() < self.crossover_prob:
            genome = _CROSSOVERS[self.crossover](self.space, a.genome, b.genome, self.rng)[0]
            parents, op = (a.individual_id, b.individual_id), "crossover+mutate"
        child = mutate(self.space, genome, self.rng, rate=self.mutation_rate, sigma=self.mutation_sigma)
        return child, parents, op

    def on_result(self, result: Result) -> None:
        self.population.append(Member.from_result(result, birth=self.n_told))
        while len(self.population) > self.population_size:
            if self.removal == "oldest":
                k = 0
            else:
                worst = max(m.fitness for m in self.population)
                k = next(i for i, m in enumerate(self.population) if m.fitness == worst)
            gone = self.population.pop(k)
            self.discard_checkpoint(gone.checkpoint)
