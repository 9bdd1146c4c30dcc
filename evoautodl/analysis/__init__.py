"""Analysis of run directories: pure functions DataFrame -> numbers/DataFrame, and plots.

Data preparation (:mod:`evoautodl.analysis.summaries`) is split from drawing
(:mod:`evoautodl.analysis.plots`), so every figure's numbers can be inspected.
"""

from evoautodl.analysis.summaries import best_by_budget, budget_correlation, incumbent_trace, pareto_front

__all__ = ["best_by_budget", "budget_correlation", "incumbent_trace", "pareto_front"]
