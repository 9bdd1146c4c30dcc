"""``compare(results_dir)``: from a grid results folder to tables, figures, tests and the IOHprofiler export.

Pseudocode::

    grid  = read grid.json
    cells = read every cell (only status "complete" unless include_incomplete)
    oracle, scale per problem (see evoautodl.compare.regret)
    perf  = regret of every compared cell on a common budget grid (+ each fraction of the budget)
    anytime curves, aggregate curve, ECDF, mean rank over budget (ranks within each (problem, seed))
    for each fraction f: final table, per-problem table, Friedman, Nemenyi CD, Wilcoxon-Holm at f * budget
    write compare/ (Markdown, LaTeX, CSV, PNG + PDF figures, ioh/) unless out is False
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from evoautodl.compare.anytime import DEFAULT_TARGETS, aggregate_anytime, anytime_summary, ecdf
from evoautodl.compare.grid import CompareError, Grid, read_grid
from evoautodl.compare.regret import add_regret, budget_grid, oracle_values, performance_at, regret_scales
from evoautodl.compare.render import render_text, write_outputs
from evoautodl.compare.stats import (
    CDResult,
    FriedmanResult,
    block_scores,
    critical_difference,
    friedman,
    mean_ranks,
    rank_over_budget,
    resolve_blocks,
    wilcoxon_holm,
)
from evoautodl.compare.tables import final_table, per_problem_table
from evoautodl.compare.traces import load_cells

__all__ = ["BudgetReport", "Comparison", "compare"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BudgetReport:
    """Everything compared at one budget (a fraction of the grid's budget)."""

    fraction: float
    budget: float
    blocks: str
    perf: pd.DataFrame
    final: pd.DataFrame
    per_problem: pd.DataFrame
    friedman: FriedmanResult
    cd: CDResult
    vs_best: pd.DataFrame
    pairs: pd.DataFrame


@dataclass(frozen=True, slots=True)
class Comparison:
    """The result of :func:`compare` (``text`` is the Markdown report, ``files`` what was written)."""

    grid: Grid
    cells: pd.DataFrame
    problems: pd.DataFrame
    algorithms: tuple[str, ...]
    perf: pd.DataFrame
    anytime: pd.DataFrame
    aggregate: pd.DataFrame
    ecdf: pd.DataFrame
    ranks: pd.DataFrame
    reports: tuple[BudgetReport, ...]
    targets: np.ndarray
    blocks: str
    text: str
    out: Path | None
    files: tuple[Path, ...] = ()
    notes: tuple[str, ...] = ()


def _check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    if not fractions:
        raise CompareError("fractions: give at least one budget fraction in (0, 1]")
    out = []
    for f in fractions:
        if isinstance(f, bool) or not isinstance(f, int | float) or not 0 < f <= 1:
            raise CompareError(f"fractions: {f!r} is not a fraction of the budget in (0, 1]")
        out.append(float(f))
    return tuple(sorted(set(out)))


def _compared(grid: Grid, cells: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    included = cells[cells["included"]]
    if included.empty:
        counts = cells["status"].value_counts()
        statuses = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no cells listed"
        raise CompareError(f"{grid.root}: no complete cells to compare ({statuses}); finish the experiment "
                           "(rerun `evoautodl experiment` to complete the missing cells) or pass "
                           "--include-incomplete")
    algorithms = tuple(a for a in grid.algorithms if (included["algorithm"] == a).any())
    if len(algorithms) < 2:
        raise CompareError(f"{grid.root}: only {', '.join(repr(a) for a in algorithms)} has compared cells; "
                           "a comparison needs at least two algorithms")
    return included, algorithms


def compare(results_dir: str | Path, out: str | Path | bool | None = None,
            fractions: Sequence[float] = (0.25, 1.0), *, include_incomplete: bool = False, n_points: int = 200,
            log_x: bool = False, alpha: float = 0.05, blocks: str = "auto", targets: Sequence[float] | None = None,
            ioh: bool = True, figures: bool = True, jobs: int = 1) -> Comparison:
    """Compare the algorithms of a grid results folder.

    Args:
        results_dir: the folder with grid.json (what ``evoautodl experiment`` writes).
        out: where to write (default ``results_dir/compare``; False: write nothing).
        fractions: budget fractions for the final tables and tests (1.0 = the full budget).
        include_incomplete: also compare cells whose cell.json status is not "complete".
        n_points: points of the common budget grid of the curves.
        log_x: log-spaced budget grid and log budget axes.
        alpha: significance level of the tests and the CD diagram.
        blocks: "problem", "run" or "auto" (see :mod:`evoautodl.compare.stats`).
        targets: normalized-regret targets of the ECDF (default: 31 log-spaced from 1 to 1e-3).
        ioh: write the IOHprofiler export (``out/ioh``).
        figures: draw the figures (PNG and PDF).
        jobs: processes that read the cells (reading dominates on thousands of cells).

    Raises:
        CompareError: not a grid folder, no complete cells, fewer than two
            algorithms, bad fractions or options (one message naming the problem).
    """
    t0 = time.perf_counter()
    fractions = _check_fractions(fractions)
    if not 0 < alpha < 1:
        raise CompareError(f"alpha must lie in (0, 1), got {alpha!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise CompareError(f"jobs must be a positive integer, got {jobs!r}")
    grid = read_grid(results_dir)
    block_kind = resolve_blocks(blocks, len(grid.problems))
    cells, traces, genomes = load_cells(grid, include_incomplete, jobs=jobs)
    logger.info("read %d cells of %s in %.1f s", len(cells), grid.root, time.perf_counter() - t0)
    included, algorithms = _compared(grid, cells)
    oracle = oracle_values(included, {p.name: p.reference_objective for p in grid.problems})
    no_result = [p for p, v in oracle.items() if not math.isfinite(v)]
    notes: list[str] = []
    if no_result:
        notes.append(f"Problems left out (no run has a full-budget result and grid.json gives no reference): "
                     f"{', '.join(no_result)}.")
        logger.warning("%s", notes[-1])
        oracle = oracle.drop(no_result)
        included = included[~included["problem"].isin(no_result)]
    if oracle.empty:
        raise CompareError(f"{grid.root}: no problem has a full-budget result to compare yet")
    scale = regret_scales(included, oracle)
    problems = pd.DataFrame({
        "problem": list(oracle.index),
        "reference_objective": [grid.problem(p).reference_objective for p in oracle.index],
        "oracle": oracle.to_numpy(), "scale": scale.reindex(oracle.index).to_numpy(),
        "n_cells": [int((included["problem"] == p).sum()) for p in oracle.index],
    })

    finite = traces[np.isfinite(traces["best"].to_numpy(dtype=float))] if len(traces) else traces
    start = float(finite["budget"].min()) if len(finite) and log_x else None
    if start is not None and not 0 < start < grid.budget_max:
        start = None
    grid_b = budget_grid(grid.budget_max, n_points, log=log_x, start=start,
                         integer=grid.budget_unit == "evaluations")
    at = np.unique(np.concatenate([grid_b, [f * grid.budget_max for f in fractions]]))
    perf_all = add_regret(performance_at(traces, included, at), oracle, scale)
    perf = perf_all[perf_all["budget"].isin(grid_b)]
    tgt = np.asarray(DEFAULT_TARGETS if targets is None else targets, dtype=float)
    reports = tuple(_at_budget(perf_all, f, grid.budget_max, block_kind, alpha) for f in fractions)
    comparison = Comparison(
        grid=grid, cells=cells, problems=problems, algorithms=algorithms, perf=perf,
        anytime=anytime_summary(perf), aggregate=aggregate_anytime(perf), ecdf=ecdf(perf, tgt),
        ranks=rank_over_budget(perf, "run"), reports=reports, targets=tgt, blocks=block_kind, text="",
        out=None, notes=tuple(notes),
    )
    text = render_text(comparison)
    if out is False:
        return _replace(comparison, text=text)
    out_dir = Path(results_dir) / "compare" if out in (None, True) else Path(out)
    comparison = _replace(comparison, text=text, out=out_dir)
    files = write_outputs(comparison, out_dir, log_x=log_x, figures=figures, ioh=ioh, genomes=genomes,
                          traces=traces)
    logger.info("compare: %d files in %s (%.1f s)", len(files), out_dir, time.perf_counter() - t0)
    return _replace(comparison, files=tuple(files))


def _replace(c: Comparison, **changes: object) -> Comparison:
    return replace(c, **changes)


def _at_budget(perf_all: pd.DataFrame, fraction: float, budget_max: float, blocks: str,
               alpha: float) -> BudgetReport:
    budget = fraction * budget_max  # read at exactly this value (compare() adds it to the budgets)
    perf = perf_all[perf_all["budget"] == budget]
    scores = block_scores(perf, blocks)
    ranks = mean_ranks(scores)
    if len(scores.columns) >= 2 and len(scores):
        vs_best = wilcoxon_holm(scores, "best", alpha)
        pairs = wilcoxon_holm(scores, None, alpha)
    else:
        vs_best = pairs = pd.DataFrame(columns=["algorithm", "versus", "n", "wins", "ties", "losses",
                                                "median_difference", "statistic", "p_value", "p_holm",
                                                "significant"])
    return BudgetReport(
        fraction=fraction, budget=budget, blocks=blocks, perf=perf,
        final=final_table(perf, ranks, vs_best if len(vs_best) else None),
        per_problem=per_problem_table(perf), friedman=friedman(scores),
        cd=critical_difference(scores, alpha, blocks), vs_best=vs_best, pairs=pairs,
    )
