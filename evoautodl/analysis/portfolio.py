"""Across datasets: one configuration to rule them all, or a small portfolio?

Input: ``design`` runs with the same seed on several datasets (the same
configurations everywhere). :func:`performance_table` joins them into the
configuration x dataset table, :func:`normalize` scales each dataset to
[0, 1] (0: the best configuration on that dataset, 1: the worst), and
:func:`greedy_portfolio` builds the portfolio as in Feurer et al. (AAAI 2015,
"Initializing Bayesian hyperparameter optimization via meta-learning") and
Pfisterer et al. ("Learning multiple defaults for machine learning
algorithms", GECCO 2021 companion)::

    P <- {}
    for k = 1..K: add the configuration c minimising
        mean over datasets d of  min over p in P + {c} of  norm[p, d]
    (the user then runs every member on a new dataset and keeps the best)

The regret of a portfolio on a dataset is the normalized objective of its best
member there. :func:`loo_portfolio` judges portfolios on datasets they did not
see: each dataset is held out in turn, the portfolio is built on the others,
and its regret is measured on the held-out one (leave-one-dataset-out). The
baseline is k random configurations (expected regret, exact from order statistics).
"""

from __future__ import annotations

from collections.abc import Mapping
from math import comb

import numpy as np
import pandas as pd

from evoautodl.analysis.frame import AnalysisError, ok_trials

__all__ = ["greedy_portfolio", "loo_portfolio", "normalize", "performance_table", "random_regret"]


def _config_key(row: pd.Series, names: list[str]) -> str:
    return "|".join(f"{n}={row[n]!r}" for n in names if n in row.index and not pd.isna(row[n]))


def performance_table(runs: Mapping[str, pd.DataFrame], budget: float | None = None) -> pd.DataFrame:
    """Configuration x dataset table of the objective at one budget (default: each run's highest).

    Args:
        runs: dataset name -> run DataFrame (design runs with the same seed and space).
        budget: the budget to read.

    Returns:
        Rows are configurations (index ``config``: ``c0``, ``c1``, ... in the first
        run's order, ``attrs["configs"]`` maps them to their hyperparameters),
        columns the datasets; only configurations with an OK result on every
        dataset are kept.
    """
    if len(runs) < 2:
        raise AnalysisError(f"a portfolio needs runs on at least 2 datasets, got {len(runs)}")
    columns, configs = {}, {}
    for name, df in runs.items():
        ok = ok_trials(df)
        if ok.empty:
            raise AnalysisError(f"dataset {name!r}: no OK trial")
        b = ok["budget_epochs"].max() if budget is None else budget
        at = ok[ok["budget_epochs"] == b]
        hps = [h for h in df.attrs.get("hyperparameters", []) if h in at.columns]
        keys = [_config_key(r, hps) for _, r in at.iterrows()]
        columns[name] = pd.Series(at["objective"].to_numpy(dtype=float), index=keys).groupby(level=0).min()
        for k, (_, r) in zip(keys, at.iterrows()):
            configs.setdefault(k, {h: r[h] for h in hps if not pd.isna(r[h])})
    table = pd.DataFrame(columns).dropna()
    if len(table) < 2:
        raise AnalysisError("the runs share fewer than 2 configurations with an OK result on every dataset: "
                            "portfolios need design runs with the same seed and search space")
    first = list(columns[next(iter(runs))].index)
    order = sorted(table.index, key=first.index)
    table = table.loc[order]
    labels = [f"c{i}" for i in range(len(table))]
    out = table.set_axis(pd.Index(labels, name="config"), axis=0)
    out.attrs["configs"] = {lab: configs[k] for lab, k in zip(labels, order)}
    return out


def normalize(table: pd.DataFrame, how: str = "minmax") -> pd.DataFrame:
    """Per dataset (column): "minmax" maps best -> 0, worst -> 1; "rank" gives ranks scaled to [0, 1]."""
    if how == "minmax":
        lo, hi = table.min(), table.max()
        out = (table - lo) / (hi - lo).replace(0, 1.0)
    elif how == "rank":
        out = (table.rank(method="average") - 1) / max(1, len(table) - 1)
    else:
        raise AnalysisError(f"how must be 'minmax' or 'rank', got {how!r}")
    out.attrs = dict(table.attrs)
    return out


def greedy_portfolio(norm: pd.DataFrame, k_max: int = 8) -> pd.DataFrame:
    """Greedy portfolio on a normalized table; columns ``k``, ``config`` (added), ``regret`` (mean over datasets)."""
    values = norm.to_numpy(dtype=float)
    best = np.full(values.shape[1], np.inf)
    chosen: list[int] = []
    rows = []
    for k in range(1, min(k_max, len(values)) + 1):
        cand = np.minimum(values, best[None, :]).mean(axis=1)
        cand[chosen] = np.inf
        i = int(np.argmin(cand))
        chosen.append(i)
        best = np.minimum(best, values[i])
        rows.append((k, norm.index[i], float(best.mean())))
    return pd.DataFrame(rows, columns=["k", "config", "regret"])


def random_regret(norm: pd.DataFrame, k: int) -> float:
    """Expected mean regret of k configurations drawn at random (without replacement), exact."""
    out = []
    n = len(norm)
    k = min(k, n)
    weights = np.array([comb(n - i, k - 1) for i in range(1, n + 1)], dtype=float) / comb(n, k)
    for col in norm.columns:
        v = np.sort(norm[col].to_numpy(dtype=float))
        out.append(float(v @ weights))
    return float(np.mean(out))


def loo_portfolio(norm: pd.DataFrame, k_max: int = 8) -> pd.DataFrame:
    """Leave-one-dataset-out portfolio regret for k = 1..k_max.

    Returns columns ``k``, ``train_regret`` (mean over folds, on the datasets
    used to build it), ``test_regret`` (mean over held-out datasets),
    ``test_regret_std``, ``random_regret`` (k random configurations) and
    ``oracle_regret`` (0: the best configuration of each dataset).
    """
    if norm.shape[1] < 2:
        raise AnalysisError("leave-one-dataset-out needs at least 2 datasets")
    k_max = min(k_max, len(norm))
    test = np.zeros((norm.shape[1], k_max))
    train = np.zeros((norm.shape[1], k_max))
    for j, held in enumerate(norm.columns):
        rest = norm.drop(columns=[held])
        port = greedy_portfolio(rest, k_max)
        members = [norm.index.get_loc(c) for c in port["config"]]
        held_vals = norm[held].to_numpy(dtype=float)[members]
        test[j] = np.minimum.accumulate(held_vals)
        train[j] = port["regret"].to_numpy()
    return pd.DataFrame({
        "k": np.arange(1, k_max + 1), "train_regret": train.mean(axis=0), "test_regret": test.mean(axis=0),
        "test_regret_std": test.std(axis=0), "random_regret": [random_regret(norm, k) for k in range(1, k_max + 1)],
        "oracle_regret": np.zeros(k_max),
    })
