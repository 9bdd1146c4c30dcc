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
    result.text                     # the report in Markdown; result.files: what it wrote
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> module that defines it (imported on first use, so ``evoautodl.compare.cli``, which the
#: command line imports to register the subcommand, does not pull in pandas, scipy or matplotlib)
_LAZY = {
    "DEFAULT_TARGETS": "anytime", "aggregate_anytime": "anytime", "anytime_summary": "anytime", "ecdf": "anytime",
    "CompareError": "grid", "Grid": "grid", "read_grid": "grid",
    "add_regret": "regret", "budget_grid": "regret", "oracle_values": "regret", "performance_at": "regret",
    "regret_scales": "regret",
    "BudgetReport": "report", "Comparison": "report", "compare": "report",
    "block_scores": "stats", "critical_difference": "stats", "friedman": "stats", "holm": "stats",
    "mean_ranks": "stats", "nemenyi_cd": "stats", "rank_over_budget": "stats", "wilcoxon_holm": "stats",
    "cell_trace": "traces", "load_cells": "traces",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"evoautodl.compare.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'evoautodl.compare' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
