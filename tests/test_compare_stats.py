"""Ranks and tests of evoautodl.compare: against published tables, hand computations and other libraries."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2, wilcoxon

from evoautodl.compare import (
    CompareError,
    block_scores,
    critical_difference,
    friedman,
    holm,
    mean_ranks,
    nemenyi_cd,
    rank_over_budget,
    wilcoxon_holm,
)
from evoautodl.compare.stats import resolve_blocks

#: q_0.05 of the two-tailed Nemenyi test (Demsar 2006, Table 5a), k = 2..10
DEMSAR_Q05 = [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]


def _scores(seed: int, n: int = 12, shift: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, len(shift))) + np.array(shift),
                        columns=[f"alg{i}" for i in range(len(shift))])


@pytest.mark.parametrize("k", range(2, 11))
def test_nemenyi_cd_matches_demsars_table(k: int) -> None:
    n = 14
    q = nemenyi_cd(k, n, 0.05) / math.sqrt(k * (k + 1) / (6 * n))
    assert q == pytest.approx(DEMSAR_Q05[k - 2], abs=1e-3)  # the table has three (not always rounded) decimals


def test_friedman_matches_the_textbook_formula() -> None:
    scores = _scores(0)
    n, k = scores.shape
    ranks = scores.rank(axis=1).to_numpy()
    r = ranks.mean(axis=0)
    stat = 12 * n / (k * (k + 1)) * (np.sum(r ** 2) - k * (k + 1) ** 2 / 4)  # Demsar 2006, eq. 1 (no ties)
    res = friedman(scores)
    assert res.statistic == pytest.approx(stat)
    assert res.p_value == pytest.approx(chi2.sf(stat, k - 1))
    assert (res.n_blocks, res.n_algorithms) == (n, k)
    assert math.isnan(friedman(scores.iloc[:, :2]).p_value)  # two algorithms: not applicable
    tied = pd.DataFrame(np.ones((5, 3)), columns=list("abc"))
    assert friedman(tied).p_value == 1.0


def test_mean_ranks_average_ties_and_put_inf_last() -> None:
    scores = pd.DataFrame({"a": [0.1, 0.2, math.inf], "b": [0.1, 0.3, math.inf], "c": [0.5, math.inf, 0.2]})
    r = mean_ranks(scores)
    assert r.to_dict() == pytest.approx({"a": (1.5 + 1 + 2.5) / 3, "b": (1.5 + 2 + 2.5) / 3, "c": (3 + 3 + 1) / 3})


def test_holm_by_hand() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 -> max(0.06, 0.04)
    assert holm(p).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]).tolist() == pytest.approx([1.0, 1.0])
    out = holm([0.01, math.nan, 0.02])
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.02)


def test_holm_matches_statsmodels() -> None:
    multitest = pytest.importorskip("statsmodels.stats.multitest", reason="statsmodels cross-check not installed")
    p = np.random.default_rng(3).uniform(0, 0.2, 9)
    assert holm(p) == pytest.approx(multitest.multipletests(p, method="holm")[1])


def test_wilcoxon_holm_against_the_best_and_all_pairs() -> None:
    scores = _scores(1)
    vs = wilcoxon_holm(scores, "best")
    assert (vs["algorithm"] == "alg0").all() and len(vs) == 3
    raw = [wilcoxon(scores["alg0"], scores[b]).pvalue for b in vs["versus"]]
    assert vs["p_value"].tolist() == pytest.approx(raw)
    assert vs["p_holm"].tolist() == pytest.approx(holm(raw).tolist())
    row = vs[vs["versus"] == "alg3"].iloc[0]
    d = scores["alg0"] - scores["alg3"]
    assert (row.wins, row.losses) == ((d < 0).sum(), (d > 0).sum())
    assert row.median_difference == pytest.approx(np.median(d))
    pairs = wilcoxon_holm(scores, None)
    assert len(pairs) == 6
    assert pairs["p_holm"].tolist() == pytest.approx(holm(pairs["p_value"].to_numpy()).tolist())
    with pytest.raises(CompareError, match="control"):
        wilcoxon_holm(scores, "nope")
    with pytest.raises(CompareError, match="two algorithms"):
        wilcoxon_holm(scores[["alg0"]])


def test_wilcoxon_counts_a_run_without_result_as_a_loss() -> None:
    scores = pd.DataFrame({"a": [0.1, 0.2, 0.3, 0.1, 0.2, 0.3], "b": [math.inf, 0.5, 0.6, math.inf, math.inf, 0.9]})
    out = wilcoxon_holm(scores, "a").iloc[0]
    assert (out.wins, out.ties, out.losses) == (6, 0, 0)
    assert out.p_value == pytest.approx(wilcoxon(np.ones(6) * -1, method="exact").pvalue)  # all six pairs lost
    same = pd.DataFrame({"a": [math.inf, 0.2], "b": [math.inf, 0.2]})
    res = wilcoxon_holm(same, "a").iloc[0]
    assert res.ties == 2 and res.p_value == 1.0 and res.median_difference == 0.0


def test_critical_difference_cliques() -> None:
    for seed in range(20):
        scores = _scores(seed, n=10, shift=(0.0, 0.3, 0.6, 0.9, 1.2))
        cd = critical_difference(scores, 0.05)
        rank = dict(cd.ranks)
        assert [r for _, r in cd.ranks] == sorted(rank.values())
        for clique in cd.cliques:
            assert max(rank[a] for a in clique) - min(rank[a] for a in clique) < cd.cd
        for a, b in itertools.combinations(rank, 2):  # every not-different pair shares a clique
            if abs(rank[a] - rank[b]) < cd.cd:
                assert any(a in q and b in q for q in cd.cliques)
        for q1, q2 in itertools.permutations(cd.cliques, 2):
            assert not set(q1) <= set(q2)  # maximal


def test_nemenyi_agrees_with_scikit_posthocs() -> None:
    sp = pytest.importorskip("scikit_posthocs", reason="scikit-posthocs cross-check not installed")
    for seed in range(5):
        scores = _scores(seed, n=15)
        cd = critical_difference(scores, 0.05)
        rank = dict(cd.ranks)
        p = sp.posthoc_nemenyi_friedman(scores.to_numpy())
        for i, j in itertools.combinations(range(scores.shape[1]), 2):
            diff = abs(rank[scores.columns[i]] - rank[scores.columns[j]])
            if abs(diff - cd.cd) > 1e-3:  # away from the boundary both must decide alike
                assert (diff >= cd.cd) == (p.iloc[i, j] < 0.05), (seed, i, j, diff, cd.cd, p.iloc[i, j])


def test_friedman_ranks_and_cd_agree_with_autorank() -> None:
    autorank = pytest.importorskip("autorank", reason="autorank cross-check not installed")
    scores = _scores(4, n=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = autorank.autorank(scores, alpha=0.05, order="ascending", force_mode="nonparametric", verbose=False)
    assert res.omnibus == "friedman"
    assert res.pvalue == pytest.approx(friedman(scores).p_value)
    assert res.rankdf["meanrank"].to_dict() == pytest.approx(mean_ranks(scores).to_dict())
    assert res.cd == pytest.approx(critical_difference(scores).cd, rel=1e-4)  # autorank tabulates q to 3 digits


def _perf() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    rows = [(p, a, s, b, float(rng.uniform()) + (0.3 if a == "bad" else 0.0) + (0.5 if b == 1 else 0.0))
            for p in ("p1", "p2", "p3") for a in ("good", "bad", "mid") for s in range(4) for b in (1, 2)]
    return pd.DataFrame(rows, columns=["problem", "algorithm", "seed", "budget", "nregret"])


def test_block_scores_and_rank_over_budget() -> None:
    perf = _perf()
    one = perf[perf["budget"] == 2]
    by_problem = block_scores(one, "problem")
    assert by_problem.shape == (3, 3)
    assert by_problem.loc["p1", "good"] == pytest.approx(one[(one.problem == "p1") & (one.algorithm == "good")]
                                                         ["nregret"].mean())
    assert block_scores(one, "run").shape == (12, 3)
    partial = one[~((one["problem"] == "p2") & (one["algorithm"] == "mid"))]  # an algorithm missing on p2
    assert list(block_scores(partial, "problem").index) == ["p1", "p3"]
    over = rank_over_budget(perf, "run")
    for b in (1, 2):
        expected = mean_ranks(block_scores(perf[perf["budget"] == b], "run"))
        got = over[over["budget"] == b].set_index("algorithm")["mean_rank"]
        assert got.to_dict() == pytest.approx(expected.to_dict())
    assert set(over["n_blocks"]) == {12}


def test_blocks_option() -> None:
    assert resolve_blocks("auto", 34) == "problem" and resolve_blocks("auto", 2) == "run"
    assert resolve_blocks("run", 34) == "run"
    with pytest.raises(CompareError, match="blocks"):
        resolve_blocks("tasks", 3)


def test_median_difference_between_opposite_infinities_is_undefined_without_warnings() -> None:
    scores = pd.DataFrame({"a": [math.inf, 0.1], "b": [0.1, math.inf]})  # differences inf and -inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        row = wilcoxon_holm(scores, "a").iloc[0]
    assert math.isnan(row.median_difference)
    assert (row.wins, row.losses) == (1, 1)
