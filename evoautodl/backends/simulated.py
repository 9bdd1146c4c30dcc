"""Simulated-clock backend: N virtual asynchronous workers on the workload's reported cost.

Each submitted trial is evaluated at once in this process, but its result is
released at virtual time ``start + cost_s`` (the surrogate's predicted
training time, or the measured wall time if the workload reports none). The
runner therefore sees results in the order an N-worker cluster would produce
them, so a laptop can study how an algorithm behaves with 4 or 1024 workers.
Result start/end times are virtual seconds since the backend started. A failed
trial costs no virtual time (its wall time would make runs non-repeatable).
"""

from __future__ import annotations

import heapq
import time
from dataclasses import replace
from pathlib import Path

from evoautodl.backends.base import Backend, execute_trial
from evoautodl.backends.interrupt import Alarm, TrialInterrupted, interrupted_result
from evoautodl.backends.serial import check_timeout, setup_workload
from evoautodl.records import Result, Status, Trial, failed_result
from evoautodl.workloads.base import WorkerContext, Workload

__all__ = ["SimulatedBackend"]


class SimulatedBackend(Backend):
    """Virtual-time backend with ``n_workers`` asynchronous workers.

    Args:
        workload: what to evaluate.
        n_workers: number of virtual workers.
        checkpoint_dir: folder for checkpoints.
        overhead_s: virtual seconds added to every evaluation (dispatch latency).
        start_time: virtual clock at start (a resumed run continues its clock).
        timeout_s: wall-time limit of one in-process evaluation (None: none) -> TIMEOUT.
        device: torch device of the in-process evaluations ("cpu" or "cuda:K").
        torch_threads: torch intra-op threads.

    Evaluations run inside ``submit``; on SIGTERM/SIGINT ``interrupt(grace_s)``
    cancels one still running after ``grace_s`` seconds.
    """

    #: results carry virtual times (seconds since the backend started), not wall-clock ones
    virtual_clock = True

    def __init__(self, workload: Workload, n_workers: int = 4, *, checkpoint_dir: str | Path | None = None,
                 overhead_s: float = 0.0, start_time: float = 0.0, timeout_s: float | None = None,
                 device: str = "cpu", torch_threads: int = 1):
        if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
            raise ValueError(f"n_workers must be an integer >= 1, got {n_workers!r}")
        self.workload = workload
        self.n_workers = int(n_workers)
        self.overhead_s = float(overhead_s)
        self.context = WorkerContext.local(checkpoint_dir, device=device, torch_threads=torch_threads)
        self._clock = float(start_time)
        self._free = list(range(1, self.n_workers + 1))  # worker ids, min-heap
        self._events: list[tuple[float, int, int, Result]] = []  # (end, trial_id, worker, result)
        self._ready = False
        self.timeout_s = check_timeout(timeout_s)
        self._alarm = Alarm()

    @property
    def capacity(self) -> int:
        return self.n_workers

    @property
    def n_running(self) -> int:
        return len(self._events)

    def now(self) -> float:
        return self._clock

    def submit(self, trial: Trial) -> None:
        if not self._free:
            raise RuntimeError("SimulatedBackend: submit() with every worker busy")
        if not self._ready:
            setup_workload(self.workload, self.context)
            self._ready = True
        worker = heapq.heappop(self._free)
        t0 = time.time()
        try:
            self._alarm.start(self.timeout_s)
            try:
                result = execute_trial(self.workload, trial, self.context)
            finally:
                self._alarm.end()
        except TrialInterrupted as exc:
            result = interrupted_result(trial, exc, self.context, t0)
        start = self._clock
        # A failed trial reports no simulated cost: count it as free, so virtual
        # time (and the order results arrive in) stays deterministic.
        cost = max(0.0, result.cost_s) if result.ok else 0.0
        end = start + cost + self.overhead_s
        result = replace(result, worker=worker, start_time=start, end_time=end)
        heapq.heappush(self._events, (end, trial.trial_id, worker, result))

    def wait(self, timeout_s: float | None = None) -> list[Result]:
        if not self._events:
            return []
        end, _, worker, result = heapq.heappop(self._events)
        self._clock = max(self._clock, end)
        heapq.heappush(self._free, worker)
        out = [result]
        while self._events and self._events[0][0] <= self._clock:
            _, _, w, r = heapq.heappop(self._events)
            heapq.heappush(self._free, w)
            out.append(r)
        return out

    def interrupt(self, grace_s: float = 0.0) -> None:
        self._alarm.stop_after(grace_s)

    def cancel_running(self, grace_s: float = 0.0) -> list[Result]:
        out = [failed_result(r.trial, Status.CANCELLED, "run stopped", worker=w, start_time=r.start_time,
                             end_time=self._clock) for _, _, w, r in sorted(self._events)]
        self._events.clear()
        self._free = list(range(1, self.n_workers + 1))
        return out

    def shutdown(self, exit_code: int | None = None) -> None:
        self._events.clear()
