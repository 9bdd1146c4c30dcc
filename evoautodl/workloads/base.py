"""The workload protocol: what an evaluation does.

A workload is a picklable object. Each worker calls ``setup(context)`` once
(load data onto the worker's device), then ``evaluate(trial, context)`` for
every trial it receives. Constructors must stay cheap: no file I/O, no CUDA.
An optional ``preflight()`` makes cheap checks (files exist, a CSV's columns, an
array's shape) that the CLI runs on the manager before the run directory is
created, so bad data is one message instead of a setup failure on every worker.
The `Evaluation` that ``evaluate`` returns checks its values when it is made.
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from evoautodl.records import Evaluation, Trial

__all__ = ["Workload", "WorkerContext", "resolve_budget"]


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
