"""LCBench surrogate: reproduces the yahpo-gym reference outputs; workload semantics.

The data-dependent tests need the YAHPO Gym files: set EVOAUTODL_YAHPO_DATA to the
yahpo_data folder (the one that contains lcbench/model.onnx); otherwise they skip.
"""

from __future__ import annotations

import math
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

from evoautodl.errors import WorkloadError
from evoautodl.records import Trial, checkpoint_key
from evoautodl.workloads.base import Workload
from evoautodl.workloads.lcbench import (
    ENV_VAR,
    LCBENCH_BOUNDS,
    LCBENCH_HPS,
    LCBENCH_OUTPUTS,
    LCBENCH_TASK_IDS,
    LCBenchSurrogate,
    find_yahpo_data,
)

SKIP_REASON = (
    f"set {ENV_VAR} to the yahpo_data folder (the one that contains lcbench/model.onnx, "
    "from github.com/slds-lmu/yahpo_data) to run the LCBench surrogate tests"
)

CFG = {
    "batch_size": 446, "learning_rate": 0.0003019248, "momentum": 0.7986813, "weight_decay": 0.03818441,
    "num_layers": 1, "max_units": 247, "max_dropout": 0.8640575,
}


@pytest.fixture(scope="module")
def data_root() -> Path:
    value = os.environ.get(ENV_VAR)
    if not value or not (Path(value) / "lcbench" / "model.onnx").is_file():
        pytest.skip(SKIP_REASON)
    return Path(value)


@pytest.fixture(scope="module")
def surrogate(data_root: Path) -> LCBenchSurrogate:
    wl = LCBenchSurrogate(task_id="3945", data_dir=data_root)
    wl.setup(None)
    return wl


def _trial(budget: float, resume_from: str | None = None, config: dict | None = None,
           resume_budget: float | None = None) -> Trial:
    return Trial(trial_id=7, individual_id=12, config=config or CFG, genome=(), budget_epochs=budget,
                 seed=1, resume_from=resume_from, resume_budget=resume_budget)


# -- reference reproduction ----------------------------------------------------------
@pytest.mark.lcbench
def test_reproduces_all_reference_rows(data_root: Path, surrogate: LCBenchSurrogate) -> None:
    pd = pytest.importorskip("pandas")
    ref = pd.read_csv(data_root / "lcbench_reference.csv")
    assert len(ref) == 1280
    tasks = {str(t) for t in ref["OpenML_task_id"].unique()}
    assert len(tasks) == 8 and tasks <= set(surrogate.task_ids())
    configs = [
        {"OpenML_task_id": str(row.OpenML_task_id), **{hp: getattr(row, hp) for hp in LCBENCH_HPS}}
        for row in ref.itertuples()
    ]
    out = surrogate.predict(configs, ref["epoch"].to_numpy())
    expected = ref[list(LCBENCH_OUTPUTS)].to_numpy()
    assert out.shape == (1280, 6)
    # accuracies and cross-entropies: float32 tolerance
    np.testing.assert_allclose(out[:, 1:], expected[:, 1:], rtol=1e-4, atol=1e-4)
    # time (seconds, up to ~6000): the model's output scaling rounds in float32 steps of ~1.4e-3 s;
    # even single-row and batched calls of one runtime differ by up to 6e-3 s.
    np.testing.assert_allclose(out[:, 0], expected[:, 0], rtol=1e-4, atol=1e-2)


@pytest.mark.lcbench
def test_task_from_constructor_matches_reference(data_root: Path) -> None:
    pd = pytest.importorskip("pandas")
    ref = pd.read_csv(data_root / "lcbench_reference.csv")
    sub = ref[ref["OpenML_task_id"] == 189873]
    wl = LCBenchSurrogate(task_id=189873, data_dir=data_root)
    out = wl.predict([{hp: getattr(r, hp) for hp in LCBENCH_HPS} for r in sub.itertuples()], sub["epoch"])
    np.testing.assert_allclose(out[:, 1:], sub[list(LCBENCH_OUTPUTS[1:])].to_numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.lcbench
def test_task_ids_and_bounds_match_config_space(surrogate: LCBenchSurrogate) -> None:
    ids = surrogate.task_ids()
    assert len(ids) == 34 and ids == list(LCBENCH_TASK_IDS)
    assert "167083" not in ids  # in encoding.json, not in config_space.json
    cs = pytest.importorskip("ConfigSpace")
    with warnings.catch_warnings():  # ConfigSpace 1.x warns about the old "default" field
        warnings.simplefilter("ignore", UserWarning)
        space = cs.ConfigurationSpace.from_json(surrogate.space_json_path())
    for name, (lo, hi) in LCBENCH_BOUNDS.items():
        hp = space[name]
        assert math.isclose(hp.lower, lo, rel_tol=1e-9) and math.isclose(hp.upper, hi, rel_tol=1e-9)


@pytest.mark.lcbench
def test_search_space_drops_task_and_epoch(surrogate: LCBenchSurrogate) -> None:
    try:
        space = surrogate.search_space()
    except ImportError:
        pytest.skip("evoautodl.space.SearchSpace is not available")
    rng = np.random.default_rng(0)
    cfg = space.to_config(space.sample(rng))
    assert set(cfg) == set(LCBENCH_HPS)
    ev = surrogate.evaluate(_trial(3, config=cfg), None)
    assert math.isfinite(ev.objectives[0])


# -- predict -------------------------------------------------------------------------
@pytest.mark.lcbench
def test_predict_scalar_and_per_row_epochs(surrogate: LCBenchSurrogate) -> None:
    per_row = surrogate.predict([CFG, CFG, CFG], [1, 5, 52])
    for i, ep in enumerate((1, 5, 52)):
        np.testing.assert_allclose(surrogate.predict([CFG], ep)[0], per_row[i], rtol=1e-5, atol=1e-2)
    assert surrogate.predict([], 3).shape == (0, 6)


@pytest.mark.lcbench
def test_predict_rejects_bad_inputs(surrogate: LCBenchSurrogate) -> None:
    with pytest.raises(ValueError, match="max_units"):
        surrogate.predict([{k: v for k, v in CFG.items() if k != "max_units"}], 3)
    with pytest.raises(ValueError, match="learning_rate"):
        surrogate.predict([{**CFG, "learning_rate": 0.5}], 3)
    with pytest.raises(ValueError, match="epochs"):
        surrogate.predict([CFG], 53)
    with pytest.raises(ValueError, match="OpenML_task_id"):
        surrogate.predict([{**CFG, "OpenML_task_id": "167083"}], 3)


# -- evaluate ------------------------------------------------------------------------
@pytest.mark.lcbench
def test_evaluate_curve_and_metrics(surrogate: LCBenchSurrogate) -> None:
    assert isinstance(surrogate, Workload)
    ev = surrogate.evaluate(_trial(17), None)
    assert set(ev.curve) == {"val_error", "val_accuracy", "val_cross_entropy", "val_balanced_accuracy", "time"}
    assert all(len(v) == 17 for v in ev.curve.values())
    direct = surrogate.predict([CFG] * 17, np.arange(1, 18))
    np.testing.assert_allclose(ev.curve["val_accuracy"], direct[:, 1], rtol=1e-6)
    np.testing.assert_allclose(ev.curve["val_error"], 1 - direct[:, 1] / 100, rtol=1e-6)
    assert ev.objectives == (pytest.approx(1 - ev.metrics["val_accuracy"] / 100),)
    assert ev.metrics["time_s"] == pytest.approx(ev.curve["time"][-1])
    assert set(ev.metrics) == {"val_accuracy", "val_balanced_accuracy", "val_cross_entropy",
                               "test_balanced_accuracy", "test_cross_entropy", "time_s"}
    assert ev.epochs_trained == 17 and ev.cost_s == pytest.approx(ev.curve["time"][-1])
    assert ev.checkpoint == checkpoint_key(12, 17)


@pytest.mark.lcbench
def test_evaluate_continuation(surrogate: LCBenchSurrogate) -> None:
    full = surrogate.evaluate(_trial(17), None)
    cont = surrogate.evaluate(_trial(17, resume_from=checkpoint_key(12, 5), resume_budget=5), None)
    assert cont.curve == full.curve and cont.objectives == full.objectives
    assert cont.epochs_trained == 12
    time = full.curve["time"]
    assert cont.cost_s == pytest.approx(max(time[16] - time[4], 0.0))
    same = surrogate.evaluate(_trial(17, resume_from="ind0000003_b17", resume_budget=17), None)
    assert same.epochs_trained == 0 and same.cost_s == 0.0
    with pytest.raises(ValueError, match="smaller budget"):
        surrogate.evaluate(_trial(5, resume_from="ind0000012_b17", resume_budget=17), None)
    with pytest.raises(ValueError, match="without resume_budget"):
        surrogate.evaluate(_trial(5, resume_from="ind0000012_b2"), None)


@pytest.mark.lcbench
@pytest.mark.parametrize("budget", [0, 53, 0.4, -1, float("nan")])
def test_evaluate_rejects_bad_budgets(surrogate: LCBenchSurrogate, budget: float) -> None:
    with pytest.raises(ValueError, match=r"1\.\.52"):
        surrogate.evaluate(_trial(budget), None)


@pytest.mark.lcbench
def test_evaluate_rounds_budget(surrogate: LCBenchSurrogate) -> None:
    assert len(surrogate.evaluate(_trial(51.6), None).curve["time"]) == 52
    assert len(surrogate.evaluate(_trial(1.2), None).curve["time"]) == 1


@pytest.mark.lcbench
@pytest.mark.parametrize("objective", ["val_cross_entropy", "val_balanced_error", "test_balanced_error"])
def test_objective_options(data_root: Path, objective: str) -> None:
    wl = LCBenchSurrogate(objective=objective, data_dir=data_root)
    ev = wl.evaluate(_trial(9), None)
    assert wl.objective_names == (objective,)
    expected = {
        "val_cross_entropy": ev.metrics["val_cross_entropy"],
        "val_balanced_error": 1 - ev.metrics["val_balanced_accuracy"],
        "test_balanced_error": 1 - ev.metrics["test_balanced_accuracy"],
    }[objective]
    assert ev.objectives[0] == pytest.approx(expected)
    assert len(ev.curve[objective]) == 9


@pytest.mark.lcbench
def test_pickles_without_session(surrogate: LCBenchSurrogate) -> None:
    assert surrogate._session is not None
    clone = pickle.loads(pickle.dumps(surrogate))
    assert clone._session is None
    assert clone.evaluate(_trial(4), None).objectives == surrogate.evaluate(_trial(4), None).objectives


@pytest.mark.lcbench
def test_lcbench_folder_itself_is_accepted(data_root: Path) -> None:
    assert find_yahpo_data(data_root / "lcbench") == data_root


# -- errors that need no data --------------------------------------------------------------
def test_missing_data_dir_message(tmp_path: Path) -> None:
    wl = LCBenchSurrogate(data_dir=tmp_path)  # cheap: no file I/O yet
    with pytest.raises(WorkloadError) as info:
        wl.setup(None)
    msg = str(info.value)
    assert str(tmp_path / "lcbench" / "model.onnx") in msg
    for part in (ENV_VAR, "slds-lmu/yahpo_data", "lcbench", "v1.0.2", "Pfisterer"):
        assert part in msg


def test_env_var_unset_and_wrong(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(WorkloadError, match=f"{ENV_VAR} is unset"):
        find_yahpo_data()
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(WorkloadError, match="nowhere") as info:
        LCBenchSurrogate().predict([CFG], 1)
    assert f"${ENV_VAR}" in str(info.value)


def test_constructor_validates_options() -> None:
    with pytest.raises(WorkloadError, match="167083"):
        LCBenchSurrogate(task_id=167083)
    with pytest.raises(WorkloadError, match="objective"):
        LCBenchSurrogate(objective="accuracy")
    assert len(LCBENCH_TASK_IDS) == 34
