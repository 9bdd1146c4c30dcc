"""Anytime summaries on the budget grid: mean curves, the aggregate over problems, and the ECDF.

All functions take the long frame of :func:`evoautodl.compare.regret.add_regret`
(problem, algorithm, seed, budget, best, regret, nregret) and return frames.

ECDF (as IOHanalyzer draws fixed-target ECDFs, with budget on the x axis): for
an algorithm, the fraction of (problem, seed, target) triples whose normalized
regret at budget b is at most the target. The default targets are 31
normalized regrets log-spaced from 1 down to 1e-3 (10 per decade): 1 is
where a typical run starts (see :mod:`evoautodl.compare.regret`), 1e-3 is a
thousandth of that distance from the oracle.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_TARGETS", "aggregate_anytime", "anytime_summary", "ecdf"]

DEFAULT_TARGETS: np.ndarray = np.logspace(0.0, -3.0, 31)
"""Normalized-regret targets of the ECDF: 10 per decade from 1 to 1e-3."""


def _mean_se(frame: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    v = frame[value].to_numpy(dtype=float)
    g = frame.assign(_v=np.where(np.isfinite(v), v, np.nan), _finite=np.isfinite(v)).groupby(by, sort=True)
    out = g["_v"].agg(["mean", "std"])
    out["median"] = g[value].median()
    out["n"] = g["_finite"].size()
    # the mean exists only once every run has a result; std and se need two runs
    out.loc[~g["_finite"].all(), ["mean", "std"]] = np.nan
    out["se"] = out["std"] / np.sqrt(out["n"])
    out.loc[out["n"] < 2, ["std", "se"]] = np.nan
    return out.reset_index()


def anytime_summary(perf: pd.DataFrame, value: str = "regret") -> pd.DataFrame:
    """Mean, standard deviation, standard error and median over seeds per (problem, algorithm, budget).

    The mean is NaN at budgets where some seed has no full-budget result yet
    (its regret is +inf); the median is defined as soon as half of them have one.
    Columns: problem, algorithm, budget, mean, std, median, n, se.
    """
    return _mean_se(perf, ["problem", "algorithm", "budget"], value)


def aggregate_anytime(perf: pd.DataFrame, value: str = "nregret") -> pd.DataFrame:
    """Mean normalized regret over problems, then mean and standard error over seeds.

    For each (algorithm, seed, budget) the normalized regret is averaged over
    the problems; the curve is the mean of these over seeds, the band their
    standard error (seeds are the independent replications). Columns:
    algorithm, budget, mean, std, median, n (seeds), se.
    """
    per_seed = perf.groupby(["algorithm", "seed", "budget"], sort=True)[value].mean().reset_index()
    return _mean_se(per_seed, ["algorithm", "budget"], value)


def ecdf(perf: pd.DataFrame, targets: np.ndarray | None = None, value: str = "nregret") -> pd.DataFrame:
    """Fraction of (problem, seed, target) triples solved at each budget, per algorithm.

    A triple is solved at budget b when the run's normalized regret at b is at
    most the target. Columns: algorithm, budget, fraction, n_triples.
    """
    t = np.sort(np.asarray(DEFAULT_TARGETS if targets is None else targets, dtype=float))
    v = perf[value].to_numpy(dtype=float)
    solved = t.size - np.searchsorted(t, v, side="left")  # targets t with v <= t (NaN/inf solve none)
    solved[~np.isfinite(v)] = 0
    g = perf.assign(_solved=solved).groupby(["algorithm", "budget"], sort=True)["_solved"]
    out = pd.DataFrame({"solved": g.sum(), "n_triples": g.size() * t.size}).reset_index()
    out["fraction"] = out["solved"] / out["n_triples"]
    return out[["algorithm", "budget", "fraction", "n_triples"]]
