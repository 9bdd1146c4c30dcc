"""Analysis of run directories: pure functions DataFrame -> DataFrame, and plots (data, ax=None) -> Axes.

Data preparation is split from drawing, so every figure's numbers can be inspected:

* run summaries: :func:`incumbent_trace`, :func:`best_by_budget`, :func:`pareto_front`,
  :func:`hypervolume_trace`, :func:`curve_matrix`;
* budget correlation: :func:`budget_correlation` (promoted pairs), :func:`curve_correlation`
  (every configuration at every epoch), :func:`survivor_bias`;
* importance: :func:`fanova`, :func:`lpi`, :func:`importance_by_budget`, partial dependence
  (:func:`partial_dependence`, :func:`partial_dependence_2d`) on one :func:`landscape_forest`;
* descriptors: :func:`fitness_distance_correlation`, :func:`dispersion`,
  :func:`parent_offspring_correlation`, :func:`diversity_by_generation`, :func:`operator_success`;
* across datasets: :func:`performance_table`, :func:`normalize`, :func:`greedy_portfolio`,
  :func:`loo_portfolio`;
* reports: :func:`analyze_runs` (what ``evoautodl analyze`` runs).

Plots: :mod:`evoautodl.analysis.plots` (a run) and :mod:`evoautodl.analysis.landscape_plots`.
Importing this package does not import matplotlib, scikit-learn, torch or mpi4py.
"""

from evoautodl.analysis.correlation import budget_correlation, curve_correlation, rank_correlation, survivor_bias
from evoautodl.analysis.curves import curve_matrix
from evoautodl.analysis.descriptors import (
    dispersion,
    diversity_by_generation,
    fitness_distance_correlation,
    operator_success,
    parent_offspring_correlation,
)
from evoautodl.analysis.fanova import fanova, fanova_forest, landscape_forest
from evoautodl.analysis.frame import AnalysisError, encode_configs, load_space
from evoautodl.analysis.importance import importance_by_budget, importance_ranks
from evoautodl.analysis.lpi import lpi
from evoautodl.analysis.pdp import partial_dependence, partial_dependence_2d
from evoautodl.analysis.portfolio import greedy_portfolio, loo_portfolio, normalize, performance_table
from evoautodl.analysis.report import analyze_runs
from evoautodl.analysis.summaries import (
    best_by_budget,
    hypervolume,
    hypervolume_trace,
    incumbent_trace,
    pareto_front,
)

__all__ = [
    "AnalysisError", "analyze_runs", "best_by_budget", "budget_correlation", "curve_correlation", "curve_matrix",
    "dispersion", "diversity_by_generation", "encode_configs", "fanova", "fanova_forest",
    "fitness_distance_correlation", "greedy_portfolio", "hypervolume", "hypervolume_trace", "importance_by_budget",
    "importance_ranks", "incumbent_trace", "landscape_forest", "load_space", "loo_portfolio", "lpi", "normalize",
    "operator_success", "pareto_front", "parent_offspring_correlation", "partial_dependence",
    "partial_dependence_2d", "performance_table", "rank_correlation", "survivor_bias",
]
