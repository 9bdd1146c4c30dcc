"""Importance across budgets, epochs and generations: does the ranking of hyperparameters change?

The question of slide 10 of M. Lindauer's PPSN 2020 talk "Towards
Understanding Automated Deep Learning" (on LCBench, Zimmer et al., TPAMI
2021): which hyperparameters matter after 1 epoch, and after 50? Pseudocode::

    by = "epoch":      (design runs: every configuration at every epoch, from the curves)
        for e in epochs: fANOVA(configs, objective after e epochs)
    by = "budget":     (multi-fidelity runs: each rung's own trials)
        for b in budgets with >= MIN_FOREST_TRIALS OK trials: fANOVA(trials at b)
    by = "generation": (generational runs: each generation's own trials)
    -> one row per (step, hyperparameter): importance, std, rank

Rung tables inherit the survivor bias of promoted trials (higher rungs hold
only configurations that looked good lower down; see
:mod:`evoautodl.analysis.correlation`); epoch tables from a design run do not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from evoautodl.analysis.curves import curve_matrix, geometric_epochs
from evoautodl.analysis.fanova import fanova_forest, landscape_forest
from evoautodl.analysis.frame import MIN_FOREST_TRIALS, AnalysisError, ok_trials
from evoautodl.analysis.lpi import lpi
from evoautodl.space import SearchSpace

__all__ = ["IMPORTANCE_COLUMNS", "importance_by_budget", "importance_ranks", "importance_step"]

IMPORTANCE_COLUMNS = ["by", "step", "hyperparameter", "importance", "std", "rank", "n_trials"]


def importance_step(df: pd.DataFrame) -> str:
    """How a run's importance is best split: "epoch" (a design run with curves), "budget" or "generation"."""
    ok = ok_trials(df)
    if ok.empty:
        raise AnalysisError("no OK trial to compute importances from")
    if ok["budget_epochs"].nunique() > 1:
        return "budget"
    lengths = [len(next(iter(c.values()), [])) if isinstance(c, dict) and c else 0 for c in ok["curve"].head(20)]
    if max(lengths, default=0) > 1:
        return "epoch"
    return "generation" if ok["generation"].nunique() > 1 else "budget"


def _one(configs: pd.DataFrame, y: np.ndarray, space: SearchSpace, method: str, n_trees: int,
         seed: int) -> pd.DataFrame:
    if method == "lpi":
        return lpi(configs, y, space, n_trees=n_trees, seed=seed)
    return fanova_forest(landscape_forest(configs, y, space, n_trees=n_trees, seed=seed))


def importance_by_budget(
    df: pd.DataFrame,
    space: SearchSpace,
    *,
    by: str = "auto",
    epochs: Sequence[int] | None = None,
    method: str = "fanova",
    n_trees: int = 32,
    seed: int = 0,
    max_trials: int | None = 4000,
    on_step: Callable[[], None] | None = None,
) -> pd.DataFrame:
    """One importance table across budgets, epochs or generations.

    Args:
        df: a run (:func:`evoautodl.load_run`).
        space: its search space.
        by: "epoch", "budget", "generation" or "auto" (:func:`importance_step`).
        epochs: for ``by="epoch"``: the epochs (default about 7, geometric up to the longest curve).
        method: "fanova" (global) or "lpi" (local, around each step's incumbent).
        n_trees, seed: the forests.
        max_trials: a step with more OK trials fits its forest on a random
            subsample of this size (seeded); None: all.
        on_step: called after each step (a progress bar's update).

    Returns:
        Columns ``by``, ``step`` (the budget, epoch or generation),
        ``hyperparameter``, ``importance``, ``std``, ``rank`` (1 = most
        important at that step) and ``n_trials``. Steps with fewer than
        ``MIN_FOREST_TRIALS`` OK trials are left out; AnalysisError when none is left.
    """
    if method not in ("fanova", "lpi"):
        raise AnalysisError(f"method must be 'fanova' or 'lpi', got {method!r}")
    by = importance_step(df) if by == "auto" else by
    ok = ok_trials(df)
    groups: list[tuple[float, pd.DataFrame, np.ndarray]] = []
    if by == "epoch":
        m = curve_matrix(df)
        rows = ok.set_index("trial_id").loc[m.index]
        steps = list(epochs) if epochs is not None else geometric_epochs(int(m.columns.max()))
        for e in steps:
            if e in m.columns:
                groups.append((float(e), rows, m[e].to_numpy(dtype=float)))
    elif by in ("budget", "generation"):
        col = "budget_epochs" if by == "budget" else "generation"
        for step, g in ok.groupby(col, observed=True):
            groups.append((float(step), g, g["objective"].to_numpy(dtype=float)))
    else:
        raise AnalysisError(f"by must be 'epoch', 'budget', 'generation' or 'auto', got {by!r}")
    tables = []
    for step, configs, y in groups:
        if max_trials is not None and len(y) > max_trials:
            pick = np.sort(np.random.default_rng(seed).choice(len(y), max_trials, replace=False))
            configs, y = configs.iloc[pick], y[pick]
        n = int(np.isfinite(y).sum())
        if n >= MIN_FOREST_TRIALS and np.nanstd(y) > 0:
            t = _one(configs, y, space, method, n_trees, seed)
            if "order" in t.columns:
                t = t[t["order"] == 1]
            t = t.assign(by=by, step=step, n_trials=n, rank=np.arange(1, len(t) + 1))
            tables.append(t[IMPORTANCE_COLUMNS])
        if on_step is not None:
            on_step()
    if not tables:
        sizes = ", ".join(f"{s:g}: {int(np.isfinite(y).sum())}" for s, _, y in groups) or "none"
        raise AnalysisError(f"too few trials for a random forest at every {by} (OK trials per {by}: {sizes}; "
                            f"at least {MIN_FOREST_TRIALS} needed at one {by})")
    return pd.concat(tables, ignore_index=True)


def importance_ranks(table: pd.DataFrame, value: str = "rank") -> pd.DataFrame:
    """The table of :func:`importance_by_budget` pivoted: hyperparameters x steps (``value``: rank or importance)."""
    wide = table.pivot_table(index="hyperparameter", columns="step", values=value, aggfunc="first")
    last = wide.columns.max()
    return wide.sort_values(last, ascending=(value == "rank"))
