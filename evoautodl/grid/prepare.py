"""Reading a comparison file, planning its cells and writing ``grid.json`` (rank 0 only).

``grid.json`` is the contract with ``evoautodl compare``::

    {"name", "version": 1, "budget": {"unit", "max"},
     "problems": {P: {"max_budget", "objective", "reference_objective", "reference_method", ...}},
     "algorithms": {A: {"name", ...options}}, "seeds": [...],
     "cells": [{"problem", "algorithm", "seed", "path"}, ...]}
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from evoautodl.errors import ConfigError
from evoautodl.grid.cells import CellPlan, plan_cells, versions
from evoautodl.grid.reference import REFERENCE_METHOD, reference_objective
from evoautodl.grid.spec import GridSpec, parse_grid

__all__ = ["GRID_FILE", "load_plan", "read_grid_file", "write_grid_json"]

logger = logging.getLogger(__name__)

GRID_FILE = "grid.json"


def read_grid_file(path: str | Path) -> tuple[GridSpec, dict[str, Any], Path]:
    """(spec, raw table, folder of the file) of a comparison TOML file."""
    from evoautodl.experiment import read_experiment_file

    p = Path(path)
    raw = read_experiment_file(p)
    return parse_grid(raw), raw, p.resolve().parent


def load_plan(path: str | Path, out: str | Path) -> CellPlan:
    """Parse and validate the comparison file and every (problem, algorithm) pair; check existing cells."""
    spec, _, base = read_grid_file(path)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} exists and is not a folder")
    old = _read_grid_json(out)
    if old and old.get("name") not in (None, spec.name):
        raise ConfigError(f"{out}: holds the results of comparison {old.get('name')!r}, not {spec.name!r}; "
                          "use another --out")
    return plan_cells(spec, base, out)


def _read_grid_json(out: Path) -> dict[str, Any]:
    try:
        return json.loads((out / GRID_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _reference_key(plan: CellPlan, label: str) -> str:
    info = plan.problem_info[label]
    spec = plan.spec
    space = next(p.space for p in spec.problems if p.label == label)
    return json.dumps({"workload": info["workload"], "space": space, "samples": spec.reference_samples,
                       "seed": spec.reference_seed}, sort_keys=True, default=str)


def _references(plan: CellPlan, old: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """reference_objective (+ method) per problem: user value, cached value, or the sampled oracle."""
    from evoautodl.experiment import parse_experiment

    out: dict[str, dict[str, Any]] = {}
    cached = old.get("problems", {})
    for p in plan.spec.problems:
        info = plan.problem_info[p.label]
        if p.reference_objective is not None:
            out[p.label] = {"reference_objective": p.reference_objective, "reference_method": "given in the grid file"}
            continue
        key = _reference_key(plan, p.label)
        prev = cached.get(p.label, {})
        if prev.get("reference_key") == key and "reference_objective" in prev:
            out[p.label] = {k: prev[k] for k in ("reference_objective", "reference_method", "reference_key")}
            continue
        if len(info["objectives"]) > 1:
            out[p.label] = {"reference_objective": None, "reference_method": "none (multi-objective)"}
            continue
        probe = {"seed": 0, "workload": dict(info["workload"]), "stop": {"max_evaluations": 1},
                 **({"space": p.space} if p.space else {})}
        exp = parse_experiment(probe, base_dir=plan.base_dir, strict_fidelity=False)
        t0 = time.perf_counter()
        value = reference_objective(exp.workload, exp.space, plan.spec.reference_samples, plan.spec.reference_seed)
        method = (REFERENCE_METHOD.format(samples=plan.spec.reference_samples, seed=plan.spec.reference_seed)
                  if value is not None else "none (no sampled oracle for this workload)")
        logger.info("reference objective of %s: %s (%.1f s)", p.label, value, time.perf_counter() - t0)
        out[p.label] = {"reference_objective": value, "reference_method": method, "reference_key": key}
    return out


def write_grid_json(plan: CellPlan, out: Path, source: Path | None = None) -> dict[str, Any]:
    """Compute (or reuse) the references and write ``out/grid.json`` atomically; returns its content."""
    out.mkdir(parents=True, exist_ok=True)
    old = _read_grid_json(out)
    refs = _references(plan, old)
    spec = plan.spec
    problems = {}
    for p in spec.problems:
        info = plan.problem_info[p.label]
        problems[p.label] = {"max_budget": info["max_budget"], "objective": info["objective"],
                             "objectives": info["objectives"], "cost": "cheap" if info["cheap"] else "expensive",
                             "workload": info["workload"], **refs[p.label]}
    grid = {
        "name": spec.name,
        "version": 1,
        "budget": {"unit": spec.budget_unit, "max": spec.budget_max},
        "problems": problems,
        "algorithms": plan.algorithm_info,
        "seeds": list(spec.seeds),
        "cells": [{"problem": c.problem, "algorithm": c.algorithm, "seed": c.seed, "path": c.path}
                  for c in plan.cells],
        "created": old.get("created", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": versions(),
    }
    tmp = out / f".{GRID_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(grid, indent=1, default=str) + "\n")
    os.replace(tmp, out / GRID_FILE)
    if source is not None:
        (out / "experiment.toml").write_text(source.read_text())
    return grid
