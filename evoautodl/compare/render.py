"""Text and files of a :class:`~evoautodl.compare.report.Comparison`: Markdown, LaTeX, CSV, figures, ioh/."""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from evoautodl.compare.plots import budget_label
from evoautodl.compare.tables import fraction_tag, latex_table, markdown_table, per_problem_markdown, summary_rows

if TYPE_CHECKING:
    from evoautodl.compare.report import BudgetReport, Comparison

__all__ = ["render_text", "summary_text", "write_outputs"]

_BLOCKS = {"problem": "problems (an algorithm's score: its mean normalized regret over seeds)",
           "run": "(problem, seed) runs (an algorithm's score: the run's normalized regret)"}


def _budget(c: Comparison, r: BudgetReport) -> str:
    return f"{r.fraction * 100:g}% of the budget ({r.budget:g} {c.grid.budget_unit})"


def _setup(c: Comparison) -> list[str]:
    cells = c.cells
    left = cells[~cells["included"]]
    n_seeds = len(set(cells.loc[cells["included"], "seed"]))
    lines = [f"# Comparison: {c.grid.name}", "",
             f"{int(cells['included'].sum())} cells compared: {len(c.problems)} problems x {len(c.algorithms)} "
             f"algorithms x {n_seeds} seeds; budget {c.grid.budget_max:g} {c.grid.budget_unit} "
             f"({budget_label(c.grid.budget_unit)})."]
    if len(left):
        counts = ", ".join(f"{n} {s}" for s, n in left["status"].value_counts().items())
        lines.append(f"Left out: {len(left)} cells ({counts}); see cells.csv.")
    lines += list(c.notes)
    lines += ["",
              "Regret = best objective among the run's full-budget trials finished within the budget, minus the "
              "oracle (min of the reference objective and the best any run found). Normalized regret = regret / "
              "the median regret of the runs' first full-budget result on that problem. A run without a "
              "full-budget result by then has regret inf and ranks last.",
              f"Mean ranks in the tables, the critical-difference diagrams and the tests are over "
              f"{_BLOCKS[c.blocks]}; 1 = best. The mean rank over budget (mean_rank.png) ranks within each "
              "(problem, seed) run."]
    return lines


def _tests_line(c: Comparison, r: BudgetReport) -> str:
    f = r.friedman
    parts = []
    if math.isnan(f.p_value):
        parts.append(f"Friedman: not applicable (k = {f.n_algorithms} algorithms, N = {f.n_blocks} blocks; "
                     "needs k >= 3, N >= 2)")
    else:
        parts.append(f"Friedman chi2 = {f.statistic:.2f}, p = {f.p_value:.3g} (k = {f.n_algorithms}, "
                     f"N = {f.n_blocks})")
    cd = r.cd
    if math.isfinite(cd.cd):
        cliques = "; ".join("{" + ", ".join(q) + "}" for q in cd.cliques) or "none"
        parts.append(f"Nemenyi CD = {cd.cd:.2f} at alpha = {cd.alpha:g}; not significantly different: {cliques}")
    return ". ".join(parts) + "."


def _summary_md(c: Comparison, r: BudgetReport) -> list[str]:
    header, rows = summary_rows(r.final, len(c.problems))
    lines = [f"## At {_budget(c, r)}", "", markdown_table(header, rows), "", _tests_line(c, r)]
    if "p_holm" in r.final.columns:
        lines.append(f"Wilcoxon signed-rank against the best-ranked algorithm over the blocks, Holm-corrected; "
                     f"* = significant at alpha = {r.cd.alpha:g}.")
    return lines


def summary_text(c: Comparison) -> str:
    """The final tables (one per budget fraction) with the test results: what the CLI prints."""
    lines = _setup(c)
    for r in c.reports:
        lines += ["", *_summary_md(c, r)]
    return "\n".join(lines)


def render_text(c: Comparison) -> str:
    """The whole Markdown report: setup, then per budget fraction the summary, tests and per-problem table."""
    lines = _setup(c)
    for r in c.reports:
        lines += ["", *_summary_md(c, r), "", f"### Regret per problem at {_budget(c, r)}: mean ± std (median)", "",
                  per_problem_markdown(r.per_problem, c.algorithms), ""]
        if len(r.pairs):
            lines += [f"### All pairs at {_budget(c, r)}: Wilcoxon signed-rank, Holm-corrected", "",
                      _pairs_md(r.pairs)]
    lines += ["", "## Oracle and normalization per problem", "", _problems_md(c.problems)]
    return "\n".join(lines) + "\n"


def _pairs_md(pairs: pd.DataFrame) -> str:
    rows = [[r.algorithm, r.versus, str(r.n), f"{r.wins}/{r.ties}/{r.losses}", f"{r.median_difference:.3g}",
             f"{r.p_value:.3g}", f"{r.p_holm:.3g}" + ("*" if r.significant else "")]
            for r in pairs.itertuples(index=False)]
    return markdown_table(["algorithm", "versus", "blocks", "W/T/L", "median difference (nregret)", "p", "p Holm"],
                          rows)


def _problems_md(problems: pd.DataFrame) -> str:
    rows = [[str(r.problem), "-" if r.reference_objective is None or pd.isna(r.reference_objective)
             else f"{r.reference_objective:.6g}", f"{r.oracle:.6g}", f"{r.scale:.4g}", str(r.n_cells)]
            for r in problems.itertuples(index=False)]
    return markdown_table(["problem", "reference", "oracle", "normalization scale", "cells"], rows)


def _save(fig: Any, base: Path, files: list[Path]) -> None:
    import matplotlib.pyplot as plt

    for ext in ("png", "pdf"):
        path = base.with_suffix(f".{ext}")
        fig.savefig(path, dpi=150 if ext == "png" else None, bbox_inches="tight")
        files.append(path)
    plt.close(fig)


def _write(path: Path, text: str, files: list[Path]) -> None:
    path.write_text(text if text.endswith("\n") else text + "\n")
    files.append(path)


def _csv(df: pd.DataFrame, path: Path, files: list[Path]) -> None:
    df.to_csv(path, index=False)
    files.append(path)


def _latex_summary(c: Comparison, r: BudgetReport) -> str:
    header, rows = summary_rows(r.final, len(c.problems), latex=True)
    unit = c.grid.budget_unit.replace("_", " ")
    caption = (f"Results at {r.fraction * 100:g}\\% of the budget ({r.budget:g} {unit}), "
               f"ranks over {r.cd.n_blocks} {'problems' if r.blocks == 'problem' else 'runs'}; "
               f"* = significantly worse than the best (Wilcoxon signed-rank, Holm, $\\alpha={r.cd.alpha:g}$).")
    return latex_table(header, rows, ["l"] + ["r"] * (len(header) - 1), caption=caption,
                       label=f"tab:final-{fraction_tag(r.fraction)}")


def _shown_path(path: str, root: Path) -> str:
    """A cell's path as cells.csv shows it: relative to the grid's folder when inside it (the file stays true
    when the results folder is moved or shared), else as it is."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def write_outputs(c: Comparison, out: Path, *, log_x: bool = False, figures: bool = True, ioh: bool = True,
                  genomes: Mapping[tuple, tuple[float, ...]] | None = None,
                  traces: pd.DataFrame | None = None) -> list[Path]:
    """Write the report, tables, CSVs, figures and the IOHprofiler export into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    _write(out / "report.md", c.text, files)
    _csv(c.cells.assign(path=[_shown_path(p, c.grid.root) for p in c.cells["path"]]), out / "cells.csv", files)
    _csv(c.problems, out / "problems.csv", files)
    _csv(c.anytime, out / "anytime.csv", files)
    _csv(c.aggregate, out / "anytime_aggregate.csv", files)
    _csv(c.ecdf, out / "ecdf.csv", files)
    _csv(c.ranks, out / "mean_rank.csv", files)
    for r in c.reports:
        tag = fraction_tag(r.fraction)
        _write(out / f"final_{tag}.md", "\n".join(_summary_md(c, r)), files)
        _write(out / f"final_{tag}.tex", _latex_summary(c, r), files)
        _csv(r.final, out / f"final_{tag}.csv", files)
        _write(out / f"per_problem_{tag}.md", per_problem_markdown(r.per_problem, c.algorithms), files)
        _write(out / f"per_problem_{tag}.tex", per_problem_markdown(r.per_problem, c.algorithms, latex=True), files)
        _csv(r.per_problem, out / f"per_problem_{tag}.csv", files)
        tests = pd.concat([r.vs_best.assign(family="best vs others"), r.pairs.assign(family="all pairs")],
                          ignore_index=True)
        _csv(tests, out / f"wilcoxon_{tag}.csv", files)
    if figures:
        files += _figures(c, out, log_x)
    if ioh and traces is not None:
        from evoautodl.compare.ioh import export_ioh

        shutil.rmtree(out / "ioh", ignore_errors=True)
        compared = c.cells[c.cells["included"] & c.cells["problem"].isin(c.problems["problem"])]
        files += export_ioh(c.grid, compared, traces, out / "ioh", genomes)
    return files


def _figures(c: Comparison, out: Path, log_x: bool) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from evoautodl.compare.plots import (
        algorithm_colors,
        plot_anytime,
        plot_anytime_grid,
        plot_critical_difference,
        plot_ecdf,
        plot_mean_rank,
    )

    files: list[Path] = []
    unit = c.grid.budget_unit
    colors = algorithm_colors(list(c.algorithms))
    fig = plot_anytime_grid(c.anytime, list(c.problems["problem"]), log_x=log_x, unit=unit, colors=colors)
    _save(fig, out / "anytime_problems", files)
    ax = plot_anytime(c.aggregate, log_x=log_x, unit=unit, colors=colors, ylabel="mean normalized regret")
    ax.set_title(f"mean normalized regret over {len(c.problems)} problems (band: standard error over seeds)",
                 fontsize=10)
    _save(ax.figure, out / "anytime_mean", files)
    ax = plot_ecdf(c.ecdf, log_x=log_x, unit=unit, colors=colors, n_targets=len(c.targets))
    _save(ax.figure, out / "ecdf", files)
    ax = plot_mean_rank(c.ranks, log_x=log_x, unit=unit, colors=colors, blocks="run")
    _save(ax.figure, out / "mean_rank", files)
    for r in c.reports:
        ax = plot_critical_difference(r.cd, title=f"critical difference at {r.fraction * 100:g}% of the budget "
                                                  f"(Nemenyi, alpha = {r.cd.alpha:g}, N = {r.cd.n_blocks} "
                                                  f"{'problems' if r.blocks == 'problem' else 'runs'})")
        _save(ax.figure, out / f"cd_{fraction_tag(r.fraction)}", files)
    return files
