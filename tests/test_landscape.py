"""Landscape analyses: the design algorithm, budget correlation, LPI, importance across budgets,
descriptors, portfolios and hypervolume."""

from __future__ import annotations

import itertools
from math import comb
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evoautodl import load_run
from evoautodl.algorithms import get_algorithm
from evoautodl.analysis import (
    AnalysisError,
    budget_correlation,
    curve_correlation,
    curve_matrix,
    dispersion,
    diversity_by_generation,
    fitness_distance_correlation,
    greedy_portfolio,
    hypervolume,
    hypervolume_trace,
    importance_by_budget,
    importance_ranks,
    load_space,
    loo_portfolio,
    lpi,
    normalize,
    operator_success,
    parent_offspring_correlation,
    performance_table,
    survivor_bias,
)
from evoautodl.analysis.portfolio import random_regret
from evoautodl.backends.serial import SerialBackend
from evoautodl.fidelity import BudgetLadder
from evoautodl.records import Result, Status
from evoautodl.runner import Runner, StopCriteria
from evoautodl.space import SearchSpace
from evoautodl.workloads.synthetic import MixedRastrigin


def _design(tmp: Path, name: str, correlation: float = 1.0, n: int = 48, seed: int = 0, noise: float = 0.0) -> Path:
    wl = MixedRastrigin(max_budget=9, fidelity_correlation=correlation, noise_std=noise)
    algo = get_algorithm("design", wl.search_space(), seed=seed, max_budget=9, n_configs=n)
    out = tmp / name
    Runner(algo, SerialBackend(wl), run_dir=out, stop=StopCriteria(max_evaluations=10 * n)).run()
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("landscape")
    wl = MixedRastrigin(max_budget=9, fidelity_correlation=0.5)
    asha = get_algorithm("asha_ea", wl.search_space(), seed=0, ladder=BudgetLadder(1, 9, 3), population_size=12,
                         n_initial=4)
    Runner(asha, SerialBackend(wl), run_dir=tmp / "asha", stop=StopCriteria(max_evaluations=400)).run()
    ga = get_algorithm("ga", wl.search_space(), seed=0, max_budget=9, population_size=12)
    Runner(ga, SerialBackend(wl), run_dir=tmp / "ga", stop=StopCriteria(max_evaluations=96)).run()
    return {"asha": tmp / "asha", "ga": tmp / "ga", "design1": _design(tmp, "design1", 1.0),
            "design0": _design(tmp, "design0", 0.0), "design_noisy": _design(tmp, "design_noisy", 1.0, noise=0.05)}


# ---------------------------------------------------------------- design
def test_design_gives_the_same_configurations_on_every_dataset_and_the_whole_curve(runs: dict[str, Path]) -> None:
    a, b = load_run(runs["design1"]), load_run(runs["design0"])  # different workloads (fidelity), same seed
    hps = a.attrs["hyperparameters"]
    pd.testing.assert_frame_equal(a[hps], b[hps])
    assert len(a) == 48 and (a["budget_epochs"] == 9).all() and a["individual_id"].is_unique
    assert {len(c["error"]) for c in a["curve"]} == {9}
    assert not any((runs["design1"] / "checkpoints").iterdir())  # never resumed: discarded


def test_design_is_finished_after_n_and_differs_by_seed_and_method() -> None:
    space = MixedRastrigin().search_space()
    algo = get_algorithm("design", space, seed=1, max_budget=3, n_configs=5)
    trials = algo.ask(3) + algo.ask(10)
    assert len(trials) == 5 and algo.ask(4) == [] and not algo.is_finished()
    for t in trials:
        assert space.is_valid(t.config) and t.budget_epochs == 3
        algo.tell(Result(trial=t, status=Status.OK, objectives=(0.5,), checkpoint=t.checkpoint_key))
    assert algo.is_finished() and len(algo.pop_discarded_checkpoints()) == 5
    other = get_algorithm("design", space, seed=2, max_budget=3, n_configs=5).points()
    lhs = get_algorithm("design", space, seed=1, max_budget=3, n_configs=5, method="lhs").points()
    assert not np.allclose(other, algo.points()) and not np.allclose(lhs, algo.points())
    for bad in ({"n_configs": 0}, {"method": "grid"}):
        with pytest.raises(Exception, match="design"):
            get_algorithm("design", space, **bad)


# ---------------------------------------------------------------- correlation
def test_curve_correlation_follows_the_fidelity_knob_with_a_confidence_interval(runs: dict[str, Path]) -> None:
    high = curve_correlation(load_run(runs["design1"]), epochs=[1, 3, 9])
    low = curve_correlation(load_run(runs["design0"]), epochs=[1, 3, 9])
    assert list(high.columns) == ["budget_low", "budget_high", "n_pairs", "kendall_tau", "tau_ci_low", "tau_ci_high",
                                  "spearman", "p_value", "source"]
    assert len(high) == 3 and (high["n_pairs"] == 48).all() and (high["source"] == "curves").all()
    assert np.allclose(high["kendall_tau"], 1.0)
    r = low[(low["budget_low"] == 1) & (low["budget_high"] == 9)].iloc[0]
    assert r["kendall_tau"] < 0.5 and r["tau_ci_low"] <= r["kendall_tau"] <= r["tau_ci_high"]
    assert r["tau_ci_high"] - r["tau_ci_low"] > 0.05


def test_promoted_pairs_are_fewer_and_survivors_are_biased(runs: dict[str, Path]) -> None:
    corr = budget_correlation(load_run(runs["asha"]), n_boot=50)
    assert set(corr["source"]) == {"promoted"}
    assert corr["n_pairs"].max() < 400
    m = curve_matrix(load_run(runs["design_noisy"]))
    bias = survivor_bias(m, [(1, 9)], eta=3).iloc[0]
    assert bias["n_survivors"] == 16 and bias["tau_survivors"] < bias["tau_all"]  # range restriction


# ---------------------------------------------------------------- importance
def test_importance_across_epochs_of_a_design_run(runs: dict[str, Path]) -> None:
    df = load_run(runs["design1"])
    table = importance_by_budget(df, load_space(runs["design1"]), epochs=[1, 3, 9], n_trees=8)
    assert set(table["by"]) == {"epoch"} and sorted(table["step"].unique()) == [1.0, 3.0, 9.0]
    assert set(table["n_trials"]) == {48}
    for _, g in table.groupby("step"):
        assert list(g["rank"]) == list(range(1, len(g) + 1)) and g["importance"].is_monotonic_decreasing
    wide = importance_ranks(table)
    assert wide.shape == (10, 3)


def test_importance_across_rungs_skips_rungs_with_too_few_trials(runs: dict[str, Path]) -> None:
    df = load_run(runs["asha"])
    table = importance_by_budget(df, load_space(runs["asha"]), n_trees=8)
    assert set(table["by"]) == {"budget"} and (table["n_trials"] >= 10).all()
    few = df[df["budget_epochs"] == 1].head(8)
    with pytest.raises(AnalysisError, match="too few trials for a random forest at every budget"):
        importance_by_budget(few, load_space(runs["asha"]), by="budget")


def test_lpi_finds_the_locally_important_hyperparameter() -> None:
    space = SearchSpace.from_dict({"a": {"type": "float", "lower": 0.0, "upper": 1.0},
                                   "b": {"type": "float", "lower": 0.0, "upper": 1.0},
                                   "k": {"type": "categorical", "choices": ["x", "y", "z"]}})
    rng = np.random.default_rng(0)
    configs = pd.DataFrame([space.to_config(space.sample(rng)) for _ in range(400)])
    y = (configs["a"] - 0.2) ** 2 + np.where(configs["k"] == "y", 0.3, 0.0) + 0.0 * configs["b"]
    table = lpi(configs, y.to_numpy(), space, incumbent={"a": 0.2, "b": 0.5, "k": "x"}, n_trees=16)
    imp = dict(zip(table["hyperparameter"], table["importance"]))
    assert np.isclose(sum(imp.values()), 1.0) and imp["a"] > imp["k"] > 10 * imp["b"]
    v_a, v_k = np.var((np.linspace(0, 1, 20) - 0.2) ** 2), np.var([0.0, 0.3, 0.0])  # the true local variances
    assert abs(imp["a"] - v_a / (v_a + v_k)) < 0.1
    with pytest.raises(AnalysisError, match="incumbent"):
        lpi(configs, y.to_numpy(), space, incumbent={"a": 2.0, "b": 0.5, "k": "x"})


# ---------------------------------------------------------------- descriptors
def test_descriptors_of_a_smooth_landscape(runs: dict[str, Path]) -> None:
    df, space = load_run(runs["design1"]), load_space(runs["design1"])
    fdc = fitness_distance_correlation(df, space)
    assert fdc["n"].iloc[0] == 48 and fdc["fdc"].iloc[0] > 0.2
    disp = dispersion(df, space, fractions=(0.1, 0.5))
    assert list(disp["n"]) == [5, 24] and disp["dispersion"].iloc[0] < 0
    div = diversity_by_generation(load_run(runs["ga"]), space)
    assert set(div["group"]) == {"generation"} and len(div) == 8 and div["diversity"].between(0, 1).all()


def test_operator_success_and_parent_offspring_correlation_from_the_lineage(runs: dict[str, Path]) -> None:
    df = load_run(runs["asha"])
    succ = operator_success(df)
    assert set(succ["operator"]) <= set(df["operator"]) - {"sample", "promote"}
    assert succ["success_rate"].between(0, 1).all() and (succ["improved"] <= succ["n"]).all()
    poc = parent_offspring_correlation(df)
    assert poc["operator"].iloc[0] == "all" and poc["n"].iloc[0] == succ["n"].sum()
    with pytest.raises(AnalysisError, match="no offspring"):
        operator_success(load_run(runs["design1"]))


# ---------------------------------------------------------------- portfolios
def test_greedy_portfolio_and_leave_one_dataset_out() -> None:
    raw = pd.DataFrame({"d1": [0.1, 0.5, 0.9, 0.3], "d2": [0.9, 0.1, 0.5, 0.3], "d3": [0.8, 0.6, 0.1, 0.35]},
                       index=pd.Index(["c0", "c1", "c2", "c3"], name="config"))
    norm = normalize(raw)
    assert norm.min().eq(0).all() and norm.max().eq(1).all()
    port = greedy_portfolio(norm, 4)
    assert list(port["config"].head(2)) == ["c3", "c2"]  # c3: best on average though best on no dataset
    assert port["regret"].is_monotonic_decreasing and port["regret"].iloc[-1] == 0
    loo = loo_portfolio(norm, 3)
    assert list(loo["k"]) == [1, 2, 3] and (loo["test_regret"] >= 0).all()
    assert loo["test_regret"].is_monotonic_decreasing


def test_random_regret_is_the_exact_expectation() -> None:
    norm = normalize(pd.DataFrame({"d1": [0.0, 0.2, 0.7, 1.0, 0.4], "d2": [1.0, 0.0, 0.3, 0.6, 0.9]}))
    for k in (1, 2, 4):
        brute = np.mean([norm.iloc[list(c)].min().mean() for c in itertools.combinations(range(5), k)])
        assert np.isclose(random_regret(norm, k), brute)
    assert comb(5, 2) == 10


def test_performance_table_joins_design_runs_on_their_configurations(runs: dict[str, Path]) -> None:
    table = performance_table({"high": load_run(runs["design1"]), "low": load_run(runs["design0"])})
    assert table.shape == (48, 2) and table.index[0] == "c0" and len(table.attrs["configs"]) == 48
    with pytest.raises(AnalysisError, match="same seed"):
        performance_table({"a": load_run(runs["design1"]), "b": load_run(runs["asha"])})


# ---------------------------------------------------------------- hypervolume
def test_hypervolume_exact_values() -> None:
    assert hypervolume(np.array([[1.0, 2.0], [2.0, 1.0]]), np.array([3.0, 3.0])) == 3.0
    assert hypervolume(np.array([[1.0, 1.0, 1.0]]), np.array([2.0, 3.0, 4.0])) == 6.0
    pts = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    assert np.isclose(hypervolume(pts, np.array([2.0, 2.0, 2.0])), 3 * 2 - 3 * 1 + 1)  # inclusion-exclusion
    assert hypervolume(np.array([[5.0, 5.0]]), np.array([3.0, 3.0])) == 0.0


def test_hypervolume_trace_never_decreases(tmp_path: Path) -> None:
    wl = MixedRastrigin(multi_objective=True)
    algo = get_algorithm("nsga2", wl.search_space(), seed=0, max_budget=9, population_size=8)
    Runner(algo, SerialBackend(wl), run_dir=tmp_path / "mo", stop=StopCriteria(max_evaluations=40)).run()
    trace = hypervolume_trace(load_run(tmp_path / "mo"))
    assert len(trace) == 40 and trace["hypervolume"].is_monotonic_increasing and trace["hypervolume"].iloc[-1] > 0
    assert len(trace.attrs["reference"]) == 2
