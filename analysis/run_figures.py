#!/usr/bin/env python3
"""Write the figures and report of one or more run directories (what `evoautodl analyze` does).

    python analysis/run_figures.py runs/A runs/B [--out cmp]

Each run gets RUN/figures/*.{png,pdf} and RUN/report.md; with several runs, OUT/report.md
compares them. The findings are printed.
"""

from __future__ import annotations

import argparse
import sys

from evoautodl.analysis import analyze_runs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    for report in analyze_runs(args.runs, args.out):
        print(f"== {report.path}")
        for title, finding in report.findings:
            print(f"{title}: {finding}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
