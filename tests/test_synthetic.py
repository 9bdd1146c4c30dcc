"""Synthetic multi-fidelity functions: determinism, fidelity knob, conditions, failures."""

from __future__ import annotations

import itertools
import math
import pickle

import numpy as np
import pytest
from scipy.stats import kendalltau

from evoautodl.records import Result, Status, Trial, checkpoint_key, parse_checkpoint_budget
from evoautodl.workloads.base import Workload
from evoautodl.workloads.synthetic import MixedRastrigin

SGD = {"lr": 0.01, "batch_size": 64, "layers": 3, "width": 256, "dropout": 0.2, "activation": "relu",
       "augment": "medium", "optimizer": "sgd", "momentum": 0.9}
ADAM = {"lr": 0.001, "batch_size": 64, "layers": 1, "width": 256, "activation": "tanh",
        "augment": "none", "optimizer": "adam", "beta1": 0.9}


def _trial(config: dict, budget: float = 27, seed: int = 1, resume_from: str | None = None, tid: int = 0,
           resume_budget: float | None = None) -> Trial:
    return Trial(trial_id=tid, individual_id=4, config=config, genome=(), budget_epochs=budget, seed=seed,
                 resume_from=resume_from, resume_budget=resume_budget)


def _tau(wl: MixedRastrigin, configs: list[dict], low: int = 1) -> float:
    lo = [wl.evaluate(_trial(c, low, seed=i), None).objectives[0] for i, c in enumerate(configs)]
    hi = [wl.evaluate(_trial(c, wl.max_budget, seed=i), None).objectives[0] for i, c in enumerate(configs)]
    return float(kendalltau(lo, hi)[0])


@pytest.fixture(scope="module")
def configs() -> list[dict]:
    return MixedRastrigin().sample_configs(200, seed=11)


def test_is_a_workload_and_deterministic() -> None:
    wl = MixedRastrigin(noise_std=0.01)
    assert isinstance(wl, Workload) and wl.objective_names == ("error",)
    a = wl.evaluate(_trial(SGD, seed=5), None)
    b = pickle.loads(pickle.dumps(wl)).evaluate(_trial(SGD, seed=5), None)
    assert a == b
    assert wl.evaluate(_trial(SGD, seed=6), None).objectives != a.objectives
    quiet = MixedRastrigin()
    assert quiet.evaluate(_trial(SGD, seed=5), None).objectives == quiet.evaluate(_trial(SGD, seed=6), None).objectives


def test_curve_is_prefix_and_decreases_without_noise() -> None:
    wl = MixedRastrigin(fidelity_correlation=0.5)
    full = wl.evaluate(_trial(ADAM, 27), None).curve["error"]
    part = wl.evaluate(_trial(ADAM, 9), None).curve["error"]
    assert len(full) == 27 and part == full[:9]
    assert full[-1] == pytest.approx(wl.landscape(ADAM)[0])
    high = MixedRastrigin(fidelity_correlation=1.0).evaluate(_trial(ADAM, 27), None).curve["error"]
    assert all(x > y for x, y in itertools.pairwise(high))
    assert all(0.0 < v < 1.0 for v in full)


def test_fidelity_correlation_knob(configs: list[dict]) -> None:
    taus = {c: _tau(MixedRastrigin(fidelity_correlation=c), configs) for c in (1.0, 0.9, 0.5, 0.0)}
    assert taus[1.0] == pytest.approx(1.0)
    assert taus[0.9] > 0.8
    assert abs(taus[0.0]) < 0.15
    assert taus[0.0] < taus[0.5] < taus[0.9]
    # the distortion fades with the budget: budget 9 ranks closer to 27 than budget 1 does
    assert _tau(MixedRastrigin(fidelity_correlation=0.0), configs, low=9) > taus[0.0] + 0.2


def test_max_budget_is_configurable(configs: list[dict]) -> None:
    wl = MixedRastrigin(max_budget=81, fidelity_correlation=0.0)
    ev = wl.evaluate(_trial(SGD, 81), None)
    assert len(ev.curve["error"]) == 81 and ev.epochs_trained == 81
    with pytest.raises(ValueError, match=r"1\.\.81"):
        wl.evaluate(_trial(SGD, 82), None)


def test_sampled_configs_respect_conditions(configs: list[dict]) -> None:
    wl = MixedRastrigin()
    for cfg in configs:
        assert ("momentum" in cfg) == (cfg["optimizer"] == "sgd")
        assert ("beta1" in cfg) == (cfg["optimizer"] == "adam")
        assert ("dropout" in cfg) == (cfg["layers"] > 1)
        wl.check_config(cfg)
    assert {c["optimizer"] for c in configs} == {"sgd", "adam"}
    assert any(c["layers"] == 1 for c in configs)


def test_conditional_children_matter_only_in_their_branch() -> None:
    wl = MixedRastrigin()
    f = wl.landscape(SGD)[0]
    assert wl.landscape({**SGD, "momentum": 0.1})[0] > f
    assert wl.landscape({**ADAM, "beta1": 0.5})[0] != wl.landscape(ADAM)[0]


def test_inactive_or_missing_keys_are_rejected() -> None:
    wl = MixedRastrigin()
    with pytest.raises(ValueError, match="'beta1' is inactive but present"):
        wl.evaluate(_trial({**SGD, "beta1": 0.9}), None)
    with pytest.raises(ValueError, match="'momentum' is active but missing"):
        wl.evaluate(_trial({k: v for k, v in SGD.items() if k != "momentum"}), None)
    with pytest.raises(ValueError, match="'dropout' is inactive"):
        wl.evaluate(_trial({**ADAM, "dropout": 0.1}), None)
    with pytest.raises(ValueError, match="unknown hyperparameter 'colour'"):
        wl.evaluate(_trial({**SGD, "colour": 1}), None)
    with pytest.raises(ValueError, match="lr"):
        wl.evaluate(_trial({**SGD, "lr": 2.0}), None)
    with pytest.raises(ValueError, match="activation"):
        wl.evaluate(_trial({**SGD, "activation": "gelu"}), None)


def test_forbidden_clause() -> None:
    wl = MixedRastrigin(with_forbidden=True)
    assert wl.forbidden() and not MixedRastrigin().forbidden()
    assert not any(c["optimizer"] == "adam" and c["activation"] == "sigmoid" for c in wl.sample_configs(300))
    with pytest.raises(ValueError, match="forbidden"):
        wl.evaluate(_trial({**ADAM, "activation": "sigmoid"}), None)


def test_continuation_and_cost() -> None:
    wl = MixedRastrigin(epoch_cost_s=2.0)
    full = wl.evaluate(_trial(SGD, 27), None)
    assert full.epochs_trained == 27 and full.cost_s == 54.0 and full.checkpoint == checkpoint_key(4, 27)
    cont = wl.evaluate(_trial(SGD, 27, resume_from=checkpoint_key(4, 9), resume_budget=9), None)
    assert cont.epochs_trained == 18 and cont.cost_s == 36.0 and cont.curve == full.curve
    with pytest.raises(ValueError, match="smaller budget"):
        wl.evaluate(_trial(SGD, 3, resume_from="ind0000004_b9", resume_budget=9), None)
    with pytest.raises(ValueError, match="without resume_budget"):
        wl.evaluate(_trial(SGD, 3, resume_from="ind0000004_b1"), None)
    for bad in (0, 28, float("inf")):
        with pytest.raises(ValueError, match=r"1\.\.27"):
            wl.evaluate(_trial(SGD, bad), None)


def test_cost_spread_grows_with_model_size() -> None:
    wl = MixedRastrigin(cost_spread=0.5)
    small = wl.evaluate(_trial({**ADAM, "width": 16}), None).cost_s
    big = wl.evaluate(_trial({**SGD, "width": 1024, "layers": 6}), None).cost_s
    assert 27 * 0.5 <= small < big <= 27 * 1.5


def test_parse_checkpoint_budget() -> None:
    assert parse_checkpoint_budget("ind0000012_b4") == 4
    assert parse_checkpoint_budget("runs/x/checkpoints/ind0000012_b27.pt") == 27
    assert parse_checkpoint_budget("ind0000012_b2.5") == 2.5
    assert parse_checkpoint_budget("ind0000012") is None


def test_multi_objective() -> None:
    wl = MixedRastrigin(multi_objective=True)
    assert wl.objective_names == ("error", "size")
    ev = wl.evaluate(_trial(SGD), None)
    assert len(ev.objectives) == 2 and ev.objectives[1] == pytest.approx(wl.n_params(SGD) / 1e6)
    sizes = [wl.evaluate(_trial({**SGD, "width": w, "layers": n}), None).objectives[1]
             for w, n in ((32, 2), (256, 2), (256, 5))]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_failure_injection() -> None:
    wl = MixedRastrigin(fail_prob=0.3)
    failed = []
    for seed in range(400):
        try:
            wl.evaluate(_trial(SGD, 3, seed=seed), None)
            failed.append(False)
        except RuntimeError as err:
            assert "injected failure" in str(err)
            failed.append(True)
    assert 0.2 < np.mean(failed) < 0.4
    seed = failed.index(True)
    with pytest.raises(RuntimeError):  # deterministic per seed
        wl.evaluate(_trial(SGD, 3, seed=seed), None)
    with pytest.raises(RuntimeError):
        MixedRastrigin(fail_prob=1.0).evaluate(_trial(SGD), None)


def test_nan_injection() -> None:
    wl = MixedRastrigin(nan_prob=1.0)
    ev = wl.evaluate(_trial(SGD, 5), None)
    assert math.isnan(ev.objectives[0]) and math.isnan(ev.curve["error"][-1])
    res = Result(trial=_trial(SGD, 5), status=Status.OK, objectives=ev.objectives)
    assert not res.ok and res.objective == math.inf
    some = MixedRastrigin(nan_prob=0.5)
    flags = [math.isnan(some.evaluate(_trial(SGD, 2, seed=s), None).objectives[0]) for s in range(200)]
    assert 0.35 < np.mean(flags) < 0.65


def test_bad_options() -> None:
    for kwargs in ({"fidelity_correlation": 1.5}, {"fail_prob": -0.1}, {"max_budget": 0}, {"noise_std": -1}):
        with pytest.raises(ValueError):
            MixedRastrigin(**kwargs)


def test_search_space_round_trip() -> None:
    pytest.importorskip("ConfigSpace")
    wl = MixedRastrigin(with_forbidden=True)
    try:
        space = wl.search_space()
    except ImportError:
        pytest.skip("evoautodl.space.SearchSpace is not available")
    rng = np.random.default_rng(3)
    for i in range(100):
        cfg = space.to_config(space.sample(rng))
        assert math.isfinite(wl.evaluate(_trial(cfg, 3, tid=i), None).objectives[0])
    for cfg in wl.sample_configs(100, seed=4):
        assert space.is_valid(cfg)
