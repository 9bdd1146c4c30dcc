"""Which trial a process was running when a fatal signal killed it.

A trial that crashes its process (a segfault in a C extension, an abort in a
CUDA library) takes the process down before any result can be sent, and
under MPI the launcher then ends the whole job. Resume counts such deaths from
the journal (`evoautodl.resume`); this module supplies the cause when Python
could see it.

`FaultRecorder` points Python's ``faulthandler`` at a small file per process
(``<run>/faults/<host>-<pid>.txt``) and writes ``trial <id>`` to it before each
evaluation. On SIGSEGV, SIGFPE, SIGABRT, SIGBUS or SIGILL faulthandler appends
``Fatal Python error: Segmentation fault`` and a traceback, so `read_faults`
can tell which trial died of what. A clean exit removes the file. A process
ended by ``os._exit``, SIGKILL (the kernel's out-of-memory killer) or a signal
faulthandler does not catch leaves only the trial line: the cause is then the
launcher's to report (mpiexec prints the exit code).
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import socket
import sys
from pathlib import Path
from typing import IO

__all__ = ["FaultRecorder", "read_faults"]

log = logging.getLogger(__name__)

_SIGNALS = {
    "Segmentation fault": "SIGSEGV",
    "Floating-point exception": "SIGFPE",
    "Floating point exception": "SIGFPE",
    "Aborted": "SIGABRT",
    "Bus error": "SIGBUS",
    "Illegal instruction": "SIGILL",
}
_FATAL = "Fatal Python error: "


class FaultRecorder:
    """faulthandler output plus a ``trial <id>`` line per evaluation, in ``fault_dir/<host>-<pid>.txt``.

    Process-wide (faulthandler is): the process that evaluates owns it (an MPI
    worker, or the CLI's serial run). ``close()`` hands faulthandler back to
    stderr if it was enabled before.
    """

    def __init__(self, fault_dir: str | os.PathLike[str]):
        self.path = Path(fault_dir) / f"{socket.gethostname()}-{os.getpid()}.txt"
        self._fh: IO[str] | None = None
        self._was_enabled = False

    def open(self) -> FaultRecorder:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:  # recording is a help, never a reason to fail a run
            log.warning("cannot record fatal signals in %s: %s", self.path, exc)
            return self
        self._was_enabled = faulthandler.is_enabled()
        faulthandler.enable(self._fh, all_threads=False)
        return self

    def begin(self, trial_id: int) -> None:
        """Note the trial about to run (one short line, flushed)."""
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.write(f"trial {int(trial_id)}\n")
                self._fh.flush()

    def close(self) -> None:
        """Stop recording; the file goes (nothing fatal happened in this process)."""
        if self._fh is None:
            return
        faulthandler.disable()
        if self._was_enabled:  # hand it back to the process's standard error
            with contextlib.suppress(AttributeError, ValueError, OSError):
                faulthandler.enable(sys.__stderr__)
        self._fh.close()
        self._fh = None
        with contextlib.suppress(OSError):
            self.path.unlink()


def read_faults(fault_dir: str | os.PathLike[str]) -> dict[int, str]:
    """trial id -> cause ("Segmentation fault (SIGSEGV)") for every fatal signal recorded under ``fault_dir``."""
    out: dict[int, str] = {}
    root = Path(fault_dir)
    if not root.is_dir():
        return out
    for path in sorted(root.glob("*.txt")):
        current: int | None = None
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("trial ") and line[6:].strip().isdigit():
                current = int(line[6:])
            elif line.startswith(_FATAL) and current is not None:
                what = line[len(_FATAL):].strip()
                name = _SIGNALS.get(what)
                out[current] = f"{what} ({name})" if name else what
    return out
