"""Throughput of `evoautodl experiment` on LCBench surrogate cells with 1, 2 and 8 ranks.

Usage::

    EVOAUTODL_YAHPO_DATA=... python experiments/bench/grid_throughput.py [--ranks 1 2 8] [--seeds 24]
                                                                         [--evaluations 10]

Each measurement runs a fresh grid of 2 LCBench tasks x 2 algorithms (random, dehb) x
``--seeds`` seeds, every cell a whole run of ``--evaluations`` surrogate evaluations
(milliseconds each, so the figure is dominated by what the harness does per cell:
validating the cell's experiment, creating its run directory, the Runner's log and
snapshot, cell.json, the scheduler's messages), under ``mpiexec -n R`` (R = 1: a plain
serial run). It prints cells per second, the mean time a cell spends inside its run
(cell.json's wall_s), the harness overhead per cell (R x wall / cells - mean cell time:
rank time spent outside any cell's run, including process start and planning) and the
time a 34 x 10 x 12 grid of such cells would take. Ranks beyond the machine's cores share
them (the figure for 8 ranks on 2 cores measures oversubscription, not scaling).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

GRID = """
name = "throughput"
seeds = {seeds}
[budget]
unit = "evaluations"
max = {evaluations}
[fidelity]
min_budget = 1
eta = 3
[problems.lcb]
type = "lcbench"
task_id = ["3945", "7593"]
[algorithms.random]
[algorithms.dehb]
"""


def _mpiexec() -> str:
    sibling = Path(sys.executable).parent / "mpiexec"
    return str(sibling) if sibling.exists() else (shutil.which("mpiexec") or "mpiexec")


def measure(ranks: int, seeds: int, evaluations: int, work: Path) -> dict[str, float]:
    exp = work / "grid.toml"
    exp.write_text(GRID.format(seeds=seeds, evaluations=evaluations))
    out = work / f"out{ranks}"
    cmd = [sys.executable, "-m", "evoautodl", "experiment", str(exp), "--out", str(out), "--no-progress"]
    if ranks > 1:
        cmd = [_mpiexec(), "-n", str(ranks), *cmd]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t0
    cells = json.loads((out / "grid.json").read_text())["cells"]
    states = [json.loads((out / c["path"] / "cell.json").read_text()) for c in cells]
    assert all(s["status"] == "complete" for s in states)
    inside = sum(s["wall_s"] for s in states) / len(states)
    n = len(cells)
    return {"ranks": ranks, "cells": n, "wall_s": wall, "cells_per_s": n / wall, "cell_s": inside,
            "overhead_s": ranks * wall / n - inside, "ranks_used": len({s["rank"] for s in states})}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, nargs="*", default=[1, 2, 8])
    ap.add_argument("--seeds", type=int, default=24)
    ap.add_argument("--evaluations", type=int, default=10)
    args = ap.parse_args(argv)
    if not os.environ.get("EVOAUTODL_YAHPO_DATA"):
        ap.error("set EVOAUTODL_YAHPO_DATA to the folder that contains lcbench/model.onnx")
    print(f"LCBench surrogate cells (2 tasks x random, dehb x {args.seeds} seeds, {args.evaluations} evaluations "
          f"each) on {os.cpu_count()} cores")
    print(f"{'ranks':>5} {'cells':>6} {'wall s':>7} {'cells/s':>8} {'in cell s':>9} {'overhead s/cell':>15} "
          f"{'ranks busy':>10} {'34x10x12 grid':>14}")
    with tempfile.TemporaryDirectory(prefix="evoautodl-grid-bench-") as tmp:
        for r in args.ranks:
            m = measure(r, args.seeds, args.evaluations, Path(tmp))
            grid_min = 34 * 10 * 12 / m["cells_per_s"] / 60
            print(f"{m['ranks']:>5} {m['cells']:>6} {m['wall_s']:>7.1f} {m['cells_per_s']:>8.1f} {m['cell_s']:>9.3f} "
                  f"{m['overhead_s']:>15.3f} {m['ranks_used']:>10} {grid_min:>11.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
