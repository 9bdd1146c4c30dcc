"""How a run reacts to SIGTERM, SIGINT and SIGUSR1, and what a second Ctrl-C may interrupt.

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

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["StopSignals"]

logger = logging.getLogger(__name__)


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

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """A block a second Ctrl-C does not interrupt (it aborts right after the block)."""
        self._depth += 1
        try:
            yield
        finally:
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
