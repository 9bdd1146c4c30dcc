"""The workload protocol: what an evaluation does.

A workload is a picklable object. Each worker calls ``setup(context)`` once
(load data onto the worker's device), then ``evaluate(trial, context)`` for
every trial it receives. Constructors must stay cheap: no file I/O, no CUDA.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from evoautodl.records import Evaluation, Trial

__all__ = ["Workload", "WorkerContext"]


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
