"""Classification data for the torch workloads.

Load a data set and get a validated, stratified, standardized
train/validation/test split as numpy arrays; move it onto a device once::

    from evoautodl.data import load_dataset
    data = load_dataset("digits", split_seed=0)           # (N, 64) tabular
    images = load_dataset("digits", image=True)           # (N, 1, 8, 8)
    user = load_dataset("my.csv", target="label")         # or "my.npz" with X, y
    tensors = data.to_tensors("cuda:0")

Bad data raises `evoautodl.errors.DataError` naming the problem. Importing this
package does not import torch.
"""

from __future__ import annotations

from evoautodl.data.datasets import (
    KNOWN_DATASETS,
    check_dataset,
    from_arrays,
    from_torch_dataset,
    load_csv,
    load_dataset,
    load_npz,
    load_sklearn,
)
from evoautodl.data.splits import DEFAULT_FRACTIONS, MIN_ROWS_PER_CLASS, DataSplits, TensorSplits, make_splits

__all__ = [
    "DEFAULT_FRACTIONS",
    "KNOWN_DATASETS",
    "MIN_ROWS_PER_CLASS",
    "DataSplits",
    "check_dataset",
    "TensorSplits",
    "from_arrays",
    "from_torch_dataset",
    "load_csv",
    "load_dataset",
    "load_npz",
    "load_sklearn",
    "make_splits",
]
