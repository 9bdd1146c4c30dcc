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
from typing import Any

import pandas as pd

from evoautodl.rundir import RunDir


def load_decisions(run_dir: str | Path) -> pd.DataFrame:
    """One row per schedule decision of the adaptive_mf run in ``run_dir`` (``ScheduleDecision.as_dict``)."""
    state = RunDir(run_dir).load_state()
    if state is None:
        raise FileNotFoundError(f"{run_dir}: no state.pkl (not a run directory, or the run never saved its state)")
    schedule = state["algorithm"].get("_schedule")
    if schedule is None:
        raise ValueError(f"{run_dir}: the algorithm is not adaptive_mf (its state has no schedule)")
    return pd.DataFrame([d.as_dict() for d in schedule.decisions])


def plot_agreement(df: pd.DataFrame, ax: Any = None) -> Any:
    """Agreement of every rung with the full budget against epochs trained."""
    import matplotlib.pyplot as plt

    ax = ax if ax is not None else plt.figure(figsize=(5, 3)).gca()
    rungs = sorted({c.split("_")[0] for c in df.columns if c.startswith("rung") and c.endswith("_rho_mean")})
    for i, r in enumerate(rungs):
        color = f"C{i}"
        budget = df[f"{r}_budget"].iloc[0]
        ax.plot(df["epochs"], df[f"{r}_rho_mean"], color=color, label=f"{budget:g} epochs")
        ax.fill_between(df["epochs"], df[f"{r}_rho_low"], df[f"{r}_rho_high"], color=color, alpha=0.15, lw=0)
        ax.plot(df["epochs"], df[f"{r}_rho_hat"], ".", color=color, ms=3)
        ax.plot(df["epochs"], df[f"{r}_gp_rho"], "--", color=color, lw=0.8)
    ax.set_ylim(-1.0, 1.0)
    ax.set_xlabel("epochs trained")
    ax.set_ylabel("agreement with full budget")
    ax.legend(fontsize=7, loc="lower right")
    return ax


def plot_brackets(df: pd.DataFrame, ax: Any = None) -> Any:
    """Share of new configurations each bracket gets (Thompson sampling) against epochs trained."""
    import matplotlib.pyplot as plt

    ax = ax if ax is not None else plt.figure(figsize=(5, 3)).gca()
    cols = [c for c in df.columns if c.startswith("bracket_") and c.endswith("_probability")]
    labels = [c[len("bracket_"): -len("_probability")] for c in cols]
    ax.stackplot(df["epochs"], *[df[c] for c in cols], labels=labels, step="post", alpha=0.85)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("epochs trained")
    ax.set_ylabel("share of new configurations")
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


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
