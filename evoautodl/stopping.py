"""When a run stops: its criteria (`StopCriteria`), and SIGTERM, SIGINT and SIGUSR1 (`StopSignals`).

Every criterion and setting is a finite number in range (`check_setting`): a
NaN limit would never stop a run.

The first signal sets a flag and wakes the backend (``wake``): the runner stops
asking, lets running trials finish within ``grace_s``, saves its state and
exits 0. A second Ctrl-C aborts at once (``KeyboardInterrupt``), except inside
a *critical section*: writing a log line and telling the algorithm, asking and
journaling, writing the snapshot. There it is deferred to the end of the
section, so the saved state never counts a line whose ``tell`` did not finish.
A third Ctrl-C inside a critical section aborts at once and marks the state
``torn``: the runner then keeps the previous snapshot (resume replays the log
after it).
"""

from __future__ import annotations

import logging
import math
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evoautodl.errors import ConfigError

__all__ = ["StopCriteria", "StopSignals", "check_setting"]

logger = logging.getLogger(__name__)


def check_setting(name: str, value: Any, *, integer: bool = False, minimum: float = 0.0, strict: bool = True) -> None:
    """ConfigError naming ``name`` unless ``value`` is a finite number above ``minimum`` (>= if not ``strict``)."""
    kind = int if integer else int | float
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value) or (
            value <= minimum if strict else value < minimum):
        what = "an integer" if integer else "a finite number"
        raise ConfigError(f"{name}: must be {what} {'>' if strict else '>='} {minimum:g}, got {value!r}")


@dataclass(frozen=True, slots=True)
class StopCriteria:
    """When a run stops asking for trials (running ones are drained and logged).

    Attributes:
        max_evaluations: finished trials (any status).
        max_epochs: epochs actually trained, summed over trials; a trial is only
            started while the spent plus in-flight epochs stay below the limit.
        max_time_s: seconds on the backend's clock (virtual for the simulated
            backend), counted across resumes.

    Raises:
        ConfigError: a criterion that is not a positive finite number (NaN would never stop).
    """

    max_evaluations: int | None = None
    max_epochs: float | None = None
    max_time_s: float | None = None

    def __post_init__(self) -> None:
        if self.max_evaluations is not None:
            check_setting("stop.max_evaluations", self.max_evaluations, integer=True)
        for name in ("max_epochs", "max_time_s"):
            if getattr(self, name) is not None:
                check_setting(f"stop.{name}", getattr(self, name))


class StopSignals:
    """SIGTERM, SIGINT and SIGUSR1 (what Open MPI's mpirun forwards) set ``stop``; see the module docstring."""

    def __init__(self, wake: Callable[[], None] | None = None) -> None:
        self.stop = threading.Event()
        self.name = ""
        self.wake = wake
        self.torn = False  # an abort interrupted a critical section: the state must not be saved
        self._depth = 0
        self._abort_pending = False
        self._old: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
            self._old[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def critical(self) -> StopSignals:
        """``with signals.critical():`` a block a second Ctrl-C does not interrupt (it aborts right after)."""
        return self

    def __enter__(self) -> None:
        self._depth += 1

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self._abort_pending:
            self._abort_pending = False
            raise KeyboardInterrupt

    def _handle(self, signum: int, frame: Any) -> None:
        if self.stop.is_set() and signum == signal.SIGINT:
            if self._depth and not self._abort_pending:
                self._abort_pending = True
                logger.warning("aborting after the current log write (Ctrl-C once more aborts at once, and the "
                               "state saved last is kept)")
                return
            if self._depth:
                self.torn = True
            raise KeyboardInterrupt
        self.name = signal.Signals(signum).name
        logger.warning("%s received: no new trials; stopping running ones (Ctrl-C again to abort)", self.name)
        self.stop.set()
        if self.wake is not None:
            self.wake()
