"""The workload protocol: what an evaluation does.

A workload is a picklable object. Each worker calls ``setup(context)`` once
(load data onto the worker's device), then ``evaluate(trial, context)`` for
every trial it receives. Constructors must stay cheap: no file I/O, no CUDA.
An optional ``preflight()`` makes cheap checks (files exist, a CSV's columns, an
array's shape) that the CLI runs on the manager before the run directory is
created, so bad data is one message instead of a setup failure on every worker.
The `Evaluation` that ``evaluate`` returns checks its values when it is made.

What a workload declares (optional class attributes, read before anything runs):

* ``hyperparameters``: the names ``evaluate`` reads from ``trial.config``. A
  search-space hyperparameter the workload does not read would be searched in
  vain, so `check_space` refuses it. Without the declaration the space cannot
  be checked, and `check_space` says so.
* ``required_hyperparameters``: the names it cannot do without: each must be a
  hyperparameter of the space and active in every configuration (not conditional).
* ``check_space(space)``: a method for what names alone cannot say (ranges the
  workload accepts, say); it raises `ConfigError` naming the hyperparameter.
* ``objective_descriptions``: objective name -> what it measures and its unit
  (``"1 - validation accuracy, fraction"``), for summaries and ``--dry-run``.

Inactive hyperparameters: a trial's ``config`` holds the active hyperparameters
only; an inactive conditional hyperparameter (and one the space leaves out) is
absent, and the workload decides what it means (the torch workloads take their
space's defaults, `evoautodl.workloads.torch_mlp.DEFAULT_CONFIG` and
`evoautodl.workloads.torch_cnn.DEFAULT_CONFIG`).
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from evoautodl.records import Evaluation, Trial

__all__ = ["Workload", "WorkerContext", "check_space", "describe_objective", "resolve_budget"]


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """Where a workload runs.

    Attributes:
        rank: MPI rank of the worker (0 in serial mode).
        device: torch device string, "cpu" or "cuda:K".
        checkpoint_dir: folder for model checkpoints (None: no checkpoints).
        host: host name.
        local_rank: rank among the workers of the same node.
        torch_threads: intra-op threads torch may use on this worker.
    """

    rank: int = 0
    device: str = "cpu"
    checkpoint_dir: Path | None = None
    host: str = ""
    local_rank: int = 0
    torch_threads: int = 1

    @classmethod
    def local(cls, checkpoint_dir: str | os.PathLike | None = None, **kwargs) -> WorkerContext:
        """A context for in-process evaluation on this host."""
        ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
        return cls(checkpoint_dir=ckpt, host=kwargs.pop("host", socket.gethostname()), **kwargs)


@runtime_checkable
class Workload(Protocol):
    """What every workload implements.

    Attributes:
        objective_names: names of the minimised objectives, in order.
        max_budget: the largest budget the workload accepts (None: no limit).
    """

    objective_names: tuple[str, ...]

    def setup(self, context: WorkerContext) -> None:
        """Prepare the worker once (load data, pick device)."""

    def evaluate(self, trial: Trial, context: WorkerContext) -> Evaluation:
        """Evaluate one trial at ``trial.budget_epochs``."""
        ...


def describe_objective(workload: Any, name: str) -> str:
    """``"val_error (1 - validation accuracy, fraction)"``, or the bare name when the workload does not say."""
    text = (getattr(workload, "objective_descriptions", None) or {}).get(name)
    return f"{name} ({text})" if text else name


def check_space(workload: Any, space: Any, where: str = "space") -> list[str]:
    """Check a search space against what the workload reads (see the module docstring).

    Returns:
        notes for the user (the workload declares nothing, so nothing was checked).

    Raises:
        ConfigError: naming the hyperparameter: one the workload does not read, a
            required one missing or conditional, or what ``workload.check_space`` refuses.
    """
    from evoautodl.errors import ConfigError

    kind = type(workload).__name__
    reads = getattr(workload, "hyperparameters", None)
    notes: list[str] = []
    if reads is None:
        notes.append(f"the workload {kind} does not declare the hyperparameters it reads (a 'hyperparameters' "
                     "attribute), so the search space is not checked against it")
    else:
        reads = tuple(reads)
        unread = [n for n in space.names if n not in reads]
        if unread:
            raise ConfigError(f"{where}: hyperparameter {unread[0]!r} is not read by the workload {kind}, so "
                              f"searching it changes nothing (it reads: {', '.join(reads)}); remove it")
    for name in getattr(workload, "required_hyperparameters", ()) or ():
        if name not in space.index:
            raise ConfigError(f"{where}: the workload {kind} needs hyperparameter {name!r} in every configuration, "
                              "and the space lacks it")
        if space.parents[space.index[name]]:
            raise ConfigError(f"{where}: the workload {kind} needs hyperparameter {name!r} in every configuration, "
                              "but it is conditional in the space")
    custom = getattr(workload, "check_space", None)
    if callable(custom):
        try:
            custom(space)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    return notes


def resolve_budget(trial: Trial, max_budget: int, min_budget: int = 1, what: str = "workload") -> tuple[int, int]:
    """(budget b, epochs already trained b0) of a trial.

    ``b = round(trial.budget_epochs)`` must lie in ``min_budget..max_budget``;
    ``b0 = round(trial.resume_budget)`` (0 without ``resume_from``) and may not exceed b.

    Raises:
        ValueError: with a message naming the trial and the offending value.
    """
    raw = float(trial.budget_epochs)
    b = round(raw) if math.isfinite(raw) else -1
    if not min_budget <= b <= max_budget:
        raise ValueError(
            f"{what}: trial {trial.trial_id} has budget_epochs={trial.budget_epochs!r}; "
            f"it must round to an integer in {min_budget}..{max_budget}"
        )
    if trial.resume_from is None:
        return b, 0
    if trial.resume_budget is None:
        raise ValueError(
            f"{what}: trial {trial.trial_id} resumes from {trial.resume_from!r} without resume_budget "
            "(the budget that checkpoint was trained to; Algorithm.make_trial takes it)"
        )
    b0 = round(float(trial.resume_budget))
    if b0 > b:
        raise ValueError(
            f"{what}: trial {trial.trial_id} resumes from {trial.resume_from!r} (budget {b0}) "
            f"but asks for the smaller budget {b}"
        )
    return b, b0
