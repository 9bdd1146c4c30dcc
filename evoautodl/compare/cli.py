"""The ``evoautodl compare RESULTS_DIR`` subcommand (registered by :mod:`evoautodl.cli`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_compare_parser", "run_compare"]


def add_compare_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``compare`` subcommand to the CLI's subparsers (imports nothing heavy)."""
    p = sub.add_parser("compare", help="compare the algorithms of a grid results folder: tables, tests, "
                                       "figures, IOHprofiler export (into RESULTS_DIR/compare)")
    p.add_argument("results_dir", help="folder with grid.json (written by `evoautodl experiment`)")
    p.add_argument("--out", help="output folder (default: RESULTS_DIR/compare)")
    p.add_argument("--fractions", type=float, nargs="+", default=[0.25, 1.0], metavar="F",
                   help="budget fractions of the final tables and tests (default: 0.25 1.0)")
    p.add_argument("--include-incomplete", action="store_true",
                   help="also compare cells whose cell.json status is not 'complete'")
    p.add_argument("--blocks", choices=("auto", "problem", "run"), default="auto",
                   help="rank within problems (mean over seeds) or within (problem, seed) runs; "
                        "auto: problems when there are at least 5 (default)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument("--points", type=int, default=200, help="points of the common budget grid (default 200)")
    p.add_argument("--log-x", action="store_true", help="log-spaced budget grid and log budget axes")
    p.add_argument("--no-figures", dest="figures", action="store_false", help="skip the figures")
    p.add_argument("--no-ioh", dest="ioh", action="store_false", help="skip the IOHprofiler export")
    p.add_argument("--jobs", type=int, default=1, help="processes that read the cells (default 1)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def run_compare(args: argparse.Namespace) -> int:
    """Run the comparison and print the final tables (errors propagate as CompareError: exit code 2)."""
    from evoautodl.compare.render import summary_text
    from evoautodl.compare.report import compare

    result = compare(Path(args.results_dir), out=Path(args.out) if args.out else None, fractions=args.fractions,
                     include_incomplete=args.include_incomplete, n_points=args.points, log_x=args.log_x,
                     alpha=args.alpha, blocks=args.blocks, ioh=args.ioh, figures=args.figures, jobs=args.jobs)
    print(summary_text(result))
    print(f"\nwrote {len(result.files)} files to {result.out} (report.md; tables .md .tex .csv"
          + ("; figures .png .pdf" if args.figures else "") + ("; ioh/" if args.ioh else "") + ")")
    return 0
