#!/usr/bin/env python3
"""Draw the standard figures of one or more run directories.

    python analysis/run_figures.py runs/A runs/B

Writes RUN/figures/{incumbent,objective_by_budget,budget_correlation}.png and
prints each run's incumbent and the Kendall tau between budgets.
"""

from __future__ import annotations

import sys
from pathlib import Path

from evoautodl import load_run
from evoautodl.analysis import budget_correlation, incumbent_trace
from evoautodl.analysis.plots import save_figures


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__)
        return 2
    for p in map(Path, paths):
        df = load_run(p)
        trace = incumbent_trace(df)
        last = trace.iloc[-1] if len(trace) else None
        print(f"== {p}: {len(df)} evaluations")
        if last is not None:
            print(f"incumbent {last['incumbent']:.5g} at budget {last['budget_epochs']:g} "
                  f"after {last['epochs']:g} epochs")
        corr = budget_correlation(df)
        if not corr.empty:
            print(corr.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
        for f in save_figures(df, p / "figures"):
            print(f"wrote {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
