"""MPI worker loop (ranks >= 1), the no-spin waiting toolkit and the rank-0 exit helpers.

See `evoautodl.backends.mpi` for the protocol. A worker waits for START without
spinning, places itself on a device (GPU ``k mod G`` among the workers of its
node, `evoautodl.backends.devices`), calls the workload's ``setup`` once,
reports READY and serves TASK messages until QUIT.

Waiting. MPICH's blocking receive busy-polls a core. Here every wait is a
matched probe (``improbe``) followed by a nap that grows from 50 us to a few
ms (`Backoff`). A `Doorbell` (one UDP datagram sent after each MPI message)
ends the receiver's nap at once, so short naps are rarely needed; MPI still
carries every message, a lost ring only costs the nap.

Interrupting an evaluation. A SIGALRM tick (every ``poll_s`` seconds and at the
trial's deadline) runs in the main thread between bytecodes and raises
`TrialInterrupted` inside the evaluation on timeout (-> TIMEOUT), CANCEL or QUIT
(-> CANCELLED). It derives from BaseException, so a workload's ``except
Exception`` cannot swallow it. C code that never returns to the interpreter is
beyond its reach; the manager's deadline covers that case.

Exit helpers for rank 0: `release_workers` (QUIT before START) and `abort_job`
(the last resort when a worker cannot be stopped).

Fatal signals. With ``fault_dir`` in the settings a worker records the trial it
starts and, through faulthandler, a fatal signal that kills it
(`evoautodl.backends.faults`), so a resumed run can name the cause.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pickle
import select
import signal
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from evoautodl.backends.base import execute_trial, stopped_result
from evoautodl.backends.devices import node_index_of, set_torch_threads, worker_device
from evoautodl.backends.faults import FaultRecorder
from evoautodl.backends.interrupt import TrialInterrupted
from evoautodl.records import Result, Status, Trial
from evoautodl.workloads.base import WorkerContext

__all__ = ["Backoff", "Doorbell", "TrialInterrupted", "abort_job", "release_workers", "serve", "wait_request"]

log = logging.getLogger(__name__)

TAG_START, TAG_TASK, TAG_CANCEL, TAG_QUIT = 7301, 7302, 7303, 7304
TAG_READY, TAG_RESULT, TAG_BYE = 7311, 7312, 7313
_STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2")
_released = False  # QUIT already went to every worker of COMM_WORLD (never send it twice)
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class Doorbell:
    """Out-of-band wake-up hint: a UDP datagram on 127.0.0.1 that ends the receiver's nap early.

    Only ranks on the manager's node use it; it never leaves the loopback interface.

    Disabled (plain sleeping) when ``enabled`` is False or no socket can be made.
    """

    def __init__(self, enabled: bool = True):
        self.sock: socket.socket | None = None
        if enabled:
            try:
                self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self.sock.bind(("127.0.0.1", 0))  # loopback only: a hint between ranks of one node
                self.sock.setblocking(False)
            except OSError:
                self.sock = None

    @property
    def port(self) -> int | None:
        return self.sock.getsockname()[1] if self.sock is not None else None

    def ring(self, addr: tuple[str, int] | None, payload: bytes = b"\0") -> None:
        if self.sock is not None and addr is not None:
            with contextlib.suppress(OSError):  # a lost ring only costs a nap
                self.sock.sendto(payload, addr)

    def nap(self, seconds: float) -> list[tuple[bytes, tuple[str, int]]]:
        """Sleep up to ``seconds`` or until rung; returns the rings (payload, sender) received."""
        if self.sock is None:
            time.sleep(seconds)
            return []
        select.select([self.sock], [], [], seconds)
        rings = []
        while True:
            try:
                rings.append(self.sock.recvfrom(64))
            except OSError:  # BlockingIOError: drained
                return rings

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Backoff:
    """Naps growing geometrically from ``min_s`` to ``max_s``; ``reset()`` after progress.

    Once a doorbell ring has arrived (``rung``) rings wake the sleeper, so naps
    start at ``rung_min_s`` and grow to ``rung_max_s`` (which only bounds the
    cost of a lost ring); right after a ring they are short again, because the
    message it announces may still be in flight.
    """

    __slots__ = ("bell", "delay", "factor", "max_s", "min_s", "rung", "rung_max_s", "rung_min_s")

    def __init__(self, min_s: float = 5e-5, max_s: float = 2e-3, factor: float = 1.5, bell: Doorbell | None = None,
                 rung_min_s: float | None = None, rung_max_s: float | None = None):
        self.min_s, self.max_s, self.factor, self.bell = min_s, max_s, factor, bell
        self.rung_min_s = min_s if rung_min_s is None else rung_min_s
        self.rung_max_s = max_s if rung_max_s is None else rung_max_s
        self.rung = False
        self.delay = min_s

    def reset(self) -> None:
        self.delay = self.rung_min_s if self.rung else self.min_s

    def sleep(self, limit_s: float | None = None) -> list[tuple[bytes, tuple[str, int]]]:
        """Nap the current delay (at most ``limit_s``), then grow it; a ring resets it."""
        d = self.delay if limit_s is None else max(0.0, min(self.delay, limit_s))
        if self.bell is None:
            time.sleep(d)
            rings = []
        else:
            rings = self.bell.nap(d)
        if rings:
            self.rung = True
            self.delay = self.min_s
        else:
            self.delay = min(self.delay * self.factor, self.rung_max_s if self.rung else self.max_s)
        return rings


def wait_request(req: Any, timeout_s: float | None = None, backoff: Backoff | None = None) -> bool:
    """Complete an MPI request without spinning; False if ``timeout_s`` passed first."""
    backoff = backoff or Backoff()
    backoff.reset()
    end = None if timeout_s is None else time.monotonic() + timeout_s
    while not req.Test():
        if end is not None and time.monotonic() >= end:
            return False
        backoff.sleep()
    return True


def _is_world(comm: Any, MPI: Any) -> bool:
    return comm == MPI.COMM_WORLD or comm.Compare(MPI.COMM_WORLD) == MPI.IDENT


def mark_released(comm: Any) -> None:
    """Remember that every worker of ``comm`` got QUIT (when it is COMM_WORLD)."""
    global _released
    from evoautodl.backends.mpi import load_mpi

    _released = _released or _is_world(comm, load_mpi())


def release_workers(comm: Any = None) -> None:
    """Rank 0: tell workers still waiting for START to exit (the manager gives up before ``start()``).

    Does nothing on other ranks, or when the workers were already released or shut down.
    """
    from evoautodl.backends.mpi import load_mpi

    MPI = load_mpi()
    comm = comm if comm is not None else MPI.COMM_WORLD
    if comm.Get_rank() != 0 or (_released and _is_world(comm, MPI)):
        return
    for req in [comm.isend(None, dest=r, tag=TAG_QUIT) for r in range(1, comm.Get_size())]:
        if not wait_request(req, timeout_s=10.0):
            log.warning("rank 0: a worker did not take its QUIT message within 10 s")
            break
    mark_released(comm)


def abort_job(comm: Any, exit_code: int = 0) -> None:
    """Last resort when a worker cannot be stopped: end the whole job with ``exit_code``."""
    logging.shutdown()
    sys.stdout.flush(), sys.stderr.flush()
    # MPI_Abort tears the job down at once: give the launcher a moment to forward what this rank
    # printed last (the error that says why the run stopped), which it could otherwise drop
    time.sleep(1.0)
    comm.Abort(int(exit_code))


class _Tick:
    """The SIGALRM watchdog that runs while an evaluation is in progress."""

    def __init__(self, comm: Any, poll_s: float, timeout_s: float | None):
        self.comm, self.poll_s, self.timeout_s = comm, max(0.01, poll_s), timeout_s
        self.active = False
        self.seq = -1  # dispatch number of the running trial
        self.deadline = float("inf")
        self.cancelled: set[int] = set()  # CANCELs (dispatch numbers) read for trials not running
        self.enabled = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
        if self.enabled:
            signal.signal(signal.SIGALRM, self._handler)
            signal.siginterrupt(signal.SIGALRM, False)  # C code restarts interrupted system calls

    def arm(self, seq: int) -> None:
        self.seq = seq
        self.deadline = time.monotonic() + self.timeout_s if self.timeout_s else float("inf")
        if self.enabled:
            self.active = True
            signal.setitimer(signal.ITIMER_REAL, min(self.poll_s, self.timeout_s or self.poll_s))

    def disarm(self) -> None:
        self.active = False
        if self.enabled:
            signal.setitimer(signal.ITIMER_REAL, 0.0)

    def drain(self) -> bool:
        """Read waiting CANCEL messages; True if one is for the running trial."""
        hit = False
        while (msg := self.comm.improbe(source=0, tag=TAG_CANCEL)) is not None:
            seq = msg.recv()
            hit = hit or seq == self.seq
            self.cancelled.add(seq)
        return hit

    def _handler(self, signum: int, frame: Any) -> None:
        if not self.active:
            return
        self.active = False  # no second raise while this one unwinds
        now = time.monotonic()
        if now >= self.deadline:
            raise TrialInterrupted(Status.TIMEOUT, f"TIMEOUT: evaluation exceeded timeout_s={self.timeout_s:g} s")
        if self.comm.Iprobe(source=0, tag=TAG_QUIT):
            raise TrialInterrupted(Status.CANCELLED, "CANCELLED: the job is shutting down")
        if self.drain():
            raise TrialInterrupted(Status.CANCELLED, "CANCELLED: the manager cancelled the trial")
        self.active = True
        signal.setitimer(signal.ITIMER_REAL, max(1e-3, min(self.poll_s, self.deadline - now)))


def _ignore_stop_signals() -> None:
    """mpiexec and srun deliver SIGTERM & co. to every rank: only the manager acts on them."""
    if threading.current_thread() is threading.main_thread():
        for name in _STOP_SIGNALS:
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)


class _Link:
    """The worker's channel to the manager: MPI messages plus doorbell rings."""

    def __init__(self, comm: Any, MPI: Any):
        self.comm, self.st, self.any_tag = comm, MPI.Status(), MPI.ANY_TAG
        self.backoff = Backoff(max_s=5e-3, rung_min_s=1e-3, rung_max_s=25e-3)
        self.manager: tuple[str, int] | None = None
        self.payload = comm.Get_rank().to_bytes(4, "little")

    def recv(self) -> tuple[int, Any]:
        """Next message from the manager: (tag, object); naps meanwhile."""
        self.backoff.reset()
        while (msg := self.comm.improbe(source=0, tag=self.any_tag, status=self.st)) is None:
            self.backoff.sleep()
        return self.st.Get_tag(), msg.recv()

    def send(self, obj: Any, tag: int, timeout_s: float | None = None) -> bool:
        ok = wait_request(self.comm.isend(obj, dest=0, tag=tag), timeout_s=timeout_s)
        if self.backoff.bell is not None:
            self.backoff.bell.ring(self.manager, self.payload)
        return ok

    def connect(self, bell: tuple[str, int] | None, host: str) -> None:
        """Open this worker's doorbell and find the manager's (same host: loopback)."""
        if bell is None:
            return
        mhost, port = bell
        if mhost != host:
            return  # rings stay on the loopback interface: workers on other nodes just nap
        self.manager = ("127.0.0.1", port)
        self.backoff.bell = Doorbell()




def _evaluate(workload: Any, seq: int, trial: Trial, ctx: WorkerContext, tick: _Tick) -> Result:
    """execute_trial under the tick; never raises."""
    start = time.time()
    try:
        tick.arm(seq)
        try:
            return execute_trial(workload, trial, ctx)
        finally:
            tick.disarm()
    except TrialInterrupted as exc:
        tick.disarm()
        return stopped_result(trial, exc.status, exc.reason, ctx, start)
    except (SystemExit, KeyboardInterrupt) as exc:  # a workload that exits costs a trial, not the job
        tick.disarm()
        return stopped_result(trial, Status.FAILED, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}",
                       ctx, start)


def _setup(comm: Any, MPI: Any, settings: dict[str, Any], payload: bytes) -> tuple[Any, WorkerContext, str | None]:
    """Placement and ``workload.setup``; returns (workload or None, context, error text or None)."""
    local = node_index_of(comm, MPI)  # collective first: the manager waits in it
    threads = settings["torch_threads"]
    for var in _THREAD_VARS:
        os.environ.setdefault(var, str(threads))
    ckpt = None if settings["checkpoint_dir"] is None else Path(settings["checkpoint_dir"])
    ctx = WorkerContext(rank=comm.Get_rank(), device="cpu", checkpoint_dir=ckpt, host=socket.gethostname(),
                        local_rank=local, torch_threads=threads)
    try:
        workload = pickle.loads(payload)
        ctx = dataclasses.replace(ctx, device=worker_device(local, workload, settings["devices"],
                                                            settings["workers_per_gpu"]))
        set_torch_threads(threads)
        workload.setup(ctx)
    except BaseException as exc:  # reported to the manager; the job goes on without this worker
        return None, ctx, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
    log.info("rank %d: worker ready on %s, device %s", ctx.rank, ctx.host, ctx.device)
    return workload, ctx, None


def serve(comm: Any = None) -> int:
    """Worker loop (ranks >= 1). Returns 0 after QUIT."""
    from evoautodl.backends.mpi import load_mpi

    _ignore_stop_signals()
    MPI = load_mpi()
    link = _Link(comm if comm is not None else MPI.COMM_WORLD, MPI)
    tag, obj = link.recv()
    while tag != TAG_START:
        if tag == TAG_QUIT:
            return 0
        tag, obj = link.recv()
    settings, payload = obj
    workload, ctx, error = _setup(link.comm, MPI, settings, payload)
    link.connect(settings.get("bell"), ctx.host)
    link.send({"host": ctx.host, "device": ctx.device, "pid": os.getpid(), "error": error}, TAG_READY)
    tick = _Tick(link.comm, settings["poll_s"], settings["timeout_s"])
    faults = FaultRecorder(settings["fault_dir"]).open() if settings.get("fault_dir") and workload else None
    while True:
        tag, obj = link.recv()
        if tag == TAG_QUIT:
            break
        if tag == TAG_CANCEL:
            tick.cancelled.add(obj)
        if tag != TAG_TASK:
            continue
        (seq, trial), tick.seq = obj, -1
        tick.drain()
        if seq in tick.cancelled:  # a prefetched trial cancelled before it started
            tick.cancelled.discard(seq)
            result = stopped_result(trial, Status.CANCELLED, "CANCELLED before it started", ctx, time.time())
        elif workload is None:
            result = stopped_result(trial, Status.FAILED, f"worker setup failed: {error}", ctx, time.time())
        else:
            if faults is not None:
                faults.begin(trial.trial_id)
            result = _evaluate(workload, seq, trial, ctx, tick)
        try:
            link.send((seq, result), TAG_RESULT)
        except Exception as exc:  # e.g. an unpicklable metric
            failed = stopped_result(trial, Status.FAILED, f"result could not be sent: {exc}", ctx, result.start_time)
            link.send((seq, failed), TAG_RESULT)
    if faults is not None:
        faults.close()
    link.send(None, TAG_BYE, timeout_s=10.0)
    if link.backoff.bell is not None:
        link.backoff.bell.close()
    return 0
