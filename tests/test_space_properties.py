"""Property-based tests: random conditional spaces, every genome we hand out is valid.

Random spaces have mixed types (float, log-float, int, log-int, categorical,
ordinal, constant), chains of conditions several levels deep, AND / OR
conjunctions, ordinal/int/float gt/lt conditions and forbidden clauses
(equals, in, gt/lt, conjunctions, relations). ConfigSpace itself is the judge
of validity.
"""

from __future__ import annotations

import math
from typing import Any

import ConfigSpace as CS
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from evoautodl.errors import InfeasibleSpaceError
from evoautodl.operators import (
    branch_flip,
    de_current_to_best_1_bin,
    de_rand_1_bin,
    mutate,
    one_point_crossover,
    sbx_crossover,
    uniform_crossover,
)
from evoautodl.space import GeneKind, SearchSpace
from evoautodl.space.compile import conjunction_quirks

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------- strategies
def _hp(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(["float", "logfloat", "int", "logint", "cat", "cat", "ord", "ord", "const"]))
    if kind == "float":
        lo = draw(st.floats(-10, 10, allow_nan=False))
        return {"type": "float", "lower": lo, "upper": lo + draw(st.floats(0.01, 100))}
    if kind == "logfloat":
        lo = 10.0 ** draw(st.integers(-6, 1))
        return {"type": "float", "lower": lo, "upper": lo * 10.0 ** draw(st.integers(1, 5)), "log": True}
    if kind == "int":
        lo = draw(st.integers(-5, 5))
        return {"type": "int", "lower": lo, "upper": lo + draw(st.integers(1, 20))}
    if kind == "logint":
        lo = draw(st.integers(1, 16))
        return {"type": "int", "lower": lo, "upper": lo * draw(st.integers(2, 64)), "log": True}
    if kind == "cat":
        k = draw(st.integers(2, 4))
        choices: list[Any] = ["a", "b", "c", "d"][:k] if draw(st.booleans()) else list(range(10, 10 + k))
        return {"type": "categorical", "choices": choices}
    if kind == "ord":
        k = draw(st.integers(2, 5))
        seq: list[Any] = [f"L{j}" for j in range(k)] if draw(st.booleans()) else [2**j for j in range(k)]
        return {"type": "ordinal", "sequence": seq}
    return {"type": "constant", "value": draw(st.sampled_from(["on", 3, 0.5]))}


def _simple_condition(draw: Any, parent: str, spec: dict[str, Any]) -> dict[str, Any]:
    t = spec["type"]
    if t == "categorical":
        ch = spec["choices"]
        op = draw(st.sampled_from(["equals", "not_equals", "in"]))
        if op == "in":
            return {"parent": parent, "in": draw(st.lists(st.sampled_from(ch), min_size=1, unique=True))}
        return {"parent": parent, op: draw(st.sampled_from(ch))}
    if t == "ordinal":
        seq = spec["sequence"]
        op = draw(st.sampled_from(["equals", "gt", "lt", "in"]))
        if op == "gt":
            return {"parent": parent, "gt": seq[draw(st.integers(0, len(seq) - 2))]}
        if op == "lt":
            return {"parent": parent, "lt": seq[draw(st.integers(1, len(seq) - 1))]}
        if op == "in":
            return {"parent": parent, "in": draw(st.lists(st.sampled_from(seq), min_size=1, unique=True))}
        return {"parent": parent, "equals": draw(st.sampled_from(seq))}
    lo, hi = spec["lower"], spec["upper"]
    if t == "int":
        v = draw(st.integers(int(lo), int(hi) - 1))
        return {"parent": parent, "gt": v} if draw(st.booleans()) else {"parent": parent, "lt": v + 1}
    frac = draw(st.floats(0.1, 0.9))
    v = math.exp(math.log(lo) + frac * (math.log(hi) - math.log(lo))) if spec.get("log") else lo + frac * (hi - lo)
    # a few significant digits: ConfigSpace compares conditions on floats in its vector form and
    # disagrees with itself when a threshold is within an ulp of the default
    v = float(np.clip(float(f"{v:.4g}"), lo, hi))
    return {"parent": parent, draw(st.sampled_from(["gt", "lt"])): v}


@st.composite
def space_specs(draw: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    n = draw(st.integers(2, 9))
    spec: dict[str, dict[str, Any]] = {}
    names: list[str] = []
    for i in range(n):
        name = f"h{i}"
        hp = _hp(draw)
        usable = [p for p in names if spec[p]["type"] != "constant"]
        if usable and draw(st.integers(0, 9)) < 6:
            # bias towards the previous hyperparameter: chains several levels deep
            first = names[-1] if names[-1] in usable and draw(st.booleans()) else draw(st.sampled_from(usable))
            cond = _simple_condition(draw, first, spec[first])
            if len(usable) > 1 and draw(st.integers(0, 3)) == 0:
                others = [p for p in usable if p != first]
                second = draw(st.sampled_from(others))
                cond = {draw(st.sampled_from(["all", "any"])): [cond, _simple_condition(draw, second, spec[second])]}
            hp["condition"] = cond
        spec[name] = hp
        names.append(name)
    forbidden: list[dict[str, Any]] = []
    discrete = [p for p in names if spec[p]["type"] in ("categorical", "ordinal")]
    ints = [p for p in names if spec[p]["type"] == "int"]
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["eq", "in", "and", "cmp", "rel"]))
        if kind in ("eq", "in", "and") and discrete:
            p = draw(st.sampled_from(discrete))
            levels = spec[p].get("choices") or spec[p]["sequence"]
            clause: dict[str, Any] = {"name": p, "equals": draw(st.sampled_from(levels))}
            if kind == "in":
                clause = {"name": p, "in": draw(st.lists(st.sampled_from(levels), min_size=1, max_size=2, unique=True))}
            elif kind == "and" and len(discrete) > 1:
                q = draw(st.sampled_from([d for d in discrete if d != p]))
                qlevels = spec[q].get("choices") or spec[q]["sequence"]
                clause = {"all": [clause, {"name": q, "equals": draw(st.sampled_from(qlevels))}]}
            forbidden.append(clause)
        elif kind == "cmp" and ints:
            p = draw(st.sampled_from(ints))
            lo, hi = int(spec[p]["lower"]), int(spec[p]["upper"])
            forbidden.append({"name": p, draw(st.sampled_from(["gt", "ge", "lt", "le"])): draw(st.integers(lo, hi))})
        elif kind == "rel" and len(ints) > 1:
            a, b = draw(st.lists(st.sampled_from(ints), min_size=2, max_size=2, unique=True))
            forbidden.append({"left": a, "relation": draw(st.sampled_from(["lt", "gt", "eq", "le", "ge"])), "right": b})
    return spec, forbidden


def _space(draw_result: tuple[dict[str, Any], list[dict[str, Any]]]) -> SearchSpace:
    spec, forbidden = draw_result
    try:
        space = SearchSpace.from_dict(spec, forbidden)
    except InfeasibleSpaceError:
        assume(False)
        raise
    # ConfigSpace 1.2 confuses AND / OR conjunctions of the same comparisons (see conjunction_quirks)
    assume(not conjunction_quirks(space.to_configspace()))
    return space


def cs_accepts(space: SearchSpace, config: dict[str, Any]) -> bool:
    try:
        CS.Configuration(space.to_configspace(), values=config).check_valid_configuration()
    except Exception:
        return False
    return True


def assert_valid(space: SearchSpace, genome: np.ndarray) -> dict[str, Any]:
    assert genome.shape == (space.dim,)
    assert np.all((genome >= 0.0) & (genome <= 1.0))
    config = space.to_config(genome)
    assert cs_accepts(space, config), (config, space.explain_invalid(config))
    assert space.is_valid(config), space.explain_invalid(config)
    for v in config.values():
        assert type(v) in (int, float, str, bool), type(v)
    return config


def _population(space: SearchSpace, rng: np.random.Generator, n: int = 6) -> list[np.ndarray]:
    return [space.sample(rng) for _ in range(n)]


# ---------------------------------------------------------------------------- properties
@SETTINGS
@given(space_specs(), st.integers(0, 2**32 - 1))
def test_sample_batch_matches_sample(spec: Any, seed: int) -> None:
    """sample_batch: valid rows; without forbidden clauses exactly the genomes of repeated sample() calls."""
    space = _space(spec)
    batch = space.sample_batch(7, np.random.default_rng(seed))
    assert batch.shape == (7, space.dim)
    for g in batch:
        assert_valid(space, g)
    if not space.forbidden_clauses:
        rng = np.random.default_rng(seed)
        np.testing.assert_array_equal(batch, np.array([space.sample(rng) for _ in range(7)]))
    assert space.sample_batch(0, np.random.default_rng(seed)).shape == (0, space.dim)


@SETTINGS
@given(space_specs(), st.integers(0, 2**32 - 1))
def test_sample_valid_and_round_trip(spec: Any, seed: int) -> None:
    space = _space(spec)
    rng = np.random.default_rng(seed)
    for g in _population(space, rng, 5):
        config = assert_valid(space, g)
        back = space.from_config(config)
        again = space.to_config(back)
        assert again.keys() == config.keys()
        for k, v in config.items():
            if isinstance(v, float):
                assert math.isclose(again[k], v, rel_tol=1e-9, abs_tol=1e-12)
            else:
                assert again[k] == v and type(again[k]) is type(v)
        active = space.active_mask(g)
        assert np.allclose(back[active], g[active], atol=1e-12)


@SETTINGS
@given(space_specs(), st.integers(0, 2**32 - 1))
def test_variation_operators_give_valid_children(spec: Any, seed: int) -> None:
    space = _space(spec)
    rng = np.random.default_rng(seed)
    a, b, c, d = _population(space, rng, 4)
    frozen = [x.copy() for x in (a, b, c, d)]
    children = [
        mutate(space, a, rng),
        mutate(space, a, rng, rate=0.5, float_op="polynomial", ordinal="resample", branch_rate=0.5),
        mutate(space, b, rng, rate=1.0, sigma=0.5, mutate_inactive=True),
        branch_flip(space, c, rng),
        *uniform_crossover(space, a, b, rng),
        *one_point_crossover(space, c, d, rng),
        *sbx_crossover(space, a, d, rng),
        de_rand_1_bin(space, a, b, c, d, rng, F=0.8, CR=0.9),
        de_rand_1_bin(space, a, b, c, d, rng, F=1.5, boundary="random"),
        de_current_to_best_1_bin(space, a, b, c, d, rng, boundary="reflect"),
    ]
    for child in children:
        assert_valid(space, child)
    for x, y in zip((a, b, c, d), frozen):
        assert np.array_equal(x, y), "operators must not modify their inputs"


@SETTINGS
@given(space_specs(), st.integers(0, 2**32 - 1))
def test_same_seed_same_children(spec: Any, seed: int) -> None:
    space = _space(spec)

    def run(s: int) -> list[np.ndarray]:
        rng = np.random.default_rng(s)
        a, b, c, d = _population(space, rng, 4)
        return [
            mutate(space, a, rng, branch_rate=0.3),
            *uniform_crossover(space, a, b, rng),
            *sbx_crossover(space, c, d, rng),
            de_rand_1_bin(space, a, b, c, d, rng),
        ]

    for x, y in zip(run(seed), run(seed)):
        assert np.array_equal(x, y)


vectors = st.lists(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(-2.0, 3.0),
        st.sampled_from([0.0, 1.0, -0.0, 0.5, float("nan"), float("inf"), -float("inf")]),
    ),
    min_size=9,
    max_size=9,
)


@SETTINGS
@given(space_specs(), vectors, st.booleans())
def test_repair_any_vector(spec: Any, values: list[float], with_rng: bool) -> None:
    space = _space(spec)
    raw = np.array(values[: space.dim])
    before = raw.copy()
    rng = np.random.default_rng(0) if with_rng else None
    g = space.repair(raw, rng)
    assert_valid(space, g)
    assert np.array_equal(raw, before, equal_nan=True)
    assert np.array_equal(space.repair(g, rng), g), "repair is idempotent on valid genomes"
    if not with_rng:
        assert np.array_equal(space.repair(raw), g), "rng-less repair is deterministic"


def _perturb(space: SearchSpace, config: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    out = dict(config)
    action = int(rng.integers(4))
    if action == 0 and out:
        out.pop(list(out)[int(rng.integers(len(out)))])
    elif action == 1:
        inactive = [n for n in space.names if n not in out]
        if inactive:
            n = inactive[int(rng.integers(len(inactive)))]
            out[n] = space.decode_gene(space.index[n], float(rng.random()))
    elif action == 2 and out:
        n = list(out)[int(rng.integers(len(out)))]
        out[n] = space.decode_gene(space.index[n], float(rng.random()))
    elif out:
        n = list(out)[int(rng.integers(len(out)))]
        h = space.hyperparameters[space.index[n]]
        if h.kind in (GeneKind.FLOAT, GeneKind.INT):
            out[n] = type(out[n])(h.upper + 1)
    return out


@SETTINGS
@given(space_specs(), st.integers(0, 2**32 - 1))
def test_is_valid_agrees_with_configspace(spec: Any, seed: int) -> None:
    space = _space(spec)
    rng = np.random.default_rng(seed)
    for _ in range(8):
        g = rng.random(space.dim)
        config = {n: v for n, v in zip(space.names, space.values(g)) if v is not None}
        if rng.random() < 0.5:
            config = _perturb(space, config, rng)
        assert space.is_valid(config) == cs_accepts(space, config), (config, space.explain_invalid(config))


@SETTINGS
@given(space_specs())
def test_default_genome_and_pickle(spec: Any) -> None:
    import pickle

    space = _space(spec)
    cfg = assert_valid(space, space.repair(space.default_genome))
    clone = pickle.loads(pickle.dumps(space))
    assert clone.names == space.names
    assert clone.to_config(clone.repair(space.default_genome)) == cfg


@pytest.mark.parametrize("seed", range(3))
def test_deep_chain_and_conjunctions(seed: int) -> None:
    """A hand-written chain a -> b -> c -> d with AND / OR and an ordinal gt condition."""
    spec = {
        "a": {"type": "categorical", "choices": ["x", "y", "z"]},
        "b": {"type": "ordinal", "sequence": [1, 2, 4, 8], "condition": {"parent": "a", "in": ["x", "y"]}},
        "c": {"type": "int", "lower": 1, "upper": 9, "condition": {"parent": "b", "gt": 2}},
        "d": {"type": "float", "lower": 1e-3, "upper": 1.0, "log": True,
              "condition": {"all": [{"parent": "c", "lt": 5}, {"parent": "a", "equals": "x"}]}},
        "e": {"type": "float", "lower": 0, "upper": 1,
              "condition": {"any": [{"parent": "d", "gt": 0.1}, {"parent": "a", "equals": "z"}]}},
    }
    space = SearchSpace.from_dict(spec, [{"all": [{"name": "a", "equals": "y"}, {"name": "b", "equals": 8}]}])
    assert space.descendants[space.index["a"]] == tuple(sorted(space.index[n] for n in "bcde"))
    rng = np.random.default_rng(seed)
    depths = set()
    for _ in range(300):
        g = mutate(space, space.sample(rng), rng, branch_rate=0.5)
        depths.add(len(assert_valid(space, g)))
    assert max(depths) == 5 and min(depths) <= 2
