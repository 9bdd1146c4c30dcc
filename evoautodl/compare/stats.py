"""Ranks and statistical tests at one budget (scipy only).

Blocks. Ranks and tests compare algorithms within blocks:

- ``blocks="problem"``: one block per problem, the score of an algorithm its
  mean normalized regret over seeds (Demsar 2006: independent data sets);
- ``blocks="run"``: one block per (problem, seed), the score the run's
  normalized regret (seeds as independent replications);
- ``blocks="auto"``: "problem" with at least 5 problems, else "run".

A block counts only where every algorithm has a score. Lower is better;
ties get averaged ranks; a run without a full-budget result by the budget
(+inf) ranks below every run with one (ties among such runs averaged).

Tests:

- Friedman: ``scipy.stats.friedmanchisquare`` over the blocks (k >= 3).
- Nemenyi critical difference (Demsar 2006, eq. 3)::

      CD = q_alpha * sqrt(k (k + 1) / (6 N)),   q_alpha = studentized_range.ppf(1 - alpha, k, inf) / sqrt(2)

  two algorithms whose mean ranks differ by at least CD differ significantly;
  a clique joins algorithms whose mean ranks lie within CD of each other.
- Wilcoxon signed-rank (``scipy.stats.wilcoxon``, zero differences dropped)
  on the paired block scores, with Holm's step-down correction (Holm 1979)
  over the family of comparisons (the best algorithm against every other, or
  all pairs). For the test, +inf scores become a finite value above every
  finite score of the comparison, so such a run loses every pairing.

References: J. Demsar, "Statistical comparisons of classifiers over multiple
data sets", JMLR 7, 2006; S. Holm, "A simple sequentially rejective multiple
test procedure", Scand. J. Statist. 6, 1979.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evoautodl.compare.grid import CompareError

__all__ = ["BLOCKS", "CDResult", "FriedmanResult", "block_scores", "critical_difference", "friedman", "holm",
           "mean_ranks", "nemenyi_cd", "rank_over_budget", "resolve_blocks", "wilcoxon_holm"]

BLOCKS = ("auto", "problem", "run")
AUTO_MIN_PROBLEMS = 5


def resolve_blocks(blocks: str, n_problems: int) -> str:
    """"problem" or "run" (``auto``: "problem" with at least 5 problems)."""
    if blocks not in BLOCKS:
        raise CompareError(f"blocks must be one of {', '.join(BLOCKS)}, got {blocks!r}")
    if blocks == "auto":
        return "problem" if n_problems >= AUTO_MIN_PROBLEMS else "run"
    return blocks


def _table(perf: pd.DataFrame, blocks: str, value: str, by: list[str]) -> pd.DataFrame:
    if blocks == "problem":
        table = perf.groupby([*by, "problem", "algorithm"])[value].mean().unstack("algorithm")
    elif blocks == "run":
        table = perf.set_index([*by, "problem", "seed", "algorithm"])[value].unstack("algorithm")
    else:
        raise CompareError(f"blocks must be 'problem' or 'run', got {blocks!r}")
    table.columns.name = None
    return table.dropna(how="any")


def block_scores(perf: pd.DataFrame, blocks: str = "problem", value: str = "nregret") -> pd.DataFrame:
    """Scores at one budget: index = blocks, columns = algorithms (complete blocks only).

    ``perf`` holds one budget (problem, algorithm, seed and ``value`` columns).
    """
    return _table(perf, blocks, value, [])


def _ranks(scores: pd.DataFrame) -> pd.DataFrame:
    from scipy.stats import rankdata

    if scores.empty:
        return scores.copy()
    return pd.DataFrame(rankdata(scores.to_numpy(dtype=float), method="average", axis=1),
                        index=scores.index, columns=scores.columns)


def mean_ranks(scores: pd.DataFrame) -> pd.Series:
    """Mean rank per algorithm over the blocks (1 = best), sorted best first."""
    return _ranks(scores).mean(axis=0).sort_values(kind="stable")


def rank_over_budget(perf: pd.DataFrame, blocks: str = "problem", value: str = "nregret") -> pd.DataFrame:
    """Mean rank of each algorithm at every budget of ``perf``. Columns: budget, algorithm, mean_rank, n_blocks."""
    table = _table(perf, blocks, value, ["budget"])
    if table.empty:
        return pd.DataFrame(columns=["budget", "algorithm", "mean_rank", "n_blocks"])
    ranks = _ranks(table)
    mean = ranks.groupby(level="budget").mean()
    out = mean.stack().rename("mean_rank").reset_index().rename(columns={"level_1": "algorithm"})
    out.columns = ["budget", "algorithm", "mean_rank"]
    out["n_blocks"] = out["budget"].map(table.groupby(level="budget").size())
    return out


@dataclass(frozen=True, slots=True)
class FriedmanResult:
    """Friedman's test over ``n_blocks`` blocks and ``n_algorithms`` algorithms (NaN when k < 3 or N < 2)."""

    statistic: float
    p_value: float
    n_blocks: int
    n_algorithms: int


def friedman(scores: pd.DataFrame) -> FriedmanResult:
    """Friedman's chi-square test (``scipy.stats.friedmanchisquare``) on block scores."""
    from scipy.stats import friedmanchisquare

    n, k = scores.shape
    if k < 3 or n < 2:
        return FriedmanResult(math.nan, math.nan, n, k)
    ranks = _ranks(scores).to_numpy()
    if np.all(ranks == ranks[:, :1]):  # every block a full tie: no evidence of any difference
        return FriedmanResult(0.0, 1.0, n, k)
    stat, p = friedmanchisquare(*(ranks[:, j] for j in range(k)))
    return FriedmanResult(float(stat), float(p), n, k)


def nemenyi_cd(k: int, n_blocks: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of mean ranks for k algorithms over N blocks (Demsar 2006)."""
    from scipy.stats import studentized_range

    if k < 2 or n_blocks < 1:
        return math.nan
    q = float(studentized_range.ppf(1.0 - alpha, k, np.inf)) / math.sqrt(2.0)
    return q * math.sqrt(k * (k + 1) / (6.0 * n_blocks))


@dataclass(frozen=True, slots=True)
class CDResult:
    """What a critical-difference diagram shows.

    Attributes:
        ranks: (algorithm, mean rank), best first.
        cd: the Nemenyi critical difference.
        cliques: maximal groups of algorithms (in rank order) whose mean ranks lie within ``cd``.
        n_blocks: blocks the ranks average over.
        alpha: significance level.
        blocks: "problem" or "run".
    """

    ranks: tuple[tuple[str, float], ...]
    cd: float
    cliques: tuple[tuple[str, ...], ...]
    n_blocks: int
    alpha: float
    blocks: str = "problem"


def critical_difference(scores: pd.DataFrame, alpha: float = 0.05, blocks: str = "problem") -> CDResult:
    """Mean ranks, the Nemenyi CD and the cliques of not significantly different algorithms."""
    ranks = mean_ranks(scores)
    names, r = list(ranks.index), ranks.to_numpy(dtype=float)
    cd = nemenyi_cd(len(names), len(scores), alpha)
    cliques: list[tuple[str, ...]] = []
    last_end = -1
    for i in range(len(names)):
        j = i
        while j + 1 < len(names) and r[j + 1] - r[i] < cd:
            j += 1
        if j > i and j > last_end:
            cliques.append(tuple(names[i:j + 1]))
            last_end = j
    return CDResult(tuple((n, float(x)) for n, x in zip(names, r)), cd, tuple(cliques), len(scores), alpha, blocks)


def holm(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (same order as given; NaN stays NaN)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return out


def _finite(scores: pd.DataFrame) -> pd.DataFrame:
    v = scores.to_numpy(dtype=float)
    finite = v[np.isfinite(v)]
    cap = 2.0 * float(np.abs(finite).max()) + 1.0 if finite.size else 1.0
    return pd.DataFrame(np.where(np.isposinf(v), cap, v), index=scores.index, columns=scores.columns)


def wilcoxon_holm(scores: pd.DataFrame, control: str | None = "best", alpha: float = 0.05) -> pd.DataFrame:
    """Pairwise Wilcoxon signed-rank tests with Holm's correction.

    Args:
        scores: block scores (index blocks, columns algorithms).
        control: "best" (the algorithm with the lowest mean rank against each
            other one), an algorithm name (that one against each other), or
            None (all pairs).
        alpha: level at which ``significant`` is decided (on the Holm p-value).

    Returns:
        One row per comparison: algorithm, versus, n (blocks), wins, ties,
        losses (blocks where ``algorithm`` scores lower / equal / higher),
        median_difference (``algorithm - versus``), statistic, p_value,
        p_holm, significant.
    """
    from scipy.stats import wilcoxon

    algorithms = list(scores.columns)
    if len(algorithms) < 2:
        raise CompareError("the Wilcoxon tests need at least two algorithms")
    if control == "best":
        control = str(mean_ranks(scores).index[0])
    if control is not None and control not in algorithms:
        raise CompareError(f"control algorithm {control!r} is not among {algorithms}")
    if control is None:
        pairs = [(a, b) for i, a in enumerate(algorithms) for b in algorithms[i + 1:]]
    else:
        pairs = [(control, b) for b in algorithms if b != control]
    data = _finite(scores)
    rows = []
    for a, b in pairs:
        d = data[a].to_numpy() - data[b].to_numpy()
        wins, ties, losses = int((d < 0).sum()), int((d == 0).sum()), int((d > 0).sum())
        if wins + losses == 0:
            stat, p = math.nan, 1.0
        else:
            res = wilcoxon(d, zero_method="wilcox")
            stat, p = float(res.statistic), float(res.pvalue)
        with np.errstate(invalid="ignore"):  # inf - inf is a tie; a median between -inf and inf is undefined (NaN)
            raw = scores[a].to_numpy(dtype=float) - scores[b].to_numpy(dtype=float)
            med = float(np.median(np.where(np.isnan(raw), 0.0, raw))) if len(raw) else math.nan
        rows.append((a, b, len(d), wins, ties, losses, med, stat, p))
    out = pd.DataFrame(rows, columns=["algorithm", "versus", "n", "wins", "ties", "losses", "median_difference",
                                      "statistic", "p_value"])
    out["p_holm"] = holm(out["p_value"].to_numpy())
    out["significant"] = out["p_holm"] < alpha
    return out
