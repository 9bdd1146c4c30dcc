"""Serial backend: evaluates one trial at a time in this process."""

from __future__ import annotations

from collections import deque
from pathlib import Path

from evoautodl.backends.base import Backend, execute_trial
from evoautodl.records import Result, Status, Trial
from evoautodl.workloads.base import WorkerContext, Workload

__all__ = ["SerialBackend"]


class SerialBackend(Backend):
    """Runs trials one after the other in the calling process (capacity 1).

    Args:
        workload: what to evaluate.
        checkpoint_dir: folder for model checkpoints (None: none).
        device: torch device for the workload ("cpu" or "cuda:K").
        torch_threads: torch intra-op threads.
    """

    def __init__(self, workload: Workload, *, checkpoint_dir: str | Path | None = None, device: str = "cpu",
                 torch_threads: int = 1):
        self.workload = workload
        self.context = WorkerContext.local(checkpoint_dir, device=device, torch_threads=torch_threads)
        self._queue: deque[Trial] = deque()
        self._ready = False

    @property
    def capacity(self) -> int:
        return 1

    @property
    def n_running(self) -> int:
        return len(self._queue)

    def submit(self, trial: Trial) -> None:
        self._queue.append(trial)

    def wait(self, timeout_s: float | None = None) -> list[Result]:
        if not self._queue:
            return []
        if not self._ready:
            self.workload.setup(self.context)
            self._ready = True
        return [execute_trial(self.workload, self._queue.popleft(), self.context)]

    def cancel_running(self, grace_s: float = 0.0) -> list[Result]:
        out = [Result(trial=t, status=Status.CANCELLED, error="run stopped before the trial started")
               for t in self._queue]
        self._queue.clear()
        return out

    def shutdown(self) -> None:
        self._queue.clear()
