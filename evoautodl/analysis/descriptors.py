"""Landscape descriptors: is the landscape benign, and what did the search operators do?

* :func:`fitness_distance_correlation` (Jones & Forrest, ICGA 1995): the
  correlation between a configuration's objective and its distance to the
  best one. Close to 1: better configurations lie nearer the optimum (a
  "big valley", easy for local search); near 0 or negative: deceptive.
* :func:`dispersion` (Lunacek & Whitley, GECCO 2006): the mean pairwise
  distance among the best fraction q of the configurations minus that among
  all. Negative: good configurations cluster (one funnel).
* :func:`parent_offspring_correlation` (Manderick, de Weger & Spiessens, ICGA
  1991): the correlation between the objective of offspring and that of
  their parents, from the logged lineage; high means the operators make
  small, predictable steps (the landscape is smooth for them).
* :func:`diversity_by_generation`: mean pairwise distance of the
  configurations of each generation (or each window of trials for
  asynchronous algorithms).
* :func:`operator_success`: per operator, how often its offspring beat
  their best parent (at the same budget).

Distances are the Gower-style mixed distance of
:meth:`evoautodl.space.SearchSpace.distance` (mean over hyperparameters
active in either configuration: |difference| on the own (log) scale,
0/1 for categoricals, 1 when active in only one), computed vectorised.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evoautodl.analysis.frame import AnalysisError, encode_configs, ok_trials, varying_hyperparameters
from evoautodl.space import GeneKind, SearchSpace

__all__ = ["diversity_by_generation", "dispersion", "fitness_distance_correlation", "operator_success",
           "pairwise_distances", "parent_offspring_correlation"]


def _genes(configs: pd.DataFrame, space: SearchSpace) -> tuple[np.ndarray, np.ndarray]:
    names = varying_hyperparameters(space)
    x = encode_configs(configs, space, names)
    cat = np.array([space.hyperparameters[space.index[n]].kind is GeneKind.CATEGORICAL for n in names])
    return x, cat


def _distances(a: np.ndarray, b: np.ndarray, cat: np.ndarray) -> np.ndarray:
    """Gower distances between rows of a (n, d) and b (m, d) -> (n, m); NaN = inactive."""
    da, db = np.isnan(a)[:, None, :], np.isnan(b)[None, :, :]
    diff = np.abs(a[:, None, :] - b[None, :, :])
    diff = np.where(cat[None, None, :], (diff > 1e-12).astype(float), diff)
    diff = np.where(da ^ db, 1.0, diff)
    counted = ~(da & db)
    total = np.where(counted, np.nan_to_num(diff), 0.0).sum(axis=2)
    n = counted.sum(axis=2)
    return np.divide(total, n, out=np.zeros_like(total), where=n > 0)


def pairwise_distances(configs: pd.DataFrame, space: SearchSpace) -> np.ndarray:
    """(n, n) mixed distances between configurations (rows of a load_run DataFrame)."""
    x, cat = _genes(configs, space)
    out = np.zeros((len(x), len(x)))
    for s in range(0, len(x), 256):  # blocks keep the (n, m, d) temporary small
        out[s: s + 256] = _distances(x[s: s + 256], x, cat)
    return out


def _mean_pairwise(x: np.ndarray, cat: np.ndarray, max_n: int, rng: np.random.Generator) -> float:
    if len(x) < 2:
        return float("nan")
    if len(x) > max_n:
        x = x[rng.choice(len(x), max_n, replace=False)]
    d = np.vstack([_distances(x[s: s + 256], x, cat) for s in range(0, len(x), 256)])
    return float(d[np.triu_indices(len(x), 1)].mean())


def _at_budget(df: pd.DataFrame, budget: float | None) -> pd.DataFrame:
    ok = ok_trials(df)
    if ok.empty:
        raise AnalysisError("no OK trial")
    b = ok["budget_epochs"].max() if budget is None else budget
    return ok[ok["budget_epochs"] == b]


def fitness_distance_correlation(df: pd.DataFrame, space: SearchSpace, budget: float | None = None) -> pd.DataFrame:
    """FDC at one budget (default: the highest), Pearson and Spearman.

    Returns one row: ``budget``, ``n``, ``fdc`` (Pearson of objective vs
    distance to the best), ``fdc_spearman``.
    """
    from scipy.stats import pearsonr, spearmanr

    at = _at_budget(df, budget)
    if len(at) < 3:
        raise AnalysisError(f"fitness-distance correlation needs at least 3 OK trials at one budget, got {len(at)}")
    x, cat = _genes(at, space)
    y = at["objective"].to_numpy(dtype=float)
    best = int(np.argmin(y))
    dist = _distances(x, x[best: best + 1], cat)[:, 0]
    keep = np.arange(len(y)) != best
    if np.ptp(dist[keep]) == 0 or np.ptp(y[keep]) == 0:
        r = rho = float("nan")
    else:
        r, rho = pearsonr(y[keep], dist[keep]).statistic, spearmanr(y[keep], dist[keep]).statistic
    return pd.DataFrame([{"budget": float(at["budget_epochs"].iloc[0]), "n": int(len(y)), "fdc": float(r),
                          "fdc_spearman": float(rho)}])


def dispersion(df: pd.DataFrame, space: SearchSpace, fractions: Sequence[float] = (0.05, 0.1, 0.2, 0.5),
               budget: float | None = None, max_n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Dispersion of the best fractions at one budget (default: the highest).

    Returns columns ``fraction``, ``n``, ``mean_distance`` (among the best
    ``fraction``), ``dispersion`` (that minus the mean distance among all).
    """
    at = _at_budget(df, budget).sort_values("objective", kind="stable")
    x, cat = _genes(at, space)
    rng = np.random.default_rng(seed)
    base = _mean_pairwise(x, cat, max_n, rng)
    rows = []
    for q in fractions:
        k = max(2, int(round(q * len(x))))
        d = _mean_pairwise(x[:k], cat, max_n, rng)
        rows.append((float(q), k, d, d - base))
    return pd.DataFrame(rows, columns=["fraction", "n", "mean_distance", "dispersion"])


def _parent_scores(df: pd.DataFrame) -> pd.DataFrame:
    """Offspring trials with the best (smallest) objective among their parents at the child's budget."""
    ok = ok_trials(df)
    score = ok.groupby(["individual_id", "budget_epochs"], observed=True)["objective"].min().to_dict()
    by_ind = ok.sort_values("budget_epochs").groupby("individual_id")["objective"].last().to_dict()
    rows = []
    for r in ok[~ok["operator"].isin(["sample", "promote"])].itertuples(index=False):
        parents = tuple(r.parent_ids) if r.parent_ids is not None else ()
        if not parents:
            continue
        vals = [score.get((p, r.budget_epochs), by_ind.get(p, np.nan)) for p in parents]
        vals = [v for v in vals if np.isfinite(v)]
        if vals:
            rows.append((r.trial_id, r.operator, float(r.objective), float(min(vals)), float(np.mean(vals))))
    return pd.DataFrame(rows, columns=["trial_id", "operator", "child", "best_parent", "mean_parent"])


def parent_offspring_correlation(df: pd.DataFrame) -> pd.DataFrame:
    """Correlation of offspring and (mean) parent objective, per operator and over all.

    Returns columns ``operator`` ("all" first), ``n``, ``pearson``, ``spearman``.
    Trials without parents (samples) and promotions (same individual) are left out.
    """
    from scipy.stats import pearsonr, spearmanr

    pairs = _parent_scores(df)
    if pairs.empty:
        raise AnalysisError("no offspring with logged parents (random search, design and the first generation "
                            "have none)")
    rows = []
    for name, g in [("all", pairs), *pairs.groupby("operator")]:
        if len(g) >= 3 and np.ptp(g["child"]) > 0 and np.ptp(g["mean_parent"]) > 0:
            rows.append((name, len(g), float(pearsonr(g["mean_parent"], g["child"]).statistic),
                         float(spearmanr(g["mean_parent"], g["child"]).statistic)))
        else:
            rows.append((name, len(g), np.nan, np.nan))
    return pd.DataFrame(rows, columns=["operator", "n", "pearson", "spearman"])


def operator_success(df: pd.DataFrame) -> pd.DataFrame:
    """Per operator: offspring, how many beat their best parent at the same budget, the rate, median gain.

    Returns columns ``operator``, ``n``, ``improved``, ``success_rate``,
    ``median_gain`` (best parent - child; positive is better), sorted by rate.
    """
    pairs = _parent_scores(df)
    if pairs.empty:
        raise AnalysisError("no offspring with logged parents, so no operator statistics")
    pairs = pairs.assign(gain=pairs["best_parent"] - pairs["child"])
    g = pairs.groupby("operator")
    out = pd.DataFrame({"n": g.size(), "improved": g["gain"].apply(lambda s: int((s > 0).sum())),
                        "median_gain": g["gain"].median()}).reset_index()
    out["success_rate"] = out["improved"] / out["n"]
    cols = ["operator", "n", "improved", "success_rate", "median_gain"]
    return out[cols].sort_values("success_rate", ascending=False, kind="stable").reset_index(drop=True)


def diversity_by_generation(df: pd.DataFrame, space: SearchSpace, window: int | None = None,
                            max_n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Mean pairwise distance of the configurations born in each generation.

    Each individual counts once (its first trial; promotions repeat it).
    Runs without generations (asynchronous algorithms log generation 0) are
    cut into windows of ``window`` births (default: about 20 windows).

    Returns columns ``group`` ("generation" or "window"), ``step``, ``n``, ``diversity``.
    """
    born = df.sort_values("trial_id").drop_duplicates("individual_id")
    if born.empty:
        raise AnalysisError("no trial")
    x, cat = _genes(born, space)
    rng = np.random.default_rng(seed)
    if window is None and born["generation"].nunique() > 1:
        group, steps = "generation", born["generation"].to_numpy()
    else:
        w = window or max(2, len(born) // 20)
        group, steps = "window", np.arange(len(born)) // w
    rows = []
    for s in np.unique(steps):
        idx = np.flatnonzero(steps == s)
        if len(idx) >= 2:
            rows.append((group, int(s), len(idx), _mean_pairwise(x[idx], cat, max_n, rng)))
    return pd.DataFrame(rows, columns=["group", "step", "n", "diversity"])
