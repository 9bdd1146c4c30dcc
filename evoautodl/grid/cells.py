"""Cells of a comparison: one (problem, algorithm, seed) run each, planned and validated before anything runs.

A cell is an ordinary run directory ``cells/PROBLEM/ALGORITHM/seedK`` (``evoautodl show``,
``analyze``, ``resume`` and ``load_run`` work on it) plus ``cell.json``: its status
(``running``, ``complete``, ``stopped`` by a signal, ``failed``), the exact experiment table
it ran, the package versions, the host and rank, and timings.

Planning (:func:`plan_cells`) builds each (problem, algorithm) pair once with
:func:`evoautodl.experiment.parse_experiment` (so a bad option, an unknown algorithm or a
missing baseline library is reported before any cell runs), then compares every existing
``cell.json`` with the configuration it would run now: a finished (or resumable) cell whose
problem, algorithm, fidelity, seed or budget changed is refused with the keys that differ.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import platform
import socket
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from evoautodl.errors import ConfigError, EvoAutoDLError
from evoautodl.grid.spec import BUDGET_UNITS, AlgorithmSpec, GridSpec, ProblemSpec
from evoautodl.resume import FIXED_SECTIONS as RUN_FIXED_SECTIONS
from evoautodl.resume import changed_keys
from evoautodl.resume import fixed_part as resume_fixed_part

__all__ = ["CELL_FILE", "Cell", "CellPlan", "cell_config", "changed_keys", "fixed_part", "plan_cells",
           "read_cell_state", "versions", "write_cell_state"]

CELL_FILE = "cell.json"
FIXED_SECTIONS = (*RUN_FIXED_SECTIONS, "stop")
"""The sections a cell may not change between a run and a rerun ([backend] and [run] may)."""

_BASE_PACKAGES = ("evoautodl", "numpy", "scipy", "pandas", "ConfigSpace", "deap", "onnxruntime", "torch", "mpi4py")


@dataclass(frozen=True)
class Cell:
    """One run of the grid.

    Attributes:
        index: position in the grid's cell list (problems x algorithms x seeds, in file order).
        problem, algorithm: labels; seed: the run's root seed.
        path: the run directory, relative to the results folder.
        cheap: runs as one serial process (else on a manager/worker group).
    """

    index: int
    problem: str
    algorithm: str
    seed: int
    path: str
    cheap: bool


@dataclass(frozen=True)
class CellPlan:
    """The validated grid: cells, their exact experiment tables and what each problem needs."""

    spec: GridSpec
    cells: tuple[Cell, ...]
    configs: tuple[dict[str, Any], ...]
    problem_info: dict[str, dict[str, Any]]
    algorithm_info: dict[str, dict[str, Any]]
    base_dir: str

    def status(self, out: Path) -> list[str]:
        """Status of each cell in ``out`` ("missing" when it never started)."""
        return [read_cell_state(out / c.path).get("status", "missing") for c in self.cells]


@functools.lru_cache(maxsize=16)
def _versions(extra: tuple[str, ...]) -> tuple[tuple[str, str | None], ...]:
    out: dict[str, str | None] = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in (*_BASE_PACKAGES, *extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return tuple(out.items())


def versions(extra: tuple[str, ...] = ()) -> dict[str, str | None]:
    """Python, platform and installed package versions (None: not installed); imports nothing.

    Read once per process (package metadata is slow to parse and does not change while it runs).
    """
    return dict(_versions(tuple(extra)))


def fixed_part(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a cell's experiment a rerun must not change (as plain JSON values): a run's, and its budget."""
    return resume_fixed_part(config, FIXED_SECTIONS)


def read_cell_state(cell_dir: Path) -> dict[str, Any]:
    """Contents of ``cell.json`` ({} when absent or unreadable: the cell is treated as never run)."""
    try:
        return json.loads((cell_dir / CELL_FILE).read_text())
    except (OSError, ValueError):
        return {}


def write_cell_state(cell_dir: Path, state: dict[str, Any]) -> None:
    """Write ``cell.json`` atomically (tmp + rename)."""
    cell_dir.mkdir(parents=True, exist_ok=True)
    tmp = cell_dir / f".{CELL_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(state, indent=1, default=str) + "\n")
    os.replace(tmp, cell_dir / CELL_FILE)


def cell_started(cell: Cell, config: dict[str, Any], attempt: int, rank: int, extra: tuple[str, ...]) -> dict:
    """The ``cell.json`` of a cell that starts now."""
    return {"status": "running", "problem": cell.problem, "algorithm": cell.algorithm, "seed": cell.seed,
            "attempt": attempt, "host": socket.gethostname(), "rank": rank, "pid": os.getpid(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "versions": versions(extra),
            "experiment": fixed_part(config), "config": config}


def _resolve_algorithm(a: AlgorithmSpec) -> tuple[str, tuple[str, ...]]:
    """(name for [algorithm], the libraries it needs) for a project algorithm, a baseline or module:Class."""
    from evoautodl.algorithms import ALGORITHM_SPECS, available_algorithms
    from evoautodl.baselines import BASELINES, require_baseline

    if a.name not in BASELINES and a.name not in ALGORITHM_SPECS and ":" not in a.name:
        raise ConfigError(f"algorithms.{a.label}: unknown algorithm {a.name!r}; evoautodl's: "
                          f"{', '.join(available_algorithms())}; baselines: {', '.join(BASELINES)}; "
                          "or your own 'module:Class'")
    if a.name in BASELINES:
        require_baseline(a.name, where=f"algorithms.{a.label}")
        return BASELINES[a.name].target, BASELINES[a.name].packages
    return a.name, ()


def cell_config(spec: GridSpec, p: ProblemSpec, a: AlgorithmSpec, seed: int, algo_name: str,
                max_budget: float | None) -> dict[str, Any]:
    """The experiment table (as ``evoautodl run`` reads) of one cell, before path resolution."""
    raw: dict[str, Any] = {
        "name": f"{spec.name}/{p.label}/{a.label}/seed{seed}",
        "seed": seed,
        "workload": copy.deepcopy(p.workload),
        "algorithm": {"name": algo_name, **copy.deepcopy(a.options)},
        "stop": dict(spec.stop),
        "backend": _cheap_backend(spec, p) if p.cheap else {},
    }
    if p.space:
        raw["space"] = copy.deepcopy(p.space)
    fid = dict(p.fidelity)
    if (max_budget is not None and max_budget > 1) or "max_budget" in fid:
        raw["fidelity"] = {"min_budget": 1, "eta": 3, **fid}
    if spec.run:
        raw["run"] = dict(spec.run)
    return raw


def _cheap_backend(spec: GridSpec, p: ProblemSpec) -> dict[str, Any]:
    """A cheap cell's [backend]: serial or simulated, with the problem's per-trial timeout if it gives one."""
    limit = {"timeout_s": p.backend["timeout_s"]} if "timeout_s" in p.backend else {}
    if spec.backend["type"] == "simulated":
        return {"type": "simulated", "n_workers": spec.backend.get("n_workers", 1), **limit}
    return {"type": "serial", **limit}


def _workload_max_budget(workload: Any) -> float | None:
    v = getattr(workload, "max_budget", None) or getattr(workload, "max_budget_epochs", None)
    return None if v is None else float(v)


def _check_budget(spec: GridSpec, p: ProblemSpec, exp: Any) -> None:
    """Conflicting budgets: an epoch budget below one full-fidelity evaluation."""
    if spec.budget_unit != "epochs":
        return
    full = exp.ladder.max_budget if exp.ladder is not None else _workload_max_budget(exp.workload)
    if full is not None and spec.budget_max < full:
        raise ConfigError(
            f"budget.max: conflicting budgets: {spec.budget_max:g} epochs per cell is less than one evaluation at "
            f"problem {p.label!r}'s maximum budget ({full:g} epochs)"
        )


def plan_cells(spec: GridSpec, base_dir: str | Path, out: Path) -> CellPlan:
    """Build and validate every (problem, algorithm) pair; expand the seeds; check existing cells.

    Raises:
        ConfigError: naming the problem, the algorithm and the problem (bad option, unknown
            algorithm, missing library, conflicting budgets, a finished cell whose configuration changed).
    """
    from evoautodl.experiment import parse_experiment

    base = Path(base_dir)
    algos = {a.label: _resolve_algorithm(a) for a in spec.algorithms}
    cells: list[Cell] = []
    configs: list[dict[str, Any]] = []
    problem_info: dict[str, dict[str, Any]] = {}
    for p in spec.problems:
        probe = {"seed": 0, "workload": copy.deepcopy(p.workload), "stop": {"max_evaluations": 1},
                 **({"space": copy.deepcopy(p.space)} if p.space else {})}
        try:
            exp = parse_experiment(probe, base_dir=base, strict_fidelity=False)
        except EvoAutoDLError as exc:
            raise ConfigError(f"problems.{p.label}: {exc}") from exc
        space = exp.space  # built once per problem
        max_budget = _workload_max_budget(exp.workload)
        names = tuple(getattr(exp.workload, "objective_names", ("objective",)))
        problem_info[p.label] = {"max_budget": max_budget, "objective": names[0], "objectives": list(names),
                                 "workload": exp.config["workload"], "cheap": p.cheap,
                                 "reference_objective": p.reference_objective}
        for a in spec.algorithms:
            name, _ = algos[a.label]
            raw = cell_config(spec, p, a, spec.seeds[0], name, max_budget)
            try:
                exp = parse_experiment(raw, base_dir=base, space=space, strict_fidelity=False)
            except EvoAutoDLError as exc:
                raise ConfigError(f"problems.{p.label} x algorithms.{a.label}: {exc}") from exc
            _check_budget(spec, p, exp)
            resolved = json.loads(json.dumps(exp.config, default=str))
            for seed in spec.seeds:
                cfg = copy.deepcopy(resolved)
                cfg["seed"] = seed
                cfg["name"] = f"{spec.name}/{p.label}/{a.label}/seed{seed}"
                cells.append(Cell(index=len(cells), problem=p.label, algorithm=a.label, seed=seed,
                                  path=f"cells/{p.label}/{a.label}/seed{seed}", cheap=p.cheap))
                configs.append(cfg)
    algorithm_info = {a.label: {"name": a.name, **a.options, "packages": list(algos[a.label][1])}
                      for a in spec.algorithms}
    plan = CellPlan(spec=spec, cells=tuple(cells), configs=tuple(configs), problem_info=problem_info,
                    algorithm_info=algorithm_info, base_dir=str(base.resolve()))
    _check_existing(plan, out)
    return plan


def _check_existing(plan: CellPlan, out: Path) -> None:
    """Refuse cells whose recorded experiment differs from the planned one (unless a clean restart)."""
    for cell, cfg in zip(plan.cells, plan.configs):
        state = read_cell_state(out / cell.path)
        if not state or (cell.cheap and state.get("status") != "complete"):
            continue  # never ran, or restarts cleanly
        changed = changed_keys(state.get("experiment", {}), fixed_part(cfg))
        if changed:
            raise ConfigError(
                f"{out / cell.path}: this cell ran with another configuration ({', '.join(changed[:4])} changed); "
                "use another --out, or delete the cell folder to run it again"
            )


def budget_stop_key(unit: str) -> str:
    """The [stop] key of a budget unit."""
    return BUDGET_UNITS[unit]
