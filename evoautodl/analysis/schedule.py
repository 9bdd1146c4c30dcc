"""adaptive_mf's schedule decisions from a run directory: agreements with uncertainty and bracket shares.

``AdaptiveFidelityEA.decisions()`` keeps every schedule update in the
algorithm's state, which the runner saves in ``state.pkl``; these functions
read it back (the run must have been written by the same evoautodl version,
since the state is a pickle) and draw it:

- :func:`load_decisions` -> one row per decision (``ScheduleDecision.as_dict``);
- :func:`plot_agreement` -> each rung's agreement with the full budget against
  the epochs trained (posterior mean and 80% interval of the normal-score
  correlation over unbiased pairs; dots: the raw estimate; dashed: the GP's
  model-implied correlation);
- :func:`plot_brackets` -> the share of new configurations Thompson sampling
  starts in each bracket (stacked).

``evoautodl analyze`` adds them to the report of an adaptive_mf run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["load_decisions", "plot_agreement", "plot_brackets"]


def load_decisions(run_dir: str | Path) -> pd.DataFrame | None:
    """One row per schedule decision of the adaptive_mf run in ``run_dir``; None for another algorithm.

    Raises:
        RunDirError: ``state.pkl`` exists but cannot be read.
    """
    from evoautodl.rundir import RunDir

    state = RunDir(run_dir).load_state()
    algorithm = state.get("algorithm") if state is not None else None
    schedule = algorithm.get("_schedule") if isinstance(algorithm, dict) else None
    decisions = getattr(schedule, "decisions", None)
    if not decisions:
        return None
    return pd.DataFrame([d.as_dict() for d in decisions])


def plot_agreement(df: pd.DataFrame, ax: Any = None) -> Any:
    """Agreement of every rung with the full budget against epochs trained."""
    import matplotlib.pyplot as plt

    ax = ax if ax is not None else plt.figure(figsize=(6, 3.5)).gca()
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
    ax.set_ylabel("agreement with the full budget\n(mean, 80% interval; dots: raw)")
    ax.legend(fontsize=7, loc="lower right", title="rung", title_fontsize=7)
    return ax


def plot_brackets(df: pd.DataFrame, ax: Any = None) -> Any:
    """Share of new configurations each bracket gets (Thompson sampling) against epochs trained."""
    import matplotlib.pyplot as plt

    ax = ax if ax is not None else plt.figure(figsize=(6, 3.5)).gca()
    cols = [c for c in df.columns if c.startswith("bracket_") and c.endswith("_probability")]
    labels = [c[len("bracket_"): -len("_probability")] for c in cols]
    ax.stackplot(df["epochs"], *[df[c] for c in cols], labels=labels, step="post", alpha=0.85)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("epochs trained")
    ax.set_ylabel("share of new configurations")
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0),
              title="bracket\n(sK: start rung K,\nqF: fraction kept)", title_fontsize=6)
    ax.figure.tight_layout()
    return ax
