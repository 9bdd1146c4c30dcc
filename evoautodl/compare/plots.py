"""Comparison figures: each takes its data (and an optional Axes) and returns the Axes.

Data come from :mod:`evoautodl.compare.anytime` and :mod:`evoautodl.compare.stats`;
every curve is a step function (``where="post"``): a value holds from the
budget at which it was reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evoautodl.compare.stats import CDResult

__all__ = ["algorithm_colors", "budget_label", "plot_anytime", "plot_anytime_grid", "plot_critical_difference",
           "plot_ecdf", "plot_mean_rank"]

_UNIT_LABEL = {"epochs": "epochs trained", "evaluations": "evaluations (finished trials)",
               "time_s": "seconds since the first trial started (virtual on the simulated backend)"}


def budget_label(unit: str) -> str:
    """The x-axis label for a budget unit."""
    return _UNIT_LABEL.get(unit, unit)


def algorithm_colors(algorithms: Sequence[str]) -> dict[str, Any]:
    """A fixed colour per algorithm (tab10 up to 10 algorithms, tab20 up to 20, then repeating)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if len(algorithms) <= 10 else "tab20"]
    return {a: cmap(i % cmap.N) for i, a in enumerate(algorithms)}


def _axes(ax: Any, size: tuple[float, float] = (6.0, 4.0)) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.figure(figsize=size).add_subplot()


def _order(data: pd.DataFrame, colors: Mapping[str, Any] | None) -> list[str]:
    """Algorithms of ``data``, in the order of ``colors`` (the grid's order) where it names them."""
    present = list(dict.fromkeys(data["algorithm"]))
    first = [a for a in (colors or {}) if a in present]
    return first + [a for a in present if a not in first]


def _plain_log_axis(axis: Any) -> None:
    """Plain decimal tick labels (0.02, 0.1, 1) on a log axis, minor ones where matplotlib would label them."""
    from matplotlib.ticker import LogFormatter

    class PlainLog(LogFormatter):
        def __call__(self, x: float, pos: Any = None) -> str:
            return f"{x:g}" if super().__call__(x, pos) else ""

    axis.set_major_formatter(PlainLog(labelOnlyBase=False))
    axis.set_minor_formatter(PlainLog(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def _legend(ax: Any, n: int) -> None:
    """Inside the axes for a few algorithms, to the right of them beyond five (lines stay visible)."""
    if n > 5:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    else:
        ax.legend(fontsize=8)


def _style(ax: Any, a: str, colors: Mapping[str, Any] | None, i: int) -> dict[str, Any]:
    styles = ("-", "--", "-.", ":")
    color = colors.get(a) if colors else None
    return {"color": color, "linestyle": styles[(i // 10) % len(styles)], "label": a, "lw": 1.6}


def plot_anytime(summary: pd.DataFrame, ax: Any = None, *, problem: str | None = None, log_x: bool = False,
                 log_y: bool = True, unit: str = "epochs", ylabel: str = "regret",
                 colors: Mapping[str, Any] | None = None, legend: bool = True) -> Any:
    """Mean over seeds (step function) with a band of one standard error, per algorithm.

    ``summary``: :func:`~evoautodl.compare.anytime.anytime_summary` (give
    ``problem`` to pick one) or :func:`~evoautodl.compare.anytime.aggregate_anytime`.
    The curve starts where every seed of the algorithm has a full-budget result.
    """
    ax = _axes(ax)
    data = summary[summary["problem"] == problem] if problem is not None else summary
    algorithms = _order(data, colors)
    colors = colors or algorithm_colors(algorithms)
    positive = data["mean"][data["mean"] > 0]
    floor = float(positive.min()) / 2 if len(positive) else 1e-12
    for i, a in enumerate(algorithms):
        g = data[data["algorithm"] == a].sort_values("budget")
        x, m, se = g["budget"].to_numpy(), g["mean"].to_numpy(), g["se"].fillna(0.0).to_numpy()
        style = _style(ax, a, colors, i)
        ax.step(x, m, where="post", **style)
        lo, hi = m - se, m + se
        if log_y:
            lo = np.where(np.isfinite(m), np.maximum(lo, floor), np.nan)
        ax.fill_between(x, lo, hi, step="post", alpha=0.18, color=style["color"], lw=0)
    if log_x:
        ax.set_xscale("log")
    if log_y and len(positive):
        ax.set_yscale("log", nonpositive="mask")
        _plain_log_axis(ax.yaxis)
    ax.set_xlabel(budget_label(unit))
    ax.set_ylabel(ylabel)
    if problem is not None:
        ax.set_title(problem, fontsize=10)
    ax.grid(alpha=0.3, which="major", lw=0.5)
    if log_y:
        ax.grid(alpha=0.12, which="minor", lw=0.4)
    if legend:
        _legend(ax, len(algorithms))
    return ax


def plot_anytime_grid(summary: pd.DataFrame, problems: Sequence[str], *, log_x: bool = False, unit: str = "epochs",
                      colors: Mapping[str, Any] | None = None, ncols: int = 4) -> Any:
    """One :func:`plot_anytime` panel per problem and a shared legend; returns the Figure."""
    import matplotlib.pyplot as plt

    n = len(problems)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.9 * nrows + 0.4), squeeze=False)
    colors = colors or algorithm_colors(list(dict.fromkeys(summary["algorithm"])))
    for k, problem in enumerate(problems):
        ax = axes[k // ncols][k % ncols]
        plot_anytime(summary, ax, problem=problem, log_x=log_x, unit=unit, colors=colors, legend=False)
        if k + ncols < n:  # a panel below carries the budget label
            ax.set_xlabel("")
        if k % ncols:
            ax.set_ylabel("")
    for k in range(n, nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    per_row = max(4, int(fig.get_figwidth() / 1.5))
    top = 1 - 0.3 * -(-len(labels) // per_row) / fig.get_figheight()
    fig.tight_layout(rect=(0, 0, 1, top))
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, top), ncol=min(len(labels), per_row),
               fontsize=9, frameon=False)
    return fig


def _step_lines(ax: Any, data: pd.DataFrame, column: str, colors: Mapping[str, Any] | None, log_x: bool) -> list[str]:
    """One step line of ``column`` over budget per algorithm; returns the algorithms in drawing order."""
    algorithms = _order(data, colors)
    colors = colors or algorithm_colors(algorithms)
    for i, a in enumerate(algorithms):
        g = data[data["algorithm"] == a].sort_values("budget")
        ax.step(g["budget"], g[column], where="post", **_style(ax, a, colors, i))
    if log_x:
        ax.set_xscale("log")
    return algorithms


def plot_ecdf(data: pd.DataFrame, ax: Any = None, *, log_x: bool = False, unit: str = "epochs",
              colors: Mapping[str, Any] | None = None, n_targets: int | None = None) -> Any:
    """Fraction of (problem, seed, target) triples solved over budget (:func:`~evoautodl.compare.anytime.ecdf`)."""
    ax = _axes(ax)
    algorithms = _step_lines(ax, data, "fraction", colors, log_x)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(budget_label(unit))
    ax.set_ylabel("fraction of (problem, seed, target) solved")
    what = f"{n_targets} targets" if n_targets else "targets"
    ax.set_title(f"ECDF, {what} log-spaced in normalized regret", fontsize=10)
    ax.grid(alpha=0.3, lw=0.5)
    _legend(ax, len(algorithms))
    return ax


def plot_mean_rank(data: pd.DataFrame, ax: Any = None, *, log_x: bool = False, unit: str = "epochs",
                   colors: Mapping[str, Any] | None = None, blocks: str | None = None) -> Any:
    """Mean rank over budget (:func:`~evoautodl.compare.stats.rank_over_budget`); rank 1 (best) at the top."""
    ax = _axes(ax)
    algorithms = _step_lines(ax, data, "mean_rank", colors, log_x)
    k = len(algorithms)
    ax.set_ylim(k + 0.2, 0.8)
    ax.set_xlabel(budget_label(unit))
    ax.set_ylabel("mean rank (1 = best)")
    n_blocks = int(data["n_blocks"].max()) if len(data) else 0
    what = {"problem": "problems", "run": "(problem, seed) runs"}.get(blocks, "blocks")
    ax.set_title(f"mean rank over {n_blocks} {what}", fontsize=10)
    ax.grid(alpha=0.3, lw=0.5)
    _legend(ax, len(algorithms))
    return ax


def plot_critical_difference(cd: CDResult, ax: Any = None, *, title: str | None = None) -> Any:
    """Critical-difference diagram (Demsar 2006): mean-rank axis, the CD bar, cliques joined by thick bars.

    Rank 1 (best) is on the left; the better half of the algorithms is
    labelled on the left, the other half on the right. A thick bar joins
    algorithms whose mean ranks differ by less than the Nemenyi CD.
    """
    names = [n for n, _ in cd.ranks]
    ranks = np.array([r for _, r in cd.ranks])
    k = len(names)
    half = (k + 1) // 2
    n_rows = max(half, k - half)
    clique_h, row_h = 0.2, 0.32
    top = -0.3 - clique_h * len(cd.cliques)  # the first row of labels
    bottom = top - row_h * (n_rows - 1) - 0.2
    if ax is None:
        import matplotlib.pyplot as plt

        width = 6.5 + 0.07 * max(len(n) for n in names)
        ax = plt.figure(figsize=(width, 0.35 + 1.1 * (0.95 - bottom))).add_subplot()
    span = max(k - 1, 1)
    ax.set_xlim(1 - 0.55 * span, k + 0.55 * span)
    ax.set_ylim(bottom, 0.95)
    ax.axis("off")
    # rank axis with ticks
    ax.plot([1, k], [0, 0], color="black", lw=1)
    for t in range(1, k + 1):
        ax.plot([t, t], [0, 0.08], color="black", lw=1)
        ax.text(t, 0.13, str(t), ha="center", va="bottom", fontsize=9)
    for t in np.arange(1.5, k, 1.0):
        ax.plot([t, t], [0, 0.04], color="black", lw=0.7)
    # CD bar
    if np.isfinite(cd.cd):
        y = 0.62
        ax.plot([1, 1 + cd.cd], [y, y], color="black", lw=1.5)
        for x in (1, 1 + cd.cd):
            ax.plot([x, x], [y - 0.05, y + 0.05], color="black", lw=1.5)
        ax.text(1 + cd.cd / 2, y + 0.07, f"CD = {cd.cd:.2f}", ha="center", va="bottom", fontsize=9)
    # cliques
    pos = dict(zip(names, ranks))
    for j, clique in enumerate(cd.cliques):
        y = -0.2 - clique_h * j
        lo, hi = min(pos[n] for n in clique), max(pos[n] for n in clique)
        ax.plot([lo - 0.03, hi + 0.03], [y, y], color="black", lw=3.5, solid_capstyle="round")
    # labels
    for i, (name, r) in enumerate(zip(names, ranks)):
        left = i < half
        row = i if left else k - 1 - i
        y = top - row_h * row
        x_end = 1 - 0.08 * span if left else k + 0.08 * span
        ax.plot([r, r, x_end], [0, y, y], color="black", lw=0.8)
        ax.text(x_end + (-0.03 if left else 0.03) * span, y, f"{name} ({r:.2f})", ha="right" if left else "left",
                va="center", fontsize=9)
    blocks = {"problem": "problems", "run": "(problem, seed) runs"}.get(cd.blocks, cd.blocks)
    ax.set_title(title or f"Nemenyi test, alpha = {cd.alpha:g}, N = {cd.n_blocks} {blocks}", fontsize=10)
    return ax
