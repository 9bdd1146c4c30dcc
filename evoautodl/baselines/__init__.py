"""Baselines from other libraries behind evoautodl's ask/tell contract (``pip install evoautodl[baselines]``).

Each adapter subclasses :class:`evoautodl.algorithms.base.Algorithm`: it implements
``ask`` and the ``on_result`` hook, runs on the same workloads, search spaces, budget
accounting and run directories as the project's own algorithms, and resumes exactly
(its library object is rebuilt and the recorded library calls replayed; see
:mod:`evoautodl.baselines.base`). In an experiment or a grid file::

    [algorithms.tpe]
    name = "optuna_tpe"

| name | library | what |
| --- | --- | --- |
| ``optuna_tpe`` | optuna | TPE at the full budget |
| ``optuna_hyperband`` | optuna | TPE + Hyperband pruner, rung by rung with checkpoint continuation |
| ``dehb_lib`` | dehb | the DEHB reference implementation (automl/DEHB), ask/tell |
| ``smac_bo`` | smac | SMAC3's HPO facade (random-forest BO) at the full budget |
| ``smac_hyperband`` | smac | SMAC3's multi-fidelity facade (Hyperband intensifier) |

A missing library is a :class:`~evoautodl.errors.ConfigError` naming the package and the
install command, raised when the grid (or the experiment) is validated.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from evoautodl.algorithms import ALGORITHM_SPECS, BASELINE_LIBRARIES
from evoautodl.errors import ConfigError

__all__ = ["BASELINES", "Baseline", "require_baseline", "require_module"]


@dataclass(frozen=True)
class Baseline:
    """A baseline adapter: where its class lives and which distributions it needs."""

    target: str
    packages: tuple[str, ...]
    modules: tuple[str, ...]


#: the baselines as the algorithm registry has them (``evoautodl.algorithms.ALGORITHM_SPECS`` names each, so
#: ``[algorithm] name = "optuna_tpe"`` works in an experiment file as in a grid)
BASELINES: dict[str, Baseline] = {name: Baseline(ALGORITHM_SPECS[name], (lib,), (lib,))
                                  for name, lib in BASELINE_LIBRARIES.items()}

_INSTALL = "pip install 'evoautodl[baselines]'"


def require_module(module: str, who: str) -> None:
    """ConfigError unless ``module`` can be imported (checked without importing it)."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ConfigError(f"{who} needs the {module!r} package, which is not installed ({_INSTALL})")


def require_baseline(name: str, where: str = "algorithm") -> None:
    """ConfigError naming the baseline and the missing package, before anything runs."""
    for module in BASELINES[name].modules:
        require_module(module, f"{where}: baseline {name!r}")
