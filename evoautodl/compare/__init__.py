"""Comparison of algorithms across a grid of (problem, algorithm, seed) runs: ``evoautodl compare results/E``.

Reads the results folder that ``evoautodl experiment`` writes (grid.json plus
one ordinary run directory per cell) and produces what a PPSN / GECCO paper
shows: regret and normalized regret, anytime curves (mean and standard error
on a common budget grid), the ECDF of (problem, seed, target) triples solved
over budget, mean rank over budget, final-performance tables (Markdown, LaTeX,
CSV), Friedman and Wilcoxon-Holm tests, the Nemenyi critical-difference
diagram, and an IOHprofiler export. Statistics use scipy only.

Analysis functions are pure (DataFrame -> DataFrame); drawing functions take
``(data, ax=None)`` and return the Axes. This layer reads run directories
only: it never imports the runner or the backends.

    from evoautodl.compare import compare
    result = compare("results/E", fractions=(0.25, 1.0))
    print(result.text)
"""

from evoautodl.compare.anytime import DEFAULT_TARGETS, aggregate_anytime, anytime_summary, ecdf
from evoautodl.compare.grid import CompareError, Grid, read_grid
from evoautodl.compare.regret import add_regret, budget_grid, oracle_values, performance_at, regret_scales
from evoautodl.compare.report import BudgetReport, Comparison, compare
from evoautodl.compare.stats import (
    block_scores,
    critical_difference,
    friedman,
    holm,
    mean_ranks,
    nemenyi_cd,
    rank_over_budget,
    wilcoxon_holm,
)
from evoautodl.compare.traces import cell_trace, load_cells

__all__ = [
    "DEFAULT_TARGETS",
    "BudgetReport",
    "CompareError",
    "Comparison",
    "Grid",
    "add_regret",
    "aggregate_anytime",
    "anytime_summary",
    "block_scores",
    "budget_grid",
    "cell_trace",
    "compare",
    "critical_difference",
    "ecdf",
    "friedman",
    "holm",
    "load_cells",
    "mean_ranks",
    "nemenyi_cd",
    "oracle_values",
    "performance_at",
    "rank_over_budget",
    "read_grid",
    "regret_scales",
    "wilcoxon_holm",
]
