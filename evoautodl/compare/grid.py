"""The grid results folder that ``evoautodl experiment`` writes and ``evoautodl compare`` reads.

::

    results/E/
      grid.json      {"name", "version": 1, "budget": {"unit", "max"}, "problems": {...},
                      "algorithms": {...}, "seeds": [...], "cells": [{"problem", "algorithm", "seed", "path"}]}
      cells/PROBLEM/ALGORITHM/seedK/   an ordinary run directory + cell.json {"status": "complete" | ...}
      compare/       what ``evoautodl compare`` writes

:func:`read_grid` validates ``grid.json`` and returns a :class:`Grid`; every
problem with it is one :class:`CompareError` naming the key.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoautodl.errors import CompareError

__all__ = ["BUDGET_UNITS", "CellSpec", "CompareError", "Grid", "ProblemSpec", "cell_status", "read_grid"]

GRID_NAME = "grid.json"
CELL_NAME = "cell.json"
BUDGET_UNITS = ("epochs", "evaluations", "time_s")
"""How budget spent is counted: epochs actually trained, finished trials, or seconds since the first trial started."""


@dataclass(frozen=True, slots=True)
class ProblemSpec:
    """One problem of the grid.

    Attributes:
        name: the problem's label in grid.json.
        objective: the minimised objective (a name from the run's ``objective_names``).
        max_budget: the fidelity maximum in epochs; only trials evaluated at it count
            (None: the problem has no fidelity, every OK trial counts).
        reference_objective: best known value (e.g. the best of a large random sample), or None.
    """

    name: str
    objective: str
    max_budget: float | None = None
    reference_objective: float | None = None


@dataclass(frozen=True, slots=True)
class CellSpec:
    """One (problem, algorithm, seed) cell and its run directory (absolute path)."""

    problem: str
    algorithm: str
    seed: int
    path: Path


@dataclass(frozen=True, slots=True)
class Grid:
    """A parsed ``grid.json``.

    Attributes:
        root: the results folder.
        name: the experiment's name.
        budget_unit: "epochs", "evaluations" or "time_s".
        budget_max: the budget every cell is compared at (the full budget).
        problems: the problems, in grid.json order.
        algorithms: algorithm labels, in grid.json order.
        seeds: the seeds.
        cells: every cell grid.json lists.
        settings: ``{algorithm label: settings}`` as grid.json gives them.
    """

    root: Path
    name: str
    budget_unit: str
    budget_max: float
    problems: tuple[ProblemSpec, ...]
    algorithms: tuple[str, ...]
    seeds: tuple[int, ...]
    cells: tuple[CellSpec, ...]
    settings: tuple[tuple[str, Any], ...] = ()

    def problem(self, name: str) -> ProblemSpec:
        """The problem called ``name``."""
        for p in self.problems:
            if p.name == name:
                return p
        raise CompareError(f"{self.root / GRID_NAME}: no problem {name!r}")

    @property
    def problem_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.problems)


def _number(value: Any, where: str, *, positive: bool = False, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CompareError(f"{where} must be a finite number{' or null' if allow_none else ''}, got {value!r}")
    if positive and value <= 0:
        raise CompareError(f"{where} must be > 0, got {value!r}")
    return float(value)


def _table(raw: dict[str, Any], key: str, where: str) -> Any:
    if key not in raw:
        raise CompareError(f"{where}: missing key {key!r}")
    return raw[key]


def read_grid(results_dir: str | Path) -> Grid:
    """Read and validate ``results_dir/grid.json``.

    Raises:
        CompareError: the folder or grid.json is missing or unreadable, or a key
            is missing, of the wrong type, or refers to an undeclared problem or
            algorithm (the message names the key).
    """
    root = Path(results_dir)
    path = root / GRID_NAME
    if not root.is_dir():
        raise CompareError(f"{root}: no such folder")
    if not path.is_file():
        raise CompareError(f"{root}: no {GRID_NAME} (is this a results folder written by `evoautodl experiment`?)")
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CompareError(f"{path}: not readable as JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise CompareError(f"{path}: expected a JSON object at the top level")
    where = str(path)
    version = _table(raw, "version", where)
    if version != 1:
        raise CompareError(f"{where}: version {version!r} is not supported (this evoautodl reads version 1)")
    name = str(raw.get("name", root.name))

    budget = _table(raw, "budget", where)
    if not isinstance(budget, dict):
        raise CompareError(f"{where}: budget must be a table with unit and max")
    unit = _table(budget, "unit", f"{where}: budget")
    if unit not in BUDGET_UNITS:
        raise CompareError(f"{where}: budget.unit must be one of {', '.join(BUDGET_UNITS)}, got {unit!r}")
    budget_max = _number(_table(budget, "max", f"{where}: budget"), f"{where}: budget.max", positive=True)
    assert budget_max is not None

    problems_raw = _table(raw, "problems", where)
    if not isinstance(problems_raw, dict) or not problems_raw:
        raise CompareError(f"{where}: problems must be a non-empty table")
    problems = []
    for pname, spec in problems_raw.items():
        key = f"{where}: problems.{pname}"
        if not isinstance(spec, dict):
            raise CompareError(f"{key} must be a table")
        objective = spec.get("objective", "objective")
        if not isinstance(objective, str) or not objective:
            raise CompareError(f"{key}.objective must be a non-empty string, got {objective!r}")
        problems.append(ProblemSpec(
            name=str(pname), objective=objective,
            max_budget=_number(spec.get("max_budget"), f"{key}.max_budget", positive=True, allow_none=True),
            reference_objective=_number(spec.get("reference_objective"), f"{key}.reference_objective",
                                        allow_none=True),
        ))

    algorithms_raw = _table(raw, "algorithms", where)
    if isinstance(algorithms_raw, list):
        algorithms_raw = {str(a): {} for a in algorithms_raw}
    if not isinstance(algorithms_raw, dict) or not algorithms_raw:
        raise CompareError(f"{where}: algorithms must be a non-empty table of algorithm labels")
    algorithms = tuple(str(a) for a in algorithms_raw)

    seeds_raw = _table(raw, "seeds", where)
    if not isinstance(seeds_raw, list) or not seeds_raw or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in seeds_raw):
        raise CompareError(f"{where}: seeds must be a non-empty list of integers, got {seeds_raw!r}")

    cells_raw = _table(raw, "cells", where)
    if not isinstance(cells_raw, list):
        raise CompareError(f"{where}: cells must be a list")
    known_p = {p.name for p in problems}
    cells, seen = [], set()
    for i, c in enumerate(cells_raw):
        key = f"{where}: cells[{i}]"
        if not isinstance(c, dict):
            raise CompareError(f"{key} must be a table")
        for k in ("problem", "algorithm", "seed", "path"):
            _table(c, k, key)
        if c["problem"] not in known_p:
            raise CompareError(f"{key}.problem {c['problem']!r} is not declared under problems")
        if c["algorithm"] not in algorithms:
            raise CompareError(f"{key}.algorithm {c['algorithm']!r} is not declared under algorithms")
        if not isinstance(c["seed"], int) or isinstance(c["seed"], bool):
            raise CompareError(f"{key}.seed must be an integer, got {c['seed']!r}")
        ident = (c["problem"], c["algorithm"], c["seed"])
        if ident in seen:
            raise CompareError(f"{key}: cell {ident} is listed twice")
        seen.add(ident)
        cell_path = Path(str(c["path"]))
        cells.append(CellSpec(problem=c["problem"], algorithm=c["algorithm"], seed=int(c["seed"]),
                              path=cell_path if cell_path.is_absolute() else root / cell_path))
    return Grid(root=root, name=name, budget_unit=unit, budget_max=budget_max, problems=tuple(problems),
                algorithms=algorithms, seeds=tuple(int(s) for s in seeds_raw), cells=tuple(cells),
                settings=tuple((str(a), s) for a, s in algorithms_raw.items()))


def cell_status(cell: CellSpec) -> str:
    """The ``status`` in a cell's cell.json; "missing" without a run directory or cell.json, "unreadable" if broken."""
    path = cell.path / CELL_NAME
    if not path.is_file():
        return "missing"
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return "unreadable"
    status = raw.get("status") if isinstance(raw, dict) else None
    return str(status) if status is not None else "unreadable"
