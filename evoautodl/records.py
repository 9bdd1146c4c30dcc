"""Typed, frozen records that cross module (and MPI rank) boundaries.

`Trial` is what an algorithm asks to evaluate; `Evaluation` is what a workload
returns; `Result` is what the backend hands back to the runner and algorithm
(the workload's evaluation plus status, timing and placement).

All objectives are minimised. A workload that reports accuracy reports an
error (1 - accuracy) as its objective and keeps accuracy as a metric.

An `Evaluation` checks itself when it is made: objectives, metrics and curve
values must be numbers (numpy and torch scalars and arrays are converted to
Python floats and lists), ``epochs_trained`` and ``cost_s`` finite and >= 0.
A bad value raises ``TypeError``/``ValueError`` naming it, inside the
workload's ``evaluate``, so the trial becomes a FAILED result and whatever
reaches the log reads back.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Evaluation",
    "Result",
    "Status",
    "Trial",
    "as_float",
    "derive_seed",
    "checkpoint_key",
    "failed_result",
    "parse_checkpoint_budget",
]


class Status(enum.StrEnum):
    """Outcome of a trial."""

    OK = "OK"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"


_OK = Status.OK  # an enum member looked up through its class costs a metaclass call: hot paths keep it
_isfinite = math.isfinite


def derive_seed(root_seed: int, trial_id: int) -> int:
    """Seed of a trial: a 32-bit hash of (root seed, trial id).

    It never depends on rank, host or time, so serial and MPI runs agree.
    """
    h = _seed_hash(int(root_seed)).copy()  # the hash of "root:" continued: the digest of "root:trial"
    h.update(str(int(trial_id)).encode())
    return int.from_bytes(h.digest(), "little")


@functools.lru_cache(maxsize=64)
def _seed_hash(root_seed: int) -> Any:
    """blake2b (4 bytes) that has read ``"<root_seed>:"`` (copied for each trial of that root seed)."""
    return hashlib.blake2b(f"{root_seed}:".encode(), digest_size=4)


def checkpoint_key(individual_id: int, budget_epochs: int | float) -> str:
    """Name of the checkpoint an individual leaves after training to a budget."""
    b = int(budget_epochs) if float(budget_epochs).is_integer() else budget_epochs
    return f"ind{str(int(individual_id)).zfill(7)}_b{b}"  # zfill(7) is format 07d (sign first), without its parser


_KEY_BUDGET = re.compile(r"_b(\d+(?:\.\d+)?)(?:\.[A-Za-z]\w*)?$")


def parse_checkpoint_budget(key: str) -> float | None:
    """Budget encoded in a checkpoint key ``ind0000012_b4`` (or a path ending so), else None.

    Only for reading logs written before trials carried ``resume_budget``; new code reads
    `Trial.resume_budget`.
    """
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
        resume_budget: the budget the ``resume_from`` checkpoint was trained to
            (None exactly when ``resume_from`` is None): the epochs the trial
            does not train again.
    """

    trial_id: int
    individual_id: int
    config: Mapping[str, Any]
    genome: tuple[float, ...] = field(repr=False)
    budget_epochs: float
    seed: int
    parent_ids: tuple[int, ...] = ()
    operator: str = "sample"
    resume_from: str | None = None
    generation: int = 0
    rung: int = 0
    resume_budget: float | None = None

    @property
    def checkpoint_key(self) -> str:
        """Checkpoint name this trial writes."""
        return checkpoint_key(self.individual_id, self.budget_epochs)

    @property
    def epochs_to_train(self) -> float:
        """The budget less the epochs its ``resume_from`` checkpoint already holds."""
        return self.budget_epochs - (self.resume_budget or 0.0)


def as_float(value: Any, what: str) -> float:
    """``value`` as a Python float: int, float, bool, numpy scalar, 0-d array or one-element torch tensor.

    Raises:
        TypeError: naming ``what`` for anything else (a string, None, a list, a complex number...).
    """
    if type(value) is float:
        return value
    if isinstance(value, int | float):  # bool, int, numpy.float64 (a float subclass)
        return float(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0 and not isinstance(value, str | bytes):
        inner = item()
        if isinstance(inner, int | float):
            return float(inner)
    raise TypeError(f"{what} is {_describe(value)}; expected a number")


_FLOAT = frozenset((float,))
_STR = frozenset((str,))


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def _numbers(value: Any, what: str) -> list[float]:
    """A 1-D sequence of numbers (list, tuple, numpy or torch array) as a list of floats."""
    seq = value.tolist() if hasattr(value, "tolist") and not isinstance(value, str | bytes) else value
    if not isinstance(seq, list | tuple):
        raise TypeError(f"{what} is {_describe(value)}; expected a sequence of numbers")
    return [as_float(x, f"{what}[{i}]") for i, x in enumerate(seq)]


def _metric_value(value: Any, what: str) -> float | list[float]:
    try:
        return as_float(value, what)
    except TypeError:
        if isinstance(value, str | bytes | Mapping) or not (hasattr(value, "tolist") or isinstance(value, Sequence)):
            raise
    return _numbers(value, what)


def _named(table: Any, what: str) -> Mapping[Any, Any]:
    if not isinstance(table, Mapping):
        raise TypeError(f"{what} is {_describe(table)}; expected a dict of name -> values")
    for key in table:
        if not isinstance(key, str):
            raise TypeError(f"{what} name {key!r} is {type(key).__name__}; names must be strings")
    return table


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What a workload returns for a trial (checked and normalised when it is made).

    Attributes:
        objectives: values to minimise (one or more; a single number is taken
            as one objective). NaN/inf are allowed here and make the trial FAILED.
        metrics: further final values by name: a number (NaN allowed) or a 1-D
            sequence of numbers (accuracy, test error, parameter count...).
        curve: per-epoch metrics, a name -> list of numbers (one entry per epoch
            of the budget, including epochs inherited from a checkpoint).
        epochs_trained: epochs actually trained in this trial (less than the
            budget when continuing from a checkpoint); finite and >= 0.
        cost_s: the evaluation's cost in seconds, finite and >= 0. For a
            surrogate this is the simulated training time; for real training
            None (wall time is used).
        checkpoint: checkpoint key written, or None.

    Raises:
        TypeError, ValueError: a value that is not a number where one belongs
            (names the objective, metric or curve and the entry), a negative or
            non-finite ``epochs_trained`` / ``cost_s``.
    """

    objectives: tuple[float, ...]
    metrics: Mapping[str, float | list[float]] = field(default_factory=dict)
    curve: Mapping[str, list[float]] = field(default_factory=dict)
    epochs_trained: float = 0.0
    cost_s: float | None = None
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        objectives, metrics, curve = self.objectives, self.metrics, self.curve
        # fast paths: Python floats where they belong (what most workloads return) need no conversion
        if not (type(objectives) is tuple and _FLOAT.issuperset(map(type, objectives))):
            try:
                objectives = (as_float(objectives, "objective"),)
            except TypeError:
                objectives = tuple(_numbers(objectives, "objectives"))
        if not (type(metrics) is dict and _STR.issuperset(map(type, metrics))
                and _FLOAT.issuperset(map(type, metrics.values()))):
            metrics = {k: _metric_value(v, f"metric {k!r}") for k, v in _named(metrics, "metrics").items()}
        if not (type(curve) is dict and (not curve or all(
                type(k) is str and type(v) is list and _FLOAT.issuperset(map(type, v)) for k, v in curve.items()))):
            curve = {k: _numbers(v, f"curve {k!r}") for k, v in _named(curve, "curve").items()}
        epochs = self.epochs_trained
        if type(epochs) is not float:
            epochs = as_float(epochs, "epochs_trained")
        if not (math.isfinite(epochs) and epochs >= 0):
            raise ValueError(f"epochs_trained must be a finite number >= 0, got {epochs!r}")
        cost = self.cost_s
        if cost is not None and type(cost) is not float:
            cost = as_float(cost, "cost_s")
        if cost is not None and not (math.isfinite(cost) and cost >= 0):
            raise ValueError(f"cost_s must be None or a finite number >= 0, got {cost!r}")
        if self.checkpoint is not None and not isinstance(self.checkpoint, str):
            raise TypeError(f"checkpoint is {_describe(self.checkpoint)}; expected a checkpoint key (str) or None")
        # store what was converted (a value that needed no conversion is in place already)
        if objectives is not self.objectives:
            object.__setattr__(self, "objectives", objectives)
        if metrics is not self.metrics:
            object.__setattr__(self, "metrics", metrics)
        if curve is not self.curve:
            object.__setattr__(self, "curve", curve)
        if epochs is not self.epochs_trained:
            object.__setattr__(self, "epochs_trained", epochs)
        if cost is not self.cost_s:
            object.__setattr__(self, "cost_s", cost)


@dataclass(frozen=True, slots=True)
class Result:
    """A finished trial as the runner, algorithm and log see it."""

    trial: Trial
    status: Status
    objectives: tuple[float, ...] = ()
    metrics: Mapping[str, float | list[float]] = field(default_factory=dict)
    curve: Mapping[str, list[float]] = field(default_factory=dict, repr=False)
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
        return self.status is _OK and bool(self.objectives) and all(map(_isfinite, self.objectives))

    @property
    def objective(self) -> float:
        """First objective (inf for a trial that did not finish OK)."""
        return self.objectives[0] if self.ok else math.inf


def failed_result(trial: Trial, status: Status, error: str, *, worker: int = 0, host: str = "", device: str = "",
                  start_time: float | None = None, end_time: float | None = None) -> Result:
    """The Result of a trial that did not finish OK: FAILED, TIMEOUT or CANCELLED, with its error text.

    The one builder of such results (backends, the resume of a trial that killed its
    worker): no objectives, ``cost_s`` the seconds from ``start_time`` to ``end_time``
    (both default to now).
    """
    end = time.time() if end_time is None else end_time
    start = end if start_time is None or not start_time else start_time
    return Result(trial=trial, status=status, error=error, worker=worker, host=host, device=device,
                  start_time=start, end_time=end, cost_s=max(0.0, end - start))
