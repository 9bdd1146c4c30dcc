"""Tests of the torch training engine, the LCBench MLP and the CNN workload (CPU, tiny budgets)."""

from __future__ import annotations

import json
import logging
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from evoautodl.backends.base import execute_trial
from evoautodl.data import DataSplits, load_dataset
from evoautodl.errors import ConfigError
from evoautodl.records import Status, Trial
from evoautodl.workloads.base import WorkerContext, Workload
from evoautodl.workloads.torch_cnn import CNN_SPACE, ImageCNN
from evoautodl.workloads.torch_mlp import LCBENCH_SPACE, LCBenchMLP, funnel_dropouts, funnel_widths
from evoautodl.workloads.training import TorchWorkload, TrainingDiverged, delete_checkpoint

MAX = 12
MLP_CFG = {"batch_size": 32, "learning_rate": 0.05, "momentum": 0.9, "weight_decay": 1e-4,
           "num_layers": 3, "max_units": 64, "max_dropout": 0.3}
CNN_ADAM = {"n_blocks": 3, "channels_1": 4, "kernel_1": 3, "channels_2": 8, "kernel_2": 5, "channels_3": 8,
            "kernel_3": 3, "batch_norm": True, "dropout": 0.2, "optimizer": "adam", "beta1": 0.9,
            "beta2": 0.99, "learning_rate": 3e-3, "weight_decay": 1e-4, "batch_size": 128}
CNN_SGD = {"n_blocks": 1, "channels_1": 8, "kernel_1": 5, "batch_norm": False, "dropout": 0.1, "optimizer": "sgd",
           "momentum": 0.9, "nesterov": True, "learning_rate": 0.05, "weight_decay": 1e-4, "batch_size": 64}
CURVE = ("train_loss", "val_loss", "val_accuracy", "val_balanced_accuracy", "objective", "lr")


def trial(config, budget, *, ind=0, tid=0, seed=123, resume=None) -> Trial:
    """``resume``: (checkpoint key, the budget it was trained to) or None."""
    key, at = resume or (None, None)
    return Trial(trial_id=tid, individual_id=ind, config=config, genome=(), budget_epochs=budget, seed=seed,
                 resume_from=key, resume_budget=at)


@pytest.fixture(scope="module")
def mlp() -> LCBenchMLP:
    return LCBenchMLP("wine", max_budget_epochs=MAX)


@pytest.fixture(scope="module")
def cnn() -> ImageCNN:
    return ImageCNN("digits", max_budget_epochs=MAX)


def _state(ckdir: Path, key: str) -> dict:
    return torch.load(ckdir / f"{key}.pt", map_location="cpu", weights_only=True)


def _assert_same_run(a, b, ckdir: Path, key_a: str, key_b: str) -> None:
    for k in CURVE:
        np.testing.assert_allclose(a.curve[k], b.curve[k], rtol=0, atol=1e-6, err_msg=k)
    for k, v in a.metrics.items():
        if k not in ("train_time_s", "resumed_epochs"):
            assert b.metrics[k] == pytest.approx(v, abs=1e-6), k
    sa, sb = _state(ckdir, key_a), _state(ckdir, key_b)
    for name, tensor in sa["model"].items():
        assert torch.allclose(tensor.double(), sb["model"][name].double(), rtol=0, atol=1e-6), name


def test_mlp_evaluates(mlp, tmp_path) -> None:
    ctx = WorkerContext.local(checkpoint_dir=tmp_path)
    assert isinstance(mlp, Workload)
    ev = mlp.evaluate(trial(MLP_CFG, 4), ctx)
    assert ev.epochs_trained == 4 and ev.checkpoint == "ind0000000_b4"
    assert (tmp_path / "ind0000000_b4.pt").is_file()
    assert all(len(ev.curve[k]) == 4 for k in (*CURVE, "epoch_time_s"))
    for k in ("val_loss", "val_accuracy", "val_balanced_accuracy", "test_loss", "test_accuracy",
              "test_balanced_accuracy", "n_params"):
        assert math.isfinite(ev.metrics[k]), k
    assert ev.objectives == (pytest.approx(1 - ev.metrics["val_accuracy"]),)
    assert ev.curve["objective"][-1] == pytest.approx(ev.objectives[0])
    assert ev.metrics["val_accuracy"] > 0.6  # wine is easy
    lr0 = MLP_CFG["learning_rate"]
    assert ev.curve["lr"] == pytest.approx([lr0 * (1 + math.cos(math.pi * e / MAX)) / 2 for e in range(4)])


def test_objectives_and_bad_objective(tmp_path) -> None:
    ctx = WorkerContext.local()
    for name, metric in (("val_loss", "val_loss"), ("val_balanced_error", "val_balanced_accuracy")):
        w = LCBenchMLP("iris", objective=name, max_budget_epochs=2)
        ev = w.evaluate(trial(MLP_CFG, 2), ctx)
        expected = ev.metrics[metric] if name == "val_loss" else 1 - ev.metrics[metric]
        assert w.objective_names == (name,) and ev.objectives[0] == pytest.approx(expected)
        assert ev.checkpoint is None
    with pytest.raises(ConfigError, match="objective"):
        LCBenchMLP("iris", objective="accuracy")


def test_mlp_continuation_equals_straight_run(mlp, tmp_path) -> None:
    ctx = WorkerContext.local(checkpoint_dir=tmp_path)
    straight = mlp.evaluate(trial(MLP_CFG, 12, ind=0, seed=7), ctx)
    first = mlp.evaluate(trial(MLP_CFG, 4, ind=1, seed=7), ctx)
    # The promoted trial has its own (different) seed; the lineage's seed comes from the checkpoint.
    cont = mlp.evaluate(trial(MLP_CFG, 12, ind=1, tid=5, seed=999, resume=("ind0000001_b4", 4)), ctx)
    assert first.epochs_trained == 4 and cont.epochs_trained == 8 and cont.metrics["resumed_epochs"] == 4
    assert all(len(cont.curve[k]) == 12 for k in CURVE)
    assert cont.curve["val_loss"][:4] == first.curve["val_loss"]
    _assert_same_run(straight, cont, tmp_path, "ind0000000_b12", "ind0000001_b12")


@pytest.mark.parametrize("config", [CNN_ADAM, CNN_SGD], ids=["adam-bn-3blocks", "sgd-nesterov-1block"])
def test_cnn_continuation_equals_straight_run(cnn, config, tmp_path) -> None:
    ctx = WorkerContext.local(checkpoint_dir=tmp_path)
    straight = cnn.evaluate(trial(config, 12, ind=0), ctx)
    cnn.evaluate(trial(config, 4, ind=1), ctx)
    cont = cnn.evaluate(trial(config, 12, ind=1, tid=3, seed=5, resume=("ind0000001_b4", 4)), ctx)
    assert cont.epochs_trained == 8 and len(cont.curve["val_accuracy"]) == 12
    assert straight.metrics["val_accuracy"] > 0.5
    _assert_same_run(straight, cont, tmp_path, "ind0000000_b12", "ind0000001_b12")


def test_divergence_names_the_epoch(mlp) -> None:
    bad = {**MLP_CFG, "learning_rate": 1e8, "momentum": 0.99}
    ctx = WorkerContext.local()
    with pytest.raises(TrainingDiverged, match=r"diverged at epoch \d+") as err:
        mlp.evaluate(trial(bad, 4), ctx)
    assert 1 <= err.value.epoch <= 4
    result = execute_trial(mlp, trial(bad, 4), ctx)
    assert result.status is Status.FAILED and f"at epoch {err.value.epoch}" in result.error


def test_pbt_resume_applies_new_hyperparameters(mlp, tmp_path) -> None:
    ctx = WorkerContext.local(checkpoint_dir=tmp_path)
    donor = mlp.evaluate(trial(MLP_CFG, 4, ind=0), ctx)
    new = {**MLP_CFG, "learning_rate": 0.01, "momentum": 0.5, "weight_decay": 0.02}
    ev = mlp.evaluate(trial(new, 8, ind=1, tid=1, seed=9, resume=("ind0000000_b4", 4)), ctx)
    assert ev.epochs_trained == 4 and len(ev.curve["val_loss"]) == 8
    assert ev.curve["val_loss"][:4] == donor.curve["val_loss"]
    assert ev.curve["lr"][4:] == pytest.approx([0.01 * (1 + math.cos(math.pi * e / MAX)) / 2 for e in range(4, 8)])
    group = _state(tmp_path, "ind0000001_b8")["optimizer"]["param_groups"][0]
    assert group["momentum"] == 0.5 and group["weight_decay"] == 0.02
    assert group["lr"] == pytest.approx(0.01 * (1 + math.cos(math.pi * 8 / MAX)) / 2)


def test_pbt_resume_across_optimizers_and_architectures(cnn, tmp_path, caplog) -> None:
    ctx = WorkerContext.local(checkpoint_dir=tmp_path)
    sgd = {**CNN_ADAM, "optimizer": "sgd", "momentum": 0.9, "nesterov": False}
    cnn.evaluate(trial(sgd, 2, ind=0), ctx)
    ev = cnn.evaluate(trial(CNN_ADAM, 4, ind=1, resume=("ind0000000_b2", 2)), ctx)  # sgd -> adam: fresh Adam state
    assert ev.epochs_trained == 2 and ev.metrics["resumed_epochs"] == 2
    with caplog.at_level(logging.WARNING):
        other = cnn.evaluate(trial({**CNN_ADAM, "n_blocks": 1}, 2, ind=2, resume=("ind0000000_b2", 2)), ctx)
    assert other.epochs_trained == 2 and other.metrics["resumed_epochs"] == 0
    assert "does not fit" in caplog.text


def test_missing_checkpoint_trains_from_scratch(mlp, tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        ev = mlp.evaluate(trial(MLP_CFG, 3, resume=("ind0000042_b1", 1)), WorkerContext.local(checkpoint_dir=tmp_path))
    assert ev.epochs_trained == 3 and "not found" in caplog.text
    assert delete_checkpoint(tmp_path, "ind0000000_b3") is True
    assert delete_checkpoint(tmp_path, "ind0000000_b3") is False
    assert delete_checkpoint(None, "x") is False


def test_deterministic_and_rng_hygiene(mlp) -> None:
    ctx = WorkerContext.local()
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    a = mlp.evaluate(trial(MLP_CFG, 3, seed=1), ctx)
    assert torch.equal(torch.rand(3), expected)  # the caller's RNG stream is untouched
    b = mlp.evaluate(trial(MLP_CFG, 3, seed=1), ctx)
    c = mlp.evaluate(trial(MLP_CFG, 3, seed=2), ctx)
    assert a.curve["train_loss"] == b.curve["train_loss"] and a.objectives == b.objectives
    assert a.curve["train_loss"] != c.curve["train_loss"]


def test_budget_checks_pickling_and_cpu_fallback(tmp_path, caplog) -> None:
    w = LCBenchMLP("iris", max_budget_epochs=3)
    result = execute_trial(w, trial(MLP_CFG, 4), WorkerContext.local())
    assert result.status is Status.FAILED and "exceeds max_budget_epochs 3" in result.error
    w.setup(WorkerContext.local())
    clone = pickle.loads(pickle.dumps(w))
    assert clone._data is None  # data are not shipped; each worker loads its own
    if not torch.cuda.is_available():
        with caplog.at_level(logging.WARNING):
            ev = clone.evaluate(trial(MLP_CFG, 1), WorkerContext.local(device="cuda:0"))
        assert ev.epochs_trained == 1 and "CUDA is not available" in caplog.text


def test_funnel_shapes_follow_auto_pytorch() -> None:
    assert funnel_widths(64, 10, 256, 1) == []
    assert funnel_widths(64, 10, 256, 3) == [256, 133]
    assert funnel_widths(64, 10, 100, 5) == [100, 78, 56, 34]
    assert funnel_widths(2000, 2, 64, 2) == [2000]  # max(n_features, max_units)
    assert funnel_dropouts(0.5, 3) == [0.5, 0.25]
    assert funnel_dropouts(1.0, 5) == [1.0, 0.75, 0.5, 0.25]


def test_lcbench_space_matches_lcbench_file() -> None:
    path = Path("/work/shared/yahpo_data/lcbench/config_space.json")
    if not path.is_file():
        pytest.skip("LCBench config_space.json not available")
    hps = {h["name"]: h for h in json.loads(path.read_text())["hyperparameters"]}
    for name, spec in LCBENCH_SPACE.items():
        assert spec["lower"] == pytest.approx(hps[name]["lower"]) and spec["upper"] == pytest.approx(hps[name]["upper"])
        assert bool(spec.get("log", False)) == hps[name]["log"], name


def test_search_spaces_build_and_cnn_samples_train(cnn) -> None:
    pytest.importorskip("evoautodl.space")
    from evoautodl.workloads import torch_cnn, torch_mlp

    assert torch_mlp.search_space().dim == len(LCBENCH_SPACE)
    space = torch_cnn.search_space()
    rng = np.random.default_rng(0)
    for i in range(3):
        config = space.to_config(space.sample(rng))
        blocks = int(config["n_blocks"])
        assert ("channels_3" in config) == (blocks > 2) and ("beta1" in config) == (config["optimizer"] == "adam")
        result = execute_trial(cnn, trial(config, 1, tid=i), WorkerContext.local())
        assert result.status in (Status.OK, Status.FAILED)
        assert result.ok or "diverged" in (result.error or ""), result.error
    assert space.dim == len(CNN_SPACE)


class TinyWorkload(TorchWorkload):
    """The user protocol: three methods."""

    def load_data(self, context: WorkerContext) -> DataSplits:
        return load_dataset("iris")

    def build_model(self, config, data: DataSplits) -> nn.Module:
        return nn.Sequential(nn.Linear(data.n_features, config["units"]), nn.ReLU(),
                             nn.Linear(config["units"], data.n_classes))

    def build_optimizer(self, config, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(model.parameters(), lr=config["lr"])


def test_user_workload_protocol(tmp_path) -> None:
    w = TinyWorkload(max_budget_epochs=6)
    ctx = WorkerContext.local(checkpoint_dir=tmp_path)
    cfg = {"units": 16, "lr": 0.01, "batch_size": 16}
    straight = w.evaluate(trial(cfg, 6), ctx)
    w.evaluate(trial(cfg, 2, ind=1), ctx)
    cont = w.evaluate(trial(cfg, 6, ind=1, resume=("ind0000001_b2", 2)), ctx)
    assert cont.epochs_trained == 4 and straight.metrics["val_accuracy"] > 0.5
    _assert_same_run(straight, cont, tmp_path, "ind0000000_b6", "ind0000001_b6")
