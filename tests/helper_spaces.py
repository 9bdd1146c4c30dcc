"""Search-space specs shared by the operator tests."""

from __future__ import annotations

from typing import Any

#: a conditional space: model -> {tree subtree, net subtree -> optimizer subtree}, plus a constant
CONDITIONAL: dict[str, Any] = {
    "model": {"type": "categorical", "choices": ["tree", "net", "linear"]},
    "depth": {"type": "int", "lower": 1, "upper": 12, "condition": {"parent": "model", "equals": "tree"}},
    "min_leaf": {"type": "int", "lower": 1, "upper": 64, "log": True,
                 "condition": {"parent": "model", "equals": "tree"}},
    "layers": {"type": "int", "lower": 1, "upper": 4, "condition": {"parent": "model", "equals": "net"}},
    "width": {"type": "ordinal", "sequence": [32, 64, 128, 256, 512],
              "condition": {"parent": "model", "equals": "net"}},
    "optimizer": {"type": "categorical", "choices": ["sgd", "adam"], "condition": {"parent": "model", "equals": "net"}},
    "momentum": {"type": "float", "lower": 0.0, "upper": 0.99, "condition": {"parent": "optimizer", "equals": "sgd"}},
    "lr": {"type": "float", "lower": 1e-5, "upper": 1.0, "log": True},
    "seed_size": {"type": "constant", "value": 7},
}
