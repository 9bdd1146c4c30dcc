"""Landscape figures: importance, importance across budgets, partial dependence, portfolios, descriptors.

Each function draws the table its analysis returns, ``(data, ax=None) -> Axes``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evoautodl.analysis.plots import axes, log_axis, use_log_scale
from evoautodl.space import GeneKind, SearchSpace

__all__ = ["plot_diversity", "plot_importance", "plot_importance_by_budget", "plot_operator_success",
           "plot_partial_dependence", "plot_partial_dependence_2d", "plot_performance_heatmap", "plot_portfolio"]


def plot_importance(table: pd.DataFrame, ax: Any = None, title: str = "fANOVA importance", top: int = 12,
                    xlabel: str = "fraction of variance explained") -> Any:
    """Horizontal bars of importance with the std over trees (a fanova or lpi table)."""
    ax = axes(ax)
    t = table.head(top) if "order" not in table.columns else pd.concat(
        [table[table["order"] == 1].head(top), table[table["order"] == 2].head(4)])
    t = t.iloc[::-1]
    colours = ["tab:orange" if o == 2 else "tab:blue" for o in t.get("order", pd.Series(1, index=t.index))]
    ax.barh(t["hyperparameter"], t["importance"], xerr=t["std"], color=colours, alpha=0.85, capsize=3,
            error_kw={"elinewidth": 0.9, "alpha": 0.6})
    ax.set_xlabel(f"{xlabel} (error bar: std over trees)")
    ax.set_xlim(0, max(1e-9, float((t["importance"] + t["std"]).max()) * 1.05))
    if "order" in table.columns and (table["order"] == 2).any():
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color="tab:blue", label="main effect"), Patch(color="tab:orange", label="pair")],
                  fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_importance_by_budget(table: pd.DataFrame, ax: Any = None, top: int | None = 7) -> Any:
    """How each hyperparameter's importance changes with the budget (one line each, band = std over trees).

    ``table``: :func:`evoautodl.analysis.importance_by_budget`. ``top``: only
    the hyperparameters that reach the top ``top`` at some step.
    """
    ax = axes(ax, (7.2, 4.4))
    by = str(table["by"].iloc[0]) if len(table) else "budget"
    names = list(table.groupby("hyperparameter")["importance"].max().sort_values(ascending=False).index)
    if top is not None:
        names = names[:top]
    steps = sorted(table["step"].unique())
    palette = sorted(table["hyperparameter"].unique())  # a hyperparameter keeps its colour across figures
    for name in names:
        t = table[table["hyperparameter"] == name].sort_values("step")
        ax.errorbar(t["step"], t["importance"], yerr=t["std"], marker="o", ms=4, lw=1.8, capsize=2,
                    elinewidth=0.8, label=name, color=f"C{palette.index(name) % 10}")
    if len(steps) > 1 and by != "generation" and steps[0] > 0 and steps[-1] / steps[0] >= 4:
        from matplotlib.ticker import NullFormatter, NullLocator

        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(steps, [f"{s:g}" for s in steps])
    unit = {"epoch": "epoch (all configurations, from the learning curves)",
            "budget": "budget (epochs; each rung's own trials)", "generation": "generation"}[by]
    ax.set_xlabel(unit)
    ax.set_ylabel("fANOVA importance (fraction of variance)\nerror bar: std over trees", fontsize=9)
    ax.set_ylim(bottom=0)
    ax.set_title(f"hyperparameter importance by {by}")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(alpha=0.3)
    return ax


def plot_partial_dependence(pdp: pd.DataFrame, name: str, space: SearchSpace, ax: Any = None,
                            ylabel: str = "objective (partial dependence)") -> Any:
    """The 1-D partial dependence of one hyperparameter (a :func:`partial_dependence` table), band = std over trees."""
    ax = axes(ax, (4.8, 3.6))
    t = pdp[pdp["hyperparameter"] == name]
    h = space.hyperparameters[space.index[name]]
    if h.kind in (GeneKind.CATEGORICAL, GeneKind.ORDINAL):
        ax.bar([str(v) for v in t["value"]], t["mean"], yerr=t["std"], color="tab:blue", alpha=0.8, capsize=3)
        lo = float((t["mean"] - t["std"]).min())
        hi = float((t["mean"] + t["std"]).max())
        ax.set_ylim(lo - 0.1 * (hi - lo + 1e-12), hi + 0.1 * (hi - lo + 1e-12))
    else:
        x = t["value"].to_numpy(dtype=float)
        ax.plot(x, t["mean"], lw=2)
        ax.fill_between(x, t["mean"] - t["std"], t["mean"] + t["std"], alpha=0.25, lw=0)
        if h.log:
            log_axis(ax)
    ax.set_xlabel(f"{name}{' (log scale)' if h.log else ''}")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return ax


def plot_partial_dependence_2d(pd2: pd.DataFrame, ax: Any = None, label: str = "objective") -> Any:
    """Joint partial dependence of two hyperparameters (a :func:`partial_dependence_2d` table)."""
    ax = axes(ax, (5.6, 4.4))
    gx, gy = pd2.attrs.get("genes", (np.linspace(0, 1, pd2.shape[0]), np.linspace(0, 1, pd2.shape[1])))
    im = ax.pcolormesh(gy, gx, pd2.to_numpy(), shading="nearest", cmap="viridis_r")

    def ticks(values: list[Any], genes: list[float], setter: Any) -> None:
        idx = np.unique(np.round(np.linspace(0, len(genes) - 1, min(6, len(genes)))).astype(int))
        fmt = [f"{values[i]:.3g}" if isinstance(values[i], float) else str(values[i]) for i in idx]
        setter([genes[i] for i in idx], fmt)

    ticks(list(pd2.columns), list(gy), ax.set_xticks)
    ticks(list(pd2.index), list(gx), ax.set_yticks)
    ax.set_xlabel(f"{pd2.columns.name} (own scale)")
    ax.set_ylabel(f"{pd2.index.name} (own scale)")
    ax.figure.colorbar(im, ax=ax, label=f"{label} (partial dependence)")
    ax.set_title(f"{pd2.index.name} x {pd2.columns.name}")
    return ax


def plot_performance_heatmap(norm: pd.DataFrame, ax: Any = None, max_configs: int = 60) -> Any:
    """Configuration x dataset heat map of the normalized objective (0: best on that dataset, 1: worst).

    Configurations are sorted by their mean over datasets (best at the top);
    at most ``max_configs`` are drawn (the best ones).
    """
    ax = axes(ax, (max(6.0, 0.35 * norm.shape[1] + 3), 6.4))
    order = norm.mean(axis=1).sort_values().index[:max_configs]
    t = norm.loc[order]
    cols = t.mean(axis=0).sort_values().index
    t = t[cols]
    im = ax.imshow(t.to_numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks(range(t.shape[1]), [str(c) for c in t.columns], rotation=90, fontsize=7)
    step = max(1, len(t) // 30)
    ax.set_yticks(range(0, len(t), step), [str(i) for i in t.index[::step]], fontsize=7)
    ax.set_xlabel("dataset")
    ax.set_ylabel(f"configuration (best {len(t)} of {len(norm)} by mean)")
    ax.figure.colorbar(im, ax=ax, label="normalized objective (0: best on the dataset, 1: worst)")
    ax.set_title("configuration x dataset")
    return ax


def plot_portfolio(loo: pd.DataFrame, ax: Any = None) -> Any:
    """Regret of the greedy portfolio against its size k (a :func:`loo_portfolio` table)."""
    ax = axes(ax)
    k = loo["k"]
    ax.plot(k, loo["train_regret"], marker="o", label="greedy portfolio, datasets it was built on")
    ax.plot(k, loo["test_regret"], marker="s", lw=2.2, label="greedy portfolio, held-out dataset (LODO)")
    ax.fill_between(k, (loo["test_regret"] - loo["test_regret_std"]).clip(lower=0),
                    loo["test_regret"] + loo["test_regret_std"], alpha=0.15, lw=0)
    ax.plot(k, loo["random_regret"], ls="--", color="gray", label="k random configurations (expected)")
    ax.axhline(0, color="black", lw=0.8)
    if use_log_scale(pd.concat([loo["test_regret"], loo["random_regret"]]), ratio=30.0):
        ax.set_yscale("symlog", linthresh=1e-3)  # log above 0.001, linear through 0 (a perfect fit)
        ax.set_ylim(bottom=0)
    ax.set_xlabel("portfolio size k (best member chosen per dataset)")
    ax.set_ylabel("normalized regret (0: best configuration of the dataset)")
    ax.set_title("portfolio regret (band: std over held-out datasets)", fontsize=10)
    ax.set_xticks(list(k))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def plot_diversity(table: pd.DataFrame, ax: Any = None) -> Any:
    """Population diversity (mean pairwise mixed distance) per generation or window of births."""
    ax = axes(ax)
    from matplotlib.ticker import MaxNLocator

    ax.plot(table["step"], table["diversity"], marker="o", ms=3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    group = str(table["group"].iloc[0]) if len(table) else "generation"
    ax.set_xlabel(group if group == "generation" else "window of births (in trial order)")
    ax.set_ylabel("mean pairwise distance (0-1, Gower)")
    ax.set_ylim(bottom=0)
    ax.set_title("population diversity")
    ax.grid(alpha=0.3)
    return ax


def plot_operator_success(table: pd.DataFrame, ax: Any = None) -> Any:
    """Share of each operator's offspring that beat their best parent (an :func:`operator_success` table)."""
    ax = axes(ax)
    t = table.iloc[::-1]
    ax.barh([f"{o} (n={n})" for o, n in zip(t["operator"], t["n"])], t["success_rate"], color="tab:green", alpha=0.8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("offspring better than their best parent (same budget)")
    ax.set_title("operator success")
    ax.grid(axis="x", alpha=0.3)
    return ax
