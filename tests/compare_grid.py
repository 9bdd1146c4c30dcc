"""Test helper: a real grid results folder, written by evoautodl's own Runner.

``build_grid`` runs every (problem, algorithm, seed) cell with the Runner on
the synthetic workload (and, when asked, the LCBench surrogate) and lays the
cells out as ``evoautodl experiment`` does (grid.json + cells/P/A/seedK with
cell.json), so the comparison is tested on ordinary run directories.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evoautodl.algorithms import get_algorithm
from evoautodl.backends.serial import SerialBackend
from evoautodl.backends.simulated import SimulatedBackend
from evoautodl.fidelity import BudgetLadder
from evoautodl.runner import Runner, StopCriteria
from evoautodl.workloads.synthetic import MixedRastrigin

#: problem label -> MixedRastrigin options (max budget 9 epochs, ladder 1, 3, 9)
SYNTHETIC: dict[str, dict[str, Any]] = {
    "mixed-c0.5": {"fidelity_correlation": 0.5, "max_budget": 9},
    "mixed-c1-noisy": {"fidelity_correlation": 1.0, "noise_std": 0.01, "max_budget": 9},
}
#: algorithm label -> get_algorithm name and options
ALGORITHMS: dict[str, dict[str, Any]] = {
    "random": {"name": "random"},
    "asha_ea": {"name": "asha_ea"},
    "regularized": {"name": "regularized", "population_size": 6},
}


def _workload(problem: str, lcbench_data: str | None) -> Any:
    if problem.startswith("lcbench-"):
        from evoautodl.workloads.lcbench import LCBenchSurrogate

        return LCBenchSurrogate(problem.removeprefix("lcbench-"), data_dir=lcbench_data)
    return MixedRastrigin(**SYNTHETIC[problem])


def _stop(unit: str, budget: float) -> StopCriteria:
    if unit == "epochs":
        return StopCriteria(max_epochs=budget)
    if unit == "evaluations":
        return StopCriteria(max_evaluations=int(budget))
    return StopCriteria(max_time_s=budget)


def run_cell(path: Path, problem: str, algorithm: Mapping[str, Any], seed: int, unit: str, budget: float,
             lcbench_data: str | None = None, simulated_workers: int = 0) -> None:
    """One cell's run directory (no cell.json)."""
    wl = _workload(problem, lcbench_data)
    opts = {k: v for k, v in algorithm.items() if k != "name"}
    algo = get_algorithm(algorithm["name"], wl.search_space(), seed=seed,
                         ladder=BudgetLadder(1, wl.max_budget, 3), **opts)
    backend = SimulatedBackend(wl, simulated_workers) if simulated_workers else SerialBackend(wl)
    Runner(algo, backend, run_dir=path, stop=_stop(unit, budget), handle_signals=False).run()


def build_grid(root: Path, *, problems: Sequence[str] = tuple(SYNTHETIC),
               algorithms: Mapping[str, Mapping] = ALGORITHMS, seeds: Sequence[int] = (0, 1, 2),
               unit: str = "epochs", budget_max: float = 240.0,
               incomplete: Sequence[tuple[str, str, int]] = (), missing: Sequence[tuple[str, str, int]] = (),
               references: Mapping[str, float] | None = None, lcbench_data: str | None = None,
               simulated_workers: int = 0, name: str = "test-grid") -> Path:
    """Run every cell and write ``root/grid.json``; returns root.

    ``incomplete`` cells run half the budget and say status "running";
    ``missing`` cells are listed in grid.json but never run.
    """
    root.mkdir(parents=True, exist_ok=True)
    cells, problem_specs = [], {}
    for p in problems:
        wl = _workload(p, lcbench_data)
        objective = "val_error" if p.startswith("lcbench-") else "error"
        problem_specs[p] = {"max_budget": float(wl.max_budget), "objective": objective,
                            "reference_objective": (references or {}).get(p)}
        for a, spec in algorithms.items():
            for s in seeds:
                rel = f"cells/{p}/{a}/seed{s}"
                cells.append({"problem": p, "algorithm": a, "seed": s, "path": rel})
                if (p, a, s) in missing:
                    continue
                half = (p, a, s) in incomplete
                run_cell(root / rel, p, spec, s, unit, budget_max / 2 if half else budget_max, lcbench_data,
                         simulated_workers)
                (root / rel / "cell.json").write_text(json.dumps({"status": "running" if half else "complete"}))
    grid = {"name": name, "version": 1, "budget": {"unit": unit, "max": budget_max}, "problems": problem_specs,
            "algorithms": {a: dict(spec) for a, spec in algorithms.items()}, "seeds": list(seeds), "cells": cells}
    (root / "grid.json").write_text(json.dumps(grid, indent=1))
    return root


def copy_grid(src: Path, dst: Path) -> Path:
    """A copy of a grid folder without its compare/ output (tests that edit a grid use a copy)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("compare"))
    return dst


#: the grid most tests share: one cell stopped half-way (status "running"), one never run, one reference value
STANDARD: dict[str, Any] = {"incomplete": [("mixed-c0.5", "random", 2)],
                            "missing": [("mixed-c1-noisy", "regularized", 1)],
                            "references": {"mixed-c1-noisy": 0.2}}

_BUILT: dict[tuple, Path] = {}


def cached_grid(tmp_path_factory: Any, **options: Any) -> Path:
    """``build_grid(**options)`` once per test session (callers must not modify it; compare with ``out=``)."""
    key = tuple(sorted((k, repr(v)) for k, v in options.items()))
    if key not in _BUILT:
        _BUILT[key] = build_grid(tmp_path_factory.mktemp("grid"), **options)
    return _BUILT[key]
