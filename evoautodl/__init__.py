"""evoautodl: MPI-parallel evolutionary AutoDL research framework.

Importing the package is cheap: torch and mpi4py are only imported by the
modules that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Evaluation",
    "Result",
    "SearchSpace",
    "Status",
    "Trial",
    "WorkerContext",
    "__version__",
    "load_run",
]

_LAZY = {
    "SearchSpace": ("evoautodl.space", "SearchSpace"),
    "Trial": ("evoautodl.records", "Trial"),
    "Result": ("evoautodl.records", "Result"),
    "Evaluation": ("evoautodl.records", "Evaluation"),
    "Status": ("evoautodl.records", "Status"),
    "WorkerContext": ("evoautodl.workloads.base", "WorkerContext"),
    "load_run": ("evoautodl.log", "load_run"),
}

if TYPE_CHECKING:  # pragma: no cover
    from evoautodl.log import load_run
    from evoautodl.records import Evaluation, Result, Status, Trial
    from evoautodl.space import SearchSpace
    from evoautodl.workloads.base import WorkerContext


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'evoautodl' has no attribute {name!r}")
