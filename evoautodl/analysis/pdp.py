"""Partial dependence (1-D and 2-D) of the landscape forest, on the hyperparameters' own values.

The partial dependence of the objective on hyperparameter i is the forest's
prediction averaged over all other hyperparameters (uniformly on their own
scales): exactly fANOVA's marginal ``a_i`` (Hutter et al., ICML 2014),
computed from the trees' boxes without sampling (:mod:`evoautodl.analysis.fanova`).
The ``std`` column is the spread over trees, a measure of the forest's
uncertainty, not of the objective's noise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evoautodl.analysis.fanova import marginal_1d, marginal_2d
from evoautodl.analysis.forest import Forest
from evoautodl.space import GeneKind, SearchSpace

__all__ = ["partial_dependence", "partial_dependence_2d"]


def _grid(space: SearchSpace, name: str, n_points: int) -> np.ndarray:
    h = space.hyperparameters[space.index[name]]
    k = h.n_levels
    if h.kind in (GeneKind.CATEGORICAL, GeneKind.ORDINAL) or 0 < k <= n_points:
        return (np.arange(k) + 0.5) / k
    return np.linspace(0.0, 1.0, n_points)


def partial_dependence(forest: Forest, space: SearchSpace, names: Sequence[str] | None = None,
                       n_points: int = 50) -> pd.DataFrame:
    """1-D partial dependence of every hyperparameter in ``names`` (default: all the forest's).

    Returns columns ``hyperparameter``, ``gene`` (position in [0, 1] on its own
    scale), ``value`` (the hyperparameter's value there), ``mean``, ``std``.
    """
    parts = []
    for name in names if names is not None else forest.names:
        grid = _grid(space, name, n_points)
        pd1 = marginal_1d(forest, name, grid)
        i = space.index[name]
        pd1.insert(0, "hyperparameter", name)
        pd1.insert(2, "value", [space.decode_gene(i, g) for g in grid])
        parts.append(pd1)
    return pd.concat(parts, ignore_index=True)


def partial_dependence_2d(forest: Forest, space: SearchSpace, names: tuple[str, str],
                          n_points: int = 30) -> pd.DataFrame:
    """Joint partial dependence of two hyperparameters on a grid.

    Returns a DataFrame indexed by the first hyperparameter's values with one
    column per value of the second (the mean prediction); ``attrs["genes"]``
    holds the two gene grids.
    """
    gx, gy = _grid(space, names[0], n_points), _grid(space, names[1], n_points)
    z = marginal_2d(forest, names, gx, gy)
    ix, iy = space.index[names[0]], space.index[names[1]]
    out = pd.DataFrame(z, index=pd.Index([space.decode_gene(ix, g) for g in gx], name=names[0]),
                       columns=pd.Index([space.decode_gene(iy, g) for g in gy], name=names[1]))
    out.attrs["genes"] = (gx.tolist(), gy.tolist())
    return out
