"""MPI backend: rank 0 manages (algorithm, log), ranks 1..N-1 evaluate trials.

Protocol, point-to-point, small pickled records (weights stay on the filesystem;
``seq`` numbers dispatches, so a late or cancelled answer never matches another)::

    manager -> worker   START (settings, pickled workload) | TASK (seq, Trial) | CANCEL seq | QUIT
    worker -> manager   READY {host, device, pid, error} | RESULT (seq, Result) | BYE

Nobody spins (MPICH's blocking receive busy-polls a core and starves working
ranks when ranks outnumber cores): every wait is a matched probe plus a nap
from 50 us up that a doorbell ring ends early (`mpi_worker.Doorbell`).
Faults: exceptions, NaN/inf, CUDA out-of-memory -> FAILED (`execute_trial`);
past ``timeout_s`` the worker interrupts the evaluation (TIMEOUT); a worker
silent past ``timeout_s + timeout_grace_s`` (stuck in C code) gets TIMEOUT from
the manager and no more work until it answers. When no worker is left that
could run a trial (all set aside, failed setup or gone) ``wait()`` raises
`NoWorkersError` naming each worker and why, instead of waiting forever. A
dying worker rank takes the job down; the runner's log is flushed per line, so
resuming loses nothing (and counts the death against the trials it ran).
Stopping: ``cancel_running(grace_s)`` returns CANCELLED for what still runs
after the grace and sends CANCEL (the worker's SIGALRM tick abandons the
evaluation); ``shutdown()`` sends QUIT and waits ``shutdown_timeout_s`` for the
workers; one that never answers (C code ignoring signals) makes rank 0 call
``MPI_Abort(COMM_WORLD, exit_code)`` at exit, after the runner saved its state: a
logged last resort (``exit_code``: what ``shutdown`` was given, 0 for a run that
ended well). Workers ignore SIGTERM/SIGINT/SIGUSR1/SIGUSR2.
Optional ``prefetch`` queues trials on each worker behind the running one, so
that millisecond evaluations do not wait for the manager's reaction.
"""

from __future__ import annotations

import atexit
import logging
import pickle
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evoautodl.backends import mpi_worker as wire
from evoautodl.backends.base import Backend
from evoautodl.backends.devices import DeviceSpec, launcher_world, parse_devices
from evoautodl.backends.mpi_worker import release_workers
from evoautodl.errors import NoWorkersError, WorkloadError
from evoautodl.records import Result, Status, Trial, failed_result
from evoautodl.workloads.base import Workload

__all__ = ["MPIBackend", "load_mpi", "mpi_rank", "mpi_world_size", "release_workers", "worker_main"]

log = logging.getLogger(__name__)


def load_mpi() -> Any:
    """``mpi4py.MPI`` (importing it initialises MPI). The only place mpi4py is imported."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError("the MPI backend needs mpi4py built against the MPI library that launches the job "
                          "(pip install mpi4py; on a cluster see experiments/slurm/README.md)") from exc
    return MPI


def mpi_world_size() -> int:
    """Ranks in COMM_WORLD; 1 outside mpiexec/mpirun/srun (then mpi4py is not imported).

    Raises:
        ImportError: an MPI launcher started several ranks but mpi4py is missing.
        RuntimeError: srun started several tasks that MPI does not see as one job.
    """
    return launcher_world(load_mpi)[0]


def mpi_rank() -> int:
    """This process's rank in COMM_WORLD (0 outside an MPI launcher)."""
    return launcher_world(load_mpi)[1]


def worker_main(comm: Any = None) -> int:
    """Ranks >= 1: wait for START (or QUIT) without spinning, serve trials until QUIT; the exit code."""
    return wire.serve(comm)


@dataclass(slots=True, eq=False)  # hashed by identity
class _Worker:
    rank: int
    state: str = "starting"  # starting | idle | busy | abandoned (answer dropped) | failed (setup) | gone
    host: str = ""
    device: str = ""
    pid: int = 0
    trials: deque[tuple[int, Trial]] = field(default_factory=deque)  # (seq, trial): the first runs, others wait
    sent_at: float = 0.0  # when the first trial was sent or (after a result) is taken to have started
    deadline: float = float("inf")
    bell: tuple[str, int] | None = None  # doorbell address, learnt from the worker's first ring
    why: str = ""  # why it no longer takes trials (set aside, failed setup, gone)


def _stopped(trial: Trial, status: Status, error: str, w: _Worker | None, start: float) -> Result:
    return failed_result(trial, status, error, worker=w.rank if w else 0, host=w.host if w else "",
                         device=w.device if w else "", start_time=start)


class MPIBackend(Backend):
    """The manager side (rank 0): dispatches trials to worker ranks 1..N-1.

    Args:
        workload: picklable workload; every worker unpickles it and calls ``setup`` once.
        checkpoint_dir: folder for checkpoints (a shared filesystem; only keys travel).
        timeout_s: per-trial wall-time limit (None: none) -> Status.TIMEOUT.
        devices: "auto" (GPU ``k mod G`` per node, CPU without GPUs), "cpu", or a per-node list.
        workers_per_gpu: how many workers may share one GPU under "auto".
        torch_threads: torch intra-op threads per worker.
        comm: communicator (default COMM_WORLD); this process must be its rank 0.
        timeout_grace_s: extra seconds before the manager gives up on a silent worker
            (default max(2, 5% of timeout_s)).
        shutdown_timeout_s: how long ``shutdown()`` waits for the workers to exit before
            the last resort (MPI_Abort at exit).
        poll_s: how often a busy worker checks for CANCEL/QUIT during an evaluation.
        prefetch: trials queued on each worker beyond the running one (capacity becomes
            (1 + prefetch) x workers): hides the manager's reaction time when
            evaluations take milliseconds, at the price of trials asked a little earlier.
            "auto" (default): one queued trial while the median of the last 16
            evaluations is shorter than ``prefetch_below_s``, none for longer ones
            (where the reaction time is negligible and fresher asks are worth more).
        prefetch_below_s: the "auto" threshold.
        max_sleep_s: longest nap of the manager while some worker's doorbell is unknown.
        doorbell: wake sleepers with UDP rings (off: plain backoff naps).
        fault_dir: folder where workers record the trial they run and a fatal signal
            that kills them (`evoautodl.backends.faults`; None: not recorded).
    """

    def __init__(self, workload: Workload, *, checkpoint_dir: str | Path | None = None, timeout_s: float | None = None,
                 devices: DeviceSpec = "auto", workers_per_gpu: int = 1, torch_threads: int = 1, comm: Any = None,
                 timeout_grace_s: float | None = None, shutdown_timeout_s: float = 10.0, poll_s: float = 0.2,
                 max_sleep_s: float = 2e-3, doorbell: bool = True, prefetch: int | str = "auto",
                 prefetch_below_s: float = 1.0, fault_dir: str | Path | None = None):
        if timeout_s is not None and not (isinstance(timeout_s, int | float) and 0 < timeout_s < float("inf")):
            raise ValueError(f"timeout_s must be a finite number > 0 or None, got {timeout_s}")
        if workers_per_gpu < 1:
            raise ValueError(f"workers_per_gpu must be >= 1, got {workers_per_gpu}")
        if prefetch != "auto" and not (isinstance(prefetch, int) and prefetch >= 0):
            raise ValueError(f"prefetch must be 'auto' or an integer >= 0, got {prefetch!r}")
        self.workload, self.auto_prefetch = workload, prefetch == "auto"
        self.depth = 1 if self.auto_prefetch else 1 + int(prefetch)
        self.prefetch_below_s = float(prefetch_below_s)
        self._durations: deque[float] = deque(maxlen=16)
        self.timeout_s = float(timeout_s) if timeout_s is not None else None
        self.timeout_grace_s = timeout_grace_s if timeout_grace_s is not None else max(2.0, 0.05 * (timeout_s or 0))
        self.shutdown_timeout_s = float(shutdown_timeout_s)
        self.settings: dict[str, Any] = {
            "checkpoint_dir": str(checkpoint_dir) if checkpoint_dir is not None else None,
            "timeout_s": self.timeout_s, "devices": parse_devices(devices), "workers_per_gpu": int(workers_per_gpu),
            "torch_threads": int(torch_threads), "poll_s": float(poll_s), "bell": None,
            "fault_dir": str(fault_dir) if fault_dir is not None else None,
        }
        self.exit_code = 0  # MPI_Abort's code if a worker cannot be stopped at shutdown
        self._comm_arg, self._use_bell = comm, doorbell
        self._backoff = wire.Backoff(max_s=max_sleep_s, rung_min_s=1e-3, rung_max_s=25e-3)
        self._comm: Any = None
        self._status: Any = None
        self._any = (-1, -1)  # (ANY_SOURCE, ANY_TAG) once MPI is loaded
        self._bell: wire.Doorbell | None = None
        self._workers: dict[int, _Worker] = {}
        self._idle: deque[_Worker] = deque()  # workers without a trial
        self._room: deque[_Worker] = deque()  # busy workers with room for a prefetched trial
        self._next_check, self._seq = 0.0, 0  # next deadline check; last dispatch number
        self._pending: deque[Trial] = deque()
        self._running: dict[int, _Worker] = {}  # dispatch number (seq) -> worker
        self._ready: list[Result] = []
        self._sends: list[Any] = []
        self._setup_errors: list[str] = []
        self._started = self._dispatching = self._closed = self._interrupted = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Send the workload and settings to every worker (rank 0 only); returns at once.

        Workers report READY when their ``setup`` is done; trials queue until then.
        """
        if self._started:
            return
        MPI = load_mpi()
        comm = self._comm_arg if self._comm_arg is not None else MPI.COMM_WORLD
        if comm.Get_rank() != 0 or comm.Get_size() < 2:
            raise RuntimeError("MPIBackend.start() runs on rank 0 of at least 2 ranks (mpiexec -n N, N >= 2); "
                               "the other ranks call worker_main()")
        try:
            payload = pickle.dumps(self.workload, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise WorkloadError(f"the workload cannot be pickled for the MPI workers: {exc}") from exc
        self._comm, self._status, self._any = comm, MPI.Status(), (MPI.ANY_SOURCE, MPI.ANY_TAG)
        self._bell = self._backoff.bell = wire.Doorbell(self._use_bell)
        if self._bell.port:
            self.settings["bell"] = (socket.gethostname(), self._bell.port)
        self._workers = {r: _Worker(r) for r in range(1, comm.Get_size())}
        self._sends = [comm.isend((self.settings, payload), dest=r, tag=wire.TAG_START) for r in self._workers]
        node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=0)  # collective with the workers' devices.node_index_of
        node.allgather((0, None))
        node.Free()
        self._started = self._dispatching = True
        atexit.register(self._at_exit)
        log.info("rank 0: MPI manager started %d workers (timeout_s=%s)", len(self._workers), self.timeout_s)

    @property
    def capacity(self) -> int:
        """Trial slots of the workers that are starting, idle or busy (not failed, gone or set aside)."""
        return self.depth * sum(w.state in ("starting", "idle", "busy") for w in self._workers.values())

    @property
    def n_running(self) -> int:
        return len(self._pending) + len(self._running) + len(self._ready)

    def workers(self) -> list[dict[str, Any]]:
        """Placement and state of every worker (rank, host, device, pid, state)."""
        return [{"rank": w.rank, "host": w.host, "device": w.device, "pid": w.pid, "state": w.state}
                for w in self._workers.values()]

    def submit(self, trial: Trial) -> None:
        if not (self._started and self._dispatching):
            raise RuntimeError("MPIBackend.submit() before start() or after cancel_running()/shutdown()")
        self._pending.append(trial)
        self._dispatch()

    def interrupt(self, grace_s: float = 0.0) -> None:
        """Make a blocked ``wait()`` return (possibly empty) soon; safe in a signal handler.

        The grace applies later, in ``cancel_running(grace_s)``.
        """
        self._interrupted = True

    def health(self) -> str | None:
        """None while some worker is starting, idle or busy; else which workers are out and why."""
        if not self._started or any(w.state in ("starting", "idle", "busy") for w in self._workers.values()):
            return None
        out = "; ".join(f"rank {w.rank}{' on ' + w.host if w.host else ''}: {w.why or w.state}"
                        for w in self._workers.values())
        return f"no MPI worker can run a trial any more ({out})"

    def wait(self, timeout_s: float | None = None) -> list[Result]:
        """Block (napping, not spinning) until at least one result; [] when nothing runs.

        Also returns [] after ``timeout_s`` seconds or after `interrupt()`.
        """
        end = None if timeout_s is None else time.monotonic() + timeout_s
        self._backoff.reset()
        while self._started:
            if self._progress():
                self._backoff.reset()
            if self._ready or not (self._pending or self._running):
                out, self._ready = self._ready, []
                return out
            if self._setup_errors and not any(w.state in ("starting", "idle", "busy", "abandoned")
                                              for w in self._workers.values()):
                raise WorkloadError(f"no MPI worker could set up the workload: {self._setup_errors[0]}")
            if self._pending and not self._running and (why := self.health()):
                raise NoWorkersError(why)
            if self._interrupted or (end is not None and time.monotonic() >= end):
                self._interrupted = False
                return []
            self._nap(None if end is None else end - time.monotonic())
        return []

    def cancel_running(self, grace_s: float = 0.0) -> list[Result]:
        """Stop dispatching; wait up to ``grace_s`` for running trials; CANCELLED for the rest."""
        self._dispatching = False
        never = "run stopped before the trial started"
        out = [_stopped(t, Status.CANCELLED, never, None, 0.0) for t in self._pending]
        self._pending.clear()
        for w in self._workers.values():  # prefetched trials have not started: cancel them at once
            while len(w.trials) > 1:
                seq, t = w.trials.pop()
                self._running.pop(seq, None)
                self._send(w, seq, wire.TAG_CANCEL)
                out.append(_stopped(t, Status.CANCELLED, never, w, 0.0))
        end = time.monotonic() + max(0.0, grace_s)
        self._backoff.reset()
        while self._running and time.monotonic() < end:
            if self._progress():
                self._backoff.reset()
            else:
                self._nap(end - time.monotonic())
        if self._started:
            self._progress()
        out, self._ready = self._ready + out, []
        for w in set(self._running.values()):
            out.append(_stopped(w.trials[0][1], Status.CANCELLED, f"run stopped after a grace of {grace_s:g} s", w,
                                w.sent_at))
            self._abandon(w, "its trial was cancelled when the run stopped")
        return out

    def shutdown(self, exit_code: int | None = None) -> None:
        """QUIT every worker and wait for them to exit (bounded); safe to call twice.

        Args:
            exit_code: the job's exit code if a worker cannot be stopped and the
                last resort (MPI_Abort at exit) ends the job (default: ``self.exit_code``, 0).
        """
        if exit_code is not None:
            self.exit_code = int(exit_code)
        if self._closed:
            return
        self._closed, self._dispatching = True, False
        if not self._started:
            if self._comm_arg is None and mpi_world_size() > 1 and mpi_rank() == 0:
                release_workers()
            return
        if self._pending or self._running:
            log.warning("rank 0: shutdown with %d trials unfinished (cancel_running() returns their results)",
                        len(self._pending) + len(self._running))
        self._pending.clear()
        for w in set(self._running.values()):
            self._abandon(w)
        for w in self._workers.values():
            if w.state != "gone":
                self._send(w, None, wire.TAG_QUIT)
        end = time.monotonic() + self.shutdown_timeout_s
        self._backoff.reset()
        while time.monotonic() < end and any(w.state != "gone" for w in self._workers.values()):
            if self._progress():
                self._backoff.reset()
            else:
                self._nap(end - time.monotonic())
        wire.mark_released(self._comm)
        hung = [w.rank for w in self._workers.values() if w.state != "gone"]
        if hung:
            log.error("rank 0: workers %s did not exit within %g s (stuck in code that ignores signals); "
                      "MPI_Abort(COMM_WORLD, %d) at exit ends the job", hung, self.shutdown_timeout_s, self.exit_code)
            atexit.register(self._abort)
        else:
            self._sends = [r for r in self._sends if not r.Test()]
            log.info("rank 0: all %d workers exited", len(self._workers))

    def _abort(self) -> None:
        wire.abort_job(self._comm, self.exit_code)

    def _at_exit(self) -> None:
        if not self._closed:  # the caller forgot shutdown(): release the workers, or the job never ends
            self.shutdown()
            if any(w.state != "gone" for w in self._workers.values()):
                self._abort()

    # ------------------------------------------------------------------ internals
    def _nap(self, limit_s: float | None = None) -> None:
        """Nap until a doorbell ring or the backoff delay; learn the ringing workers' addresses."""
        for payload, addr in self._backoff.sleep(limit_s):
            w = self._workers.get(int.from_bytes(payload[:4], "little"))
            if w is not None and w.bell is None:
                w.bell = addr  # once every live worker rings after each message, long naps are safe
                self._backoff.rung = all(v.bell or v.state in ("failed", "gone") for v in self._workers.values())

    def _send(self, w: _Worker, obj: Any, tag: int) -> None:
        self._sends.append(self._comm.isend(obj, dest=w.rank, tag=tag))
        if self._bell is not None:
            self._bell.ring(w.bell)

    def _dispatch(self) -> None:
        while self._pending and self._dispatching and (self._idle or self._room):
            w = (self._idle or self._room).popleft()  # idle workers first, then prefetch slots
            if w.state not in ("idle", "busy") or len(w.trials) >= self.depth:
                continue  # a stale entry
            trial = self._pending.popleft()
            self._seq += 1
            self._send(w, (self._seq, trial), wire.TAG_TASK)
            if not w.trials:
                w.sent_at = time.time()
                w.deadline = w.sent_at + self.timeout_s + self.timeout_grace_s if self.timeout_s else float("inf")
            w.state = "busy"
            w.trials.append((self._seq, trial))
            self._running[self._seq] = w
            if len(w.trials) < self.depth:
                self._room.append(w)

    def _abandon(self, w: _Worker, why: str = "set aside") -> list[Trial]:
        """Forget ``w``'s trials (answers will be dropped), send CANCEL for each; returns them."""
        for seq, _ in w.trials:
            self._running.pop(seq, None)
            self._send(w, seq, wire.TAG_CANCEL)
        trials = [t for _, t in w.trials]
        w.trials.clear()
        w.state, w.deadline, w.why = "abandoned", float("inf"), why
        return trials

    def _adapt_depth(self, duration_s: float) -> None:
        """Prefetch one trial per worker while evaluations are short (``prefetch="auto"``)."""
        self._durations.append(duration_s)
        if len(self._durations) < 4:
            return
        depth = 2 if sorted(self._durations)[len(self._durations) // 2] < self.prefetch_below_s else 1
        if depth != self.depth:
            log.debug("rank 0: prefetch depth %d -> %d", self.depth, depth)
            self.depth = depth
            if depth > 1:
                self._room.extend(w for w in self._workers.values() if w.state == "busy" and len(w.trials) < depth)

    def _progress(self) -> int:
        """Handle waiting messages, enforce deadlines, dispatch; returns the number of messages."""
        n, (source, tag) = 0, self._any
        while (msg := self._comm.improbe(source=source, tag=tag, status=self._status)) is not None:
            n += 1
            self._handle(self._workers.get(self._status.Get_source()), self._status.Get_tag(), msg.recv())
        now = time.time()
        if self._running and self.timeout_s and now >= self._next_check:
            self._next_check = now + 0.05
            for w in [w for w in self._workers.values() if w.state == "busy" and now > w.deadline]:
                self._ready.append(_stopped(w.trials[0][1], Status.TIMEOUT, f"TIMEOUT: worker {w.rank} gave no answer "
                                            f"within timeout_s={self.timeout_s:g} s + {self.timeout_grace_s:g} s "
                                            "grace; the worker is set aside until it answers", w, w.sent_at))
                tid = w.trials[0][1].trial_id
                log.warning("rank 0: worker %d silent past trial %d's deadline: TIMEOUT, worker set aside", w.rank, tid)
                why = (f"set aside: silent past trial {tid}'s deadline (timeout_s={self.timeout_s:g} s + "
                       f"{self.timeout_grace_s:g} s grace), stuck in code that ignores signals")
                self._pending.extendleft(reversed(self._abandon(w, why)[1:]))  # prefetched ones go elsewhere
        if len(self._sends) > 32:
            self._sends = [r for r in self._sends if not r.Test()]
        if n or self._pending:
            self._dispatch()
        return n

    def _handle(self, w: _Worker | None, tag: int, obj: Any) -> None:
        if w is None or tag not in (wire.TAG_RESULT, wire.TAG_READY, wire.TAG_BYE):
            log.warning("rank 0: unexpected message (tag %d) from rank %s ignored", tag, w.rank if w else "?")
        elif tag == wire.TAG_RESULT:
            seq, obj = obj
            if w.state == "busy" and seq == w.trials[0][0]:
                w.trials.popleft()
                self._running.pop(seq, None)
                self._ready.append(obj)
                if self.auto_prefetch:
                    self._adapt_depth(obj.end_time - obj.start_time)
                if w.trials:  # the prefetched trial starts now
                    w.sent_at = time.time()
                    w.deadline = w.sent_at + self.timeout_s + self.timeout_grace_s if self.timeout_s else w.deadline
            elif w.state != "abandoned":  # e.g. the answer to a cancelled prefetched trial
                log.log(logging.DEBUG if obj.status is Status.CANCELLED else logging.WARNING,
                        "rank 0: result for trial %d from worker %d dropped", obj.trial_id, w.rank)
                return
            else:
                log.info("rank 0: worker %d answered again (trial %d): back in service", w.rank, obj.trial_id)
                w.why = ""
            if not w.trials:
                w.state, w.deadline = "idle", float("inf")
                self._idle.append(w)
            elif len(w.trials) == self.depth - 1:
                self._room.append(w)
        elif tag == wire.TAG_READY:
            w.host, w.device, w.pid = obj["host"], obj["device"], obj["pid"]
            if obj["error"]:
                first = obj["error"].splitlines()[0]
                w.state, w.why = "failed", f"its setup failed: {first}"
                self._setup_errors.append(first)
                log.warning("rank 0: worker %d on %s failed to set up the workload: %s", w.rank, w.host, first)
                log.debug("rank 0: worker %d setup traceback:\n%s", w.rank, obj["error"])
            else:
                w.state = "idle"
                self._idle.append(w)
                log.info("rank 0: worker %d ready on %s, device %s", w.rank, w.host, w.device)
        else:
            w.state, w.why = "gone", w.why or "exited"
