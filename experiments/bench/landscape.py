#!/usr/bin/env python3
"""Landscape-analysis benchmark: `evoautodl analyze` on a 10,000-trial run, fANOVA on 2,000 x 7.

    nice -n 10 python experiments/bench/landscape.py [--trials 10000] [--run /tmp/evoautodl-bench-10k]

Targets (issue 11): analyze finishes in under 60 s on 2 cores; fANOVA (64 trees,
main effects) on 2,000 configurations x 7 hyperparameters in under 10 s. The 10,000-trial run
is ASHA-style evolution (asha_ea, ladder 1-27, eta 3) on the synthetic MixedRastrigin workload
(10 mixed and conditional hyperparameters, learning curves logged); it is made once and reused.
The fANOVA input is 2,000 Sobol configurations of the 7-hyperparameter LCBench space with a
synthetic objective (no surrogate files needed). Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_run(path: Path, n: int) -> None:
    from evoautodl.algorithms import get_algorithm
    from evoautodl.backends.serial import SerialBackend
    from evoautodl.fidelity import BudgetLadder
    from evoautodl.runner import Runner, StopCriteria
    from evoautodl.workloads.synthetic import MixedRastrigin

    wl = MixedRastrigin(max_budget=27, fidelity_correlation=0.7, noise_std=0.01)
    algo = get_algorithm("asha_ea", wl.search_space(), seed=0, ladder=BudgetLadder(1, 27, 3))
    Runner(algo, SerialBackend(wl), run_dir=path, stop=StopCriteria(max_evaluations=n)).run()


def fanova_2000x7(seed: int = 0) -> tuple[float, float, pd.DataFrame]:
    from scipy.stats import qmc

    from evoautodl.analysis import fanova
    from evoautodl.space import SearchSpace
    from evoautodl.workloads.lcbench import LCBENCH_BOUNDS

    log = {"batch_size", "learning_rate", "max_units"}
    ints = {"batch_size", "num_layers", "max_units"}
    space = SearchSpace.from_dict({n: {"type": "int" if n in ints else "float", "lower": lo, "upper": hi,
                                       "log": n in log} for n, (lo, hi) in LCBENCH_BOUNDS.items()})
    genomes = qmc.Sobol(space.dim, scramble=True, seed=seed).random_base2(11)[:2000]
    configs = pd.DataFrame([space.to_config(space.repair(g)) for g in genomes])
    lr = np.log10(configs["learning_rate"])
    y = ((lr + 2.0) ** 2 + 0.3 * configs["num_layers"] * (lr + 2.5) ** 2 / 5 + 0.05 * np.log2(configs["batch_size"])
         + 0.2 * configs["max_dropout"] ** 2 + np.random.default_rng(seed).normal(0, 0.02, len(configs)))
    t0, c0 = time.perf_counter(), time.process_time()
    table = fanova(configs, y.to_numpy(), space, n_trees=64, seed=seed)
    return time.perf_counter() - t0, time.process_time() - c0, table


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=10_000)
    p.add_argument("--run", type=Path, default=Path("/tmp/evoautodl-bench-10k"))
    args = p.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    if not (args.run / "evaluations.jsonl").exists():
        t0 = time.perf_counter()
        make_run(args.run, args.trials)
        print(f"made the {args.trials}-trial run in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "evoautodl", "analyze", str(args.run), "--no-progress"],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    if done.returncode != 0:
        print(done.stderr)
        return 1
    n_fig = len(list((args.run / "figures").glob("*.png")))
    print(f"evoautodl analyze, {args.trials} trials: {wall:.1f} s wall, {cpu:.1f} s CPU ({n_fig} figures as PNG + "
          "PDF, report.md)   target < 60 s")
    seconds, cpu_s, table = fanova_2000x7()
    print(f"fanova, 2000 x 7, 64 trees, main effects: {seconds:.2f} s wall, {cpu_s:.2f} s CPU   target < 10 s")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
