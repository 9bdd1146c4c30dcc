"""Worker utilization and throughput of the MPI backend, with a real algorithm and log in the loop.

Run::

    mpiexec -n 33 python experiments/bench/mpi_utilization.py --sleep 0.05   # 32 workers, 50 ms trials
    mpiexec -n 9  python experiments/bench/mpi_utilization.py --sleep 0.05   # 8 workers
    mpiexec -n 3  python experiments/bench/mpi_utilization.py --sleep 0      # zero-cost objective

Rank 0 runs `evoautodl.runner.Runner` (ask -> submit -> wait -> tell -> JSONL log,
flushed per line, journal and state snapshots in a temporary run directory)
with the steady-state EA (random search when that algorithm is not installed).
Every evaluation sleeps ``--sleep`` seconds. The clock starts when every worker
reported READY and stops when the runner returns (the drain of the last running
trials is included).

    utilization      = sum of evaluation seconds (Result.cost_s) / (workers x wall seconds)
    evaluations / s  = logged results / wall seconds

"manager CPU / wall" is rank 0's CPU time over the same window. The machine's
load average is printed too: other processes on the cores lower the figures.
``--prefetch 1`` queues one more trial on every worker (see `MPIBackend`).
``--bare`` replaces the runner by a plain submit/wait loop (no algorithm, no
log), to separate the backend's cost from the algorithm's and the log's.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evoautodl.backends.mpi import MPIBackend, mpi_rank, mpi_world_size, worker_main
from evoautodl.records import Evaluation, Result, Trial
from evoautodl.workloads.base import WorkerContext

SPACE = {
    "x": {"type": "float", "lower": -2.0, "upper": 2.0},
    "y": {"type": "float", "lower": 1e-3, "upper": 1.0, "log": True},
    "n": {"type": "int", "lower": 1, "upper": 8},
    "kind": {"type": "categorical", "choices": ["a", "b", "c"]},
}


class SleepSphere:
    """Sleeps ``sleep_s``, returns a sphere value (defined here: the workers unpickle ``__main__.SleepSphere``)."""

    objective_names = ("f",)
    max_budget = 1

    def __init__(self, sleep_s: float):
        self.sleep_s = sleep_s

    def setup(self, context: WorkerContext) -> None:
        pass

    def evaluate(self, trial: Trial, context: WorkerContext) -> Evaluation:
        if self.sleep_s > 0:
            time.sleep(self.sleep_s)
        c = trial.config
        f = c["x"] ** 2 + math.log10(c["y"]) ** 2 / 10 + (c["n"] - 3) ** 2 / 10 + (c["kind"] != "b")
        return Evaluation(objectives=(f,), epochs_trained=1.0)


def _algorithm(name: str, seed: int) -> Any:
    from evoautodl.algorithms import available_algorithms, get_algorithm
    from evoautodl.space import SearchSpace

    space = SearchSpace.from_dict(SPACE)
    if name not in available_algorithms():
        logging.warning("algorithm %r is not installed: using random search", name)
        name = "random"
    return get_algorithm(name, space, seed=seed)


def _wait_ready(backend: MPIBackend, timeout_s: float = 120.0) -> None:
    end = time.monotonic() + timeout_s
    while any(w["state"] == "starting" for w in backend.workers()):
        backend.wait(timeout_s=0.01)
        if time.monotonic() > end:
            raise RuntimeError("workers did not report READY")


def _runner_loop(args: argparse.Namespace) -> Callable[[MPIBackend], tuple[list[Result], float, str]]:
    """Import the runner and build the algorithm now (outside the measured window)."""
    from evoautodl.runner import Runner, StopCriteria

    algo = _algorithm(args.algorithm, args.seed)

    def loop(backend: MPIBackend) -> tuple[list[Result], float, str]:
        results: list[Result] = []
        with tempfile.TemporaryDirectory(prefix="mpi-bench-") as tmp:
            runner = Runner(algo, backend, run_dir=Path(tmp) / "run", stop=StopCriteria(max_time_s=args.seconds),
                            on_result=results.append, checkpoint_interval_s=5.0, handle_signals=False)
            t0 = time.perf_counter()
            runner.run()
            wall = time.perf_counter() - t0
        return results, wall, algo.name

    return loop


def _bare_loop(backend: MPIBackend, args: argparse.Namespace) -> tuple[list[Result], float, str]:
    results: list[Result] = []
    next_id = 0
    t0 = time.perf_counter()
    while True:
        if time.perf_counter() - t0 < args.seconds:
            for _ in range(backend.capacity - backend.n_running):
                backend.submit(Trial(trial_id=next_id, individual_id=next_id, config={"x": 0.1, "y": 0.5, "n": 2,
                                     "kind": "a"}, genome=(0.1,), budget_epochs=1, seed=next_id))
                next_id += 1
        elif backend.n_running == 0:
            break
        results.extend(backend.wait())
    return results, time.perf_counter() - t0, "none (bare loop)"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sleep", type=float, default=0.05, help="seconds each evaluation sleeps")
    p.add_argument("--seconds", type=float, default=10.0, help="wall seconds of asking (then drain)")
    p.add_argument("--algorithm", default="steady_state")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bare", action="store_true", help="no algorithm, no log: the backend alone")
    p.add_argument("--prefetch", default="auto",
                   help="MPIBackend(prefetch=...): 'auto' (default) or trials queued per worker")
    args = p.parse_args()
    rank = mpi_rank()
    logging.basicConfig(level=logging.WARNING, format=f"[rank {rank}] %(levelname)s %(name)s: %(message)s")
    if rank > 0:
        return worker_main()
    n_workers = mpi_world_size() - 1
    prefetch = args.prefetch if args.prefetch == "auto" else int(args.prefetch)
    backend = MPIBackend(SleepSphere(args.sleep), prefetch=prefetch)
    loop = (lambda b: _bare_loop(b, args)) if args.bare else _runner_loop(args)
    load0 = os.getloadavg()[0]
    try:
        backend.start()
        _wait_ready(backend)
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        results, wall, algo = loop(backend)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        backend.shutdown()
    busy = sum(r.cost_s for r in results)
    manager_cpu = (cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime) / wall
    rows = [
        ("workers", f"{n_workers}"),
        ("evaluation sleep (s)", f"{args.sleep:g}"),
        ("algorithm", algo),
        ("prefetch (queued per worker)", f"{args.prefetch}"),
        ("log in the loop", "no" if args.bare else "yes (JSONL, flushed per line)"),
        ("evaluations", f"{len(results)}"),
        ("failed", f"{sum(not r.ok for r in results)}"),
        ("wall seconds", f"{wall:.2f}"),
        ("worker utilization", f"{busy / (n_workers * wall):.3f}"),
        ("evaluations / s", f"{len(results) / wall:.0f}"),
        ("manager CPU / wall", f"{manager_cpu:.2f}"),
        ("load average (1 min)", f"{load0:.2f} before, {os.getloadavg()[0]:.2f} after ({os.cpu_count()} cores)"),
    ]
    width = max(len(k) for k, _ in rows)
    print("MPI backend benchmark")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
