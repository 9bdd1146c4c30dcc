"""Local parameter importance (LPI) around the incumbent.

Reference: A. Biedenkapp, J. Marben, M. Lindauer, F. Hutter, "CAVE:
Configuration Assessment, Visualization and Evaluation", LION 2018.

fANOVA asks which hyperparameters matter *over the whole space*; LPI asks
which matter *near the best configuration found*. On the same random forest
as fANOVA (:func:`evoautodl.analysis.fanova.landscape_forest`)::

    theta* <- the incumbent (best OK trial, or the configuration given)
    for each hyperparameter p active in theta*:
        values(p) <- n_points evenly spaced genes of [0, 1] (every level of a
                     discrete hyperparameter with at most n_points levels)
        pred(p)   <- forest predictions at theta* with p set to each of values(p)
        V_p       <- variance of pred(p)
    LPI(p) = V_p / sum_q V_q

``importance`` uses the forest's mean predictions (as CAVE does); ``std`` is
the standard deviation of the same fraction computed tree by tree. A
hyperparameter that is inactive at the incumbent gets importance 0 (changing
it changes nothing there). Changing a parent may switch children on or off;
their genes then keep the incumbent's value (or the default's, when the
incumbent leaves them inactive).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evoautodl.analysis.fanova import landscape_forest
from evoautodl.analysis.forest import Forest
from evoautodl.analysis.frame import AnalysisError, encode_configs
from evoautodl.space import SearchSpace

__all__ = ["lpi", "lpi_forest"]


def _values(n_levels: int, n_points: int) -> np.ndarray:
    if 0 < n_levels <= n_points:
        return (np.arange(n_levels) + 0.5) / n_levels
    return np.linspace(0.0, 1.0, n_points)


def lpi_forest(forest: Forest, incumbent: np.ndarray, active: Sequence[bool] | None = None,
               n_points: int = 20) -> pd.DataFrame:
    """LPI of every input of ``forest`` around the unit-cube point ``incumbent`` (no NaN).

    Returns columns ``hyperparameter``, ``importance``, ``std``, sorted by importance, largest first.
    """
    x0 = np.asarray(incumbent, dtype=float)
    d = len(forest.names)
    active = list(active) if active is not None else [True] * d
    var_mean = np.zeros(d)
    var_trees = np.zeros((len(forest.trees), d))
    for i in range(d):
        if not active[i]:
            continue
        vals = _values(forest.n_levels[i], n_points)
        x = np.repeat(x0[None, :], len(vals), axis=0)
        x[:, i] = vals
        per_tree = forest.predict_trees(x)
        var_trees[:, i] = per_tree.var(axis=1)
        var_mean[i] = per_tree.mean(axis=0).var()
    total = var_mean.sum()
    imp = var_mean / total if total > 0 else np.zeros(d)
    tree_totals = var_trees.sum(axis=1, keepdims=True)
    frac = np.divide(var_trees, tree_totals, out=np.zeros_like(var_trees), where=tree_totals > 0)
    out = pd.DataFrame({"hyperparameter": list(forest.names), "importance": imp, "std": frac.std(axis=0)})
    return out.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)


def lpi(
    configs: pd.DataFrame,
    y: Sequence[float] | np.ndarray,
    space: SearchSpace,
    incumbent: Mapping[str, Any] | None = None,
    *,
    n_trees: int = 64,
    seed: int = 0,
    n_points: int = 20,
    forest: Forest | None = None,
) -> pd.DataFrame:
    """Local parameter importance around the incumbent (see the module docstring).

    Args:
        configs, y, space: as for :func:`evoautodl.analysis.fanova`.
        incumbent: a configuration (active hyperparameters); default: the row
            with the smallest finite ``y``.
        n_trees, seed: the forest (ignored when ``forest`` is given).
        n_points: values tried per continuous hyperparameter.
        forest: a forest already fitted on the same data (saves refitting).

    Returns:
        Columns ``hyperparameter``, ``importance``, ``std``.
    """
    yv = np.asarray(y, dtype=float)
    if forest is None:
        forest = landscape_forest(configs, yv, space, n_trees=n_trees, seed=seed)
    names = list(forest.names)
    if incumbent is None:
        if not np.isfinite(yv).any():
            raise AnalysisError("no finite objective value, so no incumbent")
        row = configs.iloc[[int(np.nanargmin(np.where(np.isfinite(yv), yv, np.nan)))]]
    else:
        problem = space.explain_invalid(dict(incumbent))
        if problem:
            raise AnalysisError(f"incumbent: {problem}")
        row = pd.DataFrame([dict(incumbent)])
    x0 = encode_configs(row, space, names)[0]
    active = ~np.isnan(x0)
    default = space.default_genome
    x0 = np.where(active, x0, [default[space.index[n]] for n in names])
    return lpi_forest(forest, x0, active, n_points)
