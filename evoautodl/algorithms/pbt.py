"""PBT: asynchronous population-based training (exploit and explore).

Reference: M. Jaderberg, V. Dalibard, S. Osindero, W. M. Czarnecki, J. Donahue,
A. Razavi, O. Vinyals, T. Green, I. Dunning, K. Simonyan, C. Fernando,
K. Kavukcuoglu, "Population Based Training of Neural Networks", arXiv 1711.09846, 2017.

``population_size`` members train in steps of ``step_epochs``; a member's
trial budget is its epochs so far plus one step (capped at the maximum
budget), continuing from its last checkpoint. Pseudocode::

    ask(n): up to n members that are ready (a member is ready at the start and
            each time its step has been told), oldest first; none ready: []
    tell(result of member m):
        m's fitness, epochs and checkpoint <- the result (a failed step keeps
            m's last checkpoint and sets its fitness to +inf)
        m reached max_budget: m is done (its final checkpoint is kept)
        else rank the members that have reported (truncation selection):
            m in the bottom truncation_fraction (or failed) and a member d of
            the top truncation_fraction has a checkpoint below max_budget:
                exploit: m continues from d's checkpoint (resume_from = d's key,
                         budget = d's epochs + step) as a new individual
                         (parent d) with explore: mutate(d's hyperparameters)
            else: m continues its own checkpoint with the same config (same
                  individual); a failed m without a donor mutates its own config
        m is ready again
    is_finished(): every member is done

Choice where the paper leaves freedom: members compare their latest results
even when those are at different epochs (asynchronous PBT); a member that
reaches ``max_budget`` stops and is not replaced, and the run is finished
(``is_finished()``) when all members have reached it. Exploiting gives the
member a new individual id, so checkpoint keys (individual, epochs) never
collide. ``Trial.generation`` holds the member's slot (0..P-1): a member's
history is the trials with its generation.

Checkpoint hygiene (disk use): every checkpoint has a reference count: one
for the member whose latest checkpoint it is, one per running trial resuming
from it. A member's previous checkpoint loses its reference when the member's
next step is told, a copied checkpoint when the exploiting trial is told; at
zero the key is discarded. Checkpoints on disk are therefore at most
``population_size`` (one per member) plus one per running trial, and at the
end exactly the members' final checkpoints remain.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evoautodl.algorithms import options as opt
from evoautodl.algorithms.base import Algorithm
from evoautodl.errors import ConfigError
from evoautodl.operators.selection import truncation
from evoautodl.records import Result, Trial
from evoautodl.space import SearchSpace

__all__ = ["PBT"]


@dataclass(slots=True)
class _Member:
    """State of one population slot."""

    genome: tuple[float, ...] = ()
    individual_id: int = -1
    epochs: float = 0.0
    checkpoint: str | None = None
    fitness: float = math.nan
    done: bool = False


@dataclass(slots=True)
class _Step:
    """The next trial of a ready member."""

    member: int
    genome: tuple[float, ...]
    individual_id: int | None  # None: a new individual
    budget: float
    resume_from: str | None
    parent_ids: tuple[int, ...]
    operator: str
    resume_budget: float | None = None  # the epochs of the resume_from checkpoint


class PBT(Algorithm):
    """Asynchronous population-based training (see the module docstring).

    Args:
        space: the search space.
        population_size: members P.
        step_epochs: epochs per step (default: the ladder's min_budget;
            required without a ladder).
        truncation_fraction: bottom / top fraction for exploit (0 < q <= 0.5).
        mutation_sigma: Gaussian step (unit cube) of the built-in explore mutation.
        mutation_rate: per-gene probability of the built-in explore mutation (None: 1/dim).
        explore_hyperparameters: the hyperparameters explore may change (None: all).
            Architecture hyperparameters must stay fixed for an exploited
            checkpoint to load into the new config's model; the experiment
            builder passes a torch workload's ``pbt_hyperparameters`` here.
        mutation: explore's operator: ``"gaussian"``, ``"polynomial"`` or a one-parent,
            one-child operator (see :mod:`evoautodl.operators.values`); its name is
            added to the log's operator column (``exploit+cauchy``).
        mutation_params: keyword parameters of the mutation.
        **common: seed, n_objectives, max_budget (a member's total epochs without a
            ladder), ladder (its max_budget is the members' total, its min_budget the
            default step).
    """

    name = "pbt"
    multi_fidelity = True
    asynchronous = False
    manages_checkpoints = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        population_size: int = 20,
        step_epochs: float | None = None,
        truncation_fraction: float = 0.25,
        mutation_sigma: float = 0.15,
        mutation_rate: float | None = 0.5,
        explore_hyperparameters: Sequence[str] | None = None,
        mutation: Any = "gaussian",
        mutation_params: dict[str, Any] | None = None,
        **common: Any,
    ):
        super().__init__(space, **common)
        self._step_from_ladder = self.ladder is not None and step_epochs is None
        if self.ladder is not None:
            step_epochs = self.ladder.min_budget if step_epochs is None else step_epochs
        if step_epochs is None:
            raise ConfigError("pbt needs step_epochs or a budget ladder (its min_budget is the default step): "
                              "pass ladder=BudgetLadder(min_budget, max_budget, eta) or step_epochs=...")
        if isinstance(step_epochs, bool) or not isinstance(step_epochs, int | float) \
                or not 0 < float(step_epochs) <= self.max_budget:
            raise ConfigError(f"pbt: step_epochs must lie in (0, max_budget={self.max_budget}], got {step_epochs!r}")
        population_size = opt.at_least(self.name, "population_size", population_size, 2)
        if isinstance(truncation_fraction, bool) or not isinstance(truncation_fraction, int | float) \
                or not 0.0 < truncation_fraction <= 0.5:
            raise ConfigError(f"pbt: truncation_fraction must lie in (0, 0.5], got {truncation_fraction!r}")
        mutation_rate, mutation_sigma = opt.mutation(self.name, mutation_rate, mutation_sigma)
        self.mutation_op = self.resolve_mutation(mutation, mutation_params, mutation_rate, mutation_sigma,
            default_rate=0.5, default_sigma=0.15)
        self.population_size = int(population_size)
        self.step_epochs = float(step_epochs)
        self.truncation_fraction = float(truncation_fraction)
        self.mutation_sigma = float(mutation_sigma)
        self.mutation_rate = mutation_rate
        self._frozen: tuple[int, ...] = ()
        if explore_hyperparameters is not None:
            unknown = [h for h in explore_hyperparameters if h not in space.index]
            if unknown or not explore_hyperparameters:
                raise ConfigError(f"pbt: explore_hyperparameters must name hyperparameters of the space; unknown "
                                  f"{unknown} (known: {', '.join(space.names)})")
            keep = {space.index[h] for h in explore_hyperparameters}
            self._frozen = tuple(i for i in range(space.dim) if i not in keep)
        self._members = [_Member() for _ in range(self.population_size)]
        self._fit = np.full(self.population_size, np.nan)
        self._n_started = 0
        self._ready: list[_Step] = []
        self._meta: dict[int, int] = {}  # trial id -> member
        self._refs: dict[str, int] = {}  # checkpoint key -> references

    # ------------------------------------------------------------------ ask
    def ask(self, n: int) -> list[Trial]:
        out: list[Trial] = []
        while len(out) < n:
            if self._n_started < self.population_size:
                m = self._n_started
                self._n_started += 1
                step = _Step(m, tuple(self.space.sample(self.rng)), None, self._next_budget(0.0), None, (), "sample")
            elif self._ready:
                step = self._ready.pop(0)
            else:
                break
            label = step.operator
            if not self.mutation_op.builtin and label in ("exploit", "explore"):
                label = f"{label}+{self.mutation_op.label}"
            trial = self.make_trial(step.genome, budget=step.budget, individual_id=step.individual_id,
                                    parent_ids=step.parent_ids, operator=label,
                                    resume_from=step.resume_from, resume_budget=step.resume_budget,
                                    generation=step.member)
            self._meta[trial.trial_id] = step.member
            out.append(trial)
        return out

    def is_finished(self) -> bool:
        return all(m.done for m in self._members)

    @property
    def ladder_settings(self) -> tuple[str, ...]:
        """PBT reads the ladder's max_budget (a member's total) and min_budget as the default step, never eta."""
        return ("min_budget", "max_budget") if self._step_from_ladder else ("max_budget",)

    def _next_budget(self, epochs: float) -> float:
        return min(self.max_budget, epochs + self.step_epochs)

    # ------------------------------------------------------------------ tell
    def on_result(self, result: Result) -> None:
        t = result.trial
        m = self._meta.pop(t.trial_id, None)
        if m is None:
            return
        mem = self._members[m]
        if t.resume_from is not None:
            self._release(t.resume_from)
        f = self.fitness_of(result)
        ok = math.isfinite(f)
        if ok:
            self._release(mem.checkpoint)
            mem.genome, mem.individual_id, mem.epochs = t.genome, t.individual_id, t.budget_epochs
            mem.checkpoint = t.checkpoint_key if result.checkpoint is not None else None
            self._acquire(mem.checkpoint)
        else:
            self.discard_checkpoint(t.checkpoint_key)
            if t.operator == "sample":  # a first step failed: remember the config to explore from
                mem.genome = t.genome
        mem.fitness = f
        self._fit[m] = f
        if ok and mem.epochs >= self.max_budget:
            mem.done = True
            return
        self._ready.append(self._decide(m, ok))

    def _decide(self, m: int, ok: bool) -> _Step:
        mem = self._members[m]
        known = np.flatnonzero(~np.isnan(self._fit))
        n_cut = int(math.floor(self.truncation_fraction * len(known)))
        if n_cut >= 1:
            order = known[truncation(self._fit[known], len(known))]
            if not ok or m in order[-n_cut:]:
                donors = [int(d) for d in order[:n_cut] if d != m and self._can_donate(int(d))]
                if donors:
                    d = self._members[donors[int(self.rng.integers(len(donors)))]]
                    self._acquire(d.checkpoint)
                    return _Step(m, self._explore(d.genome), None, self._next_budget(d.epochs), d.checkpoint,
                                 (d.individual_id,), "exploit", _epochs_of(d))
        if ok:
            self._acquire(mem.checkpoint)
            return _Step(m, mem.genome, mem.individual_id, self._next_budget(mem.epochs), mem.checkpoint,
                         (mem.individual_id,), "continue", _epochs_of(mem))
        self._acquire(mem.checkpoint)
        epochs = mem.epochs if mem.checkpoint is not None else 0.0
        parents = (mem.individual_id,) if mem.individual_id >= 0 else ()
        return _Step(m, self._explore(mem.genome), None, self._next_budget(epochs), mem.checkpoint, parents,
                     "explore", _epochs_of(mem))

    def _can_donate(self, d: int) -> bool:
        mem = self._members[d]
        return mem.checkpoint is not None and math.isfinite(mem.fitness) and mem.epochs < self.max_budget

    def _mutate(self, genome: Sequence[float]) -> np.ndarray:
        return self.mutation_op.vary(self.space, (genome,), self.rng)[0]

    def _explore(self, genome: tuple[float, ...]) -> tuple[float, ...]:
        child = self._mutate(genome)
        if not self._frozen:
            return tuple(child)
        for _ in range(8):  # keep the architecture: only explore_hyperparameters may change
            child[list(self._frozen)] = np.asarray(genome)[list(self._frozen)]
            child = self.space.repair(child, self.rng)
            if tuple(child) != tuple(genome):
                break
            child = self._mutate(genome)
        return tuple(child)

    # ------------------------------------------------------------------ checkpoint references
    def _acquire(self, key: str | None) -> None:
        if key is not None:
            self._refs[key] = self._refs.get(key, 0) + 1

    def _release(self, key: str | None) -> None:
        if key is None or key not in self._refs:
            return
        self._refs[key] -= 1
        if self._refs[key] <= 0:
            del self._refs[key]
            self.discard_checkpoint(key)

    # ------------------------------------------------------------------ introspection
    def members(self) -> list[tuple[int, float, float]]:
        """(individual id, epochs, latest fitness) of every member."""
        return [(mm.individual_id, mm.epochs, mm.fitness) for mm in self._members]


def _epochs_of(member: _Member) -> float | None:
    """The budget of a member's checkpoint (None without one): what a trial resuming from it skips."""
    return member.epochs if member.checkpoint is not None else None
