"""Running one cell: an ordinary run directory driven by the Runner, plus its ``cell.json``.

A cell that was killed or stopped mid-way (``cell.json`` says ``running`` or ``stopped``):

- a **cheap** cell (surrogate, synthetic; seconds) is deleted and restarted cleanly, so
  it ends exactly as an uninterrupted run would, whatever its backend or budget unit;
- an **expensive** cell (real training) is resumed with the Runner's exact resume
  (state.pkl + journal + log replay): no finished evaluation is lost or repeated.

Failures are data: an exception inside a cell marks it ``failed`` (with the error text
in ``cell.json``) and the experiment goes on; a rerun tries failed cells again.
"""

from __future__ import annotations

import logging
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoautodl.grid.cells import Cell, cell_started, fixed_part, read_cell_state, write_cell_state

__all__ = ["CellReport", "WorkloadCache", "run_cell"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CellReport:
    """What a finished (or stopped, or failed) cell reports to the coordinator."""

    index: int
    status: str
    wall_s: float
    n_evaluations: int = 0
    epochs_trained: float = 0.0
    stopped_by: str = ""
    error: str = ""


class WorkloadCache:
    """The last few set-up workloads of cheap cells in this process, and their search spaces.

    Consecutive cells of one problem (its seeds, its algorithms) reuse the workload object
    instead of loading the surrogate model again, and the search space instead of building
    its ConfigSpace again (about 40 ms for LCBench's); only cheap workloads (surrogate,
    synthetic: stateless between evaluations) are cached, by their ``[workload]`` and
    ``[space]`` tables.
    """

    def __init__(self, size: int = 4):
        self.size = size
        self._items: dict[str, tuple[Any, Any]] = {}

    @staticmethod
    def key(config: dict[str, Any]) -> str:
        import json

        return json.dumps([config.get("workload"), config.get("space")], sort_keys=True, default=str)

    def space(self, config: dict[str, Any]) -> Any:
        """The cached search space of a cell's table (None: not cached yet)."""
        item = self._items.get(self.key(config))
        return None if item is None else item[1]

    def reuse(self, exp: Any) -> Any:
        """``exp`` with the cached workload of the same tables, if any (the new one is cached otherwise)."""
        import dataclasses

        key = self.key(exp.config)
        if key in self._items:
            self._items[key] = self._items.pop(key)  # most recently used last
            return dataclasses.replace(exp, workload=self._items[key][0])
        self._items[key] = (exp.workload, exp.space)
        while len(self._items) > self.size:
            self._items.pop(next(iter(self._items)))
        return exp


def _expensive_backend_table(problem_backend: dict[str, Any], comm: Any) -> dict[str, Any]:
    """An expensive cell's [backend]: its manager/worker group (MPI), or serial (timeout and threads apply)."""
    keys = ("timeout_s", "devices", "workers_per_gpu", "torch_threads", "prefetch")
    table = {k: problem_backend[k] for k in keys if k in problem_backend}
    if comm is not None and comm.Get_size() > 1:
        return {"type": "mpi", **table}
    return {"type": "serial", **{k: v for k, v in table.items() if k in ("timeout_s", "torch_threads")}}


def run_cell(out: Path, cell: Cell, config: dict[str, Any], *, base_dir: str, rank: int = 0, comm: Any = None,
             problem_backend: dict[str, Any] | None = None, packages: tuple[str, ...] = (),
             on_result: Any = None, workloads: WorkloadCache | None = None) -> CellReport:
    """Run (or restart / resume) one cell; never raises for a failing cell.

    Args:
        out: the results folder.
        cell, config: the cell and its resolved experiment table (from the plan).
        base_dir: folder that relative paths in ``config`` refer to.
        rank: the world rank running it (recorded).
        comm: the manager/worker group of an expensive cell (this process is its rank 0); None: serial.
        problem_backend: the problem's backend settings (timeouts, devices) for expensive cells.
        packages: extra distributions whose versions ``cell.json`` records (a baseline's library).
        on_result: called after every logged result (the coordinator serves requests from it).
        workloads: this process's cache of set-up cheap workloads (None: build each cell's own).
    """
    from evoautodl.backends.factory import make_backend
    from evoautodl.experiment import parse_experiment
    from evoautodl.rundir import RunDir
    from evoautodl.runner import Runner

    cdir = out / cell.path
    prev = read_cell_state(cdir)
    rd = RunDir(cdir)
    resume = (not cell.cheap) and rd.exists()
    if cell.cheap and cdir.exists():
        shutil.rmtree(cdir)  # a clean restart (cheap cells): nothing of the killed attempt remains
    cfg = dict(config)
    if not cell.cheap:
        cfg["backend"] = _expensive_backend_table(problem_backend or {}, comm)
    state = cell_started(cell, cfg, int(prev.get("attempt", 0)) + 1, rank, packages)
    if resume:
        state["resumed_from"] = prev.get("status")
    write_cell_state(cdir, state)
    t0 = time.perf_counter()
    backend = None
    started = False
    try:
        import tomli_w

        cache = workloads if cell.cheap else None
        exp = parse_experiment(cfg, base_dir=base_dir, space=cache.space(cfg) if cache else None,
                               strict_fidelity=False)  # the grid's ladder is for the multi-fidelity algorithms
        if cache is not None:
            exp = cache.reuse(exp)
        if not resume:
            rd.create()
        rd.write_atomic("config.toml", tomli_w.dumps(exp.config).encode())
        backend = make_backend(exp.backend, exp.workload, checkpoint_dir=rd.checkpoints, fault_dir=rd.faults,
                               comm=comm)
        started = True
        summary = Runner(exp.algorithm, backend, run_dir=rd, stop=exp.stop, resume=resume, progress=False,
                         checkpoint_interval_s=exp.run.get("checkpoint_interval_s", 30.0),
                         grace_s=exp.run.get("grace_s", 30.0), on_result=on_result,
                         max_trial_attempts=exp.run.get("max_trial_attempts", 3),
                         meta={"name": exp.name, "world_size": comm.Get_size() if comm is not None else 1,
                               "experiment": fixed_part(exp.config), "grid_cell": cell.path}).run()
    except Exception as exc:  # a failing cell is data; the grid goes on
        text = f"{type(exc).__name__}: {exc}"
        logger.error("cell %s failed: %s", cell.path, text)
        state.update(status="failed", error=f"{text}\n{traceback.format_exc(limit=8)}",
                     finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), wall_s=time.perf_counter() - t0)
        write_cell_state(cdir, state)
        return CellReport(cell.index, "failed", time.perf_counter() - t0, error=text)
    finally:
        if backend is not None:
            backend.shutdown()
        if comm is not None and comm.Get_size() > 1 and not started:
            from evoautodl.backends.mpi import release_workers

            release_workers(comm)  # the group's workers wait for START: let them go
    wall = time.perf_counter() - t0
    status = "stopped" if summary.stopped_by.startswith("signal") else "complete"
    state.update(status=status, stopped_by=summary.stopped_by, n_evaluations=summary.n_evaluations,
                 n_failed=summary.n_failed, epochs_trained=summary.epochs_trained, elapsed_s=summary.elapsed_s,
                 best_objective=None if summary.best is None else summary.best.objective,
                 finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), wall_s=wall)
    write_cell_state(cdir, state)
    return CellReport(cell.index, status, wall, summary.n_evaluations, summary.epochs_trained, summary.stopped_by)
