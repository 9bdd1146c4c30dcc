"""Tests of evoautodl.data: bundled data sets, stratified split, scaling, and bad user data."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from evoautodl.data import (
    KNOWN_DATASETS,
    DataSplits,
    from_arrays,
    from_torch_dataset,
    load_csv,
    load_dataset,
    load_npz,
)
from evoautodl.errors import ConfigError, DataError

SIZES = {"digits": (1797, 10, (64,)), "digits_images": (1797, 10, (1, 8, 8)), "breast_cancer": (569, 2, (30,)),
         "wine": (178, 3, (13,)), "iris": (150, 3, (4,))}


@pytest.mark.parametrize("name", KNOWN_DATASETS)
def test_known_datasets(name: str) -> None:
    d = load_dataset(name)
    n, k, shape = SIZES[name]
    assert isinstance(d, DataSplits)
    assert len(d.y_train) + len(d.y_val) + len(d.y_test) == n
    assert d.n_classes == k and d.feature_shape == shape
    assert d.x_train.shape == (len(d.y_train), *shape) and d.x_train.dtype == np.float32
    assert d.y_train.dtype == np.int64 and set(np.unique(d.y_train)) == set(range(k))
    assert len(d.y_train) / n == pytest.approx(0.6, abs=0.02)
    assert len(d.y_val) / n == pytest.approx(0.2, abs=0.02)


def test_digits_image_layout() -> None:
    img = load_dataset("digits", image=True)
    flat = load_dataset("digits")
    assert img.x_train.shape[1:] == (1, 8, 8) and img.is_image and not flat.is_image
    assert img.scaler_mean.shape == (1, 1, 1, 1)  # per channel
    np.testing.assert_array_equal(img.y_train, flat.y_train)  # same split
    assert img.flattened().feature_shape == (64,)
    with pytest.raises(DataError, match="no image layout"):
        load_dataset("wine", image=True)


def test_stratified_and_deterministic() -> None:
    a, b, c = load_dataset("digits", split_seed=3), load_dataset("digits", split_seed=3), load_dataset("digits")
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    total = a.class_counts("train") + a.class_counts("val") + a.class_counts("test")
    for split, frac in (("train", 0.6), ("val", 0.2), ("test", 0.2)):
        assert np.all(np.abs(a.class_counts(split) - frac * total) <= 1.0)


def test_split_is_a_partition_with_configurable_fractions() -> None:
    x = np.arange(200, dtype=float)[:, None]
    y = np.repeat(["a", "b", "c", "d"], 50)
    d = from_arrays(x, y, standardize=False, fractions=(0.5, 0.3, 0.2), split_seed=1)
    ids = np.concatenate([d.x_train[:, 0], d.x_val[:, 0], d.x_test[:, 0]])
    assert sorted(ids.tolist()) == list(range(200))
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (100, 60, 40)
    assert d.classes == ("a", "b", "c", "d") and d.fractions == (0.5, 0.3, 0.2)
    with pytest.raises(ConfigError, match="fractions"):
        from_arrays(x, y, fractions=(0.5, 0.5, 0.5))


def test_standardization_fit_on_train_only() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, size=(300, 4))
    x[:, 3] = 7.0  # constant column: std 0 -> left at scale 1
    y = rng.integers(0, 3, size=300)
    raw = from_arrays(x, y, standardize=False, split_seed=2)
    std = from_arrays(x, y, standardize=True, split_seed=2)
    mean, sd = raw.x_train.mean(axis=0), raw.x_train.std(axis=0)
    sd[3] = 1.0
    np.testing.assert_allclose(std.scaler_mean, mean, rtol=1e-5)
    np.testing.assert_allclose(std.x_val, (raw.x_val - mean) / sd, atol=1e-5)
    np.testing.assert_allclose(std.x_train[:, :3].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(std.x_train[:, :3].std(axis=0), 1.0, atol=1e-4)
    assert np.abs(std.x_val[:, :3].mean(axis=0)).max() > 1e-4  # val statistics were not used


def test_to_tensors() -> None:
    import torch

    t = load_dataset("iris").to_tensors("cpu")
    assert t.x_train.dtype == torch.float32 and t.y_test.dtype == torch.int64
    assert t.x_val.device.type == "cpu" and t.n_classes == 3 and t.feature_shape == (4,)


def test_importing_data_does_not_import_torch() -> None:
    code = "import sys, evoautodl.data; evoautodl.data.load_dataset('iris'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


# ---- user data --------------------------------------------------------------------------------
def _good_frame(n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"f1": rng.normal(size=n), "f2": rng.integers(0, 5, n), "label": ["x", "y", "z"] * (n // 3)})


def test_csv_and_npz_roundtrip(tmp_path) -> None:
    path = tmp_path / "good.csv"
    _good_frame().to_csv(path, index=False)
    d = load_dataset(path, target="label")
    assert d.name == "good" and d.n_classes == 3 and d.feature_names == ("f1", "f2")
    assert load_csv(path, "label", name="mine").name == "mine"
    npz = tmp_path / "arr.npz"
    np.savez(npz, X=np.random.default_rng(0).normal(size=(40, 2, 3, 3)), y=np.arange(40) % 2)
    d2 = load_npz(npz)
    assert d2.feature_shape == (2, 3, 3) and d2.scaler_mean.shape == (1, 2, 1, 1)
    assert load_dataset(str(npz)).n_classes == 2


def test_torch_dataset() -> None:
    import torch
    from torch.utils.data import TensorDataset

    ds = TensorDataset(torch.randn(60, 5), torch.arange(60) % 3)
    d = from_torch_dataset(ds, name="mine")
    assert d.name == "mine" and d.feature_shape == (5,) and d.n_classes == 3


def test_csv_missing_target_column(tmp_path) -> None:
    path = tmp_path / "d.csv"
    _good_frame().to_csv(path, index=False)
    with pytest.raises(DataError, match="'class' not found") as err:
        load_csv(path, "class")
    assert "'f1', 'f2', 'label'" in str(err.value)


def test_csv_non_numeric_features(tmp_path) -> None:
    df = _good_frame()
    df["color"] = ["red", "blue", "green"] * 10
    df["city"] = "Paris"
    df.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match="non-numeric") as err:
        load_csv(tmp_path / "d.csv", "label")
    assert "'color'" in str(err.value) and "'city'" in str(err.value) and "'f1'" not in str(err.value)


def test_csv_nan_values(tmp_path) -> None:
    df = _good_frame()
    df.loc[[1, 4, 7], "f2"] = np.nan
    df.loc[2, "label"] = None
    df.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match="missing") as err:
        load_csv(tmp_path / "d.csv", "label")
    msg = str(err.value)
    assert "'f2' (3)" in msg and "'label' (1)" in msg and "'f1'" not in msg


def test_csv_single_class(tmp_path) -> None:
    df = _good_frame()
    df["label"] = "only"
    df.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match=r"single class.*'only'"):
        load_csv(tmp_path / "d.csv", "label")


def test_csv_too_few_rows(tmp_path) -> None:
    df = pd.DataFrame({"f": [1.0, 2.0, 3.0, 4.0, 5.0], "label": [0, 0, 0, 1, 1]})
    df.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match="too few rows") as err:
        load_csv(tmp_path / "d.csv", "label")
    msg = str(err.value)
    assert "class 1 has 2 row(s)" in msg and "at least 3 rows" in msg and "at least 6 rows for 2 classes" in msg


def test_other_bad_inputs(tmp_path) -> None:
    with pytest.raises(DataError, match=r"unknown dataset 'mnist'.*digits.*breast_cancer.*wine.*iris"):
        load_dataset("mnist")
    with pytest.raises(DataError, match="not found"):
        load_dataset(tmp_path / "missing.csv", target="y")
    _good_frame().to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match="target="):
        load_dataset(tmp_path / "d.csv")
    np.savez(tmp_path / "bad.npz", features=np.zeros((9, 2)), y=np.zeros(9))
    with pytest.raises(DataError, match=r"lacks array\(s\) \['X'\]"):
        load_npz(tmp_path / "bad.npz")
    x = np.ones((30, 2))
    x[3, 1] = np.inf
    with pytest.raises(DataError, match=r"'b' \(1\)"):
        from_arrays(x, np.arange(30) % 2, feature_names=["a", "b"])
    with pytest.raises(DataError, match="30 feature rows but 29 labels"):
        from_arrays(np.ones((30, 2)), np.arange(29) % 2)
