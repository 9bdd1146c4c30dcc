"""fANOVA: how much of the objective's variance each hyperparameter (and pair) explains.

Reference: F. Hutter, H. Hoos, K. Leyton-Brown, "An Efficient Approach for
Assessing Hyperparameter Importance", ICML 2014.

A random forest is fitted to (configuration, objective) pairs on the space's
own scales (:mod:`evoautodl.analysis.forest`). For each tree ``f`` (a
partition of the unit cube into boxes with constant values) the functional
ANOVA decomposes ``f`` over the uniform measure on the cube::

    mean      m      = integral of f
    total     V      = integral of (f - m)^2
    marginal  a_U(x_U) = integral of f over the inputs not in U
    main      V_i    = integral of (a_i - m)^2 dx_i
    pair      V_ij   = integral of (a_ij - m)^2 dx_i dx_j - V_i - V_j     (clipped at 0)
    importance of U in this tree = V_U / V

and the importance reported is the mean over trees (with trees of zero
variance left out), its ``std`` the standard deviation over trees, exactly
as in the original ``fanova`` package. Because every tree is a set of boxes,
the marginal of input i is piecewise constant between the tree's split
points on i: with leaves l of value v_l and box widths w_lj,
``a_i(x) = sum over leaves whose box contains x of v_l * prod_{j != i} w_lj``.
We compute it for all intervals at once with a difference array (add the
leaf's weight where its box starts, subtract it where it ends, cumulative
sum), O(leaves + intervals) per input and tree, and a pair's marginal with
the 2-D version of the same trick.

Why not a library: the original package needs SWIG, a C++ build, numpy < 2
and ``np.float``; DeepCAVE needs Python < 3.11; Optuna's fANOVA drops
conditional hyperparameters and has no interactions. The forest itself is
scikit-learn's; only the decomposition is ours. Its agreement with the
original package is tested on reference data sets (tests/test_fanova.py).

Scales and conditional hyperparameters: inputs are the genome's unit cube
(log hyperparameters on the log scale, integers in equal bins, categoricals
as k equal bins), so "uniform" means uniform on each hyperparameter's own
scale. An inactive value (NaN) is imputed by a uniform draw: the genome
carries inactive genes that do not matter, and the forest learns exactly
that. A conditional hyperparameter's importance is therefore its effect
where it is active, averaged over the whole space (so weighted by how often
it is active), never an effect invented in regions where it does not exist.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from evoautodl.analysis.forest import Forest, TreeBoxes, fit_forest
from evoautodl.analysis.frame import (
    MIN_FOREST_TRIALS,
    AnalysisError,
    encode_configs,
    impute_inactive,
    varying_hyperparameters,
)
from evoautodl.space import SearchSpace

__all__ = ["fanova", "fanova_forest", "fanova_table", "landscape_forest", "marginal_1d", "marginal_2d",
           "tree_main_effects"]


def landscape_forest(
    configs: pd.DataFrame,
    y: Sequence[float] | np.ndarray,
    space: SearchSpace,
    *,
    n_trees: int = 64,
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> Forest:
    """The forest of the landscape: configurations (NaN where inactive) on their own scales -> objective.

    Rows whose objective is not finite are dropped. Raises AnalysisError with
    fewer than ``MIN_FOREST_TRIALS`` usable rows or a constant objective.
    """
    names = list(names) if names is not None else varying_hyperparameters(space)
    if not names:
        raise AnalysisError("the search space has no hyperparameter that varies")
    yv = np.asarray(y, dtype=float)
    if len(yv) != len(configs):
        raise AnalysisError(f"{len(configs)} configurations but {len(yv)} objective values")
    good = np.isfinite(yv)
    if good.sum() < MIN_FOREST_TRIALS:
        raise AnalysisError(f"too few trials for a random forest: {int(good.sum())} with a finite objective, "
                            f"at least {MIN_FOREST_TRIALS} needed")
    x = encode_configs(configs.iloc[np.flatnonzero(good)], space, names)
    x = impute_inactive(x, np.random.default_rng(seed))
    levels = [space.hyperparameters[space.index[n]].n_levels for n in names]
    return fit_forest(x, yv[good], names, levels, n_trees=n_trees, seed=seed)


def _cuts(tree: TreeBoxes, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split points of input i (with 0 and 1) and each leaf's first and past-last interval."""
    cuts = np.unique(np.concatenate([tree.lower[:, i], tree.upper[:, i], [0.0, 1.0]]))
    return cuts, np.searchsorted(cuts, tree.lower[:, i]), np.searchsorted(cuts, tree.upper[:, i])


def _marginal_1d(tree: TreeBoxes, i: int) -> tuple[np.ndarray, np.ndarray]:
    """(cuts, a_i on each interval) of one tree."""
    cuts, s, e = _cuts(tree, i)
    m = len(cuts) - 1
    c = tree.value * tree.volume / (tree.upper[:, i] - tree.lower[:, i])
    diff = np.bincount(s, c, minlength=m + 1) - np.bincount(e, c, minlength=m + 1)
    return cuts, np.cumsum(diff)[:m]


def _marginal_2d(tree: TreeBoxes, i: int, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cuts_i, cuts_j, a_ij on each cell) of one tree."""
    ci, si, ei = _cuts(tree, i)
    cj, sj, ej = _cuts(tree, j)
    mi, mj = len(ci) - 1, len(cj) - 1
    c = tree.value * tree.volume / ((tree.upper[:, i] - tree.lower[:, i]) * (tree.upper[:, j] - tree.lower[:, j]))
    w = mj + 1
    size = (mi + 1) * w
    diff = (np.bincount(si * w + sj, c, minlength=size) - np.bincount(ei * w + sj, c, minlength=size)
            - np.bincount(si * w + ej, c, minlength=size) + np.bincount(ei * w + ej, c, minlength=size))
    a = np.cumsum(np.cumsum(diff.reshape(mi + 1, w), axis=0), axis=1)[:mi, :mj]
    return ci, cj, a


def tree_main_effects(tree: TreeBoxes) -> np.ndarray:
    """V_i of every input for one tree (unnormalised variances)."""
    d = tree.lower.shape[1]
    out = np.zeros(d)
    for i in range(d):
        cuts, a = _marginal_1d(tree, i)
        out[i] = float(np.diff(cuts) @ (a - tree.mean) ** 2)
    return out


def _tree_pair(tree: TreeBoxes, i: int, j: int, vi: float, vj: float) -> float:
    ci, cj, a = _marginal_2d(tree, i, j)
    total = float(np.diff(ci) @ (a - tree.mean) ** 2 @ np.diff(cj))
    return max(total - vi - vj, 0.0)


def fanova_forest(forest: Forest, pairs: bool | int | Sequence[tuple[str, str]] = False) -> pd.DataFrame:
    """fANOVA importances of a fitted forest (see the module docstring).

    Args:
        forest: from :func:`landscape_forest` or :func:`evoautodl.analysis.forest.fit_forest`.
        pairs: False (main effects only); True (every pair); an int k (the pairs
            among the k most important hyperparameters); or a list of name pairs.

    Returns:
        Columns ``hyperparameter`` (``"a:b"`` for a pair), ``importance``
        (mean fraction of variance over trees), ``std`` (over trees),
        ``order`` (1 main effect, 2 pair); main effects first, each group by
        importance, largest first.
    """
    trees = [t for t in forest.trees if t.variance > 0]
    names = list(forest.names)
    if not trees:
        raise AnalysisError("every tree of the forest is constant: the objective does not vary with the "
                            "hyperparameters in these trials")
    main = np.array([tree_main_effects(t) for t in trees])
    totals = np.array([t.variance for t in trees])
    frac = main / totals[:, None]
    rows = [(n, float(frac[:, i].mean()), float(frac[:, i].std()), 1) for i, n in enumerate(names)]
    out = pd.DataFrame(rows, columns=["hyperparameter", "importance", "std", "order"])
    out = out.sort_values("importance", ascending=False, kind="stable")
    chosen: list[tuple[int, int]]
    if pairs is False or pairs is None:
        chosen = []
    elif pairs is True:
        chosen = list(itertools.combinations(range(len(names)), 2))
    elif isinstance(pairs, int):
        top = sorted(names.index(n) for n in out["hyperparameter"].head(int(pairs)))
        chosen = list(itertools.combinations(top, 2))
    else:
        try:
            chosen = [tuple(sorted((names.index(a), names.index(b)))) for a, b in pairs]  # type: ignore[misc]
        except ValueError as exc:
            raise AnalysisError(f"pairs: {exc} (hyperparameters: {', '.join(names)})") from None
    prows = []
    for i, j in chosen:
        f = np.array([_tree_pair(t, i, j, main[k, i], main[k, j]) for k, t in enumerate(trees)]) / totals
        prows.append((f"{names[i]}:{names[j]}", float(f.mean()), float(f.std()), 2))
    if prows:
        pdf = pd.DataFrame(prows, columns=out.columns).sort_values("importance", ascending=False, kind="stable")
        out = pd.concat([out, pdf])
    return out.reset_index(drop=True)


def fanova(
    configs: pd.DataFrame,
    y: Sequence[float] | np.ndarray,
    space: SearchSpace,
    n_trees: int = 64,
    seed: int = 0,
    pairs: bool | int | Sequence[tuple[str, str]] = False,
) -> pd.DataFrame:
    """fANOVA importance of every hyperparameter (and pairs, optionally).

    Args:
        configs: one column per hyperparameter (NaN when inactive), e.g. rows of
            :func:`evoautodl.load_run`.
        y: the objective of each row (non-finite rows are dropped).
        space: the search space (its scales: log hyperparameters on the log scale).
        n_trees: trees in the random forest.
        seed: the forest's seed (and the imputation of inactive values).
        pairs: see :func:`fanova_forest`.

    Returns:
        DataFrame with columns ``hyperparameter``, ``importance``, ``std``, ``order``.

    Example::

        df = load_run("runs/design"); ok = df[df.status == "OK"]
        fanova(ok, ok["objective"], load_space("runs/design"))
    """
    return fanova_forest(landscape_forest(configs, y, space, n_trees=n_trees, seed=seed), pairs=pairs)


def fanova_table(x: np.ndarray, y: np.ndarray, names: Sequence[str], n_levels: Sequence[int] | None = None, *,
                 n_trees: int = 64, seed: int = 0, pairs: bool | int = False) -> pd.DataFrame:
    """fANOVA on a plain matrix already on the unit cube (no NaN); ``n_levels`` marks discrete columns."""
    levels = list(n_levels) if n_levels is not None else [0] * len(names)
    return fanova_forest(fit_forest(x, y, names, levels, n_trees=n_trees, seed=seed), pairs=pairs)


def marginal_1d(forest: Forest, name: str, grid: np.ndarray) -> pd.DataFrame:
    """Partial dependence of the objective on one hyperparameter (fANOVA marginal a_i).

    Args:
        forest: the fitted forest.
        name: the hyperparameter.
        grid: genes (points of [0, 1]) to evaluate at.

    Returns:
        Columns ``gene``, ``mean`` (over trees), ``std`` (over trees).
    """
    i = forest.names.index(name)
    grid = np.asarray(grid, dtype=float)
    vals = []
    for t in forest.trees:
        cuts, a = _marginal_1d(t, i)
        vals.append(a[np.clip(np.searchsorted(cuts, grid, side="right") - 1, 0, len(a) - 1)])
    v = np.array(vals)
    return pd.DataFrame({"gene": grid, "mean": v.mean(axis=0), "std": v.std(axis=0)})


def marginal_2d(forest: Forest, names: tuple[str, str], grid_x: np.ndarray, grid_y: np.ndarray) -> np.ndarray:
    """Joint partial dependence a_ij on a grid: array (len(grid_x), len(grid_y)), mean over trees."""
    i, j = forest.names.index(names[0]), forest.names.index(names[1])
    total = np.zeros((len(grid_x), len(grid_y)))
    for t in forest.trees:
        ci, cj, a = _marginal_2d(t, i, j)
        ix = np.clip(np.searchsorted(ci, grid_x, side="right") - 1, 0, a.shape[0] - 1)
        iy = np.clip(np.searchsorted(cj, grid_y, side="right") - 1, 0, a.shape[1] - 1)
        total += a[np.ix_(ix, iy)]
    return total / len(forest.trees)
