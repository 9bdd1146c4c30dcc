"""LCBench's funnel-shaped MLP, trained for real (Zimmer, Lindauer & Hutter, TPAMI 2021).

LCBench ("Auto-PyTorch Tabular: Multi-Fidelity MetaLearning for Efficient and
Robust AutoDL", IEEE TPAMI 43(9), 2021; data at github.com/automl/LCBench)
trained 2000 random configurations of one Auto-PyTorch pipeline for 50 epochs on
35 OpenML data sets: a funnel-shaped MLP (Auto-PyTorch ``ShapedMlpNet``), SGD,
cosine annealing without restarts. Seven hyperparameters vary (`LCBENCH_SPACE`,
ranges and defaults from LCBench's ConfigSpace file as shipped with YAHPO Gym):

=================  ===================  =====
batch_size         int  [16, 512]       log
learning_rate      float [1e-4, 1e-1]   log
momentum           float [0.1, 0.99]
weight_decay       float [1e-5, 1e-1]
num_layers         int  [1, 5]
max_units          int  [64, 1024]      log
max_dropout        float [0, 1]
=================  ===================  =====

Choices where the paper is vague (we follow Auto-PyTorch's code, version 0.0.2,
which produced LCBench):

* ``num_layers`` counts the Linear layers *including* the output layer
  (``ShapedMlpNet`` builds ``num_layers - 1`` hidden layers): 1 is multinomial
  logistic regression, 5 has 4 hidden layers.
* Widths (``get_shaped_neuron_counts(..., "funnel")``): the first hidden layer
  has ``max(n_features, max_units)`` units, each following one
  ``int((first - n_classes) / (num_layers - 1))`` fewer (integer step).
* Dropout ("shaped dropout", funnel shape on a 0..1000 scale): hidden layer i
  gets ``counts[i] / 1000 * max_dropout`` with ``counts`` the funnel from 1000 to
  0 over ``num_layers`` entries, so the first hidden layer has ``max_dropout``
  and rates shrink linearly. A dropout layer is always present (p may be 0 or 1;
  p = 1 zeroes the first hidden layer, as in LCBench).
* Layer order Linear -> ReLU -> Dropout; no batch norm; PyTorch's default
  initialization.
* SGD(lr, momentum, weight_decay), no Nesterov; ``CosineAnnealingLR`` with
  ``T_max = max_budget_epochs`` (50 as in LCBench) and ``eta_min = 0``, stepped
  once per epoch; a budget b < 50 is the first b epochs of the 50-epoch run.
* Loss: class-weighted cross-entropy (Auto-PyTorch ``cross_entropy_weighted``,
  weights ``n / (n_classes * count_c)`` from the training split), as recorded in
  LCBench's run configurations; ``weighted_loss=False`` gives plain
  cross-entropy. Validation/test losses are unweighted cross-entropy.
* Data: LCBench used OpenML tasks with mean imputation and standardization; we
  standardize with training statistics (`evoautodl.data`), reject missing values,
  and split stratified 0.6/0.2/0.2 with a fixed ``split_seed`` (LCBench used its
  own split; its metrics are not reproduced number for number).
* Batches keep the last partial batch (DataLoader ``drop_last=False``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from evoautodl.data import DEFAULT_FRACTIONS, DataSplits, check_dataset, load_dataset
from evoautodl.workloads.base import WorkerContext
from evoautodl.workloads.training import TorchWorkload

if TYPE_CHECKING:  # pragma: no cover
    from evoautodl.space import SearchSpace

__all__ = [
    "DEFAULT_CONFIG",
    "LCBENCH_SPACE",
    "LCBenchMLP",
    "build_funnel_mlp",
    "funnel_dropouts",
    "funnel_widths",
    "search_space",
    "space_dict",
]

LCBENCH_SPACE: dict[str, dict[str, Any]] = {
    "batch_size": {"type": "int", "lower": 16, "upper": 512, "log": True, "default": 91},
    "learning_rate": {"type": "float", "lower": 1e-4, "upper": 1e-1, "log": True, "default": 0.0031622777},
    "momentum": {"type": "float", "lower": 0.1, "upper": 0.99, "default": 0.545},
    "weight_decay": {"type": "float", "lower": 1e-5, "upper": 0.1, "default": 0.050005},
    "num_layers": {"type": "int", "lower": 1, "upper": 5, "default": 3},
    "max_units": {"type": "int", "lower": 64, "upper": 1024, "log": True, "default": 256},
    "max_dropout": {"type": "float", "lower": 0.0, "upper": 1.0, "default": 0.5},
}
DEFAULT_CONFIG: dict[str, Any] = {name: spec["default"] for name, spec in LCBENCH_SPACE.items()}


def space_dict() -> dict[str, dict[str, Any]]:
    """A copy of `LCBENCH_SPACE` (the declarative form `SearchSpace.from_dict` reads)."""
    return copy.deepcopy(LCBENCH_SPACE)


def search_space() -> SearchSpace:
    """The LCBench search space as an `evoautodl.space.SearchSpace`."""
    from evoautodl.space import SearchSpace

    return SearchSpace.from_dict(space_dict())


def _funnel(first: int, last: int, count: int) -> list[int]:
    """Auto-PyTorch's funnel: ``count`` values from ``first`` down to ``last`` (integer step)."""
    if count <= 0:
        return []
    if count == 1:
        return [last]
    step = max(0, int((first - last) / (count - 1)))
    return [first - i * step for i in range(count - 1)] + [last]


def funnel_widths(n_features: int, n_classes: int, max_units: int, num_layers: int) -> list[int]:
    """Hidden-layer widths of the funnel MLP (``num_layers - 1`` of them)."""
    return _funnel(max(int(n_features), int(max_units)), int(n_classes), int(num_layers))[:-1]


def funnel_dropouts(max_dropout: float, num_layers: int) -> list[float]:
    """Dropout rate of each hidden layer: the funnel from ``max_dropout`` towards 0."""
    return [c / 1000 * float(max_dropout) for c in _funnel(1000, 0, int(num_layers))[:-1]]


def build_funnel_mlp(
    n_features: int, n_classes: int, num_layers: int, max_units: int, max_dropout: float
) -> nn.Sequential:
    """Auto-PyTorch ``ShapedMlpNet`` with funnel units and funnel dropout, ReLU."""
    layers: list[nn.Module] = []
    previous = int(n_features)
    for width, p in zip(
        funnel_widths(n_features, n_classes, max_units, num_layers), funnel_dropouts(max_dropout, num_layers)
    ):
        layers += [nn.Linear(previous, width), nn.ReLU(), nn.Dropout(min(max(p, 0.0), 1.0))]
        previous = width
    layers.append(nn.Linear(previous, int(n_classes)))
    return nn.Sequential(*layers)


class LCBenchMLP(TorchWorkload):
    """Train LCBench's funnel MLP on a real data set (tabular; images are flattened).

    Args:
        dataset: a name in `evoautodl.data.KNOWN_DATASETS` or a ``.csv`` / ``.npz`` path.
        target: target column of a CSV data set.
        split_seed: seed of the stratified train/validation/test split.
        fractions: train / validation / test fractions.
        objective: "val_error", "val_loss" or "val_balanced_error".
        max_budget_epochs: cosine-annealing horizon and largest budget (LCBench: 50).
        weighted_loss: class-weighted training loss (LCBench) or plain cross-entropy.
        deterministic, eval_batch_size: see `TorchWorkload`.
    """

    #: what PBT's explore may change: hyperparameters a resumed checkpoint can take on
    #: (optimizer settings, batch size); the architecture stays that of the checkpoint
    pbt_hyperparameters: tuple[str, ...] = ("learning_rate", "momentum", "weight_decay", "batch_size")
    #: the 7 LCBench hyperparameters; one the space leaves out (or an inactive one) takes `DEFAULT_CONFIG`'s value
    hyperparameters: tuple[str, ...] = tuple(LCBENCH_SPACE)

    def __init__(
        self,
        dataset: str = "digits",
        *,
        target: str | None = None,
        split_seed: int = 0,
        fractions: Sequence[float] = DEFAULT_FRACTIONS,
        objective: str = "val_error",
        max_budget_epochs: int = 50,
        weighted_loss: bool = True,
        deterministic: bool = True,
        eval_batch_size: int = 8192,
    ) -> None:
        super().__init__(objective=objective, max_budget_epochs=max_budget_epochs,
                         deterministic=deterministic, eval_batch_size=eval_batch_size)
        self.dataset = str(dataset)
        self.target = target
        self.split_seed = int(split_seed)
        self.fractions = tuple(float(f) for f in fractions)
        self.weighted_loss = bool(weighted_loss)

    def __repr__(self) -> str:
        return (f"LCBenchMLP(dataset={self.dataset!r}, split_seed={self.split_seed}, "
                f"objective={self.objective!r}, max_budget_epochs={self.max_budget_epochs})")

    def search_space(self) -> SearchSpace:
        """The LCBench search space."""
        return search_space()

    def preflight(self) -> None:
        """The data set exists (a CSV's header names ``target``, an NPZ holds X and y)."""
        check_dataset(self.dataset, target=self.target)

    def load_data(self, context: WorkerContext) -> DataSplits:
        data = load_dataset(self.dataset, target=self.target, split_seed=self.split_seed,
                            fractions=self.fractions)
        return data.flattened()

    def _config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return {**DEFAULT_CONFIG, **config}

    def build_model(self, config: Mapping[str, Any], data: DataSplits) -> nn.Module:
        c = self._config(config)
        return build_funnel_mlp(data.n_features, data.n_classes, int(c["num_layers"]), int(c["max_units"]),
                                float(c["max_dropout"]))

    def build_optimizer(self, config: Mapping[str, Any], model: nn.Module) -> torch.optim.Optimizer:
        c = self._config(config)
        return torch.optim.SGD(model.parameters(), lr=float(c["learning_rate"]), momentum=float(c["momentum"]),
                               weight_decay=float(c["weight_decay"]))

    def build_loss(self, config: Mapping[str, Any], data: DataSplits) -> nn.Module:
        if not self.weighted_loss:
            return nn.CrossEntropyLoss()
        counts = data.class_counts("train").astype(np.float64)
        weights = len(data.y_train) / (data.n_classes * np.maximum(counts, 1.0))
        return nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32))

    def batch_size(self, config: Mapping[str, Any]) -> int:
        return int(self._config(config)["batch_size"])
