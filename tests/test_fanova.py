"""fANOVA: agreement with the original package and recovery of known structure.

The reference numbers in tests/data/fanova/reference.json were computed once with the
original ``fanova`` package (2.0.19, pyrfr 0.9.0; see tests/data/fanova/make_reference.py)
on the data sets stored beside them (inputs already on the unit interval).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evoautodl.analysis import AnalysisError, fanova, landscape_forest
from evoautodl.analysis.fanova import fanova_forest, fanova_table, marginal_1d, marginal_2d
from evoautodl.analysis.pdp import partial_dependence, partial_dependence_2d
from evoautodl.space import SearchSpace

DATA = Path(__file__).parent / "data" / "fanova"
META = json.loads((DATA / "datasets.json").read_text())
REFERENCE = json.loads((DATA / "reference.json").read_text())


@pytest.mark.parametrize("name", sorted(META))
def test_agrees_with_the_original_fanova_package(name: str) -> None:
    meta = META[name]
    data = np.loadtxt(DATA / f"{name}.csv", delimiter=",", skiprows=1)
    ours = fanova_table(data[:, :-1], data[:, -1], meta["names"], meta["n_levels"], n_trees=64, seed=0)
    ref = REFERENCE["datasets"][name]
    ref_order = sorted(ref, key=lambda hp: -ref[hp]["importance"])
    assert list(ours["hyperparameter"].head(3)) == ref_order[:3]
    for row in ours.itertuples(index=False):
        assert abs(row.importance - ref[row.hyperparameter]["importance"]) < 0.05, row.hyperparameter


def _structured(n: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, SearchSpace]:
    """y: strong in x1, weak in x2 (log scale), none in x3, x1 x x4 interaction, c matters only when active."""
    space = SearchSpace.from_dict({
        "x1": {"type": "float", "lower": 0.0, "upper": 1.0},
        "x2": {"type": "float", "lower": 1e-3, "upper": 1.0, "log": True},
        "x3": {"type": "int", "lower": 1, "upper": 10},
        "x4": {"type": "float", "lower": 0.0, "upper": 1.0},
        "opt": {"type": "categorical", "choices": ["a", "b"]},
        "c": {"type": "float", "lower": 0.0, "upper": 1.0, "condition": {"parent": "opt", "equals": "a"}},
    })
    rng = np.random.default_rng(seed)
    configs = pd.DataFrame([space.to_config(space.sample(rng)) for _ in range(n)])
    u2 = (np.log(configs["x2"]) - np.log(1e-3)) / (0.0 - np.log(1e-3))
    y = (3.0 * configs["x1"] + 0.5 * u2 + 6.0 * (configs["x1"] - 0.5) * (configs["x4"] - 0.5)
         + np.where(configs["opt"] == "a", 2.0 * (configs["c"].fillna(0.5) - 0.5), 0.0))
    return configs, y.to_numpy(), space


def test_recovers_known_structure() -> None:
    configs, y, space = _structured()
    table = fanova(configs, y, space, n_trees=32, seed=0, pairs=[("x1", "x4"), ("x1", "x2"), ("x2", "x3")])
    imp = dict(zip(table["hyperparameter"], table["importance"]))
    assert table["hyperparameter"].iloc[0] == "x1" and imp["x1"] > 0.6
    assert 0.005 < imp["x2"] < 0.1 and imp["x2"] > 5 * imp["x3"]
    assert imp["x3"] < 0.005 and imp["x4"] < 0.01 and imp["opt"] < 0.01
    assert imp["x1:x4"] > 0.05 and imp["x1:x4"] > 10 * max(imp["x1:x2"], imp["x2:x3"])
    assert imp["c"] > 0.03  # matters where active (half of the space)
    assert set(table.columns) == {"hyperparameter", "importance", "std", "order"}
    assert (table["std"] >= 0).all()


def test_a_conditional_hyperparameter_does_not_matter_where_it_is_inactive() -> None:
    configs, y, space = _structured()
    inactive = (configs["opt"] == "b").to_numpy()
    table = fanova(configs[inactive], y[inactive], space, n_trees=32, seed=0)
    imp = dict(zip(table["hyperparameter"], table["importance"]))
    assert imp["c"] < 0.005 and imp["x1"] > 0.6


def test_partial_dependence_follows_the_function() -> None:
    configs, y, space = _structured()
    forest = landscape_forest(configs, y, space, n_trees=16, seed=0)
    pdp = partial_dependence(forest, space, ["x1", "opt"], n_points=11)
    x1 = pdp[pdp["hyperparameter"] == "x1"]
    assert np.corrcoef(x1["value"].to_numpy(dtype=float), x1["mean"])[0, 1] > 0.95  # 3 x1: increasing
    assert list(pdp[pdp["hyperparameter"] == "opt"]["value"]) == ["a", "b"]
    pd2 = partial_dependence_2d(forest, space, ("x1", "x4"), n_points=5)
    z = pd2.to_numpy()
    # the interaction 6 (x1 - .5)(x4 - .5): the effect of x4 flips sign with x1
    assert (z[-1, -1] - z[-1, 0]) > 0.5 and (z[0, -1] - z[0, 0]) < -0.5
    m1 = marginal_1d(forest, "x1", np.array([0.5]))["mean"].iloc[0]
    assert np.isclose(m1, marginal_2d(forest, ("x1", "x4"), np.array([0.5]), np.linspace(0, 1, 201)).mean(), atol=0.05)


def test_importances_sum_to_at_most_one_and_are_deterministic() -> None:
    configs, y, space = _structured(400)
    a = fanova(configs, y, space, n_trees=16, seed=3, pairs=True)
    b = fanova(configs, y, space, n_trees=16, seed=3, pairs=True)
    pd.testing.assert_frame_equal(a, b)
    assert a["importance"].sum() <= 1.0 + 1e-9


def test_too_few_trials_and_constant_objectives_are_named() -> None:
    configs, y, space = _structured(9)
    with pytest.raises(AnalysisError, match="too few trials for a random forest: 9"):
        fanova(configs, y, space)
    configs, y, space = _structured(50)
    with pytest.raises(AnalysisError, match="constant"):
        fanova_forest(landscape_forest(configs, np.ones(50), space, n_trees=4))
    with pytest.raises(AnalysisError, match="not one of its levels"):
        fanova(configs.assign(opt="z"), y, space)
