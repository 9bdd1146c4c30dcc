"""How long `evoautodl compare` takes on a full-size grid (34 problems x 10 seeds x 12 algorithms).

Usage::

    python experiments/bench/compare_speed.py [--problems 34] [--seeds 10] [--algorithms 12]
                                              [--budget 2600] [--jobs 1] [--out /tmp/compare-speed]

Setup. A few real cells are run with the Runner (every single-objective
algorithm of the project, 2 seeds, on the LCBench surrogate task 3945 when
``EVOAUTODL_YAHPO_DATA`` is set, else on the synthetic MixedRastrigin with 52
epochs), 2,600 epochs each. The grid's cells then reuse these run
directories round-robin (hard links), so every one of the problems x seeds x
algorithms cells is a real log of realistic length; the statistics are
meaningless (problems repeat), the reading and drawing cost is not. Prints the
time to read the cells, the time of the whole comparison with and without
figures and export, and the output size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evoautodl.algorithms import get_algorithm
from evoautodl.backends.serial import SerialBackend
from evoautodl.compare import compare, load_cells, read_grid
from evoautodl.fidelity import BudgetLadder
from evoautodl.runner import Runner, StopCriteria

OPTIONS = {"ga": {"population_size": 10}, "steady_state": {"population_size": 10},
           "regularized": {"population_size": 10}, "de": {"population_size": 10},
           "pbt": {"population_size": 50, "step_epochs": 4}}
ALGORITHMS = ("random", "ga", "steady_state", "regularized", "de", "dehb", "asha_ea", "pbt")


def _workload():
    data = os.environ.get("EVOAUTODL_YAHPO_DATA")
    if data:
        from evoautodl.workloads.lcbench import LCBenchSurrogate

        return LCBenchSurrogate("3945", data_dir=data), "val_error", "LCBench surrogate 3945"
    from evoautodl.workloads.synthetic import MixedRastrigin

    return MixedRastrigin(max_budget=52), "error", "MixedRastrigin (52 epochs)"


def base_cells(folder: Path, budget: float) -> tuple[list[Path], str, str]:
    wl, objective, what = _workload()
    paths = []
    for name in ALGORITHMS:
        for seed in range(2):
            path = folder / f"{name}-{seed}"
            algo = get_algorithm(name, wl.search_space(), seed=seed, ladder=BudgetLadder(1, 52, 3),
                                 **OPTIONS.get(name, {}))
            Runner(algo, SerialBackend(wl), run_dir=path, stop=StopCriteria(max_epochs=budget),
                   handle_signals=False).run()
            (path / "cell.json").write_text(json.dumps({"status": "complete"}))
            paths.append(path)
    return paths, objective, what


def build(root: Path, base: list[Path], objective: str, n_p: int, n_s: int, n_a: int, budget: float) -> int:
    cells, n_lines = [], 0
    for p in range(n_p):
        for a in range(n_a):
            for s in range(n_s):
                src = base[(p * n_a * n_s + a * n_s + s) % len(base)]
                rel = f"cells/task{p}/alg{a}/seed{s}"
                dst = root / rel
                dst.mkdir(parents=True)
                for name in ("evaluations.jsonl", "run.json", "cell.json"):
                    os.link(src / name, dst / name)
                n_lines += (src / "evaluations.jsonl").read_bytes().count(b"\n")
                cells.append({"problem": f"task{p}", "algorithm": f"alg{a}", "seed": s, "path": rel})
    grid = {"name": "compare-speed", "version": 1, "budget": {"unit": "epochs", "max": budget},
            "problems": {f"task{p}": {"max_budget": 52, "objective": objective} for p in range(n_p)},
            "algorithms": {f"alg{a}": {} for a in range(n_a)}, "seeds": list(range(n_s)), "cells": cells}
    (root / "grid.json").write_text(json.dumps(grid))
    return n_lines


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process and its finished children)."""

    def cpu() -> float:
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    w0, c0 = time.perf_counter(), cpu()
    out = fn()
    return out, time.perf_counter() - w0, cpu() - c0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=34)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--algorithms", type=int, default=12)
    ap.add_argument("--budget", type=float, default=2600)
    ap.add_argument("--jobs", type=int, default=1, help="processes that read the cells")
    ap.add_argument("--out", default="/tmp/compare-speed")
    args = ap.parse_args(argv)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    base, objective, what = base_cells(out / "base", args.budget)
    t_base = time.perf_counter() - t0
    n_lines = build(out / "grid", base, objective, args.problems, args.seeds, args.algorithms, args.budget)
    n_cells = args.problems * args.seeds * args.algorithms
    print(f"workload: {what}; {len(base)} base runs in {t_base:.1f} s; grid {args.problems} problems x "
          f"{args.seeds} seeds x {args.algorithms} algorithms = {n_cells} cells, {n_lines} logged trials "
          f"({n_lines / n_cells:.0f} per cell)", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; wall and CPU seconds:", flush=True)
    grid = read_grid(out / "grid")
    _, wall, cpu = timed(lambda: load_cells(grid, jobs=args.jobs))
    print(f"read cells ({args.jobs} process{'es' if args.jobs > 1 else ''}): {wall:6.1f} s wall, {cpu:6.1f} s CPU "
          f"({cpu / n_cells * 1e3:.1f} ms CPU per cell)", flush=True)
    _, wall, cpu = timed(lambda: compare(out / "grid", out=out / "bare", figures=False, ioh=False, jobs=args.jobs))
    print(f"compare, no figures  : {wall:6.1f} s wall, {cpu:6.1f} s CPU (tables, tests at 25% and 100%)", flush=True)
    res, wall, cpu = timed(lambda: compare(out / "grid", out=out / "full", jobs=args.jobs))
    size = sum(p.stat().st_size for p in res.files)
    ioh = sum(p.stat().st_size for p in (out / "full" / "ioh").rglob("*") if p.is_file())
    print(f"compare, everything  : {wall:6.1f} s wall, {cpu:6.1f} s CPU ({len(res.files)} files, "
          f"{size / 1e6:.1f} MB, of which ioh/ {ioh / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
