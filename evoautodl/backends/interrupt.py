"""Stopping an evaluation that runs in this process: the per-trial timeout and a stopping run's grace.

The serial and simulated backends evaluate in the runner's own process, so a
hung trial would hold the run forever. `Alarm` uses ``SIGALRM`` only while an
evaluation runs and only when a limit applies (otherwise it costs two
attribute writes per trial, no system call)::

    alarm.start(timeout_s)                # TIMEOUT once timeout_s passed (None: no limit)
    try:
        evaluate(...)
    finally:
        alarm.end()
    alarm.stop_after(grace_s)             # from the runner's SIGTERM/SIGINT handler:
                                          # CANCELLED once grace_s passed

When a limit passes, the handler raises `TrialInterrupted` inside the
evaluation. It derives from ``BaseException``, so a workload's ``except
Exception`` cannot swallow it. Code that never returns to the interpreter
(a C extension ignoring signals) is beyond its reach: there only SIGKILL helps,
and the run resumes from its log. ``SIGALRM`` is a main-thread affair: in other
threads the alarm does nothing.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from typing import Any

from evoautodl.records import Result, Status, Trial, failed_result
from evoautodl.workloads.base import WorkerContext

__all__ = ["Alarm", "TrialInterrupted", "interrupted_result"]


class TrialInterrupted(BaseException):
    """Raised inside an evaluation to stop it: ``status`` is TIMEOUT or CANCELLED."""

    def __init__(self, status: Status, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def interrupted_result(trial: Trial, exc: TrialInterrupted, context: WorkerContext, start: float) -> Result:
    """The Result of an evaluation stopped by `TrialInterrupted`."""
    return failed_result(trial, exc.status, exc.reason, worker=context.rank, host=context.host,
                         device=context.device, start_time=start)


class Alarm:
    """Per-evaluation timeout and stop-after-grace for evaluations in this process (see the module docstring)."""

    def __init__(self) -> None:
        self.active = False
        self.timeout_s: float | None = None
        self.deadline = math.inf
        self.stop_at = math.inf
        self.grace_s = 0.0
        self._old: Any = None
        self._installed = False

    def start(self, timeout_s: float | None = None) -> None:
        """An evaluation begins: arm the limits that apply."""
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s if timeout_s else math.inf
        self.active = True
        if timeout_s or self.stop_at < math.inf:
            self._arm()

    def end(self) -> None:
        """The evaluation is over (finished, failed or interrupted): disarm."""
        self.active = False
        if self._installed:
            signal.setitimer(signal.ITIMER_REAL, 0.0)
            signal.signal(signal.SIGALRM, self._old if self._old is not None else signal.SIG_DFL)
            self._installed = False

    def stop_after(self, grace_s: float) -> None:
        """Cancel the running evaluation (and any later one) once ``grace_s`` seconds have passed."""
        self.grace_s = max(0.0, float(grace_s))
        self.stop_at = min(self.stop_at, time.monotonic() + self.grace_s)
        if self.active:
            self._arm()

    def _arm(self) -> None:
        if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
            return
        if not self._installed:
            self._old = signal.signal(signal.SIGALRM, self._handler)
            self._installed = True
        end = min(self.deadline, self.stop_at)
        if math.isfinite(end):
            signal.setitimer(signal.ITIMER_REAL, max(1e-4, end - time.monotonic()))

    def _handler(self, signum: int, frame: Any) -> None:
        if not self.active:
            return
        now = time.monotonic()
        if now >= self.stop_at:
            self.active = False
            raise TrialInterrupted(Status.CANCELLED, f"CANCELLED: the run stopped and the trial did not finish "
                                                     f"within grace_s={self.grace_s:g} s")
        if now >= self.deadline:
            self.active = False
            raise TrialInterrupted(Status.TIMEOUT, f"TIMEOUT: evaluation exceeded timeout_s={self.timeout_s:g} s")
        self._arm()  # early (clock granularity): wait for the rest
