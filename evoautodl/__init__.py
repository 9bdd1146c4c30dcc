"""evoautodl: MPI-parallel evolutionary AutoDL research framework.

The common API is importable from the package itself::

    from evoautodl import BudgetLadder, Runner, SerialBackend, StopCriteria, get_algorithm, load_run

Importing the package is cheap: every name is imported on first use (PEP 562
``__getattr__``), so torch and mpi4py are only imported by the modules that
need them (``MPIBackend`` imports mpi4py when it is constructed, not before).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> (module, attribute), imported on first access
_LAZY: dict[str, tuple[str, str]] = {
    # search spaces and operators
    "SearchSpace": ("evoautodl.space", "SearchSpace"),
    "declare": ("evoautodl.operators", "declare"),
    # algorithms and budgets
    "Algorithm": ("evoautodl.algorithms", "Algorithm"),
    "get_algorithm": ("evoautodl.algorithms", "get_algorithm"),
    "available_algorithms": ("evoautodl.algorithms", "available_algorithms"),
    "BudgetLadder": ("evoautodl.fidelity", "BudgetLadder"),
    # records
    "Trial": ("evoautodl.records", "Trial"),
    "Result": ("evoautodl.records", "Result"),
    "Evaluation": ("evoautodl.records", "Evaluation"),
    "Status": ("evoautodl.records", "Status"),
    "WorkerContext": ("evoautodl.workloads.base", "WorkerContext"),
    # running
    "Runner": ("evoautodl.runner", "Runner"),
    "RunSummary": ("evoautodl.runner", "RunSummary"),
    "StopCriteria": ("evoautodl.runner", "StopCriteria"),
    "SerialBackend": ("evoautodl.backends.serial", "SerialBackend"),
    "SimulatedBackend": ("evoautodl.backends.simulated", "SimulatedBackend"),
    "MPIBackend": ("evoautodl.backends.mpi", "MPIBackend"),
    "load_experiment": ("evoautodl.experiment", "load_experiment"),
    # results
    "load_run": ("evoautodl.log", "load_run"),
    # the contract checks
    "check_algorithm": ("evoautodl.testing", "check_algorithm"),
    "check_operator": ("evoautodl.testing", "check_operator"),
}

__all__ = [
    "__version__",
    "Algorithm",
    "BudgetLadder",
    "Evaluation",
    "MPIBackend",
    "Result",
    "RunSummary",
    "Runner",
    "SearchSpace",
    "SerialBackend",
    "SimulatedBackend",
    "Status",
    "StopCriteria",
    "Trial",
    "WorkerContext",
    "available_algorithms",
    "check_algorithm",
    "check_operator",
    "declare",
    "get_algorithm",
    "load_experiment",
    "load_run",
]

if TYPE_CHECKING:  # pragma: no cover
    from evoautodl.algorithms import Algorithm, available_algorithms, get_algorithm
    from evoautodl.backends.mpi import MPIBackend
    from evoautodl.backends.serial import SerialBackend
    from evoautodl.backends.simulated import SimulatedBackend
    from evoautodl.experiment import load_experiment
    from evoautodl.fidelity import BudgetLadder
    from evoautodl.log import load_run
    from evoautodl.operators import declare
    from evoautodl.records import Evaluation, Result, Status, Trial
    from evoautodl.runner import Runner, RunSummary, StopCriteria
    from evoautodl.space import SearchSpace
    from evoautodl.testing import check_algorithm, check_operator
    from evoautodl.workloads.base import WorkerContext


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    raise AttributeError(f"module 'evoautodl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
