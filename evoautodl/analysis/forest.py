"""A random forest over the unit cube, flattened into boxes for exact marginals.

fANOVA, local parameter importance and partial dependence all read one
fitted forest. The forest itself is scikit-learn's ``RandomForestRegressor``
(a maintained, well-tested implementation). What this module adds is the
view fANOVA needs (Hutter, Hoos & Leyton-Brown, ICML 2014): every tree is a
partition of the input cube [0, 1]^d into axis-aligned boxes (its leaves), each
with a constant prediction, so integrals of the tree over any subset of the
inputs are weighted sums over boxes and can be computed exactly.

Pseudocode of :func:`fit_forest`::

    X: configurations on the unit cube (their own scales), inactive values imputed uniformly
    forest <- RandomForestRegressor(n_trees, bootstrap, max_features = 70% of d,
                                    fully grown: min_samples_leaf = 1, max_depth = 64)
    for each tree: walk the nodes level by level, narrowing the parent's box at each split
        -> leaves as (lower, upper, value) boxes
        discrete inputs (k levels, genes at bin centres): move each threshold to the bin
        boundary j/k between the two levels it separates, so every level keeps its
        whole bin and integrating over [0, 1] weighs the k levels equally

The forest settings follow the original ``fanova`` package (pyrfr): 70% of
the inputs tried per split, bootstrap samples of the data's size, fully
grown trees. Categorical inputs enter as their level index (bin centres): a
scikit-learn tree splits them by "index < j" rather than by an arbitrary
subset of levels as pyrfr does; deeper trees recover any subset partition,
and the agreement test (tests/test_fanova.py) includes a categorical data set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Forest", "TreeBoxes", "fit_forest"]


@dataclass(frozen=True, slots=True)
class TreeBoxes:
    """One regression tree as a partition of the unit cube.

    Attributes:
        lower, upper: (n_leaves, d) corners of the leaves' boxes.
        value: (n_leaves,) prediction in each leaf.
        volume: (n_leaves,) volume of each box (they sum to 1).
        mean: the tree's mean over the cube.
        variance: the tree's variance over the cube (uniform measure).
    """

    lower: np.ndarray
    upper: np.ndarray
    value: np.ndarray
    volume: np.ndarray
    mean: float
    variance: float


@dataclass(frozen=True, slots=True)
class Forest:
    """A fitted forest: the scikit-learn estimator plus every tree as boxes.

    Attributes:
        names: the input columns (hyperparameters), in order.
        n_levels: per input, the number of levels of a discrete input (0: continuous).
        trees: one :class:`TreeBoxes` per tree.
        estimator: the fitted ``sklearn.ensemble.RandomForestRegressor``.
        n_samples: training rows.
    """

    names: tuple[str, ...]
    n_levels: tuple[int, ...]
    trees: tuple[TreeBoxes, ...]
    estimator: Any
    n_samples: int

    def predict_trees(self, x: np.ndarray) -> np.ndarray:
        """Per-tree predictions, shape (n_trees, n) for inputs ``x`` (n, d) on the unit cube."""
        x = np.asarray(x, dtype=np.float32)
        return np.stack([t.predict(x) for t in self.estimator.estimators_])

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The forest's mean prediction for inputs ``x`` (n, d)."""
        return self.predict_trees(x).mean(axis=0)


def _boxes(tree: Any, n_levels: Sequence[int]) -> TreeBoxes:
    t = tree.tree_
    left, right, feature = t.children_left, t.children_right, t.feature
    threshold = t.threshold.astype(float).copy()
    levels = np.asarray(n_levels, dtype=float)
    split = left >= 0
    k = levels[feature.clip(0)]
    discrete = split & (k > 0)
    threshold[discrete] = np.round(threshold[discrete] * k[discrete]) / k[discrete]
    d = len(n_levels)
    n = t.node_count
    lower = np.zeros((n, d))
    upper = np.ones((n, d))
    frontier = np.array([0])
    while frontier.size:
        nodes = frontier[split[frontier]]
        if not nodes.size:
            break
        f, th = feature[nodes], threshold[nodes]
        lc, rc = left[nodes], right[nodes]
        lower[lc], upper[lc] = lower[nodes], upper[nodes]
        lower[rc], upper[rc] = lower[nodes], upper[nodes]
        upper[lc, f] = np.minimum(upper[lc, f], th)
        lower[rc, f] = np.maximum(lower[rc, f], th)
        frontier = np.concatenate([lc, rc])
    leaves = ~split
    lo, hi = lower[leaves], upper[leaves]
    value = t.value[leaves, 0, 0].astype(float)
    volume = np.prod(hi - lo, axis=1)
    keep = volume > 0  # a snapped threshold can leave an empty box (no level lies in it)
    lo, hi, value, volume = lo[keep], hi[keep], value[keep], volume[keep]
    mean = float(volume @ value)
    variance = float(volume @ (value - mean) ** 2)
    return TreeBoxes(lower=lo, upper=hi, value=value, volume=volume, mean=mean, variance=variance)


def fit_forest(
    x: np.ndarray,
    y: np.ndarray,
    names: Sequence[str],
    n_levels: Sequence[int],
    *,
    n_trees: int = 64,
    seed: int = 0,
    max_features: float = 0.7,
    min_samples_leaf: int = 1,
    max_depth: int = 64,
) -> Forest:
    """Fit the forest on unit-cube inputs (no NaN) and flatten its trees into boxes.

    Args:
        x: (n, d) inputs in [0, 1] (impute inactive values first).
        y: (n,) finite targets.
        names: the d input names.
        n_levels: per input, the number of levels of a discrete input, 0 for continuous.
        n_trees: trees in the forest.
        seed: the forest's random state.
        max_features: fraction of the inputs tried at each split.
        min_samples_leaf, max_depth: tree size limits (fully grown by default).
    """
    from sklearn.ensemble import RandomForestRegressor

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    d = x.shape[1]
    est = RandomForestRegressor(
        n_estimators=int(n_trees), max_features=max(1, int(d * max_features)), bootstrap=True,
        min_samples_leaf=int(min_samples_leaf), max_depth=int(max_depth), random_state=int(seed),
    )
    est.fit(x, y)
    trees = tuple(_boxes(t, n_levels) for t in est.estimators_)
    return Forest(names=tuple(names), n_levels=tuple(int(k) for k in n_levels), trees=trees, estimator=est,
                  n_samples=len(y))
