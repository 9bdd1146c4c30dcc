"""Plot adaptive_mf's schedule decisions from run directories: agreements with uncertainty, bracket shares.

Usage::

    python experiments/adaptive/plot_decisions.py RUN [RUN ...] --out decisions.png [--titles A B ...]

Each RUN is a run directory of ``adaptive_mf`` (``evoautodl run`` or a cell
of ``evoautodl experiment``). The decisions are read from the algorithm state
the runner saves (``state.pkl``; the run must use the same evoautodl version):
``AdaptiveFidelityEA.decisions()`` keeps every schedule update in the state,
so no extra file is needed. One column
per run: top, the agreement of each rung with the full budget (posterior mean
and 80% interval of the normal-score correlation over unbiased pairs; dots:
the raw estimate, dashed: the GP's model-implied correlation) against the
epochs trained; bottom, how often Thompson sampling starts a new
configuration in each bracket (stacked).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from evoautodl.analysis.schedule import load_decisions as _load
from evoautodl.analysis.schedule import plot_agreement, plot_brackets


def load_decisions(run_dir: str | Path) -> pd.DataFrame:
    """One row per schedule decision of the adaptive_mf run in ``run_dir`` (an error for another run)."""
    df = _load(run_dir)
    if df is None:
        raise ValueError(f"{run_dir}: no adaptive_mf schedule in its state.pkl (another algorithm, or no state saved)")
    return df


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--out", default="decisions.png")
    ap.add_argument("--titles", nargs="*", default=None)
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(args.runs)
    fig, axes = plt.subplots(2, n, figsize=(4.2 * n, 6), squeeze=False, sharex="col")
    for j, run in enumerate(args.runs):
        df = load_decisions(run)
        plot_agreement(df, axes[0][j])
        plot_brackets(df, axes[1][j])
        title = args.titles[j] if args.titles and j < len(args.titles) else Path(run).name
        axes[0][j].set_title(title, fontsize=9)
        if j:
            axes[0][j].set_ylabel("")
            axes[1][j].set_ylabel("")
        last = df.iloc[-1]
        print(f"{title}: {len(df)} decisions; last at {last['epochs']:.0f} epochs: " + ", ".join(
            f"{c[:-len('_rho_mean')]} rho {last[c]:.2f}" for c in df.columns if c.endswith("_rho_mean")
            if not math.isnan(last[c])))
    fig.tight_layout()
    fig.savefig(args.out, dpi=130)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
