"""Typed, frozen records that cross module (and MPI rank) boundaries.

`Trial` is what an algorithm asks to evaluate; `Evaluation` is what a workload
returns; `Result` is what the backend hands back to the runner and algorithm
(the workload's evaluation plus status, timing and placement).

All objectives are minimised. A workload that reports accuracy reports an
error (1 - accuracy) as its objective and keeps accuracy as a metric.
"""

from __future__ import annotations

import enum
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Evaluation",
    "Result",
    "Status",
    "Trial",
    "derive_seed",
    "checkpoint_key",
    "parse_checkpoint_budget",
]


class Status(enum.StrEnum):
    """Outcome of a trial."""

    OK = "OK"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"


def derive_seed(root_seed: int, trial_id: int) -> int:
    """Seed of a trial: a 32-bit hash of (root seed, trial id).

    It never depends on rank, host or time, so serial and MPI runs agree.
    """
    digest = hashlib.blake2b(f"{int(root_seed)}:{int(trial_id)}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def checkpoint_key(individual_id: int, budget_epochs: int | float) -> str:
    """Name of the checkpoint an individual leaves after training to a budget."""
    b = int(budget_epochs) if float(budget_epochs).is_integer() else budget_epochs
    return f"ind{int(individual_id):07d}_b{b}"


_KEY_BUDGET = re.compile(r"_b(\d+(?:\.\d+)?)(?:\.[A-Za-z]\w*)?$")


def parse_checkpoint_budget(key: str) -> float | None:
    """Budget encoded in a checkpoint key ``ind0000012_b4`` (or a path ending so), else None."""
    m = _KEY_BUDGET.search(str(key).replace("\\", "/").rsplit("/", 1)[-1])
    return float(m.group(1)) if m else None


@dataclass(frozen=True, slots=True)
class Trial:
    """One evaluation request.

    Attributes:
        trial_id: unique, increasing id given by the algorithm.
        individual_id: id of the individual (stays the same when the individual
            is promoted to a higher budget).
        config: the active hyperparameters (native Python types).
        genome: the repaired unit-cube genome the config was decoded from.
        budget_epochs: training budget (epochs or the workload's fidelity unit).
        seed: the trial's seed, ``derive_seed(root_seed, trial_id)``.
        parent_ids: individual ids of the parents.
        operator: how it was made ("sample", "mutate", "crossover+mutate",
            "promote", "exploit", ...).
        resume_from: checkpoint key to continue from, or None.
        generation: generation (or bracket) index.
        rung: rung index on the fidelity ladder (0 without a ladder).
    """

    trial_id: int
    individual_id: int
    config: Mapping[str, Any]
    genome: tuple[float, ...]
    budget_epochs: float
    seed: int
    parent_ids: tuple[int, ...] = ()
    operator: str = "sample"
    resume_from: str | None = None
    generation: int = 0
    rung: int = 0

    @property
    def checkpoint_key(self) -> str:
        """Checkpoint name this trial writes."""
        return checkpoint_key(self.individual_id, self.budget_epochs)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What a workload returns for a trial.

    Attributes:
        objectives: values to minimise (one or more).
        metrics: further final scalars (accuracy, test error, parameter count...).
        curve: per-epoch metrics, a name -> list of floats (one entry per epoch
            of the budget, including epochs inherited from a checkpoint).
        epochs_trained: epochs actually trained in this trial (less than the
            budget when continuing from a checkpoint).
        cost_s: the evaluation's cost in seconds. For a surrogate this is the
            simulated training time; for real training None (wall time is used).
        checkpoint: checkpoint key written, or None.
    """

    objectives: tuple[float, ...]
    metrics: Mapping[str, float] = field(default_factory=dict)
    curve: Mapping[str, list[float]] = field(default_factory=dict)
    epochs_trained: float = 0.0
    cost_s: float | None = None
    checkpoint: str | None = None


@dataclass(frozen=True, slots=True)
class Result:
    """A finished trial as the runner, algorithm and log see it."""

    trial: Trial
    status: Status
    objectives: tuple[float, ...] = ()
    metrics: Mapping[str, float] = field(default_factory=dict)
    curve: Mapping[str, list[float]] = field(default_factory=dict)
    epochs_trained: float = 0.0
    cost_s: float = 0.0
    error: str | None = None
    worker: int = 0
    host: str = ""
    device: str = "cpu"
    start_time: float = 0.0
    end_time: float = 0.0
    checkpoint: str | None = None

    @property
    def trial_id(self) -> int:
        return self.trial.trial_id

    @property
    def ok(self) -> bool:
        """True when the trial finished and every objective is finite."""
        return self.status is Status.OK and bool(self.objectives) and all(
            math.isfinite(v) for v in self.objectives
        )

    @property
    def objective(self) -> float:
        """First objective (inf for a trial that did not finish OK)."""
        return self.objectives[0] if self.ok else math.inf
