"""Plots of a run: each takes the DataFrame (and an optional Axes) and returns the Axes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evoautodl.analysis.summaries import best_by_budget, budget_correlation, incumbent_trace, pareto_front

__all__ = ["plot_budget_correlation", "plot_incumbent", "plot_objective_by_budget", "plot_pareto", "save_figures"]


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(6, 4)).add_subplot()


def plot_incumbent(df: pd.DataFrame, ax: Any = None, x: str = "epochs") -> Any:
    """Best objective so far against epochs trained, evaluations or time.

    With ``x="epochs"`` and several budgets, one thin line per budget shows its
    best so far and the thick line the incumbent (best at the highest budget
    reached so far).
    """
    ax = _axes(ax)
    trace = incumbent_trace(df)
    if x == "epochs" and df["budget_epochs"].nunique() > 1:
        per_budget = best_by_budget(df)
        for b in per_budget.columns[:-1]:
            ax.step(per_budget.index, per_budget[b], where="post", lw=1, alpha=0.6, label=f"best at {b:g} epochs")
        top = per_budget.columns[-1]
        ax.step(per_budget.index, per_budget[top], where="post", lw=2.5, color="black",
                label=f"best at {top:g} epochs (max)")
        ax.legend(fontsize=8)
    else:
        ax.step(trace[x], trace["incumbent"], where="post", lw=2)
    ax.set_xlabel({"epochs": "epochs trained", "n_evaluations": "evaluations", "time_s": "seconds"}[x])
    ax.set_ylabel("best objective so far")
    ax.set_title("best so far per budget")
    ax.grid(alpha=0.3)
    return ax


def plot_objective_by_budget(df: pd.DataFrame, ax: Any = None) -> Any:
    """Every OK trial's objective against its budget (log x when budgets span a ladder)."""
    ax = _axes(ax)
    ok = df[(df["status"] == "OK") & np.isfinite(df["objective"])]
    rng = np.random.default_rng(0)
    jitter = np.exp(rng.uniform(-0.05, 0.05, len(ok)))
    ax.scatter(ok["budget_epochs"] * jitter, ok["objective"], s=10, alpha=0.5)
    if ok["budget_epochs"].nunique() > 1:
        ax.set_xscale("log")
        budgets = sorted(ok["budget_epochs"].unique())
        ax.set_xticks(budgets, [f"{b:g}" for b in budgets])
    ax.set_xlabel("budget (epochs)")
    ax.set_ylabel("objective")
    ax.set_title(f"{len(ok)} OK trials by budget")
    ax.grid(alpha=0.3)
    return ax


def plot_budget_correlation(df: pd.DataFrame, ax: Any = None) -> Any:
    """Kendall tau between budget pairs as a heat map."""
    ax = _axes(ax)
    corr = budget_correlation(df)
    budgets = sorted(set(corr["budget_low"]) | set(corr["budget_high"]))
    m = np.full((len(budgets), len(budgets)), np.nan)
    for r in corr.itertuples(index=False):
        i, j = budgets.index(r.budget_low), budgets.index(r.budget_high)
        m[i, j] = m[j, i] = r.kendall_tau
    for i in range(len(budgets)):
        m[i, i] = 1.0
    im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu_r")
    labels = [f"{b:g}" for b in budgets]
    ax.set_xticks(range(len(budgets)), labels)
    ax.set_yticks(range(len(budgets)), labels)
    for r in corr.itertuples(index=False):
        i, j = budgets.index(r.budget_low), budgets.index(r.budget_high)
        ax.text(j, i, f"{r.kendall_tau:.2f}\nn={r.n_pairs}", ha="center", va="center", fontsize=8)
    ax.set_title("Kendall tau between budgets")
    ax.figure.colorbar(im, ax=ax)
    return ax


def plot_pareto(df: pd.DataFrame, objectives: list[str] | None = None, ax: Any = None) -> Any:
    """Every OK trial on the first two objectives, the non-dominated front highlighted.

    ``objectives`` (column names) defaults to the run's first two objective columns.
    """
    ax = _axes(ax)
    names = objectives or list(df.attrs.get("objective_columns", []))[:2]
    if len(names) < 2:
        raise ValueError("plot_pareto needs two objectives (the run has fewer)")
    x, y = names[:2]
    ok = df[(df["status"] == "OK")].dropna(subset=[x, y])
    front = pareto_front(df, [x, y]).sort_values(x)
    ax.scatter(ok[x], ok[y], s=10, alpha=0.35, label=f"{len(ok)} trials")
    ax.step(front[x], front[y], where="post", color="black", lw=1.5)
    ax.scatter(front[x], front[y], s=25, color="black", label=f"front ({len(front)})", zorder=3)
    for col, setter in ((x, ax.set_xscale), (y, ax.set_yscale)):
        vals = ok[col][ok[col] > 0]
        if len(vals) and vals.max() / vals.min() > 100:
            setter("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title("non-dominated front (both minimised)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def save_figures(df: pd.DataFrame, folder: str | Path) -> list[Path]:
    """Draw the standard figures of a run into ``folder`` (PNG); returns the paths."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fn in (("incumbent", plot_incumbent), ("objective_by_budget", plot_objective_by_budget),
                     ("budget_correlation", plot_budget_correlation)):
        if name == "budget_correlation" and budget_correlation(df).empty:
            continue
        if name == "objective_by_budget" and df["budget_epochs"].nunique() < 2:
            continue
        ax = fn(df)
        ax.figure.tight_layout()
        path = out / f"{name}.png"
        ax.figure.savefig(path, dpi=110)
        plt.close(ax.figure)
        paths.append(path)
    if len(df.attrs.get("objective_columns", [])) >= 2:
        ax = plot_pareto(df)
        ax.figure.tight_layout()
        path = out / "pareto.png"
        ax.figure.savefig(path, dpi=110)
        plt.close(ax.figure)
        paths.append(path)
    return paths
