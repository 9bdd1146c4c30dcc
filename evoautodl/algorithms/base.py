"""The ask/tell algorithm protocol and the bookkeeping every algorithm shares.

Writing one: subclass :class:`Algorithm`, take the common arguments through
``**common`` and hand them to ``super().__init__(space, **common)``,
implement ``ask(n)`` (build trials with ``make_trial``) and, to learn from
results, the ``on_result(result)`` hook; ``tell`` is the base class's (it
keeps the pending trials and counts, and calls ``on_result`` only for the
algorithm's own trials)::

    class OnePlusOne(Algorithm):
        def __init__(self, space, *, sigma=0.2, **common):
            super().__init__(space, **common)
            ...
        def ask(self, n): ...              # self.make_trial(genome, operator=...)
        def on_result(self, result): ...   # result.objective is inf when it failed

Checkpoints: an algorithm that resumes trials from checkpoints (or keeps its
population's) sets ``manages_checkpoints = True`` and hands back every key it
lets go of with ``discard_checkpoint(key)``; for any other algorithm the base
class keeps only the incumbent's checkpoint (the best result at the maximum
budget) and discards the rest, so disk use stays bounded without a line of
code (a checkpoint ``on_result`` already handed back is left alone).
Shared helpers: ``keep_if_incumbent``, ``member``, ``top_rung``, ``rung_of``,
``resolve_operator`` (operators as values, checked when the algorithm is
built); ``requires_ladder = True`` makes the constructor refuse to run
without a fidelity ladder. ``evoautodl.testing.check_algorithm``
checks the whole contract in one call.

An algorithm never imports torch or mpi4py and does no file I/O. It must be a
deterministic function of its seed and the sequence of ``ask``/``tell`` calls:
the runner relies on this to resume a killed run exactly (it replays the
journal of asks and the log of results). ``ask`` that returns no trial must
not change the state.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evoautodl.algorithms import options as opt
from evoautodl.errors import ConfigError
from evoautodl.fidelity import BudgetLadder
from evoautodl.operators.mutation import mutate
from evoautodl.operators.resolve import resolve_operator
from evoautodl.operators.selection import tournament
from evoautodl.operators.values import Operator
from evoautodl.records import Result, Trial, derive_seed
from evoautodl.space import SearchSpace

__all__ = ["COMMON_ARGUMENTS", "ENQUEUED", "Algorithm", "Member", "genome_tuple", "require_ladder"]

#: the arguments every algorithm constructor takes (through ``**common``) besides its own options
COMMON_ARGUMENTS = ("seed", "n_objectives", "max_budget", "ladder")
#: the operator of the trials of enqueued configurations
ENQUEUED = "enqueued"


def require_ladder(name: str, ladder: BudgetLadder | None) -> BudgetLadder:
    """The ladder, or a ConfigError saying that algorithm ``name`` needs one."""
    if ladder is None:
        raise ConfigError(
            f"algorithm {name!r} is multi-fidelity and needs a budget ladder: pass "
            "ladder=BudgetLadder(min_budget, max_budget, eta) (in an experiment file: a [fidelity] table "
            "with min_budget, max_budget and eta)"
        )
    if not isinstance(ladder, BudgetLadder):
        raise ConfigError(f"algorithm {name!r}: ladder must be a BudgetLadder, got {type(ladder).__name__}")
    return ladder


class Algorithm(ABC):
    """Base class: trial/individual ids, seeds, state_dict, checkpoint hygiene and the incumbent.

    Args (the common arguments, ``**common`` in subclasses):
        space: the search space.
        seed: root seed; trial seeds derive from (seed, trial_id).
        n_objectives: number of minimised objectives the workload reports.
        max_budget: budget (epochs) for algorithms without a ladder.
        ladder: the fidelity ladder (its max_budget overrides ``max_budget``).

    Raises:
        ConfigError: for a common argument of the wrong type or range, or a
            missing ladder when ``requires_ladder`` is set, naming the algorithm.
    """

    #: short name used in configs and the CLI
    name: str = "algorithm"
    #: does the algorithm use the rungs of the fidelity ladder (budgets below the maximum)?
    multi_fidelity: bool = False
    #: does the constructor refuse to run without a fidelity ladder?
    requires_ladder: bool = False
    #: does ``ask`` hand out a trial whenever a worker is free (no generation barrier)?
    asynchronous: bool = False
    #: does the algorithm discard checkpoints itself? (False: the base class keeps only the incumbent's)
    manages_checkpoints: bool = False
    #: does the algorithm optimise every objective (a Pareto front)? False: it minimises the first one only
    multi_objective: bool = False
    #: does ``on_result`` receive the results of enqueued configurations (trials it did not breed)?
    learns_from_enqueued: bool = True

    def __init__(self, space: SearchSpace, *, seed: int = 0, n_objectives: int = 1, max_budget: float = 1.0,
                 ladder: BudgetLadder | None = None):
        if not isinstance(space, SearchSpace):
            raise ConfigError(f"{self.name}: space must be an evoautodl SearchSpace, got {type(space).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ConfigError(f"{self.name}: seed must be an integer >= 0, got {seed!r}")
        if isinstance(n_objectives, bool) or not isinstance(n_objectives, int | np.integer) or n_objectives < 1:
            raise ConfigError(f"{self.name}: n_objectives must be an integer >= 1, got {n_objectives!r}")
        if isinstance(max_budget, bool) or not isinstance(max_budget, int | float) or not max_budget > 0:
            raise ConfigError(f"{self.name}: max_budget must be a number > 0, got {max_budget!r}")
        if self.requires_ladder or ladder is not None:
            require_ladder(self.name, ladder)
        if ladder is not None and max_budget not in (1.0, ladder.max_budget):
            raise ConfigError(f"{self.name}: max_budget={max_budget!r} differs from the ladder's maximum "
                              f"{ladder.max_budget!r} (the ladder's is used): give one of them")
        self.space = space
        self.seed = int(seed)
        self.n_objectives = int(n_objectives)
        self.ladder = ladder
        self.max_budget = float(ladder.max_budget if ladder is not None else max_budget)
        self._top_rung = ladder.n_rungs - 1 if ladder is not None else 0  # read on every ask
        self.rng = np.random.default_rng(self.seed)
        self.n_asked = 0
        self.n_told = 0
        self.n_failed = 0
        self._next_individual_id = 0
        self._pending: dict[int, Trial] = {}
        self._discard: list[str] = []
        self._incumbent: tuple[float, str] | None = None  # (fitness, checkpoint key) kept by keep_if_incumbent
        self._enqueued: list[tuple[tuple[float, ...], float, int]] = []  # (genome, budget, rung) not asked yet

    # ------------------------------------------------------------------ protocol
    @abstractmethod
    def ask(self, n: int) -> list[Trial]:
        """Up to ``n`` new trials (fewer, or none, while a barrier waits)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "tell" in cls.__dict__:
            raise TypeError(
                f"{cls.__qualname__} overrides Algorithm.tell; override on_result(result) instead (tell does the "
                "bookkeeping: pending trials, counts, failed trials, and calls on_result for the algorithm's own "
                "results)"
            )

    def tell(self, result: Result) -> None:
        """Report a finished trial (any status). Not overridden: subclasses react in :meth:`on_result`.

        The base class drops the trial from the pending ones and counts it; a
        result of a trial this algorithm did not ask (or already told) changes
        nothing else.
        """
        trial = self._pending.pop(result.trial.trial_id, None)
        self.n_told += 1
        if not result.ok:
            self.n_failed += 1
        if trial is not None:
            n_discarded = len(self._discard)
            enqueued = trial.operator == ENQUEUED
            if not enqueued or self.learns_from_enqueued:
                self.on_result(result)
            if not self.manages_checkpoints or enqueued:
                # checkpoint hygiene by default, and for the enqueued trials an algorithm did not breed
                # (unless on_result let this checkpoint go, or kept it as the incumbent, itself)
                key = _key_of(result)
                if key not in self._discard[n_discarded:] and (self._incumbent is None or key != self._incumbent[1]):
                    if result.trial.budget_epochs >= self.max_budget:
                        self.keep_if_incumbent(result)
                    else:
                        self.discard_checkpoint(key)

    def on_result(self, result: Result) -> None:  # noqa: B027 (a hook: most algorithms override it)
        """React to a finished trial this algorithm asked (failed ones have ``result.objective == inf``).

        This includes the trials of enqueued configurations (``trial.operator == "enqueued"``,
        made by the base class) unless ``learns_from_enqueued`` is False: an algorithm that
        keeps bookkeeping per trial it bred should ignore a trial it does not know.
        """

    # ------------------------------------------------------------------ warm start
    def enqueue(self, config: Mapping[str, Any]) -> None:
        """Evaluate a known configuration before anything the algorithm breeds (a warm start).

        The runner asks :meth:`next_trials`, which hands out the enqueued configurations
        first, in order, as trials with operator ``"enqueued"`` at the maximum budget; their
        results are told like any other (see ``learns_from_enqueued``), and the checkpoint
        of one that is not the best at the maximum budget is discarded. The queue is part
        of the state, so resume stays exact.

        Raises:
            ConfigError: the configuration is not valid in the space (names the problem),
                or the algorithm has already asked for trials.
        """
        if self.n_asked:
            raise ConfigError(f"{self.name}: enqueue() before the first ask: enqueued configurations are evaluated "
                              f"first (this algorithm has asked for {self.n_asked} trials)")
        if not isinstance(config, Mapping):
            raise ConfigError(f"{self.name}: enqueue() takes a configuration (a dict), got {type(config).__name__}")
        problem = self.space.explain_invalid(config)
        if problem:
            raise ConfigError(f"{self.name}: enqueued configuration {dict(config)!r}: {problem}")
        genome = tuple(float(x) for x in self.space.from_config(config))
        self._enqueued.append((genome, self.max_budget, self.rung_of(self.max_budget)))

    @property
    def n_enqueued(self) -> int:
        """Enqueued configurations not handed out yet."""
        return len(self._enqueued)

    @property
    def enqueued_configs(self) -> list[dict[str, Any]]:
        """The enqueued configurations not handed out yet (a new run records them; a resume compares them)."""
        return [self.space.to_config(genome) for genome, _, _ in self._enqueued]

    def next_trials(self, n: int) -> list[Trial]:
        """What the runner asks: the enqueued configurations first, then ``ask`` for the remaining slots."""
        out: list[Trial] = []
        while self._enqueued and len(out) < n:
            genome, budget, rung = self._enqueued.pop(0)
            out.append(self.make_trial(genome, budget=budget, operator=ENQUEUED, rung=rung))
        if len(out) < n:
            out += self.ask(n - len(out))
        return out

    def is_finished(self) -> bool:
        """True when the algorithm has nothing more to ask (most never finish)."""
        return False

    @property
    def pending(self) -> list[Trial]:
        """Trials asked and not yet told."""
        return list(self._pending.values())

    @property
    def n_pending(self) -> int:
        """Number of trials asked and not yet told."""
        return len(self._pending)

    def is_pending(self, trial_id: int) -> bool:
        """True while the trial with this id is asked and not yet told."""
        return trial_id in self._pending

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue (the space excepted); picklable."""
        return copy.deepcopy({k: v for k, v in self.__dict__.items() if k != "space"})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict`."""
        self.__dict__.update(copy.deepcopy(state))

    def discard_checkpoint(self, key: str | None) -> None:
        """Mark a checkpoint the algorithm will never resume from again (None: nothing to drop).

        The runner deletes marked checkpoints after each batch of results, so
        disk use stays bounded; an algorithm calls this for every checkpoint
        key it lets go of (a promoted trial's lower checkpoint, a replaced
        member's, a dropped candidate's).
        """
        if key is not None:
            self._discard.append(key)

    def pop_discarded_checkpoints(self) -> list[str]:
        """Checkpoint keys the algorithm will never resume from again (the runner deletes them)."""
        out, self._discard = self._discard, []
        return out

    @property
    def uses_ladder(self) -> bool:
        """True when this instance's budgets come from the ladder's rungs (not only its maximum)."""
        return self.multi_fidelity and self.ladder is not None

    @property
    def ladder_settings(self) -> tuple[str, ...]:
        """The ladder's settings this instance reads (an experiment refuses a ``[fidelity]`` key it would ignore).

        All three when its budgets come from the rungs (`uses_ladder`), else only ``max_budget``.
        """
        return ("min_budget", "max_budget", "eta") if self.uses_ladder else ("max_budget",)

    # ------------------------------------------------------------------ helpers
    def keep_if_incumbent(self, result: Result) -> bool:
        """Keep ``result``'s checkpoint if it is the best so far (first objective), else discard it.

        The previous incumbent's checkpoint is discarded when a better one
        arrives, so exactly one checkpoint survives (the best model trained
        to this budget). Call it for results at the maximum budget. Returns
        True when ``result`` became the incumbent.
        """
        f = result.objective
        if result.ok and result.checkpoint is not None and (self._incumbent is None or f < self._incumbent[0]):
            if self._incumbent is not None:
                self.discard_checkpoint(self._incumbent[1])
            self._incumbent = (f, result.checkpoint)
            return True
        self.discard_checkpoint(_key_of(result))
        return False

    @property
    def incumbent_checkpoint(self) -> str | None:
        """Checkpoint key kept by :meth:`keep_if_incumbent` (None: none yet)."""
        return None if self._incumbent is None else self._incumbent[1]

    @property
    def top_rung(self) -> int:
        """Index of the ladder's last rung (the maximum budget); 0 without a ladder."""
        return self._top_rung

    def rung_of(self, budget: float) -> int:
        """Ladder rung of a budget (nearest); 0 without a ladder."""
        return self.ladder.rung_of(budget) if self.ladder is not None else 0

    def member(self, result: Result, n_objectives: int = 1) -> Member:
        """The population record of a result (failed: +inf objectives), born now (``birth = n_told``)."""
        return Member.from_result(result, n_objectives, birth=self.n_told)

    def resolve_operator(self, value: Any, *, kind: str, option: str, arity: int | None = None,
                         n_children: Sequence[int] | None = None, params: Any = None,
                         builtin_settings: Mapping[str, tuple[str, Any, Any]] | None = None) -> Operator:
        """An operator option as an :class:`~evoautodl.operators.Operator`, checked now.

        Args:
            value: a built-in name, a callable or ``"module:function"`` (see
                :func:`evoautodl.operators.resolve_operator`).
            kind, option, arity, n_children: what the option needs.
            params: the option's parameter table (``<option>_params``), passed on every call.
            builtin_settings: ``{param: (setting, value, default)}``: the algorithm's own
                settings of the built-in operator (``{"sigma": ("mutation_sigma", 0.3, 0.1)}``);
                a built-in operator gets them as parameters, a user's operator refuses any
                that differs from its default (it would be silently ignored).

        Raises:
            ConfigError: naming this algorithm, the option and the operator.
        """
        table = opt.params_table(self.name, f"{option}_params", params)
        op = resolve_operator(value, kind=kind, owner=self.name, option=option, arity=arity,
                              n_children=n_children, params=table, space=self.space)
        settings = dict(builtin_settings or {})
        if op.builtin:
            unused = _UNUSED_BY.get(op.params.get("float_op")) if op.fn is mutate else None
            if unused in settings and settings[unused][1] != settings[unused][2]:
                raise ConfigError(f"{self.name}: {settings[unused][0]} does not apply to the "
                                  f"{op.params['float_op']} mutation (mutation={value!r})")
            own = {p: v for p, (_, v, _) in settings.items()}
            return dataclasses.replace(op, params={**own, **op.params})
        opt.builtin_only(self.name, op, option, **{name: (v, d) for name, v, d in settings.values()})
        return op

    def resolve_mutation(self, value: Any, params: Any, rate: Any, sigma: Any, *, default_rate: float | None,
                         default_sigma: float) -> Operator:
        """The ``mutation`` option (one parent, one child); ``mutation_rate`` / ``mutation_sigma`` set to other
        than their defaults with a mutation other than the built-in Gaussian one are an error (see
        :meth:`resolve_operator`'s ``builtin_settings``)."""
        return self.resolve_operator(value, kind="mutation", option="mutation", arity=1, n_children=(1,), params=params,
                                     builtin_settings={"rate": ("mutation_rate", rate, default_rate),
                                                       "sigma": ("mutation_sigma", sigma, default_sigma)})

    def resolve_selection(self, value: Any, params: Any, size: int, *, setting: str = "tournament_size",
                          default: int = 3) -> Operator:
        """The ``selection`` option: the built-in tournament gets ``size`` entrants; any other selection refuses
        a ``setting`` (``tournament_size``) changed from its default, which only the tournament uses."""
        op = self.resolve_operator(value, kind="selection", option="selection", params=params)
        if op.builtin and op.fn is tournament:
            return dataclasses.replace(op, params={"size": size, **op.params})
        if size != default:
            raise ConfigError(f"{self.name}: {setting} sets the built-in tournament, but selection is {op.label!r}; "
                              "give its parameters in selection_params")
        return op

    def new_individual_id(self) -> int:
        i = self._next_individual_id
        self._next_individual_id += 1
        return i

    def make_trial(
        self,
        genome: np.ndarray | Sequence[float],
        *,
        budget: float | None = None,
        individual_id: int | None = None,
        parent_ids: Sequence[int] = (),
        operator: str = "sample",
        resume_from: str | None = None,
        resume_budget: float | None = None,
        generation: int = 0,
        rung: int = 0,
    ) -> Trial:
        """A Trial for a repaired genome; assigns ids and the derived seed.

        ``resume_from`` (a checkpoint key an earlier result left) comes with
        ``resume_budget``, the budget that checkpoint was trained to: the
        workload trains only the epochs above it, and the runner counts them.

        Raises:
            ValueError: ``resume_from`` without ``resume_budget`` (or the reverse), or a
                ``resume_budget`` that is not a number in [0, budget].
        """
        budget_epochs = float(self.max_budget if budget is None else budget)
        if resume_from is not None or resume_budget is not None:
            resume_budget = _resume_budget(self.name, resume_from, resume_budget, budget_epochs)
        tid = self.n_asked
        self.n_asked += 1
        g = genome_tuple(genome)
        trial = Trial(
            trial_id=tid,
            individual_id=self.new_individual_id() if individual_id is None else int(individual_id),
            config=self.space.to_config(g),
            genome=g,
            budget_epochs=budget_epochs,
            seed=derive_seed(self.seed, tid),
            parent_ids=tuple(map(int, parent_ids)),
            operator=operator,
            resume_from=resume_from,
            generation=int(generation),
            rung=int(rung),
            resume_budget=resume_budget,
        )
        self._pending[tid] = trial
        return trial

    @staticmethod
    def fitness_of(result: Result) -> float:
        """Scalar to minimise: first objective, +inf for failed trials."""
        return result.objective


def _resume_budget(name: str, resume_from: str | None, resume_budget: Any, budget: float) -> float:
    """``resume_budget`` checked against ``resume_from`` and the trial's budget (ValueError naming the problem)."""
    if resume_from is None:
        raise ValueError(f"{name}: make_trial got resume_budget={resume_budget!r} without resume_from")
    if resume_budget is None:
        raise ValueError(f"{name}: make_trial(resume_from={resume_from!r}) needs resume_budget=, the budget that "
                         "checkpoint was trained to (the epochs the trial does not train again)")
    if isinstance(resume_budget, bool) or not isinstance(resume_budget, int | float | np.number) or not (
            0 <= float(resume_budget) <= budget):
        raise ValueError(f"{name}: resume_budget={resume_budget!r} of {resume_from!r} must be a number in "
                         f"[0, {budget:g}] (the trial's budget)")
    return float(resume_budget)


#: the parameter of the built-in mutation that each of its float steps ignores
_UNUSED_BY = {"polynomial": "sigma", "gaussian": "eta"}


def genome_tuple(genome: np.ndarray | Sequence[float]) -> tuple[float, ...]:
    """``tuple(float(x) for x in genome)``; a 1-D array is read at once (not one numpy scalar at a time)."""
    if isinstance(genome, np.ndarray) and genome.ndim == 1:
        genome = genome.tolist()
    return tuple(map(float, genome))


def _key_of(result: Result) -> str:
    """The checkpoint a result left (or the key its trial would have written)."""
    return result.checkpoint if result.checkpoint is not None else result.trial.checkpoint_key


@dataclass(frozen=True, slots=True)
class Member:
    """An evaluated individual in an algorithm's population (shared by the evolutionary algorithms).

    Attributes:
        genome: the repaired unit-cube genome.
        objectives: minimised objectives; all +inf for a failed trial.
        individual_id: the individual's id (kept across budget promotions).
        trial_id: the trial that produced these objectives.
        budget_epochs: the budget they were measured at.
        checkpoint: checkpoint key the trial left (None: none).
        birth: position in the order the algorithm received results (for ageing).
    """

    genome: tuple[float, ...]
    objectives: tuple[float, ...]
    individual_id: int
    trial_id: int
    budget_epochs: float
    checkpoint: str | None = None
    birth: int = 0

    @property
    def fitness(self) -> float:
        """First objective (+inf when failed)."""
        return self.objectives[0]

    @classmethod
    def from_result(cls, result: Result, n_objectives: int = 1, birth: int = 0) -> Member:
        """The member a result describes; a failed result (or too few objectives) gets +inf objectives."""
        t = result.trial
        if result.ok and len(result.objectives) >= n_objectives:
            objectives = tuple(map(float, result.objectives[:n_objectives]))
        else:
            objectives = (math.inf,) * n_objectives
        return cls(genome=tuple(t.genome), objectives=objectives, individual_id=t.individual_id,
                   trial_id=t.trial_id, budget_epochs=float(t.budget_epochs), checkpoint=result.checkpoint,
                   birth=birth)
