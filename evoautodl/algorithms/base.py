"""The ask/tell algorithm protocol and the bookkeeping every algorithm shares.

Writing one: subclass :class:`Algorithm`, implement ``ask(n)`` (build trials
with ``make_trial``) and, to learn from results, the ``on_result(result)``
hook; ``tell`` is the base class's (it keeps the pending trials and counts,
and calls ``on_result`` only for the algorithm's own trials). Checkpoints the
algorithm lets go of are handed back with ``discard_checkpoint(key)``.

An algorithm never imports torch or mpi4py and does no file I/O. It must be a
deterministic function of its seed and the sequence of ``ask``/``tell`` calls:
the runner relies on this to resume a killed run exactly (it replays the
journal of asks and the log of results). ``ask`` that returns no trial must
not change the state.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evoautodl.fidelity import BudgetLadder
from evoautodl.records import Result, Trial, derive_seed
from evoautodl.space import SearchSpace

__all__ = ["Algorithm", "Member"]


class Algorithm(ABC):
    """Base class: trial/individual ids, seeds, state_dict and checkpoint hygiene.

    Args:
        space: the search space.
        seed: root seed; trial seeds derive from (seed, trial_id).
        n_objectives: number of minimised objectives the workload reports.
        max_budget: budget (epochs) for algorithms without a ladder.
        ladder: the fidelity ladder (its max_budget overrides ``max_budget``).
    """

    #: short name used in configs and the CLI
    name: str = "algorithm"
    #: does the algorithm need a fidelity ladder?
    multi_fidelity: bool = False

    def __init__(self, space: SearchSpace, *, seed: int = 0, n_objectives: int = 1, max_budget: float = 1.0,
                 ladder: BudgetLadder | None = None):
        self.space = space
        self.seed = int(seed)
        self.n_objectives = int(n_objectives)
        self.ladder = ladder
        self.max_budget = float(ladder.max_budget if ladder is not None else max_budget)
        self.rng = np.random.default_rng(self.seed)
        self.n_asked = 0
        self.n_told = 0
        self.n_failed = 0
        self._next_individual_id = 0
        self._pending: dict[int, Trial] = {}
        self._discard: list[str] = []

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
            self.on_result(result)

    def on_result(self, result: Result) -> None:  # noqa: B027 (a hook: most algorithms override it)
        """React to a finished trial this algorithm asked (failed ones have ``result.objective == inf``)."""

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

    # ------------------------------------------------------------------ helpers
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
        generation: int = 0,
        rung: int = 0,
    ) -> Trial:
        """A Trial for a repaired genome; assigns ids and the derived seed."""
        tid = self.n_asked
        self.n_asked += 1
        g = tuple(float(x) for x in genome)
        trial = Trial(
            trial_id=tid,
            individual_id=self.new_individual_id() if individual_id is None else int(individual_id),
            config=self.space.to_config(g),
            genome=g,
            budget_epochs=float(self.max_budget if budget is None else budget),
            seed=derive_seed(self.seed, tid),
            parent_ids=tuple(int(p) for p in parent_ids),
            operator=operator,
            resume_from=resume_from,
            generation=int(generation),
            rung=int(rung),
        )
        self._pending[tid] = trial
        return trial

    @staticmethod
    def fitness_of(result: Result) -> float:
        """Scalar to minimise: first objective, +inf for failed trials."""
        return result.objective


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
            objectives = tuple(float(v) for v in result.objectives[:n_objectives])
        else:
            objectives = (math.inf,) * n_objectives
        return cls(genome=tuple(t.genome), objectives=objectives, individual_id=t.individual_id,
                   trial_id=t.trial_id, budget_epochs=float(t.budget_epochs), checkpoint=result.checkpoint,
                   birth=birth)
