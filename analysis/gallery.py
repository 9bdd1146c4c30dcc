#!/usr/bin/env python3
"""Regenerate the README gallery's run figures: `evoautodl analyze` on two small example runs.

    EVOAUTODL_YAHPO_DATA=/path/to/yahpo_data nice -n 10 python analysis/gallery.py --runs /tmp/evoautodl-gallery

* ASHA-style evolution (asha_ea, ladder 2-52, eta 3) on LCBench task 3945 on the simulated clock
  with 32 virtual workers (5,000 epochs): incumbent, objective by budget, learning curves,
  promoted-pair budget correlation, importance across rungs, fANOVA, LPI, partial dependence,
  diversity and operator success;
* NSGA-II on the two-objective synthetic workload (error, size): hypervolume and front.

Copies the figures into analysis/figures/ (PNG) and prints the findings.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, default=Path("/tmp/evoautodl-gallery"))
    args = p.parse_args()
    from evoautodl.algorithms import get_algorithm
    from evoautodl.analysis.report import analyze_run
    from evoautodl.backends.serial import SerialBackend
    from evoautodl.backends.simulated import SimulatedBackend
    from evoautodl.fidelity import BudgetLadder
    from evoautodl.runner import Runner, StopCriteria
    from evoautodl.workloads.lcbench import LCBenchSurrogate
    from evoautodl.workloads.synthetic import MixedRastrigin

    asha, mo = args.runs / "asha-lcbench-3945", args.runs / "nsga2-synthetic"
    if not (asha / "evaluations.jsonl").exists():
        wl = LCBenchSurrogate(task_id="3945")
        algo = get_algorithm("asha_ea", wl.search_space(), seed=0, ladder=BudgetLadder(2, 52, 3))
        Runner(algo, SimulatedBackend(wl, n_workers=32), run_dir=asha, stop=StopCriteria(max_epochs=5000)).run()
    if not (mo / "evaluations.jsonl").exists():
        wl = MixedRastrigin(multi_objective=True)
        algo = get_algorithm("nsga2", wl.search_space(), seed=0, max_budget=27, population_size=20)
        Runner(algo, SerialBackend(wl), run_dir=mo, stop=StopCriteria(max_evaluations=400)).run()
    out = HERE / "figures"
    out.mkdir(exist_ok=True)
    for run, prefix, importance in ((asha, "asha_lcbench", True), (mo, "nsga2", False)):
        report = analyze_run(run, importance=importance)
        for png in report.figures:
            shutil.copy(png, out / f"{prefix}_{png.name}")
        print(f"== {run}")
        for title, finding in report.findings:
            print(f"{title}: {finding}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
