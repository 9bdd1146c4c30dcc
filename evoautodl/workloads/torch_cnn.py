"""A small CNN for image classification with a conditional search space.

Default data: scikit-learn's 8x8 digits as ``(N, 1, 8, 8)`` images. The
architecture has 1 to 3 convolution blocks::

    block b:  Conv2d(k_b x k_b, channels_b, "same" padding) -> [BatchNorm2d] -> ReLU
              -> MaxPool2d(2)   (only while the spatial size is >= 2)
    head:     Flatten -> Dropout(dropout) -> Linear(n_classes)

With 8x8 inputs the sizes go 8 -> 4 -> 2 -> 1, so three blocks fit. The
search space (`CNN_SPACE`) is conditional: the parameters of block 2 are active
only when ``n_blocks > 1``, those of block 3 when ``n_blocks > 2``; the optimizer
is "sgd" (with ``momentum`` and ``nesterov``) or "adam" (with ``beta1`` and
``beta2``). Learning rate (log), weight decay (log), batch size (log) and dropout
apply to every configuration. Training (cosine annealing over
``max_budget_epochs``, checkpoints, continuation) is the shared engine of
`evoautodl.workloads.training`. Inactive hyperparameters missing from a config
take the defaults in `DEFAULT_CONFIG`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from evoautodl.data import DEFAULT_FRACTIONS, DataSplits, check_dataset, load_dataset
from evoautodl.errors import DataError
from evoautodl.workloads.base import WorkerContext
from evoautodl.workloads.training import TorchWorkload

if TYPE_CHECKING:  # pragma: no cover
    from evoautodl.space import SearchSpace

__all__ = ["CNN_SPACE", "DEFAULT_CONFIG", "ConvNet", "ImageCNN", "search_space", "space_dict"]

MAX_BLOCKS = 3


def _block_params(b: int) -> dict[str, dict[str, Any]]:
    cond = {"condition": {"parent": "n_blocks", "gt": b - 1}} if b > 1 else {}
    return {
        f"channels_{b}": {"type": "int", "lower": 4, "upper": 64, "log": True, "default": 8 * 2 ** (b - 1),
                          **cond},
        f"kernel_{b}": {"type": "categorical", "choices": [3, 5], "default": 3, **copy.deepcopy(cond)},
    }


CNN_SPACE: dict[str, dict[str, Any]] = {
    "n_blocks": {"type": "int", "lower": 1, "upper": MAX_BLOCKS, "default": 2},
    **_block_params(1),
    **_block_params(2),
    **_block_params(3),
    "batch_norm": {"type": "categorical", "choices": [True, False], "default": True},
    "dropout": {"type": "float", "lower": 0.0, "upper": 0.5, "default": 0.1},
    "optimizer": {"type": "categorical", "choices": ["sgd", "adam"], "default": "sgd"},
    "momentum": {"type": "float", "lower": 0.0, "upper": 0.99, "default": 0.9,
                 "condition": {"parent": "optimizer", "equals": "sgd"}},
    "nesterov": {"type": "categorical", "choices": [True, False], "default": False,
                 "condition": {"parent": "optimizer", "equals": "sgd"}},
    "beta1": {"type": "float", "lower": 0.8, "upper": 0.999, "default": 0.9,
              "condition": {"parent": "optimizer", "equals": "adam"}},
    "beta2": {"type": "float", "lower": 0.9, "upper": 0.9999, "log": True, "default": 0.999,
              "condition": {"parent": "optimizer", "equals": "adam"}},
    "learning_rate": {"type": "float", "lower": 1e-4, "upper": 0.3, "log": True, "default": 0.03},
    "weight_decay": {"type": "float", "lower": 1e-6, "upper": 1e-2, "log": True, "default": 1e-4},
    "batch_size": {"type": "int", "lower": 16, "upper": 256, "log": True, "default": 64},
}
DEFAULT_CONFIG: dict[str, Any] = {name: spec["default"] for name, spec in CNN_SPACE.items()}


def space_dict() -> dict[str, dict[str, Any]]:
    """A copy of `CNN_SPACE` (the declarative form `SearchSpace.from_dict` reads)."""
    return copy.deepcopy(CNN_SPACE)


def search_space() -> SearchSpace:
    """The CNN search space as an `evoautodl.space.SearchSpace`."""
    from evoautodl.space import SearchSpace

    return SearchSpace.from_dict(space_dict())


class ConvNet(nn.Module):
    """Conv blocks (conv, optional batch norm, ReLU, 2x2 max-pool while size >= 2) and a linear head."""

    def __init__(
        self,
        in_shape: Sequence[int],
        n_classes: int,
        channels: Sequence[int],
        kernels: Sequence[int],
        batch_norm: bool,
        dropout: float,
    ) -> None:
        super().__init__()
        c, h, w = (int(s) for s in in_shape)
        layers: list[nn.Module] = []
        for ch, k in zip(channels, kernels):
            layers.append(nn.Conv2d(c, int(ch), int(k), padding=int(k) // 2, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(int(ch)))
            layers.append(nn.ReLU())
            if min(h, w) >= 2:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            c = int(ch)
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(float(dropout)), nn.Linear(c * h * w, int(n_classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ImageCNN(TorchWorkload):
    """Evolve a CNN on image data (default: digits 8x8).

    Args:
        dataset: a name in `evoautodl.data.KNOWN_DATASETS` with an image layout
            ("digits") or an ``.npz`` with ``X`` of shape (N, C, H, W) or (N, H, W).
        split_seed, fractions, objective, max_budget_epochs, deterministic,
        eval_batch_size: see `evoautodl.workloads.torch_mlp.LCBenchMLP`.
    """

    #: what PBT's explore may change: hyperparameters a resumed checkpoint can take on
    #: (optimizer settings, batch size); the architecture stays that of the checkpoint
    pbt_hyperparameters: tuple[str, ...] = (
        "learning_rate", "weight_decay", "momentum", "nesterov", "beta1", "beta2", "batch_size",
    )
    #: the hyperparameters of `CNN_SPACE`; one the space leaves out (or an inactive one) takes `DEFAULT_CONFIG`'s
    hyperparameters: tuple[str, ...] = tuple(CNN_SPACE)

    def __init__(
        self,
        dataset: str = "digits",
        *,
        split_seed: int = 0,
        fractions: Sequence[float] = DEFAULT_FRACTIONS,
        objective: str = "val_error",
        max_budget_epochs: int = 50,
        deterministic: bool = True,
        eval_batch_size: int = 4096,
    ) -> None:
        super().__init__(objective=objective, max_budget_epochs=max_budget_epochs,
                         deterministic=deterministic, eval_batch_size=eval_batch_size)
        self.dataset = str(dataset)
        self.split_seed = int(split_seed)
        self.fractions = tuple(float(f) for f in fractions)

    def __repr__(self) -> str:
        return (f"ImageCNN(dataset={self.dataset!r}, split_seed={self.split_seed}, "
                f"objective={self.objective!r}, max_budget_epochs={self.max_budget_epochs})")

    def search_space(self) -> SearchSpace:
        """The conditional CNN search space."""
        return search_space()

    def preflight(self) -> None:
        """The data set exists and holds images (digits, or an NPZ with X of shape (N, H, W) / (N, C, H, W))."""
        check_dataset(self.dataset, image=True)

    def load_data(self, context: WorkerContext) -> DataSplits:
        data = load_dataset(self.dataset, image=not self.dataset.lower().endswith(".npz"),
                            split_seed=self.split_seed, fractions=self.fractions)
        if not data.is_image:
            raise DataError(f"dataset {data.name!r}: the CNN needs images (N, C, H, W), got examples of shape "
                            f"{data.feature_shape}")
        return data

    def build_model(self, config: Mapping[str, Any], data: DataSplits) -> nn.Module:
        c = {**DEFAULT_CONFIG, **config}
        n = max(1, min(MAX_BLOCKS, int(c["n_blocks"])))
        return ConvNet(
            data.feature_shape, data.n_classes,
            channels=[int(c[f"channels_{b}"]) for b in range(1, n + 1)],
            kernels=[int(c[f"kernel_{b}"]) for b in range(1, n + 1)],
            batch_norm=bool(c["batch_norm"]), dropout=float(c["dropout"]),
        )

    def build_optimizer(self, config: Mapping[str, Any], model: nn.Module) -> torch.optim.Optimizer:
        c = {**DEFAULT_CONFIG, **config}
        lr, wd = float(c["learning_rate"]), float(c["weight_decay"])
        if c["optimizer"] == "adam":
            return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd,
                                    betas=(float(c["beta1"]), float(c["beta2"])))
        if c["optimizer"] != "sgd":
            raise ValueError(f"optimizer {c['optimizer']!r} unknown; choose 'sgd' or 'adam'")
        momentum = float(c["momentum"])
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=wd,
                               nesterov=bool(c["nesterov"]) and momentum > 0)
