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
``strategy`` may also be a user's operator: it gets ``(x_i, x_r1, x_r2, x_r3)``
and returns the trial vector (see :mod:`evoautodl.operators.values`).

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

from typing import Any, Literal

import numpy as np

from evoautodl.algorithms import options as opt
from evoautodl.algorithms.base import Algorithm, Member
from evoautodl.errors import ConfigError
from evoautodl.operators import Operator, de_current_to_best_1_bin, de_rand_1_bin
from evoautodl.records import Result, Trial
from evoautodl.space import SearchSpace

__all__ = ["DifferentialEvolution", "de_strategy"]

#: built-in DE strategies; a user's strategy gets the parents (target, r1, r2, r3) as rand/1 does
STRATEGIES = {"rand/1/bin": de_rand_1_bin, "current-to-best/1/bin": de_current_to_best_1_bin}


def de_strategy(algo: Algorithm, strategy: Any, params: Any, mutation_factor: Any, crossover_rate: Any,
                boundary: Any, defaults: tuple[float, float, str]) -> Operator:
    """The trial-vector operator of a DE-based algorithm (DE, DEHB): a built-in strategy or a user's.

    A built-in strategy gets F, CR and the boundary rule as parameters; a
    user's four-parent operator gets ``strategy_params``, and F, CR or the
    boundary changed from their defaults are refused (they would be ignored).
    """
    name = algo.name
    if isinstance(strategy, str) and ":" not in strategy:
        if strategy not in STRATEGIES:
            raise ConfigError(f"{name}: strategy must be one of {', '.join(map(repr, STRATEGIES))} or a "
                              f"four-parent operator (a callable or 'module:function'), got {strategy!r}")
        if isinstance(mutation_factor, bool) or not isinstance(mutation_factor, int | float) \
                or not 0.0 < mutation_factor <= 2.0:
            raise ConfigError(f"{name}: mutation_factor (F) must be in (0, 2], got {mutation_factor!r}")
        cr = opt.probability(name, "crossover_rate (CR)", crossover_rate)
        if params:
            raise ConfigError(f"{name}: strategy_params are for a user's strategy; the built-in {strategy!r} takes "
                              "mutation_factor, crossover_rate and boundary")
        fn = STRATEGIES[strategy]
        return Operator(fn, "crossover", 4, 1, "native", "de",
                        {"F": float(mutation_factor), "CR": cr, "boundary": boundary}, builtin=True)
    op = algo.resolve_operator(strategy, kind="crossover", option="strategy", arity=4, n_children=(1,),
                               params=params)
    for option, value, default in zip(("mutation_factor", "crossover_rate", "boundary"),
                                      (mutation_factor, crossover_rate, boundary), defaults):
        if value != default:
            raise ConfigError(f"{name}: {option} sets the built-in strategies, but strategy is {op.label!r}; "
                              "give its parameters in strategy_params")
    return op


class DifferentialEvolution(Algorithm):
    """Differential evolution with one-to-one survivor selection.

    Args:
        space: the search space.
        population_size: NP (>= 4 for rand/1, >= 3 for current-to-best/1 and a user's strategy).
        mutation_factor: F, the scale of the difference vectors, in (0, 2] (built-in strategies).
        crossover_rate: CR, the binomial crossover rate, in [0, 1] (built-in strategies).
        strategy: ``"rand/1/bin"``, ``"current-to-best/1/bin"``, or a user's trial-vector
            operator taking four parents ``(target, r1, r2, r3)`` and returning one child
            (a callable or ``"module:function"``; see :mod:`evoautodl.operators.values`).
        strategy_params: keyword parameters of a user's strategy.
        boundary: out-of-cube genes of the mutant: ``"clip"``, ``"reflect"`` or ``"random"`` (built-in strategies).
        asynchronous: no generation barrier (see the module docstring).
        **common: seed, n_objectives, max_budget, ladder (see :class:`Algorithm`); every
            trial runs at the maximum budget.
    """

    name = "de"
    manages_checkpoints = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        population_size: int = 20,
        mutation_factor: float = 0.5,
        crossover_rate: float = 0.9,
        strategy: Any = "rand/1/bin",
        strategy_params: dict[str, Any] | None = None,
        boundary: Literal["clip", "reflect", "random"] = "clip",
        asynchronous: bool = False,
        **common: Any,
    ):
        super().__init__(space, **common)
        self.strategy_op = de_strategy(self, strategy, strategy_params, mutation_factor, crossover_rate,
                                       boundary, defaults=(0.5, 0.9, "clip"))
        minimum = 4 if strategy == "rand/1/bin" else 3
        if isinstance(population_size, bool) or not isinstance(population_size, int) or population_size < minimum:
            raise ConfigError(f"{self.name}: population_size must be an integer >= {minimum} for strategy "
                              f"{self.strategy_op.label!r}, got {population_size!r}")
        opt.one_of(self.name, "boundary", boundary, ("clip", "reflect", "random"))
        self.population_size = int(population_size)
        self.mutation_factor = float(mutation_factor)
        self.crossover_rate = float(crossover_rate)
        self.strategy = strategy if isinstance(strategy, str) else self.strategy_op.label
        self.boundary = boundary
        self.asynchronous = bool(asynchronous)
        #: x_1..x_NP (None until a slot's first result arrives)
        self.population: list[Member | None] = [None] * self.population_size
        self.generation = 0
        self.n_replacements = 0
        self._n_vectors = 0  # trial vectors asked (this generation when synchronous, in total when asynchronous)
        self._slot_of: dict[int, int] = {}  # pending trial id -> target slot
        self._results: dict[int, Member] = {}  # synchronous: slot -> trial vector result of this generation
        self._n_members = 0  # filled slots of the population (derived from it; recounted on load)

    # ------------------------------------------------------------------ ask
    def ask(self, n: int) -> list[Trial]:
        out: list[Trial] = []
        rung = self.top_rung
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
        population = self.population
        target = population[slot]
        current_to_best = self.strategy == "current-to-best/1/bin"
        need = 2 if current_to_best else 3
        if self._n_members == self.population_size:  # every slot filled: the others are all slots but this one
            drawn = self.rng.choice(self.population_size - 1, size=need, replace=False).tolist()
            picks = [population[i + (i >= slot)] for i in drawn]
        else:
            others = [i for i, m in enumerate(population) if m is not None and i != slot]
            if target is None or len(others) < need:
                return self.space.sample(self.rng), (), "sample"
            # indices into others: the same draws as choice(others, ...), without turning the list into an array
            picks = [population[others[i]] for i in self.rng.choice(len(others), size=need, replace=False)]
        if current_to_best:
            members = [m for m in population if m is not None]
            best = min(members, key=lambda m: m.fitness)  # ties: the lowest slot
            picks = [best, *picks]
        donors = [target, *picks]
        genome = self.strategy_op.vary(self.space, [m.genome for m in donors], self.rng)[0]
        parents = tuple([m.individual_id for m in donors])
        return genome, parents, self._label

    @property
    def _label(self) -> str:
        op = self.strategy_op
        return "de:" + (self.strategy if op.builtin else op.label)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._n_members = sum(m is not None for m in self.population)  # a state saved before the count was kept

    # ------------------------------------------------------------------ tell
    def on_result(self, result: Result) -> None:
        slot = self._slot_of.pop(result.trial.trial_id, None)
        if slot is None:
            return
        member = self.member(result)
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
            if target is None:
                self._n_members += 1
            else:
                self.n_replacements += 1
            loser = target
        else:
            loser = trial
        if loser is not None:
            self.discard_checkpoint(loser.checkpoint)
