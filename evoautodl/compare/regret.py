"""Regret on a common budget grid.

Oracle. For each problem ``y*_p = min(reference_objective_p, best value any
compared cell found at the full fidelity)`` over the whole logs (so regret is
never negative). ``reference_objective`` comes from grid.json (e.g. the best
of 20,000 random configurations); without one the oracle is the best value
found in the experiment.

Regret of a cell at budget b: ``r(b) = best(b) - y*_p`` (+inf before the cell's
first full-budget result).

Normalized regret: ``r(b) / s_p`` with ``s_p`` the median, over the problem's
compared cells, of the regret of each cell's *first* full-budget result (the
regret of an untuned configuration: random search's first sample, an initial
population member; for multi-fidelity algorithms a configuration that was
already promoted). A normalized regret of 1 is where a typical run starts,
0 is the oracle, so problems on different scales average. Should every first
result already hit the oracle, ``s_p`` falls back to the largest first-result
regret, then to 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from evoautodl.compare.grid import CompareError

__all__ = ["add_regret", "budget_grid", "oracle_values", "performance_at", "regret_scales"]

KEYS = ["problem", "algorithm", "seed"]


def budget_grid(budget_max: float, n_points: int = 200, *, log: bool = False, start: float | None = None,
                integer: bool = False) -> np.ndarray:
    """Budgets at which every cell is read: ``n_points`` from ``start`` to ``budget_max`` (always included).

    Linear spacing starts at ``budget_max / n_points``; ``log=True`` spaces
    geometrically from ``start`` (default ``budget_max / 1000``, at least 1 when
    ``integer``). ``integer`` (evaluations) rounds up and drops duplicates.
    """
    if not (math.isfinite(budget_max) and budget_max > 0):
        raise CompareError(f"budget_max must be a positive number, got {budget_max!r}")
    if n_points < 2:
        raise CompareError(f"n_points must be >= 2, got {n_points!r}")
    if log:
        lo = start if start is not None else budget_max / 1000.0
        if integer:
            lo = max(lo, 1.0)
        if not 0 < lo < budget_max:
            raise CompareError(f"the log budget grid needs 0 < start < {budget_max:g}, got start={lo!r}")
        grid = np.geomspace(lo, budget_max, n_points)
    else:
        lo = start if start is not None else budget_max / n_points
        grid = np.linspace(lo, budget_max, n_points)
    if integer:
        grid = np.unique(np.ceil(grid - 1e-9))
    grid[-1] = budget_max
    return grid


def performance_at(traces: pd.DataFrame, cells: pd.DataFrame, budgets: Iterable[float]) -> pd.DataFrame:
    """Best full-budget objective of every compared cell at each budget (step function, no look-ahead).

    Args:
        traces: from :func:`evoautodl.compare.traces.load_cells` (problem, algorithm, seed, budget, best).
        cells: the compared cells (columns problem, algorithm, seed); a cell without trace rows is +inf throughout.
        budgets: where to read the traces.

    Returns:
        Columns problem, algorithm, seed, budget, best (+inf where the cell had no full-budget result yet).
    """
    budgets = np.asarray(list(budgets), dtype=float)
    groups = {k: g for k, g in traces.groupby(KEYS, sort=False)} if len(traces) else {}
    out = []
    for key in cells[KEYS].itertuples(index=False, name=None):
        g = groups.get(tuple(key))
        if g is None:
            best = np.full(len(budgets), np.inf)
        else:
            idx = np.searchsorted(g["budget"].to_numpy(dtype=float), budgets, side="right") - 1
            values = g["best"].to_numpy(dtype=float)
            best = np.where(idx >= 0, values[np.maximum(idx, 0)], np.inf)
        out.append(pd.DataFrame({"problem": key[0], "algorithm": key[1], "seed": key[2], "budget": budgets,
                                 "best": best}))
    if not out:
        return pd.DataFrame(columns=[*KEYS, "budget", "best"])
    return pd.concat(out, ignore_index=True)


def oracle_values(cells: pd.DataFrame, references: Mapping[str, float | None]) -> pd.Series:
    """Oracle per problem: the smaller of the reference objective and the best value any compared cell found.

    ``cells`` needs problem and best (the cell's best full-budget value over its whole log).
    Problems with neither a reference nor any full-budget result get NaN.
    """
    found = cells.groupby("problem")["best"].min() if len(cells) else pd.Series(dtype=float)
    out = {}
    for problem, ref in references.items():
        f = float(found.get(problem, math.inf))
        best = min(f, ref if ref is not None else math.inf)
        out[problem] = best if math.isfinite(best) else math.nan
    return pd.Series(out, name="oracle", dtype=float)


def regret_scales(cells: pd.DataFrame, oracle: pd.Series) -> pd.Series:
    """Normalization per problem: the median regret of the compared cells' first full-budget results."""
    out = {}
    for problem, y_star in oracle.items():
        first = cells.loc[cells["problem"] == problem, "first_full_budget"].to_numpy(dtype=float)
        regrets = first[np.isfinite(first)] - y_star
        scale = float(np.median(regrets)) if len(regrets) else math.nan
        if not scale > 0:
            scale = float(regrets.max()) if len(regrets) and regrets.max() > 0 else 1.0
        out[problem] = scale
    return pd.Series(out, name="scale", dtype=float)


def add_regret(perf: pd.DataFrame, oracle: pd.Series, scale: pd.Series) -> pd.DataFrame:
    """``perf`` with columns ``regret`` (best - oracle) and ``nregret`` (regret / scale), +inf before a result."""
    y_star = perf["problem"].map(oracle).to_numpy(dtype=float)
    s = perf["problem"].map(scale).to_numpy(dtype=float)
    best = perf["best"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        regret = np.where(np.isinf(best), np.inf, best - y_star)
    return perf.assign(regret=regret, nregret=regret / s)
