"""The backend protocol and the one function that turns a workload call into a Result.

A backend runs trials: ``submit(trial)`` hands one over, ``wait()`` blocks until
at least one finished trial is available and returns them, ``capacity`` is how
many trials may run at once, ``now()`` is the backend's clock (wall time, or
virtual time for the simulated backend). The runner never checks which backend
it has; it asks ``health()`` when no trial can be placed (None: the backend can
still run trials, else why not) and calls ``interrupt(grace_s)`` from its signal
handler.
"""

from __future__ import annotations

import math
import time
import traceback
from abc import ABC, abstractmethod

from evoautodl.records import Evaluation, Result, Status, Trial, failed_result
from evoautodl.workloads.base import WorkerContext, Workload

__all__ = ["Backend", "execute_trial", "stopped_result"]

_FLOAT = frozenset((float,))
_OK = Status.OK  # an enum member looked up through its class costs a call


class Backend(ABC):
    """How evaluations run."""

    #: True when ``now()`` and the results' times are virtual seconds (the simulated clock), not wall time
    virtual_clock: bool = False

    @property
    @abstractmethod
    def capacity(self) -> int:
        """Number of trials that may run at the same time."""

    @abstractmethod
    def submit(self, trial: Trial) -> None:
        """Start evaluating a trial (never blocks for long)."""

    @abstractmethod
    def wait(self) -> list[Result]:
        """Block until at least one trial finished; return all finished ones."""

    @abstractmethod
    def shutdown(self, exit_code: int | None = None) -> None:
        """Release workers. Running trials are cancelled.

        ``exit_code``: the job's exit code, should the backend have to end the
        job itself (the MPI backend's last resort when a worker cannot be stopped).
        """

    def now(self) -> float:
        """The backend's clock in seconds (wall time unless simulated)."""
        return time.time()

    @property
    def n_running(self) -> int:
        """Trials submitted and not yet returned by wait()."""
        return 0

    def interrupt(self, grace_s: float = 0.0) -> None:
        """The run is stopping: make a blocked ``wait()`` return soon; safe in a signal handler.

        A backend that evaluates inside ``wait()``/``submit()`` (serial,
        simulated) lets the running evaluation finish within ``grace_s``
        seconds and then cancels it.
        """
        return None

    def health(self) -> str | None:
        """None while trials can run; otherwise why none can (e.g. every worker is gone, and why)."""
        return None

    def cancel_running(self, grace_s: float = 0.0) -> list[Result]:
        """Stop dispatching; return running trials as finished or CANCELLED results."""
        return []


def stopped_result(trial: Trial, status: Status, error: str, context: WorkerContext, start: float) -> Result:
    """A trial that did not finish OK on the worker of ``context`` (`evoautodl.records.failed_result`)."""
    return failed_result(trial, status, error, worker=context.rank, host=context.host, device=context.device,
                         start_time=start)


def execute_trial(workload: Workload, trial: Trial, context: WorkerContext) -> Result:
    """Run ``workload.evaluate`` and turn every outcome into a Result.

    Exceptions (including CUDA out-of-memory, ``sys.exit`` and an `Evaluation`
    that refuses a bad value) and non-finite objectives become FAILED results
    carrying the error text; only ``KeyboardInterrupt`` and the backends'
    `TrialInterrupted` (both BaseExceptions) propagate.
    """
    start = time.time()
    try:
        ev = workload.evaluate(trial, context)
    except (Exception, SystemExit) as exc:  # failures are data; a workload calling sys.exit costs its trial
        text = f"{type(exc).__name__}: {exc}"
        tb = traceback.format_exc(limit=6)
        return stopped_result(trial, Status.FAILED, f"{text}\n{tb}", context, start)
    end = time.time()
    if not isinstance(ev, Evaluation):
        return stopped_result(
            trial, Status.FAILED,
            f"TypeError: workload returned {type(ev).__name__}, expected evoautodl.Evaluation",
            context, start,
        )
    objectives = ev.objectives  # an Evaluation's objectives are a tuple of floats
    if type(objectives) is not tuple or not _FLOAT.issuperset(map(type, objectives)):
        objectives = tuple(float(v) for v in objectives)
    status = _OK
    error = None
    if not objectives:
        status, error = Status.FAILED, "workload returned no objective"
    elif not all(map(math.isfinite, objectives)):
        bad = [i for i, v in enumerate(objectives) if not math.isfinite(v)]
        status = Status.FAILED
        error = f"non-finite objective(s) {[objectives[i] for i in bad]} at index {bad}"
    return Result(
        trial=trial,
        status=status,
        objectives=objectives,
        metrics=dict(ev.metrics),
        curve={k: list(v) for k, v in ev.curve.items()} if ev.curve else {},
        epochs_trained=float(ev.epochs_trained),
        cost_s=float(ev.cost_s) if ev.cost_s is not None else end - start,
        error=error,
        worker=context.rank,
        host=context.host,
        device=context.device,
        start_time=start,
        end_time=end,
        checkpoint=ev.checkpoint,
    )
