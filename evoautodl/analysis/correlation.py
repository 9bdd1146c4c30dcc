"""Budget correlation: do cheap budgets rank configurations like expensive ones?

Two sources, with different biases:

* **Promoted pairs** (:func:`budget_correlation`): in a multi-fidelity run
  (successive halving, ASHA, DEHB, ...) an individual reaches budget b2 only
  if it ranked well at b1. The pairs (b1, b2) therefore cover only the
  survivors, a narrow band of good configurations, and rank correlation over
  a restricted range is lower than over the whole space (range restriction);
  it also misses exactly the configurations a low budget misjudged badly
  enough to drop. Promoted-only correlations are thus *biased* estimates of
  "does b1 rank like b2": they describe the survivors, not the space.
* **Curves of a design run** (:func:`curve_correlation`): a ``design`` run
  trains every configuration to the maximum budget and logs its learning
  curve, so every configuration is seen at every epoch: the unbiased
  estimate (LCBench's own setting). :func:`survivor_bias` shows the size of
  the bias on such data by keeping only the top 1/eta at the lower budget.

Each pair gets Kendall's tau (tau-b), Spearman's rho, the number of shared
configurations, the p-value of tau, and a percentile bootstrap confidence
interval for tau (resampling configurations).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from evoautodl.analysis.curves import curve_matrix, geometric_epochs
from evoautodl.analysis.frame import ok_trials

__all__ = ["CORRELATION_COLUMNS", "bootstrap_kendall", "budget_correlation", "curve_correlation", "rank_correlation",
           "survivor_bias"]

CORRELATION_COLUMNS = ["budget_low", "budget_high", "n_pairs", "kendall_tau", "tau_ci_low", "tau_ci_high",
                       "spearman", "p_value", "source"]


#: larger samples bootstrap a random subsample of this size (a wider, conservative interval)
_BOOT_MAX_N = 1500


def bootstrap_kendall(a: np.ndarray, b: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Kendall tau-b of ``n_boot`` bootstrap resamples of the pairs (a_i, b_i), vectorised.

    With S_a = sign(a_i - a_j), S_b likewise and w the multiplicities of a
    resample, tau-b of the resample is ``w' (S_a * S_b) w / sqrt((w' |S_a| w)(w' |S_b| w))``
    (a pair drawn twice is a tie, as it is for scipy on the resample), so all
    resamples cost two (n_boot x n) @ (n x n) products instead of n_boot sorts.
    """
    n = len(a)
    if n > _BOOT_MAX_N:
        keep = rng.choice(n, _BOOT_MAX_N, replace=False)
        a, b, n = a[keep], b[keep], _BOOT_MAX_N
    sa = np.sign(a[:, None] - a[None, :]).astype(np.float32)
    sb = np.sign(b[:, None] - b[None, :]).astype(np.float32)
    w = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_boot)]).astype(np.float32)
    concordant = np.einsum("bi,bi->b", w @ (sa * sb), w)
    untied_a = np.einsum("bi,bi->b", w @ np.abs(sa), w)
    untied_b = np.einsum("bi,bi->b", w @ np.abs(sb), w)
    with np.errstate(invalid="ignore", divide="ignore"):
        return concordant / np.sqrt(untied_a * untied_b)


def rank_correlation(a: np.ndarray, b: np.ndarray, *, n_boot: int = 200, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float, float, float, float]:
    """(Kendall tau, CI low, CI high, Spearman rho, p-value of tau) of paired samples.

    The confidence interval is the percentile bootstrap over resampled pairs
    (``n_boot`` resamples, NaN when ``n_boot`` is 0 or the sample is constant);
    above 1,500 pairs it resamples a random subset of 1,500 (a conservative, wider interval).
    """
    from scipy.stats import kendalltau, spearmanr

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    tau, p = kendalltau(a, b)
    rho = spearmanr(a, b).statistic if len(a) > 2 else np.nan
    lo = hi = np.nan
    if n_boot > 0 and len(a) > 2 and np.isfinite(tau):
        boots = bootstrap_kendall(a, b, n_boot, np.random.default_rng(seed))
        boots = boots[np.isfinite(boots)]
        if len(boots):
            q = (1.0 - level) / 2.0
            lo, hi = np.quantile(boots, [q, 1.0 - q])
    return float(tau), float(lo), float(hi), float(rho), float(p)


def _table(values: pd.DataFrame, pairs: Sequence[tuple[float, float]], source: str, min_pairs: int, n_boot: int,
           seed: int) -> pd.DataFrame:
    rows = []
    for k, (lo, hi) in enumerate(pairs):
        both = values[[lo, hi]].dropna()
        if len(both) >= min_pairs:
            stats = rank_correlation(both[lo].to_numpy(), both[hi].to_numpy(), n_boot=n_boot, seed=seed + k)
            rows.append((float(lo), float(hi), len(both), stats[0], stats[1], stats[2], stats[3], stats[4], source))
    out = pd.DataFrame(rows, columns=CORRELATION_COLUMNS)
    out.attrs["budgets"] = sorted({float(b) for pair in pairs for b in pair})  # also those left out
    out.attrs["min_pairs"] = int(min_pairs)
    return out


def budget_correlation(df: pd.DataFrame, min_pairs: int = 5, *, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """Rank correlation between every pair of budgets, over individuals evaluated at both.

    High tau means low budgets rank configurations as high budgets do. In a
    multi-fidelity run the pairs are promoted individuals only (biased: see
    the module docstring); use :func:`curve_correlation` on a design run for
    the unbiased estimate.

    Returns:
        Columns ``budget_low``, ``budget_high``, ``n_pairs``, ``kendall_tau``,
        ``tau_ci_low``, ``tau_ci_high`` (95% bootstrap), ``spearman``,
        ``p_value``, ``source`` ("promoted"); pairs with fewer than
        ``min_pairs`` shared individuals are left out.
    """
    ok = ok_trials(df)
    if ok.empty:
        return pd.DataFrame(columns=CORRELATION_COLUMNS)
    table = ok.pivot_table(index="individual_id", columns="budget_epochs", values="objective", aggfunc="last")
    pairs = list(itertools.combinations(sorted(table.columns), 2))
    return _table(table, pairs, "promoted", min_pairs, n_boot, seed)


def curve_correlation(df: pd.DataFrame, epochs: Sequence[int] | None = None, *, metric: str | None = None,
                      min_pairs: int = 5, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """Rank correlation between epochs of the learning curves (every configuration at every epoch).

    Args:
        df: a run (a ``design`` run gives the unbiased table; any run works:
            each trial's curve covers the epochs up to its budget).
        epochs: epochs to compare (default: about 7 spaced geometrically up to
            the longest curve).
        metric: curve key (default: the objective).

    Returns:
        The columns of :func:`budget_correlation`, ``source`` = "curves".
    """
    m = curve_matrix(df, metric)
    epochs = list(epochs) if epochs is not None else geometric_epochs(int(m.columns.max()))
    epochs = [e for e in epochs if e in m.columns]
    return _table(m, list(itertools.combinations(epochs, 2)), "curves", min_pairs, n_boot, seed)


def survivor_bias(matrix: pd.DataFrame, pairs: Sequence[tuple[int, int]], eta: float = 3.0) -> pd.DataFrame:
    """How much promoting only the top 1/eta biases the correlation between two budgets.

    Args:
        matrix: configurations x epochs (e.g. :func:`evoautodl.analysis.curves.curve_matrix` of a design run).
        pairs: (low, high) epoch pairs.
        eta: successive halving's reduction factor: the best ``1/eta`` at the
            low budget are the survivors.

    Returns:
        Columns ``budget_low``, ``budget_high``, ``n_all``, ``tau_all``,
        ``n_survivors``, ``tau_survivors`` (the promoted-only estimate a
        multi-fidelity run would report) and ``bias`` (survivors - all).
    """
    from scipy.stats import kendalltau

    rows = []
    for lo, hi in pairs:
        both = matrix[[lo, hi]].dropna()
        k = max(2, int(len(both) / eta))
        top = both.nsmallest(k, lo)
        t_all = float(kendalltau(both[lo], both[hi]).statistic)
        t_top = float(kendalltau(top[lo], top[hi]).statistic)
        rows.append((lo, hi, len(both), t_all, len(top), t_top, t_top - t_all))
    return pd.DataFrame(rows, columns=["budget_low", "budget_high", "n_all", "tau_all", "n_survivors",
                                       "tau_survivors", "bias"])
