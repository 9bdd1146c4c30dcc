"""Plots of a run: each takes its data (and an optional Axes) and returns the Axes.

Axes name the objective and its unit (:func:`evoautodl.analysis.frame.objective_label`),
and a simulated run's time axis says that its seconds are virtual.
Landscape figures (importance, partial dependence, portfolios) live in
:mod:`evoautodl.analysis.landscape_plots`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evoautodl.analysis.correlation import budget_correlation
from evoautodl.analysis.curves import curve_matrix
from evoautodl.analysis.frame import is_virtual_time, objective_label, ok_trials
from evoautodl.analysis.summaries import best_by_budget, hypervolume_trace, incumbent_trace, pareto_front

__all__ = ["axes", "plot_budget_correlation", "plot_hypervolume", "plot_incumbent", "plot_learning_curves",
           "plot_objective_by_budget", "plot_pareto", "log_axis", "use_log_scale"]


def axes(ax: Any = None, size: tuple[float, float] = (6.4, 4.2)) -> Any:
    """``ax``, or the Axes of a new figure."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.figure(figsize=size, layout="constrained").add_subplot()


def use_log_scale(values: Any, ratio: float = 30.0) -> bool:
    """True when positive values span more than ``ratio`` (a log axis shows them better)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return bool(len(v)) and v.min() > 0 and v.max() / v.min() > ratio


def log_axis(ax: Any, axis: str = "x") -> None:
    """Log scale with plain labels at 1, 2, 5 x 10^k and no minor labels (they overlap on short ranges)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())


def _budget_ticks(ax: Any, budgets: list[float], axis: str = "x") -> None:
    from matplotlib.ticker import NullFormatter, NullLocator

    if len(budgets) > 9:  # keep about 8 readable labels
        idx = np.unique(np.round(np.geomspace(1, len(budgets), 8)).astype(int) - 1)
        budgets = [budgets[i] for i in idx]
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_minor_locator(NullLocator())
    target.set_minor_formatter(NullFormatter())
    (ax.set_xticks if axis == "x" else ax.set_yticks)(budgets, [f"{b:g}" for b in budgets])


def _time_label(df: pd.DataFrame) -> str:
    return "time (s, virtual: simulated clock)" if is_virtual_time(df) else "wall-clock time (s)"


def plot_incumbent(df: pd.DataFrame, ax: Any = None, x: str = "epochs", label: str | None = None,
                   log_y: bool | None = None) -> Any:
    """Best objective so far against epochs trained, evaluations or time.

    Args:
        df: the run.
        x: "epochs" (epochs trained), "n_evaluations" or "time_s".
        label: draw only the incumbent, with this legend label (overlay several runs on one ``ax``).
        log_y: log y axis; None decides from the range of the values.

    With ``x="epochs"``, no ``label`` and several budgets, one thin line per
    budget shows its best so far and the thick line the best at the highest budget.
    """
    ax = axes(ax)
    trace = incumbent_trace(df)
    shown = trace["incumbent"]
    if label is None and x == "epochs" and df["budget_epochs"].nunique() > 1:
        per_budget = best_by_budget(df)
        for b in per_budget.columns[:-1]:
            ax.step(per_budget.index, per_budget[b], where="post", lw=1, alpha=0.6, label=f"best at {b:g} epochs")
        top = per_budget.columns[-1]
        ax.step(per_budget.index, per_budget[top], where="post", lw=2.5, color="black",
                label=f"best at {top:g} epochs (max)")
        shown = per_budget.to_numpy().ravel()
        ax.legend(fontsize=8)
    else:
        ax.step(trace[x], trace["incumbent"], where="post", lw=2, label=label)
        if label is not None:
            ax.legend(fontsize=8)
    if log_y if log_y is not None else use_log_scale(shown, ratio=20.0):
        log_axis(ax, "y")
    ax.set_xlabel({"epochs": "epochs trained (cumulative)", "n_evaluations": "evaluations",
                   "time_s": _time_label(df)}[x])
    ax.set_ylabel(f"best {objective_label(df)} so far")
    ax.set_title("incumbent (best at the highest budget reached)" if label is None or x != "epochs"
                 else "incumbent")
    ax.grid(alpha=0.3)
    return ax


def plot_objective_by_budget(df: pd.DataFrame, ax: Any = None) -> Any:
    """Every OK trial's objective against its budget, with the median and quartiles per budget.

    Readable with thousands of points: small translucent markers (rasterized
    in vector output), labels only at the budgets, no log-minor labels.
    """
    ax = axes(ax)
    ok = ok_trials(df)
    rng = np.random.default_rng(0)
    budgets = sorted(ok["budget_epochs"].unique())
    multi = len(budgets) > 1
    jitter = np.exp(rng.uniform(-0.07, 0.07, len(ok))) if multi else 1.0 + rng.uniform(-0.02, 0.02, len(ok))
    alpha = float(np.clip(400.0 / max(len(ok), 1), 0.06, 0.6))
    ax.scatter(ok["budget_epochs"] * jitter, ok["objective"], s=8 if len(ok) > 1000 else 14, alpha=alpha,
               lw=0, rasterized=True, label=f"{len(ok)} OK trials")
    q = ok.groupby("budget_epochs", observed=True)["objective"].quantile([0.25, 0.5, 0.75]).unstack()
    ax.errorbar(q.index, q[0.5], yerr=[q[0.5] - q[0.25], q[0.75] - q[0.5]], fmt="D", color="black", ms=5,
                capsize=4, lw=1.5, label="median and quartiles")
    if multi:
        ax.set_xscale("log")
        _budget_ticks(ax, budgets)
    if use_log_scale(ok["objective"], ratio=50.0):
        log_axis(ax, "y")
    ax.set_xlabel("budget (epochs)")
    ax.set_ylabel(objective_label(df))
    ax.set_title(f"{len(ok)} OK trials by budget")
    for handle in ax.legend(fontsize=8, loc="best").legend_handles:
        handle.set_alpha(1.0)  # the markers are faint by design; their legend entry is not
    ax.grid(alpha=0.3)
    return ax


def plot_budget_correlation(data: pd.DataFrame, ax: Any = None, min_pairs: int | None = None) -> Any:
    """Kendall tau between budgets as a lower-triangular heat map.

    ``data`` is a correlation table (:func:`evoautodl.analysis.budget_correlation`
    or :func:`~evoautodl.analysis.curve_correlation`) or a run (its promoted pairs are
    used). Each cell shows tau, ``*`` when p < 0.05, and the number of shared
    configurations; blank (white) cells are pairs with fewer than ``min_pairs`` shared configurations
    (default: the table's own threshold, 5 for a run); grey cells (the diagonal and above) are not
    pairs of a lower and a higher budget. The note under the map says both.
    """
    ax = axes(ax, (6.4, 5.2))
    if "kendall_tau" in data.columns:
        corr = data
    else:
        corr = budget_correlation(data, min_pairs=5 if min_pairs is None else min_pairs, n_boot=0)
    min_pairs = corr.attrs.get("min_pairs", 5) if min_pairs is None else min_pairs
    budgets = sorted(set(corr["budget_low"]) | set(corr["budget_high"]) | set(corr.attrs.get("budgets", [])))
    k = len(budgets)
    m = np.full((k, k), np.nan)
    for r in corr.itertuples(index=False):
        m[budgets.index(r.budget_high), budgets.index(r.budget_low)] = r.kendall_tau
    import matplotlib as mpl

    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad="white")
    im = ax.imshow(np.ma.masked_invalid(m), vmin=-1, vmax=1, cmap=cmap)
    labels = [f"{b:g}" for b in budgets]
    ax.set_xticks(range(k), labels)
    ax.set_yticks(range(k), labels)
    fs = 9 if k <= 5 else 7 if k <= 8 else 5.5
    for r in corr.itertuples(index=False):
        i, j = budgets.index(r.budget_high), budgets.index(r.budget_low)
        star = "*" if r.p_value < 0.05 else ""
        color = "white" if abs(r.kendall_tau) > 0.6 else "black"
        ax.text(j, i, f"{r.kendall_tau:.2f}{star}\nn={r.n_pairs}", ha="center", va="center", fontsize=fs, color=color)
    for i in range(k):
        for j in range(i, k):  # the diagonal and upper triangle: not pairs of a lower and a higher budget
            ax.add_patch(mpl.patches.Rectangle((j - 0.5, i - 0.5), 1, 1, color="0.93", lw=0))
    source = corr["source"].iloc[0] if "source" in corr.columns and len(corr) else "promoted"
    what = "every configuration at both epochs" if source == "curves" else "individuals evaluated at both budgets"
    ax.set_xlabel("lower budget (epochs)")
    ax.set_ylabel("higher budget (epochs)")
    ax.set_title(f"Kendall τ between budgets ({what})", fontsize=10)
    ax.figure.colorbar(im, ax=ax, shrink=0.8, label="Kendall τ (1: same ranking, 0: unrelated)")
    blank = bool(np.isnan(m[np.tril_indices(k, -1)]).any())
    note = "* p < 0.05; n = shared configurations\ngrey: not a pair of a lower and a higher budget"
    if blank:
        note += f"\nblank: fewer than {min_pairs} shared configurations"
    ax.annotate(note, (0.0, -0.16), xycoords="axes fraction", fontsize=7.5, va="top")
    return ax


def plot_learning_curves(df: pd.DataFrame, ax: Any = None, metric: str | None = None, max_curves: int = 400,
                         log_y: bool | None = None) -> Any:
    """Every OK trial's learning curve (objective per epoch), coloured by its final value; the best in black.

    Only each individual's longest curve is drawn (a promoted trial's curve
    contains its earlier ones); at most ``max_curves`` (the best and an even
    sample of the rest).
    """
    import matplotlib as mpl

    ax = axes(ax)
    ok = ok_trials(df)
    longest = ok.sort_values("budget_epochs", kind="stable").drop_duplicates("individual_id", keep="last")
    m = curve_matrix(longest, metric)
    last = m.ffill(axis=1).iloc[:, -1]
    order = last.sort_values().index
    if len(order) > max_curves:
        keep = np.unique(np.r_[0, np.round(np.linspace(0, len(order) - 1, max_curves - 1)).astype(int)])
        order = order[keep]
    epochs = m.columns.to_numpy()
    budgets = longest.set_index("trial_id")["budget_epochs"]
    if budgets.nunique() > 1:  # multi-fidelity: colour by the budget each individual reached
        norm = mpl.colors.LogNorm(vmin=budgets.min(), vmax=budgets.max())
        colour, what = budgets, "budget reached (epochs)"
    else:
        norm = mpl.colors.Normalize(vmin=last.min(), vmax=last.quantile(0.95) if len(last) > 1 else last.max() + 1)
        colour, what = last, "final value"
    cmap = mpl.colormaps["viridis"]
    for tid in order[::-1]:
        ax.plot(epochs, m.loc[tid].to_numpy(), lw=0.7, alpha=0.5, color=cmap(norm(colour[tid])))
    best = order[0]
    ax.plot(epochs, m.loc[best].to_numpy(), lw=2.2, color="black", label=f"best (trial {best})")
    if log_y if log_y is not None else use_log_scale(m.to_numpy(), ratio=20.0):
        log_axis(ax, "y")
    bar = ax.figure.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=what)
    if what.startswith("budget"):
        from matplotlib.ticker import NullLocator

        levels = sorted(budgets.unique())
        bar.ax.yaxis.set_minor_locator(NullLocator())
        bar.set_ticks(levels, labels=[f"{b:g}" for b in levels])
    ax.set_xlabel("epoch")
    ax.set_ylabel(objective_label(df) if metric is None else metric)
    ax.set_title(f"learning curves of {len(order)} configurations")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def plot_hypervolume(data: pd.DataFrame, ax: Any = None, x: str = "n_evaluations", label: str | None = None) -> Any:
    """Hypervolume of the non-dominated trials so far (a :func:`hypervolume_trace` table, or a run)."""
    ax = axes(ax)
    trace = data if "hypervolume" in data.columns else hypervolume_trace(data)
    ax.step(trace[x], trace["hypervolume"], where="post", lw=2, label=label)
    ref = trace.attrs.get("reference")
    names = trace.attrs.get("objectives", [])
    ax.set_xlabel({"n_evaluations": "evaluations", "epochs": "epochs trained (cumulative)",
                   "time_s": _time_label(data) if "status" in data.columns else "time (s)"}[x])
    ax.set_ylabel("hypervolume (larger is better)")
    detail = f" of {', '.join(names)}" if names else ""
    if ref is not None:
        detail += f"\nreference point ({', '.join(f'{v:.3g}' for v in ref)})"
    ax.set_title(f"hypervolume{detail}", fontsize=10)
    if label is not None:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def plot_pareto(df: pd.DataFrame, objectives: list[str] | None = None, ax: Any = None) -> Any:
    """Every OK trial on the first two objectives, the non-dominated front highlighted.

    ``objectives`` (column names) defaults to the run's first two objective columns.
    """
    ax = axes(ax)
    names = objectives or list(df.attrs.get("objective_columns", []))[:2]
    if len(names) < 2:
        raise ValueError("plot_pareto needs two objectives (the run has fewer)")
    x, y = names[:2]
    ok = df[(df["status"] == "OK")].dropna(subset=[x, y])
    front = pareto_front(df, [x, y]).sort_values(x)
    ax.scatter(ok[x], ok[y], s=10, alpha=0.35, label=f"{len(ok)} trials", rasterized=True)
    ax.step(front[x], front[y], where="post", color="black", lw=1.5)
    ax.scatter(front[x], front[y], s=25, color="black", label=f"front ({len(front)})", zorder=3)
    for col, setter in ((x, ax.set_xscale), (y, ax.set_yscale)):
        if use_log_scale(ok[col], ratio=100.0):
            setter("log")
    ax.set_xlabel(objective_label(name=x))
    ax.set_ylabel(objective_label(name=y))
    ax.set_title("non-dominated front (both minimised)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax
