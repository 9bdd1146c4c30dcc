"""Data set loaders: scikit-learn's bundled sets, CSV, NPZ and torch Datasets.

Every loader validates the data, splits it stratified with a fixed split seed
and standardizes it with training statistics (see `evoautodl.data.splits`).

Known names (shipped with scikit-learn, no network):

========================  ==============  =======  =======
name                      example shape   classes  rows
========================  ==============  =======  =======
``digits``                (64,)           10       1797
``digits_images``         (1, 8, 8)       10       1797
``breast_cancer``         (30,)           2        569
``wine``                  (13,)           3        178
``iris``                  (4,)            3        150
========================  ==============  =======  =======

``load_dataset("digits", image=True)`` equals ``load_dataset("digits_images")``.
A path ending in ``.csv`` (needs ``target=``) or ``.npz`` (arrays ``X`` and
``y``) loads user data. `check_dataset` makes the cheap checks (the file is
there, a CSV's header names the target, an NPZ holds ``X`` and ``y`` of fitting
shapes, images where images are needed) without reading the data, so a run
can refuse bad data before it creates anything.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evoautodl.data.splits import DEFAULT_FRACTIONS, DataSplits, make_splits
from evoautodl.errors import DataError

__all__ = [
    "KNOWN_DATASETS",
    "check_dataset",
    "from_arrays",
    "from_torch_dataset",
    "load_csv",
    "load_dataset",
    "load_npz",
    "load_sklearn",
]


def _digits() -> tuple[np.ndarray, np.ndarray, list[str]]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data, d.target, [f"pixel_{i // 8}_{i % 8}" for i in range(64)]


def _digits_images() -> tuple[np.ndarray, np.ndarray, list[str]]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images[:, None, :, :], d.target, []


def _bunch(loader_name: str) -> Callable[[], tuple[np.ndarray, np.ndarray, list[str]]]:
    def load() -> tuple[np.ndarray, np.ndarray, list[str]]:
        import sklearn.datasets

        d = getattr(sklearn.datasets, loader_name)()
        return d.data, d.target, [str(f) for f in d.feature_names]

    return load


_SKLEARN: dict[str, Callable[[], tuple[np.ndarray, np.ndarray, list[str]]]] = {
    "digits": _digits,
    "digits_images": _digits_images,
    "breast_cancer": _bunch("load_breast_cancer"),
    "wine": _bunch("load_wine"),
    "iris": _bunch("load_iris"),
}
KNOWN_DATASETS: tuple[str, ...] = tuple(_SKLEARN)


def from_arrays(
    x: Any,
    y: Any,
    *,
    name: str = "arrays",
    split_seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    standardize: bool = True,
    feature_names: Sequence[str] = (),
) -> DataSplits:
    """Split in-memory arrays (numpy, lists, or CPU torch tensors)."""
    return make_splits(
        _to_numpy(x), _to_numpy(y), name=name, split_seed=split_seed, fractions=fractions,
        standardize=standardize, feature_names=feature_names,
    )


def load_sklearn(
    name: str,
    *,
    image: bool = False,
    split_seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    standardize: bool = True,
) -> DataSplits:
    """Load one of `KNOWN_DATASETS` (``image=True`` only for digits: ``(N, 1, 8, 8)``)."""
    if name not in _SKLEARN:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(KNOWN_DATASETS)} "
                        "(or a path to a .csv or .npz file)")
    if image and name == "digits":
        name = "digits_images"
    if image and name != "digits_images":
        raise DataError(f"dataset {name!r} has no image layout; image data sets: digits, digits_images")
    x, y, features = _SKLEARN[name]()
    return make_splits(x, y, name=name, split_seed=split_seed, fractions=fractions,
                       standardize=standardize, feature_names=features)


def _check_file(path: str | os.PathLike[str], kind: str) -> Path:
    p = Path(path)
    if p.is_dir():
        raise DataError(f"{kind} path {str(p)!r} is a directory, not a {kind} file")
    if not p.is_file():
        raise DataError(f"{kind} file not found: {str(p)!r}")
    return p


def _npz_shapes(p: Path) -> dict[str, tuple[int, ...]]:
    """Shape of every array in an ``.npz`` file, read from the headers only."""
    shapes: dict[str, tuple[int, ...]] = {}
    try:
        with zipfile.ZipFile(p) as z:
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with z.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    shapes[info.filename[:-4]] = tuple(read(fh)[0])
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read NPZ {str(p)!r}: {exc}") from exc
    return shapes


def check_dataset(spec: str | os.PathLike[str], *, target: str | None = None, image: bool = False) -> None:
    """Cheap checks of a data set before a run: nothing is loaded.

    A known name must exist (and have an image layout when ``image``); a CSV
    must be a file whose header names ``target`` (and cannot feed an image
    model); an NPZ must be a file holding ``X`` and ``y`` with as many rows,
    ``X`` of shape (N, F), or (N, H, W) / (N, C, H, W) when ``image``.

    Raises:
        DataError: naming the file and the problem.
    """
    text = os.fspath(spec)
    suffix = Path(text).suffix.lower()
    if suffix == ".csv":
        if image:
            raise DataError(f"data set {text!r}: a CSV holds tabular rows; an image model needs an .npz with X of "
                            "shape (N, H, W) or (N, C, H, W)")
        if not target:
            raise DataError(f"CSV data set {text!r} needs the name of its target column (target=...)")
        import pandas as pd

        p = _check_file(text, "CSV")
        try:
            columns = [str(c) for c in pd.read_csv(p, nrows=0).columns]
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise DataError(f"dataset {p.stem!r}: cannot read CSV {str(p)!r}: {exc}") from exc
        if target not in columns:
            raise DataError(f"dataset {p.stem!r}: target column {target!r} not found in {str(p)!r}; "
                            f"available columns: {', '.join(repr(c) for c in columns)}")
        return
    if suffix == ".npz":
        p = _check_file(text, "NPZ")
        shapes = _npz_shapes(p)
        missing = [k for k in ("X", "y") if k not in shapes]
        if missing:
            raise DataError(f"dataset {p.stem!r}: NPZ {str(p)!r} lacks array(s) {missing}; it holds "
                            f"{sorted(shapes)}, expected 'X' (features) and 'y' (labels)")
        x, y = shapes["X"], shapes["y"]
        if len(x) < 2 or not y or x[0] != y[0]:
            raise DataError(f"dataset {p.stem!r}: X has shape {x} and y {y}; expected (N, ...) and (N,)")
        if image and len(x) not in (3, 4):
            raise DataError(f"dataset {p.stem!r}: the model needs images, X of shape (N, H, W) or (N, C, H, W); "
                            f"got {x}")
        return
    if text not in _SKLEARN:
        raise DataError(f"unknown dataset {text!r}; known datasets: {', '.join(KNOWN_DATASETS)} "
                        "(or a path to a .csv or .npz file)")
    if image and text not in ("digits", "digits_images"):
        raise DataError(f"dataset {text!r} has no image layout; image data sets: digits, digits_images "
                        "(or an .npz with X of shape (N, H, W) or (N, C, H, W))")


def load_csv(
    path: str | os.PathLike[str],
    target: str,
    *,
    name: str | None = None,
    split_seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    standardize: bool = True,
    **read_csv_kwargs: Any,
) -> DataSplits:
    """Load a CSV file with a header row; ``target`` names the label column.

    Every other column is a feature and must be numeric without missing values.

    Raises:
        DataError: file missing or unreadable, target column missing (lists the
            columns), non-numeric feature columns (named), missing values (columns
            and counts), a single class, too few rows per class.
    """
    import pandas as pd

    p = _check_file(path, "CSV")
    ds_name = name or p.stem
    try:
        df = pd.read_csv(p, **read_csv_kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"dataset {ds_name!r}: cannot read CSV {str(p)!r}: {exc}") from exc
    columns = [str(c) for c in df.columns]
    df.columns = columns
    if target not in columns:
        raise DataError(
            f"dataset {ds_name!r}: target column {target!r} not found in {str(p)!r}; "
            f"available columns: {', '.join(repr(c) for c in columns)}"
        )
    features = [c for c in columns if c != target]
    if not features:
        raise DataError(f"dataset {ds_name!r}: no feature columns besides the target {target!r}")
    if len(df) == 0:
        raise DataError(f"dataset {ds_name!r}: CSV {str(p)!r} has a header but no rows")
    non_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(df[c])]
    if non_numeric:
        examples = ", ".join(f"{c!r} (e.g. {df[c].dropna().iloc[0]!r})" if df[c].notna().any() else repr(c)
                             for c in non_numeric)
        raise DataError(
            f"dataset {ds_name!r}: non-numeric feature column(s) {examples}; "
            "encode them as numbers (e.g. one-hot) or drop them"
        )
    missing = df[[*features, target]].isna().sum()
    missing = missing[missing > 0]
    if len(missing):
        cols = ", ".join(f"{c!r} ({int(k)})" for c, k in missing.items())
        raise DataError(
            f"dataset {ds_name!r}: {int(missing.sum())} missing value(s) (NaN) in column(s) {cols}; "
            "impute or drop them"
        )
    x = df[features].to_numpy(dtype=np.float64)
    y = df[target].to_numpy()
    return make_splits(x, y, name=ds_name, split_seed=split_seed, fractions=fractions,
                       standardize=standardize, feature_names=features)


def load_npz(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    split_seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    standardize: bool = True,
) -> DataSplits:
    """Load an ``.npz`` file holding arrays ``X`` (features) and ``y`` (labels)."""
    p = _check_file(path, "NPZ")
    ds_name = name or p.stem
    try:
        with np.load(p, allow_pickle=False) as npz:
            keys = list(npz.files)
            missing = [k for k in ("X", "y") if k not in keys]
            if missing:
                raise DataError(
                    f"dataset {ds_name!r}: NPZ {str(p)!r} lacks array(s) {missing}; "
                    f"it holds {keys}, expected 'X' (features) and 'y' (labels)"
                )
            x, y = npz["X"], npz["y"]
    except (OSError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"dataset {ds_name!r}: cannot read NPZ {str(p)!r}: {exc}") from exc
    return make_splits(x, y, name=ds_name, split_seed=split_seed, fractions=fractions, standardize=standardize)


def from_torch_dataset(
    dataset: Any,
    *,
    name: str = "torch_dataset",
    split_seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    standardize: bool = True,
) -> DataSplits:
    """Materialize a map-style torch Dataset of ``(x, y)`` pairs and split it.

    The whole data set is read once into memory (it must fit), then handled
    like arrays: training later slices tensors already on the device.
    """
    n = len(dataset)
    if n == 0:
        raise DataError(f"dataset {name!r}: the torch Dataset is empty")
    xs, ys = [], []
    for i in range(n):
        item = dataset[i]
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise DataError(f"dataset {name!r}: item {i} is not an (x, y) pair")
        xs.append(_to_numpy(item[0]))
        ys.append(_to_numpy(item[1]).reshape(()))
    shapes = {a.shape for a in xs}
    if len(shapes) > 1:
        raise DataError(f"dataset {name!r}: examples have different shapes {sorted(shapes)[:3]}")
    return make_splits(np.stack(xs), np.stack(ys), name=name, split_seed=split_seed,
                       fractions=fractions, standardize=standardize)


def load_dataset(
    spec: str | os.PathLike[str],
    *,
    target: str | None = None,
    image: bool = False,
    split_seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    standardize: bool = True,
) -> DataSplits:
    """Load a data set by name (`KNOWN_DATASETS`) or path (``.csv`` with ``target``, ``.npz``).

    Raises:
        DataError: unknown name (lists the known ones) or any problem of the data.
    """
    text = os.fspath(spec)
    suffix = Path(text).suffix.lower()
    if suffix == ".csv":
        if not target:
            raise DataError(f"CSV data set {text!r} needs the name of its target column (target=...)")
        return load_csv(text, target, split_seed=split_seed, fractions=fractions, standardize=standardize)
    if suffix == ".npz":
        return load_npz(text, split_seed=split_seed, fractions=fractions, standardize=standardize)
    return load_sklearn(text, image=image, split_seed=split_seed, fractions=fractions, standardize=standardize)


def _to_numpy(a: Any) -> np.ndarray:
    if hasattr(a, "detach") and hasattr(a, "cpu"):
        return a.detach().cpu().numpy()
    return np.asarray(a)
