"""Serial backend: evaluates one trial at a time in this process."""

from __future__ import annotations

import math
import time
from collections import deque
from pathlib import Path

from evoautodl.backends.base import Backend, execute_trial
from evoautodl.backends.faults import FaultRecorder
from evoautodl.backends.interrupt import Alarm, TrialInterrupted, interrupted_result
from evoautodl.errors import EvoAutoDLError, WorkloadError
from evoautodl.records import Result, Status, Trial, failed_result
from evoautodl.workloads.base import WorkerContext, Workload

__all__ = ["SerialBackend", "check_timeout", "setup_workload"]


def check_timeout(timeout_s: float | None) -> float | None:
    """``timeout_s`` as a positive finite float, or None (ValueError otherwise)."""
    if timeout_s is None:
        return None
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not (
            math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError(f"timeout_s must be a finite number > 0 or None, got {timeout_s!r}")
    return float(timeout_s)


def setup_workload(workload: Workload, context: WorkerContext) -> None:
    """``workload.setup(context)``; any failure becomes a `WorkloadError` naming it."""
    try:
        workload.setup(context)
    except EvoAutoDLError:
        raise
    except Exception as exc:
        raise WorkloadError(f"the workload's setup failed: {type(exc).__name__}: {exc}") from exc


class SerialBackend(Backend):
    """Runs trials one after the other in the calling process (capacity 1).

    Args:
        workload: what to evaluate.
        checkpoint_dir: folder for model checkpoints (None: none).
        device: torch device for the workload ("cpu" or "cuda:K").
        torch_threads: torch intra-op threads.
        timeout_s: per-trial wall-time limit (None: none): a longer evaluation is
            interrupted (SIGALRM, main thread) and becomes a TIMEOUT result.
        fault_dir: where to record the trial running when a fatal signal kills
            this process (`evoautodl.backends.faults`; None: not recorded).

    When the run stops (SIGTERM/SIGINT), ``interrupt(grace_s)`` lets the running
    evaluation finish within ``grace_s`` seconds, then cancels it.
    """

    def __init__(self, workload: Workload, *, checkpoint_dir: str | Path | None = None, device: str = "cpu",
                 torch_threads: int = 1, timeout_s: float | None = None, fault_dir: str | Path | None = None):
        self.workload = workload
        self.context = WorkerContext.local(checkpoint_dir, device=device, torch_threads=torch_threads)
        self.timeout_s = check_timeout(timeout_s)
        self._faults = FaultRecorder(fault_dir) if fault_dir is not None else None
        self._alarm = Alarm()
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
            setup_workload(self.workload, self.context)
            if self._faults is not None:
                self._faults.open()
            self._ready = True
        trial = self._queue.popleft()
        if self._faults is not None:
            self._faults.begin(trial.trial_id)
        start = time.time()
        try:
            self._alarm.start(self.timeout_s)
            try:
                return [execute_trial(self.workload, trial, self.context)]
            finally:
                self._alarm.end()
        except TrialInterrupted as exc:
            return [interrupted_result(trial, exc, self.context, start)]

    def interrupt(self, grace_s: float = 0.0) -> None:
        self._alarm.stop_after(grace_s)

    def cancel_running(self, grace_s: float = 0.0) -> list[Result]:
        out = [failed_result(t, Status.CANCELLED, "run stopped before the trial started") for t in self._queue]
        self._queue.clear()
        return out

    def shutdown(self, exit_code: int | None = None) -> None:
        self._queue.clear()
        if self._faults is not None:
            self._faults.close()
