"""Unit and error tests of evoautodl.space: builders, JSON robustness, genome API, real-world spaces."""

from __future__ import annotations

import json
import math
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import ConfigSpace as CS
import numpy as np
import pytest

from evoautodl.errors import GenomeError, InfeasibleSpaceError, SpaceError
from evoautodl.operators import (
    branch_flip,
    de_current_to_best_1_bin,
    de_rand_1_bin,
    mutate,
    one_point_crossover,
    sbx_crossover,
    tournament,
    uniform_crossover,
)
from evoautodl.space import GeneKind, SearchSpace

DATA = Path(__file__).parent / "data"


def cs_accepts(space: SearchSpace, config: dict[str, Any]) -> bool:
    try:
        CS.Configuration(space.to_configspace(), values=config).check_valid_configuration()
    except Exception:
        return False
    return True


def small_spec() -> dict[str, Any]:
    return {
        "lr": {"type": "float", "lower": 1e-4, "upper": 0.1, "log": True},
        "layers": {"type": "int", "lower": 1, "upper": 5},
        "width": {"type": "int", "lower": 16, "upper": 1024, "log": True},
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
        "size": {"type": "ordinal", "sequence": ["s", "m", "l"]},
        "momentum": {"type": "float", "lower": 0.0, "upper": 0.99,
                     "condition": {"parent": "optimizer", "equals": "sgd"}},
        "nesterov": {"type": "categorical", "choices": [True, False],
                     "condition": {"all": [{"parent": "optimizer", "equals": "sgd"},
                                           {"parent": "momentum", "gt": 0.5}]}},
    }


# ---------------------------------------------------------------------------- errors: from_dict
@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        ({"x": {"type": "float", "lower": 1.0, "upper": 1.0}}, ["'x'", "empty or inverted range"]),
        ({"x": {"type": "int", "lower": 5, "upper": 2}}, ["'x'", "empty or inverted range"]),
        ({"x": {"type": "float", "lower": 0.0, "upper": 1.0, "log": True}}, ["'x'", "log scale needs lower > 0"]),
        ({"x": {"type": "int", "lower": -3, "upper": 8, "log": True}}, ["'x'", "log scale needs lower > 0"]),
        ({"x": {"type": "categorical", "choices": []}}, ["'x'", "non-empty list 'choices'"]),
        ({"x": {"type": "ordinal", "sequence": []}}, ["'x'", "non-empty list 'sequence'"]),
        ({"x": {"type": "float", "lower": 0, "upper": 1, "condition": {"parent": "nope", "equals": 1}}},
         ["'x'", "unknown parent 'nope'"]),
        (
            {
                "a": {"type": "categorical", "choices": [1, 2], "condition": {"parent": "b", "equals": 1}},
                "b": {"type": "categorical", "choices": [1, 2], "condition": {"parent": "a", "equals": 1}},
            },
            ["cyclic conditions", "a -> b -> a"],
        ),
        ({"hyperparameters": [{"name": "x", "type": "int", "lower": 0, "upper": 3},
                              {"name": "x", "type": "int", "lower": 0, "upper": 5}]}, ["'x'", "duplicate name"]),
        ({"x": {"type": "float", "lower": 0, "upper": 1, "colour": "red"}}, ["'x'", "unknown key"]),
        ({"x": {"type": "quantum"}}, ["'x'", "unknown type"]),
        ({}, ["no hyperparameters"]),
    ],
)
def test_bad_space_from_dict(spec: dict[str, Any], needles: list[str]) -> None:
    with pytest.raises(SpaceError) as info:
        SearchSpace.from_dict(spec)
    for needle in needles:
        assert needle in str(info.value), str(info.value)


def test_forbiddens_excluding_everything_from_dict() -> None:
    spec = {"a": {"type": "categorical", "choices": ["x", "y"]}, "b": {"type": "int", "lower": 0, "upper": 3}}
    with pytest.raises(InfeasibleSpaceError, match="exclude every configuration"):
        SearchSpace.from_dict(spec, [{"name": "a", "in": ["x", "y"]}])
    with pytest.raises(InfeasibleSpaceError):
        SearchSpace.from_dict(spec, [{"name": "a", "equals": "x"}, {"name": "a", "equals": "y"}])


def test_forbidden_default_is_replaced_by_a_valid_one() -> None:
    spec = {"a": {"type": "categorical", "choices": ["x", "y", "z"]}, "b": {"type": "int", "lower": 0, "upper": 3}}
    space = SearchSpace.from_dict(spec, [{"name": "a", "equals": "x"}, {"name": "b", "le": 1}])
    default = dict(space.to_configspace().get_default_configuration())
    assert default["a"] != "x" and default["b"] >= 2
    assert space.is_valid(space.to_config(space.default_genome))


def test_bad_condition_and_forbidden_values_from_dict() -> None:
    base = {"a": {"type": "categorical", "choices": ["x", "y"]}}
    with pytest.raises(SpaceError, match="'zz' is not a legal value of 'a'"):
        SearchSpace.from_dict({**base, "b": {"type": "int", "lower": 0, "upper": 2,
                                            "condition": {"parent": "a", "equals": "zz"}}})
    with pytest.raises(SpaceError, match="unknown hyperparameter 'q'"):
        SearchSpace.from_dict(base, [{"name": "q", "equals": 1}])
    with pytest.raises(SpaceError, match="relation must be one of"):
        SearchSpace.from_dict(base, [{"left": "a", "relation": "approx", "right": "a"}])


# ---------------------------------------------------------------------------- errors: from_json
def _hp(name: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "type": "uniform_float", "lower": 0.0, "upper": 1.0, "log": False, **kw}


def write_json(tmp_path: Path, d: dict[str, Any]) -> Path:
    p = tmp_path / "space.json"
    p.write_text(json.dumps(d))
    return p


@pytest.mark.parametrize(
    ("doc", "needles"),
    [
        ({"hyperparameters": [_hp("x", lower=2.0, upper=1.0)]}, ["'x'", "empty or inverted range"]),
        ({"hyperparameters": [_hp("x", lower=0.5, upper=0.5)]}, ["'x'", "empty or inverted range"]),
        ({"hyperparameters": [_hp("x", lower=0.0, upper=1.0, log=True)]}, ["'x'", "log scale needs lower > 0"]),
        ({"hyperparameters": [_hp("x"), _hp("x")]}, ["'x'", "duplicate name"]),
        ({"hyperparameters": [{"name": "c", "type": "categorical", "choices": []}]},
         ["'c'", "categorical with no choices"]),
        ({"hyperparameters": [_hp("x")], "conditions": [{"child": "x", "parent": "ghost", "type": "EQ", "value": 1}]},
         ["'x'", "unknown parent 'ghost'"]),
        (
            {
                "hyperparameters": [{"name": "a", "type": "categorical", "choices": ["u", "v"]},
                                    {"name": "b", "type": "categorical", "choices": ["u", "v"]}],
                "conditions": [{"child": "a", "parent": "b", "type": "EQ", "value": "u"},
                               {"child": "b", "parent": "a", "type": "EQ", "value": "u"}],
            },
            ["cyclic conditions"],
        ),
        ({"hyperparameters": [_hp("x", type="gaussian_process")]}, ["'x'", "unknown type"]),
        ({"hyperparameters": []}, ["no hyperparameters"]),
        ({"hyperparameters": [_hp("x")], "forbiddens": [{"name": "y", "type": "EQUALS", "value": 1}]},
         ["unknown hyperparameter", "'y'"]),
    ],
)
def test_bad_space_from_json(tmp_path: Path, doc: dict[str, Any], needles: list[str]) -> None:
    path = write_json(tmp_path, doc)
    with pytest.raises(SpaceError) as info:
        SearchSpace.from_json(path)
    msg = str(info.value)
    assert str(path) in msg
    for needle in needles:
        assert needle in msg, msg


def test_infeasible_json(tmp_path: Path) -> None:
    doc = {
        "hyperparameters": [{"name": "a", "type": "categorical", "choices": ["u", "v"], "default": "u"}],
        "forbiddens": [{"name": "a", "type": "IN", "values": ["u", "v"]}],
    }
    with pytest.raises(InfeasibleSpaceError, match="exclude every configuration"):
        SearchSpace.from_json(write_json(tmp_path, doc))


def test_json_file_problems(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match="does not exist"):
        SearchSpace.from_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SpaceError, match="not valid JSON"):
        SearchSpace.from_json(bad)


def test_configspace_errors_are_wrapped(tmp_path: Path) -> None:
    # a default outside the range: our check names it (the same check as the declarative form's)
    doc = {"hyperparameters": [_hp("x", default_value=7.0)]}
    with pytest.raises(SpaceError, match=r"hyperparameter 'x': default 7.0 outside \[0.0, 1.0\]") as info:
        SearchSpace.from_json(write_json(tmp_path, doc))
    assert "space.json" in str(info.value)
    with pytest.raises(SpaceError, match=r"hyperparameter 'x': default 7 outside \[0.0, 1.0\]"):
        SearchSpace.from_dict({"x": {"type": "float", "lower": 0.0, "upper": 1.0, "default": 7}})
    # what only ConfigSpace knows: we name the file on top of its message
    doc = {"hyperparameters": [_hp("b", type="beta_float", alpha=-1.0, beta=2.0)]}
    with pytest.raises(SpaceError, match="ConfigSpace rejects the space") as info:
        SearchSpace.from_json(write_json(tmp_path, doc))
    assert "space.json" in str(info.value) and "alpha and beta" in str(info.value)


def test_from_configspace_drop_errors() -> None:
    cs = SearchSpace.from_dict(small_spec()).to_configspace()
    with pytest.raises(SpaceError, match="unknown hyperparameter"):
        SearchSpace.from_configspace(cs, drop=["nope"])
    with pytest.raises(SpaceError, match="condition of 'momentum' depends on it"):
        SearchSpace.from_configspace(cs, drop=["optimizer"])
    assert SearchSpace.from_configspace(cs, drop=["lr"]).dim == 6


# ---------------------------------------------------------------------------- JSON robustness
def test_legacy_json_fields(tmp_path: Path) -> None:
    doc = {
        "json_format_version": 0.2,
        "python_module_version": "0.4.11",
        "hyperparameters": [
            {"name": "lr", "type": "uniform_float", "log": True, "lower": 1e-4, "upper": 1.0, "default": 0.01,
             "q": None},
            {"name": "n", "type": "uniform_int", "log": False, "lower": 1.0, "upper": 8.0, "default": 3.0, "q": None},
            {"name": "opt", "type": "categorical", "choices": ["a", "b", "c"], "default": "a",
             "probabilities": [0.5, 0.25, 0.25]},
            {"name": "size", "type": "ordinal", "sequence": [1, 2, 4], "default": 2},
            {"name": "mode", "type": "constant", "value": "fast"},
            {"name": "std", "type": "normal_float", "log": False, "mu": 0.0, "sigma": 1.0, "default": 0.0, "q": None},
            {"name": "lstd", "type": "normal_float", "log": True, "mu": -2.0, "sigma": 0.5, "default": None},
            {"name": "b", "type": "beta_float", "alpha": 2.0, "beta": 3.0, "lower": 0.0, "upper": 1.0, "default": 0.4},
            {"name": "k", "type": "normal_int", "mu": 5, "sigma": 2, "lower": 1, "upper": 10, "default": 5},
            {"name": "child", "type": "uniform_float", "lower": 0.0, "upper": 1.0, "default": 0.5, "meta": {"x": 1}},
            {"name": "deep", "type": "categorical", "choices": ["p", "q"], "default": "p"},
            {"name": "deeper", "type": "uniform_int", "lower": 1, "upper": 4, "default": 2},
        ],
        "conditions": [
            {"child": "child", "type": "OR", "conditions": [
                {"child": "child", "parent": "opt", "type": "EQ", "value": "b"},
                {"child": "child", "parent": "size", "type": "GT", "value": 2}]},
            {"child": "deep", "type": "AND", "conditions": [
                {"child": "deep", "parent": "child", "type": "LT", "value": 0.9},
                {"child": "deep", "parent": "n", "type": "IN", "values": [1, 2, 3, 4]}]},
            {"child": "deeper", "parent": "deep", "type": "NEQ", "value": "q"},
        ],
        "forbiddens": [
            {"type": "AND", "clauses": [{"name": "opt", "type": "EQUALS", "value": "c"},
                                        {"name": "size", "type": "IN", "values": [4]}]},
            {"left": "n", "right": "k", "type": "RELATION", "lambda": "GT"},
        ],
    }
    path = write_json(tmp_path, doc)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing leaks out of ConfigSpace
        space = SearchSpace.from_json(path)
    assert space.dim == 12
    kinds = dict(zip(space.names, space.kinds))
    assert kinds["mode"] is GeneKind.CONSTANT and kinds["size"] is GeneKind.ORDINAL and kinds["k"] is GeneKind.INT
    lstd = space.hyperparameters[space.index["lstd"]]
    assert lstd.log and lstd.lower > 0
    rng = np.random.default_rng(1)
    seen_deeper = False
    for _ in range(300):
        cfg = space.to_config(mutate(space, space.sample(rng), rng, branch_rate=0.3))
        assert cs_accepts(space, cfg), cfg
        seen_deeper |= "deeper" in cfg
    assert seen_deeper


XGB_V02 = {
    "hyperparameters": [
        {"name": "alpha", "type": "uniform_float", "log": True, "lower": 0.001, "upper": 1095.0, "default": 1.0},
        {"name": "booster", "type": "categorical", "choices": ["gblinear", "gbtree", "dart"], "default": "gblinear",
         "probabilities": None},
        {"name": "lambda_", "type": "uniform_float", "log": True, "lower": 0.0009118819655545162,
         "upper": 1096.6331584284585, "default": 1.0},
        {"name": "nrounds", "type": "uniform_int", "log": True, "lower": 8, "upper": 2980, "default": 122},
        {"name": "max_depth", "type": "uniform_int", "log": False, "lower": 3, "upper": 10, "default": 3},
        {"name": "rate_drop", "type": "uniform_float", "log": False, "lower": 0.0, "upper": 1.0, "default": 0.2},
    ],
    "conditions": [
        {"child": "max_depth", "parent": "booster", "type": "IN", "values": ["dart", "gbtree"]},
        {"child": "rate_drop", "type": "AND", "conditions": [  # components without "child"
            {"parent": "booster", "type": "EQ", "value": "dart"}, {"parent": "alpha", "type": "GT", "value": 0.01}]},
    ],
    "forbiddens": [],
    "python_module_version": "0.4.18",
    "json_format_version": 0.2,
}
PRIORS_V04 = {
    "name": "priors",
    "hyperparameters": [
        {"name": "p", "type": "normal_float", "log": False, "mu": 8.0, "sigma": 10.0, "default": 6.2},
        {"name": "q", "type": "normal_int", "log": False, "mu": 8.0, "sigma": 5.0, "default": 2},
        {"name": "c", "type": "categorical", "choices": ["red", "green", "blue"], "default": "blue",
         "weights": [2, 1, 1]},
        {"name": "f", "type": "uniform_float", "lower": 0.0, "upper": 1.0, "default": 0.5, "q": 0.1},
    ],
    "conditions": [],
    "forbiddens": [],
    "python_module_version": "0.6.0",
    "json_format_version": 0.4,
}


@pytest.mark.parametrize("doc", [XGB_V02, PRIORS_V04], ids=["xgboost-v0.2", "priors-v0.4"])
def test_older_configspace_json(tmp_path: Path, doc: dict[str, Any]) -> None:
    space = SearchSpace.from_json(write_json(tmp_path, doc))
    assert space.dim == len(doc["hyperparameters"])
    evolve_and_check(space, generations=3, n=8)


def test_to_json_round_trip(tmp_path: Path) -> None:
    space = SearchSpace.from_dict(small_spec(), [{"all": [{"name": "optimizer", "equals": "adam"},
                                                          {"name": "size", "equals": "l"}]}])
    space.to_json(tmp_path / "out.json")
    again = SearchSpace.from_json(tmp_path / "out.json")
    assert again.names == space.names and again.parents == space.parents
    g = space.sample(np.random.default_rng(0))
    assert again.to_config(g) == space.to_config(g)


# ---------------------------------------------------------------------------- genome API
def test_genome_api_basics() -> None:
    space = SearchSpace.from_dict(small_spec())
    assert space.dim == len(space) == 7
    assert dict(zip(space.names, space.n_levels.tolist())) == {
        "lr": 0, "layers": 5, "width": 1009, "optimizer": 2, "size": 3, "momentum": 0, "nesterov": 2
    }
    rng = np.random.default_rng(0)
    g = space.sample(rng)
    cfg = space.to_config(g)
    assert all(type(v) in (int, float, str, bool) for v in cfg.values())
    assert space.is_valid(cfg) and space.explain_invalid(cfg) is None
    assert np.allclose(space.from_config(cfg)[space.active_mask(g)], g[space.active_mask(g)])
    assert space.explain_invalid({**cfg, "bogus": 1}) == "unknown hyperparameter(s) ['bogus']"
    bad = dict(cfg)
    bad["layers"] = 99
    assert "not a legal value of 'layers'" in (space.explain_invalid(bad) or "")
    with pytest.raises(GenomeError, match="invalid configuration"):
        space.from_config(bad)
    with pytest.raises(GenomeError):
        space.to_config(g[:-1])
    with pytest.raises(GenomeError, match="NaN"):
        space.to_config(np.full(space.dim, np.nan))
    with pytest.raises(GenomeError, match="shape"):
        space.repair(np.zeros(3))
    for i in range(space.dim):
        assert space.encode_gene(i, space.decode_gene(i, 0.3)) == pytest.approx(space.snap(np.full(space.dim, 0.3))[i])


def test_inactive_genes_are_kept() -> None:
    space = SearchSpace.from_dict(small_spec())
    g = space.default_genome.copy()
    i_opt, i_mom = space.index["optimizer"], space.index["momentum"]
    g[i_opt] = space.encode_gene(i_opt, "adam")
    g[i_mom] = 0.123
    r = space.repair(g)
    assert r[i_mom] == 0.123 and "momentum" not in space.to_config(r)
    r[i_opt] = space.encode_gene(i_opt, "sgd")
    assert space.to_config(r)["momentum"] == pytest.approx(0.123 * 0.99)


def test_repair_handles_nan_inf_and_forbidden() -> None:
    space = SearchSpace.from_dict(small_spec(), [{"name": "size", "equals": "l"}, {"name": "layers", "ge": 4}])
    raw = np.array([np.nan, np.inf, -np.inf, 7.0, 0.99, -3.0, np.nan])
    for rng in (None, np.random.default_rng(0)):
        g = space.repair(raw, rng)
        cfg = space.to_config(g)
        assert cs_accepts(space, cfg) and cfg["size"] != "l" and cfg["layers"] <= 3
    assert np.array_equal(space.repair(raw), space.repair(raw))
    assert np.isnan(raw[0]), "input untouched"


def test_repair_of_nearly_infeasible_space_terminates() -> None:
    """Forbidden clauses leave 1 of 4 * 6 = 24 combinations: repair still returns valid genomes quickly."""
    spec = {"a": {"type": "categorical", "choices": list("wxyz"), "default": "z"},
            "b": {"type": "int", "lower": 0, "upper": 5, "default": 5}}
    space = SearchSpace.from_dict(spec, [{"name": "a", "in": list("wxy")}, {"name": "b", "lt": 5}])
    rng = np.random.default_rng(0)
    for _ in range(200):
        assert space.to_config(space.repair(rng.random(2) * 3 - 1, rng)) == {"a": "z", "b": 5}


def test_distance() -> None:
    space = SearchSpace.from_dict(small_spec())
    rng = np.random.default_rng(0)
    a, b = space.sample(rng), space.sample(rng)
    assert space.distance(a, a) == 0.0
    assert space.distance(a, b) == pytest.approx(space.distance(b, a))
    assert 0.0 <= space.distance(a, b) <= 1.0


def test_pickle_and_repr() -> None:
    space = SearchSpace.from_dict(small_spec())
    clone = pickle.loads(pickle.dumps(space))
    assert clone.names == space.names and "7 hyperparameters" in repr(space)


def test_not_equals_on_a_conditional_parent() -> None:
    """ConfigSpace 1.2 cannot build `c | b != v` when b may be inactive; we write it as an in-condition."""
    spec = {
        "a": {"type": "categorical", "choices": ["on", "off"]},
        "b": {"type": "categorical", "choices": ["u", "v", "w"], "condition": {"parent": "a", "equals": "on"}},
        "c": {"type": "float", "lower": 0, "upper": 1, "condition": {"parent": "b", "not_equals": "u"}},
    }
    space = SearchSpace.from_dict(spec)
    rng = np.random.default_rng(0)
    for _ in range(100):
        cfg = space.to_config(space.sample(rng))
        assert cs_accepts(space, cfg)
        assert ("c" in cfg) == (cfg.get("b") in ("v", "w"))


# ---------------------------------------------------------------------------- real-world spaces
def evolve_and_check(space: SearchSpace, seed: int = 0, generations: int = 8, n: int = 16) -> None:
    """A small evolution using every operator; every genome must be valid for ConfigSpace."""
    rng = np.random.default_rng(seed)
    pop = [space.sample(rng) for _ in range(n)]
    fitness = rng.random(n)
    for _ in range(generations):
        kids: list[np.ndarray] = []
        for _ in range(n // 2):
            i, j, k, m = (int(x) for x in tournament(fitness, 4, rng, size=2))
            a, b, c, d = pop[i], pop[j], pop[k], pop[m]
            kids += [
                mutate(space, a, rng, branch_rate=0.3),
                mutate(space, b, rng, float_op="polynomial", ordinal="resample", rate=0.3),
                branch_flip(space, c, rng),
                *uniform_crossover(space, a, b, rng),
                *one_point_crossover(space, c, d, rng),
                *sbx_crossover(space, a, d, rng),
                de_rand_1_bin(space, a, b, c, d, rng),
                de_current_to_best_1_bin(space, a, b, c, d, rng, boundary="random"),
            ]
        for kid in kids:
            cfg = space.to_config(kid)
            assert cs_accepts(space, cfg), (cfg, space.explain_invalid(cfg))
        pop = [kids[int(x)] for x in rng.choice(len(kids), n, replace=False)]
        fitness = rng.random(n)


@pytest.mark.parametrize(
    ("name", "n_hp", "n_cond", "n_forb"),
    [("autosklearn_like_v04.json", 98, 92, 5), ("nas_mlp_cs12.json", 44, 30, 4)],
)
def test_published_style_spaces_load_and_evolve(name: str, n_hp: int, n_cond: int, n_forb: int) -> None:
    space = SearchSpace.from_json(DATA / name)
    assert space.dim == n_hp
    assert repr(space) == f"SearchSpace({n_hp} hyperparameters, {n_cond} conditions, {n_forb} forbidden)"
    assert max(len(d) for d in space.descendants) >= 10
    evolve_and_check(space)


def lcbench_path() -> Path:
    root = os.environ.get("EVOAUTODL_YAHPO_DATA")
    if not root:
        pytest.skip("EVOAUTODL_YAHPO_DATA is not set: it should point at the YAHPO Gym data (with lcbench/)")
    path = Path(root) / "lcbench" / "config_space.json"
    if not path.is_file():
        pytest.skip(f"{path} does not exist (EVOAUTODL_YAHPO_DATA={root})")
    return path


def test_lcbench_space_loads_and_evolves() -> None:
    space = SearchSpace.from_json(lcbench_path(), drop=("OpenML_task_id", "epoch"))
    assert space.names == ("batch_size", "learning_rate", "max_dropout", "max_units", "momentum", "num_layers",
                           "weight_decay")
    cfg = space.to_config(space.default_genome)
    assert cfg["batch_size"] == 91 and math.isclose(cfg["learning_rate"], 0.0031622777, rel_tol=1e-9)
    evolve_and_check(space, generations=10)


# ---------------------------------------------------------------------------- one source of truth per check
@pytest.mark.parametrize(
    ("declarative", "serialized", "message"),
    [
        ({"type": "float", "lower": 0.0, "upper": 1.0, "log": True},
         {"type": "uniform_float", "lower": 0.0, "upper": 1.0, "log": True},
         "hyperparameter 'x': log scale needs lower > 0, got lower=0.0"),
        ({"type": "int", "lower": 4, "upper": 4},
         {"type": "uniform_int", "lower": 4, "upper": 4},
         "hyperparameter 'x': empty or inverted range [4, 4]"),
        ({"type": "float", "lower": 0.0, "upper": float("inf")},
         {"type": "uniform_float", "lower": 0.0, "upper": float("inf")},
         "hyperparameter 'x': 'upper' must be a finite number, got inf"),
        ({"type": "categorical", "choices": ["a", "a"]},
         {"type": "categorical", "choices": ["a", "a"]},
         "hyperparameter 'x': duplicate entries in 'choices'"),
        ({"type": "ordinal", "sequence": []},
         {"type": "ordinal", "sequence": []},
         "hyperparameter 'x': ordinal with no levels"),
        ({"type": "categorical", "choices": ["a", "b"], "weights": [1, -1]},
         {"type": "categorical", "choices": ["a", "b"], "weights": [1, -1]},
         "hyperparameter 'x': 'weights' must be 2 non-negative numbers"),
        ({"type": "ordinal", "sequence": [1, 2], "default": 3},
         {"type": "ordinal", "sequence": [1, 2], "default_value": 3},
         "hyperparameter 'x': default 3 is not one of [1, 2]"),
    ],
)
def test_declarative_and_json_spaces_fail_the_same_check(tmp_path: Path, declarative: dict[str, Any],
                                                         serialized: dict[str, Any], message: str) -> None:
    with pytest.raises(SpaceError) as from_dict:
        SearchSpace.from_dict({"x": declarative})
    with pytest.raises(SpaceError) as from_json:
        SearchSpace.from_json(write_json(tmp_path, {"hyperparameters": [{"name": "x", **serialized}]}))
    assert message in str(from_dict.value)
    assert str(from_json.value).endswith(str(from_dict.value))


def test_cycles_are_found_by_a_topological_sort() -> None:
    spec = {
        "z": {"type": "float", "lower": 0, "upper": 1},
        "a": {"type": "categorical", "choices": [1, 2], "condition": {"parent": "c", "equals": 1}},
        "b": {"type": "categorical", "choices": [1, 2], "condition": {"all": [{"parent": "a", "equals": 1},
                                                                               {"parent": "z", "gt": 0.5}]}},
        "c": {"type": "categorical", "choices": [1, 2], "condition": {"parent": "b", "in": [1]}},
    }
    with pytest.raises(SpaceError, match=r"hyperparameter 'a': cyclic conditions a -> c -> b -> a"):
        SearchSpace.from_dict(spec)
    with pytest.raises(SpaceError, match="cannot be conditioned on itself"):
        SearchSpace.from_dict({"a": {"type": "int", "lower": 0, "upper": 3, "condition": {"parent": "a", "gt": 1}}})


def test_order_comparisons_need_ordered_hyperparameters() -> None:
    base = {"opt": {"type": "categorical", "choices": ["sgd", "adam"]}}
    with pytest.raises(SpaceError, match=r"condition of 'm': > needs an ordered parent .* 'opt' is categorical"):
        SearchSpace.from_dict({**base, "m": {"type": "float", "lower": 0, "upper": 1,
                                             "condition": {"parent": "opt", "gt": "sgd"}}})
    with pytest.raises(SpaceError, match="forbidden clause on 'opt': an order comparison needs an ordered"):
        SearchSpace.from_dict(base, [{"name": "opt", "ge": "adam"}])
    with pytest.raises(SpaceError, match="forbidden clause on 'opt': 'rms' is not a legal value of 'opt'"):
        SearchSpace.from_dict(base, [{"name": "opt", "in": ["rms"]}])


def test_configspace_quirks_are_handled_in_one_place(capsys: pytest.CaptureFixture[str]) -> None:
    from evoautodl.space.compile import conjunction_quirks

    # ConfigSpace 1.2.0 prints a debug line whenever it checks a '>=' forbidden clause
    space = SearchSpace.from_dict({"n": {"type": "int", "lower": 0, "upper": 9, "default": 8}},
                                  [{"name": "n", "ge": 7}])
    space.to_configuration({"n": 3})
    assert capsys.readouterr().out == ""
    assert space.to_configspace().get_default_configuration()["n"] < 7
    # an AND and an OR of the same comparisons (ConfigSpace confuses them) in a space built by hand
    cs = CS.ConfigurationSpace()
    a, b = CS.CategoricalHyperparameter("a", [1, 2]), CS.CategoricalHyperparameter("b", [1, 2])
    c1, c2 = CS.UniformFloatHyperparameter("c1", 0, 1), CS.UniformFloatHyperparameter("c2", 0, 1)
    cs.add([a, b, c1, c2])
    cs.add([CS.AndConjunction(CS.EqualsCondition(c1, a, 1), CS.EqualsCondition(c1, b, 1)),
            CS.OrConjunction(CS.EqualsCondition(c2, a, 1), CS.EqualsCondition(c2, b, 1))])
    assert conjunction_quirks(cs)
    space = SearchSpace.from_configspace(cs)
    assert not conjunction_quirks(space.to_configspace())
    for config in ({"a": 1, "b": 2, "c2": 0.5}, {"a": 1, "b": 1, "c1": 0.5, "c2": 0.5}):
        assert space.is_valid(config)
        space.to_configuration(config)  # ConfigSpace agrees
