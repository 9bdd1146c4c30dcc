"""Differential evolution in the unit cube (rand/1/bin, current-to-best/1/bin).

Pseudocode (synchronous, the default)::

    x_1..x_NP <- random genomes, evaluated                       # generation 0
    for g = 1, 2, ...:
        for i = 1..NP:                                            # one trial vector per target
            rand/1:            v = x_r1 + F (x_r2 - x_r3)
            current-to-best/1: v = x_i + F (x_best - x_i) + F (x_r1 - x_r2)
            u_i = binomial crossover of v and x_i (rate CR, at least one gene of v); repaired
        evaluate u_1..u_NP                                        # generation barrier
        for i = 1..NP: if f(u_i) <= f(x_i): x_i <- u_i            # one-to-one survivor selection

r1, r2, r3 are distinct members other than i. Failed trials have f = +inf.

Asynchronous variant (``asynchronous=True``): no barrier. Targets are taken in
round-robin order; each ask builds u_i from the population as it is now, and
each result is compared with the *current* x_i when it arrives (as DEHB's
asynchronous DE does). While the population is too small for the strategy
(start-up), random genomes are asked instead.

References: R. Storn & K. Price, "Differential Evolution - a simple and
efficient heuristic for global optimization over continuous spaces", J. Global
Optimization 11, 1997; N. Awad, N. Mallik & F. Hutter, "DEHB", IJCAI 2021
(DE in the unit cube for hyperparameters, asynchronous updates).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from evoautodl.algorithms import options as opt
from evoautodl.algorithms.base import Algorithm, Member
from evoautodl.errors import ConfigError
from evoautodl.fidelity import BudgetLadder
from evoautodl.operators import de_current_to_best_1_bin, de_rand_1_bin
from evoautodl.records import Result, Trial
from evoautodl.space import SearchSpace

__all__ = ["DifferentialEvolution"]

_STRATEGIES = ("rand/1/bin", "current-to-best/1/bin")


class DifferentialEvolution(Algorithm):
    """Differential evolution with one-to-one survivor selection.

    Args:
        space: the search space.
        seed: root seed.
        n_objectives: objectives the workload reports (the first is minimised).
        max_budget: budget of every trial (without a ladder).
        ladder: fidelity ladder; every trial runs at its max_budget.
        population_size: NP (>= 4 for rand/1, >= 3 for current-to-best/1).
        mutation_factor: F, the scale of the difference vectors, in (0, 2].
        crossover_rate: CR, the binomial crossover rate, in [0, 1].
        strategy: ``"rand/1/bin"`` or ``"current-to-best/1/bin"``.
        boundary: out-of-cube genes of the mutant: ``"clip"``, ``"reflect"`` or ``"random"``.
        asynchronous: no generation barrier (see the module docstring).
    """

    name = "de"

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        n_objectives: int = 1,
        max_budget: float = 1.0,
        ladder: BudgetLadder | None = None,
        population_size: int = 20,
        mutation_factor: float = 0.5,
        crossover_rate: float = 0.9,
        strategy: Literal["rand/1/bin", "current-to-best/1/bin"] = "rand/1/bin",
        boundary: Literal["clip", "reflect", "random"] = "clip",
        asynchronous: bool = False,
    ):
        super().__init__(space, seed=seed, n_objectives=n_objectives, max_budget=max_budget, ladder=ladder)
        if strategy not in _STRATEGIES:
            raise ConfigError(f"{self.name}: strategy must be one of {', '.join(_STRATEGIES)}, got {strategy!r}")
        minimum = 4 if strategy == "rand/1/bin" else 3
        if int(population_size) < minimum:
            raise ConfigError(f"{self.name}: population_size must be >= {minimum} for strategy {strategy!r}, "
                              f"got {population_size!r}")
        if not 0.0 < mutation_factor <= 2.0:
            raise ConfigError(f"{self.name}: mutation_factor (F) must be in (0, 2], got {mutation_factor!r}")
        crossover_rate = opt.probability(self.name, "crossover_rate (CR)", crossover_rate)
        opt.one_of(self.name, "boundary", boundary, ("clip", "reflect", "random"))
        self.population_size = int(population_size)
        self.mutation_factor = float(mutation_factor)
        self.crossover_rate = float(crossover_rate)
        self.strategy = strategy
        self.boundary = boundary
        self.asynchronous = bool(asynchronous)
        #: x_1..x_NP (None until a slot's first result arrives)
        self.population: list[Member | None] = [None] * self.population_size
        self.generation = 0
        self.n_replacements = 0
        self._n_vectors = 0  # trial vectors asked (this generation when synchronous, in total when asynchronous)
        self._slot_of: dict[int, int] = {}  # pending trial id -> target slot
        self._results: dict[int, Member] = {}  # synchronous: slot -> trial vector result of this generation

    # ------------------------------------------------------------------ ask
    def ask(self, n: int) -> list[Trial]:
        out: list[Trial] = []
        rung = self.ladder.n_rungs - 1 if self.ladder is not None else 0
        while len(out) < n and (self.asynchronous or self._n_vectors < self.population_size):
            slot = self._n_vectors % self.population_size
            generation = self._n_vectors // self.population_size if self.asynchronous else self.generation
            self._n_vectors += 1
            genome, parents, op = self._trial_vector(slot)
            trial = self.make_trial(genome, parent_ids=parents, operator=op, generation=generation, rung=rung)
            self._slot_of[trial.trial_id] = slot
            out.append(trial)
        return out

    def _trial_vector(self, slot: int) -> tuple[np.ndarray, tuple[int, ...], str]:
        target = self.population[slot]
        others = [i for i, m in enumerate(self.population) if m is not None and i != slot]
        need = 3 if self.strategy == "rand/1/bin" else 2
        if target is None or len(others) < need:
            return self.space.sample(self.rng), (), "sample"
        picks = [self.population[int(i)] for i in self.rng.choice(others, size=need, replace=False)]
        params = {"F": self.mutation_factor, "CR": self.crossover_rate, "boundary": self.boundary}
        if self.strategy == "rand/1/bin":
            r1, r2, r3 = picks
            genome = de_rand_1_bin(self.space, target.genome, r1.genome, r2.genome, r3.genome, self.rng, **params)
            parents = (target.individual_id, r1.individual_id, r2.individual_id, r3.individual_id)
        else:
            members = [m for m in self.population if m is not None]
            best = min(members, key=lambda m: m.fitness)  # ties: the lowest slot
            r1, r2 = picks
            genome = de_current_to_best_1_bin(self.space, target.genome, best.genome, r1.genome, r2.genome,
                                              self.rng, **params)
            parents = (target.individual_id, best.individual_id, r1.individual_id, r2.individual_id)
        return genome, parents, "de:" + self.strategy

    # ------------------------------------------------------------------ tell
    def on_result(self, result: Result) -> None:
        slot = self._slot_of.pop(result.trial.trial_id, None)
        if slot is None:
            return
        member = Member.from_result(result, birth=self.n_told)
        if self.asynchronous:
            self._select(slot, member)
            return
        self._results[slot] = member
        if len(self._results) == self.population_size:
            for s in sorted(self._results):
                self._select(s, self._results[s])
            self._results = {}
            self._n_vectors = 0
            self.generation += 1

    def _select(self, slot: int, trial: Member) -> None:
        """One-to-one survivor selection: the trial vector replaces its target if not worse."""
        target = self.population[slot]
        if target is None or trial.fitness <= target.fitness:
            self.population[slot] = trial
            if target is not None:
                self.n_replacements += 1
            loser = target
        else:
            loser = trial
        if loser is not None:
            self.discard_checkpoint(loser.checkpoint)
