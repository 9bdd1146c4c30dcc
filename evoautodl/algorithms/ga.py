"""Generational genetic algorithm: (mu + lambda), (mu, lambda) or elitist generational replacement.

Pseudocode::

    P <- mu random genomes, evaluated at budget(0)                 # generation 0
    for g = 1, 2, ...:
        O <- lambda children, in pairs:
             a, b <- selection(P)                                  # tournament (tournament_size)
             with crossover_prob: a, b <- crossover(a, b)          # uniform / one_point / sbx / yours
             a, b <- mutation(a), mutation(b)                      # per-type, repaired / yours
        if budget(g) > the budget P was measured at (plus / generational only):
             re-evaluate P at budget(g), continuing from each member's checkpoint
        evaluate O at budget(g)                                    # generation barrier
        P <- plus:         best mu of P + O
             comma:        best mu of O                            (lambda >= mu)
             generational: best elite_count of P + best mu - elite_count of O

    budget(g) = budget of the last (generation, budget) entry of budget_schedule at or
                before g; or ladder.budgets[min(g // generations_per_rung, last rung)];
                or the maximum budget.

Operators are values (``crossover=``, ``mutation=``, ``selection=``: a
built-in name, a callable, ``"module:function"`` or a DEAP toolbox's
registered operator; see :mod:`evoautodl.operators.values`); a crossover
with one child yields one child per crossed pair. The log's ``operator``
column names them: ``mutate`` / ``crossover+mutate`` for the built-ins,
the function's name for a user's (``crossover+cauchy``).

``ask(n)`` hands out up to ``n`` trials of the current generation and nothing
while the generation's last results are outstanding. Failed trials count as
evaluated with fitness +inf. Selection sorts a generation's results by trial
id first, so the outcome does not depend on the order results arrive in.

References: Baeck, Fogel & Michalewicz (eds.), "Evolutionary Computation 1:
Basic Algorithms and Operators", IOP 2000 (chapters on (mu, lambda) and
(mu + lambda) selection); DEAP's ``eaMuPlusLambda`` / ``eaMuCommaLambda`` /
``eaSimple`` (Fortin et al., JMLR 13, 2012).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from evoautodl.algorithms import options as opt
from evoautodl.algorithms.base import Algorithm, Member, genome_tuple
from evoautodl.errors import ConfigError
from evoautodl.operators import truncation
from evoautodl.records import Result, Trial
from evoautodl.space import SearchSpace

__all__ = ["GeneticAlgorithm"]

_REPLACEMENTS = ("plus", "comma", "generational")


@dataclass(frozen=True, slots=True)
class _Planned:
    """A trial of the current generation that has not been asked yet."""

    genome: tuple[float, ...]
    operator: str
    parent_ids: tuple[int, ...] = ()
    individual_id: int | None = None
    resume_from: str | None = None
    resume_budget: float | None = None


def parse_budget_schedule(schedule: Sequence[Sequence[float]], min_budget: float,
                          max_budget: float) -> tuple[tuple[int, float], ...]:
    """Validate ``[(generation, budget), ...]``: increasing generations, non-decreasing budgets in range."""
    out: list[tuple[int, float]] = []
    for entry in schedule:
        if len(entry) != 2:
            raise ConfigError(f"budget_schedule: entry {entry!r} is not a (generation, budget) pair")
        gen, budget = entry
        if int(gen) != gen or gen < 0:
            raise ConfigError(f"budget_schedule: generation {gen!r} must be an integer >= 0")
        if not min_budget <= float(budget) <= max_budget:
            raise ConfigError(f"budget_schedule: budget {budget!r} of generation {gen} lies outside "
                              f"[{min_budget}, {max_budget}]")
        if out and (int(gen) <= out[-1][0] or float(budget) < out[-1][1]):
            raise ConfigError("budget_schedule: generations must increase and budgets must not decrease, "
                              f"got {list(schedule)!r}")
        out.append((int(gen), float(budget)))
    if not out:
        raise ConfigError("budget_schedule: empty (give [(generation, budget), ...] or leave it out)")
    return tuple(out)


class GeneticAlgorithm(Algorithm):
    """Generational GA with selection, crossover, mutation (all operators as values) and a budget schedule.

    Args:
        space: the search space.
        population_size: mu, the survivors per generation.
        offspring_size: lambda, children per generation (default mu for plus/comma,
            mu - elite_count for generational).
        replacement: ``"plus"`` (mu + lambda), ``"comma"`` (mu, lambda) or
            ``"generational"`` (children replace the population except ``elite_count`` elites).
        elite_count: elites kept by generational replacement.
        crossover: ``"uniform"`` (condition-aware), ``"one_point"``, ``"sbx"``, or a
            two-parent operator with one or two children (a callable, ``"module:function"``,
            a DEAP toolbox's ``toolbox.mate``).
        crossover_params: keyword parameters of the crossover.
        crossover_prob: probability that a pair of parents is crossed over.
        mutation: ``"gaussian"``, ``"polynomial"`` or a one-parent, one-child operator.
        mutation_params: keyword parameters of the mutation.
        mutation_rate: per-gene mutation probability of the built-in mutation (default 1 / active mutable genes).
        mutation_sigma: std of the built-in Gaussian step on numeric genes (unit-cube units).
        selection: ``"tournament"``, ``"truncation"`` or a selection operator
            (``op(objectives, k, rng) -> indices``, or DEAP's ``selTournament`` style).
        selection_params: keyword parameters of the selection.
        tournament_size: size of the built-in tournament.
        budget_schedule: ``[(generation, budget_epochs), ...]`` raising the budget as generations pass.
        generations_per_rung: with a ladder: generation g uses rung ``min(g // generations_per_rung, last)``.
        reevaluate_on_budget_increase: re-evaluate the survivors (from their checkpoints) when the
            budget rises, so plus/generational replacement compares equal budgets.
        **common: seed, n_objectives, max_budget, ladder (see :class:`Algorithm`).
    """

    name = "ga"
    manages_checkpoints = True
    #: entrants of the built-in tournament unless tournament_size says otherwise
    default_tournament_size = 3

    def __init__(
        self,
        space: SearchSpace,
        *,
        population_size: int = 20,
        offspring_size: int | None = None,
        replacement: Literal["plus", "comma", "generational"] = "plus",
        elite_count: int = 1,
        crossover: Any = "uniform",
        crossover_params: dict[str, Any] | None = None,
        crossover_prob: float = 0.9,
        mutation: Any = "gaussian",
        mutation_params: dict[str, Any] | None = None,
        mutation_rate: float | None = None,
        mutation_sigma: float = 0.1,
        selection: Any = "tournament",
        selection_params: dict[str, Any] | None = None,
        tournament_size: int = 3,
        budget_schedule: Sequence[Sequence[float]] | None = None,
        generations_per_rung: int | None = None,
        reevaluate_on_budget_increase: bool = True,
        **common: Any,
    ):
        super().__init__(space, **common)
        ladder = self.ladder
        opt.one_of(self.name, "replacement", replacement, _REPLACEMENTS)
        population_size = opt.at_least(self.name, "population_size", population_size, 2)
        mu = int(population_size)
        if replacement == "generational" and not 0 <= int(elite_count) < mu:
            raise ConfigError(f"{self.name}: elite_count must be in [0, population_size), got {elite_count!r}")
        if replacement != "generational" and elite_count != 1:
            raise ConfigError(f"{self.name}: elite_count applies to replacement='generational' only, "
                              f"not to replacement={replacement!r}")
        if offspring_size is None:
            offspring_size = mu - int(elite_count) if replacement == "generational" else mu
        need = {"plus": 1, "comma": mu, "generational": mu - int(elite_count)}[replacement]
        if int(offspring_size) < max(1, need):
            raise ConfigError(f"{self.name}: offspring_size must be >= {max(1, need)} with "
                              f"replacement={replacement!r}, got {offspring_size!r}")
        crossover_prob = opt.probability(self.name, "crossover_prob", crossover_prob)
        mutation_rate, mutation_sigma = opt.mutation(self.name, mutation_rate, mutation_sigma)
        tournament_size = opt.at_least(self.name, "tournament_size", tournament_size, 1)
        if budget_schedule is not None and generations_per_rung is not None:
            raise ConfigError(f"{self.name}: give budget_schedule or generations_per_rung, not both")
        if generations_per_rung is not None and (ladder is None or int(generations_per_rung) < 1):
            raise ConfigError(f"{self.name}: generations_per_rung needs a fidelity ladder and must be >= 1, "
                              f"got {generations_per_rung!r}")
        self.crossover_op = self.resolve_operator(crossover, kind="crossover", option="crossover", arity=2,
                                                  n_children=(1, 2), params=crossover_params)
        self.mutation_op = self.resolve_mutation(mutation, mutation_params, mutation_rate, mutation_sigma,
            default_rate=None, default_sigma=0.1)
        self.selection_op = self.resolve_selection(selection, selection_params, tournament_size,
                                                   default=self.default_tournament_size)
        self.population_size = mu
        self.offspring_size = int(offspring_size)
        self.replacement = replacement
        self.elite_count = int(elite_count)
        self.crossover_prob = float(crossover_prob)
        self.mutation_rate = mutation_rate
        self.mutation_sigma = float(mutation_sigma)
        self.tournament_size = int(tournament_size)
        min_budget = ladder.min_budget if ladder is not None else 0.0
        self.budget_schedule = (None if budget_schedule is None
                                else parse_budget_schedule(budget_schedule, min_budget, self.max_budget))
        self.generations_per_rung = None if generations_per_rung is None else int(generations_per_rung)
        self.reevaluate_on_budget_increase = bool(reevaluate_on_budget_increase)
        if not self.reevaluate_on_budget_increase and (replacement == "comma" or (
                self.budget_schedule is None and self.generations_per_rung is None)):
            raise ConfigError(f"{self.name}: reevaluate_on_budget_increase=false has no effect here (it applies when "
                              "budget_schedule or generations_per_rung raises the budget, with plus or generational "
                              "replacement)")
        self.generation = 0
        self.population: list[Member] = []
        self._offspring: list[Member] = []  # results of this generation's children
        self._reevaluated: dict[int, Member] = {}  # individual_id -> result at the new budget
        self._queue: list[_Planned] = [_Planned(tuple(self.space.sample(self.rng)), "sample") for _ in range(mu)]

    @property
    def uses_ladder(self) -> bool:
        """True when generations climb the ladder's rungs (``generations_per_rung``)."""
        return self.generations_per_rung is not None

    # ------------------------------------------------------------------ budgets
    def budget_of_generation(self, generation: int) -> float:
        """Epoch budget of the trials of ``generation``."""
        if self.budget_schedule is not None:
            budget = self.budget_schedule[0][1]
            for gen, b in self.budget_schedule:
                if gen <= generation:
                    budget = b
            return budget
        if self.ladder is not None and self.generations_per_rung is not None:
            rungs = self.ladder.budgets
            return rungs[min(generation // self.generations_per_rung, len(rungs) - 1)]
        return self.max_budget

    def _rung(self, budget: float) -> int:
        return self.rung_of(budget)

    # ------------------------------------------------------------------ ask / tell
    def ask(self, n: int) -> list[Trial]:
        out: list[Trial] = []
        budget = self.budget_of_generation(self.generation)
        while len(out) < n and self._queue:
            p = self._queue.pop(0)
            out.append(self.make_trial(p.genome, budget=budget, individual_id=p.individual_id,
                                       parent_ids=p.parent_ids, operator=p.operator, resume_from=p.resume_from,
                                       resume_budget=p.resume_budget,
                                       generation=self.generation, rung=self._rung(budget)))
        return out

    def on_result(self, result: Result) -> None:
        if result.trial.generation != self.generation:
            return
        member = self._member(result)
        if result.trial.operator == "promote":
            self._reevaluated[member.individual_id] = member
            old = next((m.checkpoint for m in self.population if m.individual_id == member.individual_id), None)
            if old is not None and old != member.checkpoint:
                self.discard_checkpoint(old)
        else:
            self._offspring.append(member)
        if not self._queue and not self.n_pending:
            self._next_generation()

    # ------------------------------------------------------------------ generations
    def _next_generation(self) -> None:
        parents = [self._reevaluated.get(m.individual_id, m) for m in self.population]
        children = sorted(self._offspring, key=lambda m: m.trial_id)
        survivors = children if self.generation == 0 else self._survivors(parents, children)
        kept = {m.trial_id for m in survivors}
        for m in parents + children:
            if m.trial_id not in kept:
                self.discard_checkpoint(m.checkpoint)
        self.population = survivors
        self._offspring, self._reevaluated = [], {}
        self.generation += 1
        self._queue = self._plan_reevaluations() + self._breed()

    def _survivors(self, parents: list[Member], children: list[Member]) -> list[Member]:
        """The next population (replacement)."""
        mu = self.population_size
        if self.replacement == "comma":
            return _best(children, mu)
        if self.replacement == "plus":
            return _best(parents + children, mu)
        return _best(parents, self.elite_count) + _best(children, mu - self.elite_count)

    def _member(self, result: Result) -> Member:
        return self.member(result)

    def _selection_objectives(self) -> np.ndarray:
        """What parent selection compares: the fitness of each member (minimised)."""
        return np.array([m.fitness for m in self.population])

    def _parents(self, k: int) -> np.ndarray:
        """Indices into the population of ``k`` parents (the selection operator)."""
        return self.selection_op.select(self._selection_objectives(), k, self.rng)

    def _plan_reevaluations(self) -> list[_Planned]:
        if self.replacement == "comma" or not self.reevaluate_on_budget_increase:
            return []
        budget = self.budget_of_generation(self.generation)
        return [_Planned(m.genome, "promote", individual_id=m.individual_id, resume_from=m.checkpoint,
                         resume_budget=m.budget_epochs if m.checkpoint is not None else None)
                for m in self.population if m.budget_epochs < budget]

    def _breed(self) -> list[_Planned]:
        cx, mut, space, rng = self.crossover_op, self.mutation_op, self.space, self.rng
        crossed = f"{cx.label}+{mut.label}"
        out: list[_Planned] = []
        # all selections of the generation at once: selection keys (for NSGA-II:
        # non-dominated ranks and crowding) are computed once, not per child
        n_pairs = -(-self.offspring_size // cx.n_children)
        chosen = self._parents(2 * n_pairs).reshape(-1, 2)
        for i, j in chosen:
            if len(out) >= self.offspring_size:
                break
            a, b = self.population[int(i)], self.population[int(j)]
            if rng.random() < self.crossover_prob:
                pair: Sequence[Any] = cx.vary(space, (a.genome, b.genome), rng)
                ids = [(a.individual_id, b.individual_id)] * len(pair)
                op = crossed
            else:
                pair, ids, op = (a.genome, b.genome), [(a.individual_id,), (b.individual_id,)], mut.label
            for genome, parent_ids in zip(pair, ids):
                if len(out) < self.offspring_size:
                    child = mut.vary(space, (genome,), rng)[0]
                    out.append(_Planned(genome_tuple(child), op, parent_ids))
        return out


def _best(members: list[Member], k: int) -> list[Member]:
    """The ``k`` members with the lowest fitness (ties: list order)."""
    if k <= 0 or not members:
        return []
    k = min(k, len(members))
    idx = truncation(np.array([m.fitness for m in members]), k)
    return [members[int(i)] for i in idx]
