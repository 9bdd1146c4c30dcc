"""Validated, stratified, standardized train/validation/test splits.

`make_splits(X, y, ...)` is the one place where arrays become a `DataSplits`:
it checks the data (numeric features, no NaN/inf, at least two classes,
enough rows per class), encodes the labels as ``0..n_classes-1``, splits
stratified with a fixed split seed and standardizes with statistics fitted on
the training rows only. Every loader in `evoautodl.data.datasets` ends here.

`DataSplits` holds numpy arrays (picklable, cheap to ship to MPI workers);
`DataSplits.to_tensors(device)` moves it onto a device once, as a
`TensorSplits`. torch is imported only inside that method.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from evoautodl.errors import ConfigError, DataError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["DEFAULT_FRACTIONS", "MIN_ROWS_PER_CLASS", "DataSplits", "TensorSplits", "make_splits"]

DEFAULT_FRACTIONS: tuple[float, float, float] = (0.6, 0.2, 0.2)
MIN_ROWS_PER_CLASS = 3  # one row each for train, validation and test


@dataclass(frozen=True, slots=True, eq=False)
class TensorSplits:
    """A `DataSplits` moved onto a torch device (features float32, labels int64)."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    feature_shape: tuple[int, ...]
    device: str


@dataclass(frozen=True, slots=True, eq=False)
class DataSplits:
    """A classification data set split into train / validation / test.

    Attributes:
        name: data set name (sklearn name or file stem).
        x_train, x_val, x_test: float32 features, shape ``(n, *feature_shape)``,
            standardized with the training statistics.
        y_train, y_val, y_test: int64 labels in ``0..n_classes-1``.
        n_classes: number of classes.
        feature_shape: shape of one example, ``(F,)`` for tabular data or
            ``(C, H, W)`` for images.
        classes: the original label of each class index.
        feature_names: column names of tabular data (empty for images).
        scaler_mean, scaler_std: standardization statistics (fitted on the
            training rows; per feature for tabular, per channel for images),
            None when standardization was off.
        split_seed: seed of the stratified split.
        fractions: train / validation / test fractions.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    feature_shape: tuple[int, ...]
    classes: tuple[Any, ...] = ()
    feature_names: tuple[str, ...] = ()
    scaler_mean: np.ndarray | None = None
    scaler_std: np.ndarray | None = None
    split_seed: int = 0
    fractions: tuple[float, float, float] = field(default=DEFAULT_FRACTIONS)

    @property
    def n_features(self) -> int:
        """Number of input values per example (product of feature_shape)."""
        return int(np.prod(self.feature_shape))

    @property
    def is_image(self) -> bool:
        """True for ``(C, H, W)`` examples."""
        return len(self.feature_shape) == 3

    def class_counts(self, split: str = "train") -> np.ndarray:
        """Examples per class in ``split`` ("train", "val" or "test")."""
        y = {"train": self.y_train, "val": self.y_val, "test": self.y_test}[split]
        return np.bincount(y, minlength=self.n_classes)

    def flattened(self) -> DataSplits:
        """The same splits with every example flattened to ``(n_features,)``."""
        if len(self.feature_shape) == 1:
            return self
        flat = {k: getattr(self, k).reshape(len(getattr(self, k)), -1) for k in ("x_train", "x_val", "x_test")}
        return _replace(self, feature_shape=(self.n_features,), **flat)

    def to_tensors(self, device: str | torch.device = "cpu") -> TensorSplits:
        """Copy the arrays onto ``device`` once (features float32, labels int64)."""
        import torch

        def conv(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).to(device=device, dtype=dtype)

        return TensorSplits(
            name=self.name,
            x_train=conv(self.x_train, torch.float32),
            y_train=conv(self.y_train, torch.int64),
            x_val=conv(self.x_val, torch.float32),
            y_val=conv(self.y_val, torch.int64),
            x_test=conv(self.x_test, torch.float32),
            y_test=conv(self.y_test, torch.int64),
            n_classes=self.n_classes,
            feature_shape=self.feature_shape,
            device=str(device),
        )


def _replace(splits: DataSplits, **changes: Any) -> DataSplits:
    values = {name: getattr(splits, name) for name in DataSplits.__dataclass_fields__}
    values.update(changes)
    return DataSplits(**values)


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    fr = tuple(float(f) for f in fractions)
    if len(fr) != 3 or any(not np.isfinite(f) or f <= 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise ConfigError(
            f"split fractions must be three positive numbers (train, validation, test) summing to 1, got {fr}"
        )
    return fr  # type: ignore[return-value]


def _check_features(name: str, x: np.ndarray, feature_names: Sequence[str]) -> None:
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise DataError(f"dataset {name!r}: features must be numeric, got dtype {x.dtype}")
    bad = ~np.isfinite(x.astype(np.float64, copy=False))
    n_bad = int(bad.sum())
    if n_bad == 0:
        return
    if x.ndim == 2 and len(feature_names) == x.shape[1]:
        per_col = bad.sum(axis=0)
        cols = ", ".join(f"{feature_names[j]!r} ({int(per_col[j])})" for j in np.flatnonzero(per_col))
        raise DataError(f"dataset {name!r}: {n_bad} missing or infinite value(s) (NaN/inf) in column(s) {cols}")
    rows = np.flatnonzero(bad.reshape(len(x), -1).any(axis=1))
    raise DataError(
        f"dataset {name!r}: {n_bad} missing or infinite value(s) (NaN/inf) in {len(rows)} example(s), "
        f"first rows {rows[:5].tolist()}"
    )


def _encode_labels(name: str, y: np.ndarray) -> tuple[np.ndarray, tuple[Any, ...]]:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"dataset {name!r}: labels must be one-dimensional, got shape {y.shape}")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise DataError(f"dataset {name!r}: {int(np.isnan(y).sum())} missing (NaN) label(s)")
    if y.dtype == object and any(v is None or (isinstance(v, float) and np.isnan(v)) for v in y):
        raise DataError(f"dataset {name!r}: missing label(s) (None/NaN)")
    try:
        classes, codes = np.unique(y, return_inverse=True)
    except TypeError as exc:
        raise DataError(f"dataset {name!r}: labels cannot be sorted into classes ({exc})") from exc
    if len(classes) < 2:
        only = classes[0].item() if len(classes) and hasattr(classes[0], "item") else classes.tolist()
        raise DataError(f"dataset {name!r}: the target has a single class ({only!r}); need at least 2 classes")
    return codes.astype(np.int64), tuple(c.item() if hasattr(c, "item") else c for c in classes)


def _allocate(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Rows of a class of size n given to (train, val, test): each at least 1."""
    n_val = max(1, round(fractions[1] * n))
    n_test = max(1, round(fractions[2] * n))
    while n - n_val - n_test < 1 and max(n_val, n_test) > 1:
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    return n - n_val - n_test, n_val, n_test


def _stratified_indices(
    name: str, codes: np.ndarray, classes: tuple[Any, ...], fractions: tuple[float, float, float], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    counts = np.bincount(codes, minlength=len(classes))
    small = [(classes[c], int(counts[c])) for c in range(len(classes)) if counts[c] < MIN_ROWS_PER_CLASS]
    if small:
        listed = ", ".join(f"class {c!r} has {k} row(s)" for c, k in small)
        fr = "/".join(f"{f:g}" for f in fractions)
        raise DataError(
            f"dataset {name!r}: too few rows for a stratified train/validation/test split ({fr}): {listed}; "
            f"each class needs at least {MIN_ROWS_PER_CLASS} rows (1 each for train, validation and test), "
            f"i.e. at least {MIN_ROWS_PER_CLASS * len(classes)} rows for {len(classes)} classes "
            f"(got {len(codes)} rows)"
        )
    rng = np.random.default_rng(seed)
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for c in range(len(classes)):
        idx = rng.permutation(np.flatnonzero(codes == c))
        n_tr, n_va, _ = _allocate(len(idx), fractions)
        parts[0].append(idx[:n_tr])
        parts[1].append(idx[n_tr : n_tr + n_va])
        parts[2].append(idx[n_tr + n_va :])
    tr, va, te = (np.sort(np.concatenate(p)) for p in parts)
    return tr, va, te


def _standardize(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std fitted on the training rows (per feature, or per channel for images)."""
    axes = (0, *range(2, x_train.ndim)) if x_train.ndim == 4 else (0,)
    mean = x_train.mean(axis=axes, dtype=np.float64)
    std = x_train.std(axis=axes, dtype=np.float64)
    std = np.where(std > 1e-12, std, 1.0)
    if x_train.ndim == 4:
        mean, std = mean.reshape(1, -1, 1, 1), std.reshape(1, -1, 1, 1)
    return mean.astype(np.float32), std.astype(np.float32)


def make_splits(
    x: np.ndarray,
    y: np.ndarray,
    *,
    name: str,
    split_seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    standardize: bool = True,
    feature_names: Sequence[str] = (),
) -> DataSplits:
    """Validate, encode, split (stratified) and standardize a classification data set.

    Args:
        x: features, shape ``(n, F)`` or ``(n, C, H, W)`` (``(n, H, W)`` gets a channel axis).
        y: labels (any sortable values), shape ``(n,)``.
        name: data set name used in messages.
        split_seed: seed of the stratified split (fixed: the same seed gives the same split).
        fractions: train / validation / test fractions (positive, summing to 1).
        standardize: subtract the mean and divide by the std of the training rows.
        feature_names: column names (tabular data), used in error messages.

    Raises:
        DataError: non-numeric features, NaN/inf values, a single class, or fewer
            rows than the stratified split needs.
    """
    fr = _check_fractions(fractions)
    x = np.asarray(x)
    if x.ndim < 2:
        raise DataError(f"dataset {name!r}: features must have shape (n, ...) with n examples, got {x.shape}")
    if len(x) != len(np.asarray(y)):
        raise DataError(f"dataset {name!r}: {len(x)} feature rows but {len(np.asarray(y))} labels")
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim > 4:
        raise DataError(f"dataset {name!r}: features must be (n, F) or (n, C, H, W), got shape {x.shape}")
    _check_features(name, x, feature_names)
    codes, classes = _encode_labels(name, np.asarray(y))
    tr, va, te = _stratified_indices(name, codes, classes, fr, int(split_seed))
    x = x.astype(np.float32)
    mean = std = None
    if standardize:
        mean, std = _standardize(x[tr])
        x = (x - mean) / std
    return DataSplits(
        name=name,
        x_train=x[tr],
        y_train=codes[tr],
        x_val=x[va],
        y_val=codes[va],
        x_test=x[te],
        y_test=codes[te],
        n_classes=len(classes),
        feature_shape=tuple(int(s) for s in x.shape[1:]),
        classes=classes,
        feature_names=tuple(str(f) for f in feature_names),
        scaler_mean=mean,
        scaler_std=std,
        split_seed=int(split_seed),
        fractions=fr,
    )
