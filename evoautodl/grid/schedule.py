"""Who runs which cell: serially, or over the ranks of ``mpiexec -n N``.

How ranks are shared (N ranks)::

    phase 1, cheap cells (surrogate, synthetic): every rank runs whole cells, each as an
        independent serial run. Rank 0 hands them out one at a time (dynamic load
        balancing): a rank asks for its next cell when it finishes one; rank 0 answers
        between its own evaluations (from the Runner's on_result hook) and between its
        own cells, so it works as well as it coordinates.
    phase 2, expensive cells (real training): rank 0 only hands out cells; ranks 1..N-1
        form groups of G = ranks_per_cell consecutive ranks (default N-1: one group;
        the ranks left over join the last group). A group's first rank asks rank 0 for a
        cell and runs it as the manager of an MPIBackend on the group's communicator; the
        other ranks of the group are its workers. A group of one rank runs its cells serially.

Protocol (point-to-point on COMM_WORLD, small pickles): ASK (report of the finished cell
or None) -> rank 0; CELL ((index, cell, config) or None = no more) -> the asker.
Group leaders tell their workers NEXT (serve the next cell) or END on the group
communicator. Nobody spins: every wait is a probe plus a nap (MPICH's blocking receive
busy-polls a core). SIGTERM / SIGINT / SIGUSR1 stop handing out cells; running cells stop
as ``evoautodl run`` does (state saved) and are marked ``stopped``.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evoautodl.grid.cells import CellPlan
from evoautodl.grid.execute import CellReport, WorkloadCache, run_cell

__all__ = ["GridSignals", "run_cells_mpi", "run_cells_serial"]

logger = logging.getLogger(__name__)

TAG_ASK, TAG_CELL, TAG_GROUP = 7401, 7402, 7403


class GridSignals:
    """SIGTERM, SIGINT and SIGUSR1 between cells: stop handing out / starting cells."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self._old: dict[int, Any] = {}

    def __enter__(self) -> GridSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        logger.warning("%s received: no new cells", signal.Signals(signum).name)
        self.stop.set()

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


def _packages(plan: CellPlan, index: int) -> tuple[str, ...]:
    return tuple(plan.algorithm_info[plan.cells[index].algorithm].get("packages", ()))


def _problem_backend(plan: CellPlan, index: int) -> dict[str, Any]:
    label = plan.cells[index].problem
    return next(p.backend for p in plan.spec.problems if p.label == label)


def _run(plan: CellPlan, out: Path, index: int, rank: int, comm: Any = None,
         on_result: Callable[[Any], None] | None = None, workloads: WorkloadCache | None = None) -> CellReport:
    return run_cell(out, plan.cells[index], plan.configs[index], base_dir=plan.base_dir, rank=rank, comm=comm,
                    problem_backend=_problem_backend(plan, index), packages=_packages(plan, index),
                    on_result=on_result, workloads=workloads)


def _stopping(report: CellReport, signals: GridSignals) -> bool:
    if report.status == "stopped":
        signals.stop.set()  # the Runner caught the signal inside the cell
    return signals.stop.is_set()


def run_cells_serial(plan: CellPlan, out: Path, todo: list[int], on_done: Callable[[CellReport], None]) -> bool:
    """Run ``todo`` (cell indices) one after the other; False when a signal stopped the grid."""
    workloads = WorkloadCache()
    with GridSignals() as signals:
        for i in todo:
            if signals.stop.is_set():
                return False
            report = _run(plan, out, i, 0, workloads=workloads)
            on_done(report)
            if _stopping(report, signals):
                return False
    return True


class _Coordinator:
    """Rank 0's side: a queue of cells, answers to ASK messages (never blocks)."""

    def __init__(self, comm: Any, MPI: Any, plan: CellPlan, todo: list[int], askers: list[int],
                 on_done: Callable[[CellReport], None], signals: GridSignals):
        self.comm, self.plan, self.queue = comm, plan, deque(todo)
        self.status = MPI.Status()
        self.open = set(askers)  # ranks that have not been told "no more cells"
        self.on_done, self.signals = on_done, signals
        self.sends: list[Any] = []

    def take(self) -> int | None:
        if self.signals.stop.is_set() or not self.queue:
            return None
        return self.queue.popleft()

    def serve(self, _result: Any = None) -> int:
        """Answer every waiting ASK; returns how many."""
        n = 0
        while (msg := self.comm.improbe(tag=TAG_ASK, status=self.status)) is not None:
            n += 1
            src = self.status.Get_source()
            report = msg.recv()
            if report is not None:
                if report.index >= 0:
                    self.on_done(report)
                _stopping(report, self.signals)
            i = self.take()
            payload = None if i is None else (i, self.plan.cells[i], self.plan.configs[i])
            self.sends.append(self.comm.isend(payload, dest=src, tag=TAG_CELL))
            if i is None:
                self.open.discard(src)
        if len(self.sends) > 16:
            self.sends = [r for r in self.sends if not r.Test()]
        return n

    def finish(self, backoff: Any) -> None:
        """Serve until every asker was told there is nothing more."""
        from evoautodl.backends.mpi_worker import wait_request

        backoff.reset()
        while self.open:
            if self.serve():
                backoff.reset()
            else:
                backoff.sleep()
        for r in self.sends:
            wait_request(r, timeout_s=30.0)


def _ask(comm: Any, report: CellReport | None, backoff: Any) -> tuple[int, Any, Any] | None:
    """A worker rank: report the last cell, wait (napping) for the next one (None: no more)."""
    from evoautodl.backends.mpi_worker import wait_request

    wait_request(comm.isend(report, dest=0, tag=TAG_ASK), backoff=backoff)
    backoff.reset()
    while (msg := comm.improbe(source=0, tag=TAG_CELL)) is None:
        backoff.sleep()
    return msg.recv()


def _cheap_phase(comm: Any, MPI: Any, plan: CellPlan, out: Path, todo: list[int],
                 on_done: Callable[[CellReport], None], signals: GridSignals) -> None:
    from evoautodl.backends.mpi_worker import Backoff

    rank, size = comm.Get_rank(), comm.Get_size()
    backoff = Backoff(max_s=20e-3)
    workloads = WorkloadCache()
    if rank == 0:
        coord = _Coordinator(comm, MPI, plan, todo, list(range(1, size)), on_done, signals)
        while True:
            coord.serve()
            i = coord.take()
            if i is None:
                break
            report = _run(plan, out, i, 0, on_result=coord.serve, workloads=workloads)
            on_done(report)
            _stopping(report, signals)
        coord.finish(backoff)
        return
    report: CellReport | None = None
    while True:
        if signals.stop.is_set() and report is None:
            report = CellReport(-1, "stopped", 0.0, stopped_by="signal")  # tells rank 0 to stop handing out
        job = _ask(comm, report, backoff)
        if job is None:
            return
        i = job[0]
        report = _run(plan, out, i, rank, workloads=workloads) if not signals.stop.is_set() else None
        if report is not None:
            _stopping(report, signals)


def _groups(size: int, per_cell: int | None) -> list[list[int]]:
    """Ranks 1..size-1 in groups of ``per_cell`` (the rest join the last group)."""
    ranks = list(range(1, size))
    g = max(1, min(per_cell or len(ranks), len(ranks)))
    groups = [ranks[k:k + g] for k in range(0, len(ranks) - len(ranks) % g, g)]
    if len(ranks) % g:
        groups[-1].extend(ranks[len(ranks) - len(ranks) % g:])
    return groups


def _expensive_phase(comm: Any, MPI: Any, plan: CellPlan, out: Path, todo: list[int],
                     on_done: Callable[[CellReport], None], signals: GridSignals) -> None:
    from evoautodl.backends.mpi import worker_main
    from evoautodl.backends.mpi_worker import Backoff, wait_request

    rank, size = comm.Get_rank(), comm.Get_size()
    groups = _groups(size, plan.spec.ranks_per_cell)
    mine = next((g for g in groups if rank in g), None)
    color = MPI.UNDEFINED if mine is None else groups.index(mine)
    _quiet_barrier(comm)
    group = comm.Split(color, rank)
    backoff = Backoff(max_s=50e-3)
    if rank == 0:
        coord = _Coordinator(comm, MPI, plan, todo, [g[0] for g in groups], on_done, signals)
        coord.finish(backoff)
        return
    assert mine is not None
    try:
        if group.Get_rank() != 0:  # a worker of the group: serve one cell after another
            while True:
                while (msg := group.improbe(source=0, tag=TAG_GROUP)) is None:
                    backoff.sleep()
                if not msg.recv():
                    return
                worker_main(group)
                backoff.reset()
        report: CellReport | None = None
        while True:
            if signals.stop.is_set() and report is None:
                report = CellReport(-1, "stopped", 0.0, stopped_by="signal")
            job = _ask(comm, report, backoff)
            if job is None or signals.stop.is_set():
                break
            for r in range(1, group.Get_size()):
                wait_request(group.isend(True, dest=r, tag=TAG_GROUP), backoff=backoff)
            report = _run(plan, out, job[0], rank, comm=group)
            _stopping(report, signals)
        for r in range(1, group.Get_size()):
            wait_request(group.isend(False, dest=r, tag=TAG_GROUP), backoff=backoff)
    finally:
        group.Free()


def run_cells_mpi(plan: CellPlan, out: Path, todo: list[int], on_done: Callable[[CellReport], None]) -> bool:
    """Every rank calls this with the same ``todo``; ``on_done`` runs on rank 0. False when stopped by a signal."""
    from evoautodl.backends.mpi import load_mpi

    MPI = load_mpi()
    comm = MPI.COMM_WORLD
    cheap = [i for i in todo if plan.cells[i].cheap]
    expensive = [i for i in todo if not plan.cells[i].cheap]
    with GridSignals() as signals:
        if cheap:
            _cheap_phase(comm, MPI, plan, out, cheap, on_done, signals)
        if _quiet_max(comm, MPI, int(signals.stop.is_set())):
            signals.stop.set()
        if expensive and not signals.stop.is_set():
            _expensive_phase(comm, MPI, plan, out, expensive, on_done, signals)
        return not _quiet_max(comm, MPI, int(signals.stop.is_set()))


def _quiet_barrier(comm: Any) -> None:
    """A barrier that naps instead of busy-polling (ranks done early must not steal cores)."""
    from evoautodl.backends.mpi_worker import Backoff, wait_request

    wait_request(comm.Ibarrier(), backoff=Backoff(max_s=20e-3))


def _quiet_max(comm: Any, MPI: Any, value: int) -> int:
    """Maximum of an integer over all ranks, waiting without busy-polling."""
    import numpy as np

    from evoautodl.backends.mpi_worker import Backoff, wait_request

    send, recv = np.array([value], dtype=np.int64), np.zeros(1, dtype=np.int64)
    wait_request(comm.Iallreduce(send, recv, op=MPI.MAX), backoff=Backoff(max_s=20e-3))
    return int(recv[0])
