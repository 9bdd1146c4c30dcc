"""The comparison-experiment file: algorithms x problems x seeds, validated before anything runs.

Layout::

    name = "lcbench-small"
    seeds = [0, 1, 2]                  # or seeds = 10 (seeds 0..9)

    [budget]                           # one unit for every cell
    unit = "epochs"                    # epochs (trained) | evaluations | time_s (simulated seconds)
    max = 2600

    [fidelity]                         # ladder defaults for problems with a maximum budget
    min_budget = 2
    eta = 3

    [backend]                          # how cells run (optional)
    type = "serial"                    # cheap cells: serial | simulated (time_s: simulated)
    n_workers = 1                      # simulated workers per cheap cell
    ranks_per_cell = 4                 # expensive cells under MPI: ranks per manager/worker group

    [reference]                        # the oracle of `evoautodl compare` (optional)
    samples = 20000
    seed = 0

    [algorithms.dehb]                  # label -> algorithm (name defaults to the label)
    [algorithms.ga10]
    name = "ga"
    population_size = 10
    [algorithms.tpe]
    name = "optuna_tpe"                # a baseline (pip install evoautodl[baselines])

    [problems.lcbench]                 # label -> workload table (as [workload] of `evoautodl run`)
    type = "lcbench"
    task_id = "all"                    # "all" or a list: one problem per task, labelled lcbench-TASK
    [problems.syn]
    type = "synthetic"
    fidelity_correlation = 0.5
    max_budget = 27
    cost = "cheap"                     # cheap | expensive (default: cheap for lcbench/synthetic)
    reference_objective = 0.06         # a known best value (skips the sampled oracle)
    # space = {file = "space.json"}    # the problem's own [space], fidelity = {...}, backend = {...}

Every mistake raises :class:`~evoautodl.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from evoautodl.errors import ConfigError

__all__ = ["BUDGET_UNITS", "CHEAP_WORKLOADS", "GridSpec", "ProblemSpec", "AlgorithmSpec", "parse_grid"]

BUDGET_UNITS: dict[str, str] = {"epochs": "max_epochs", "evaluations": "max_evaluations", "time_s": "max_time_s"}
"""Budget unit -> the StopCriteria field that enforces it."""

CHEAP_WORKLOADS = ("lcbench", "synthetic")
"""Workload types whose cells run as independent serial runs (the others get a manager/worker group)."""

_TOP = {"name", "seeds", "budget", "fidelity", "backend", "run", "reference", "algorithms", "problems"}
_BUDGET = {"unit", "max"}
_FIDELITY = {"min_budget", "eta", "max_budget"}
_BACKEND = {"type", "n_workers", "ranks_per_cell", "timeout_s", "devices", "workers_per_gpu", "torch_threads",
            "prefetch"}
_REFERENCE = {"samples", "seed"}
_PROBLEM_RESERVED = {"cost", "reference_objective", "space", "fidelity", "backend"}
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+-]*$")


@dataclass(frozen=True)
class ProblemSpec:
    """One problem of the grid.

    Attributes:
        label: folder name of its cells.
        workload: the ``[workload]`` table of its cells.
        space: its ``[space]`` table ({}: the workload's own space).
        fidelity: ladder settings (grid defaults merged with the problem's own).
        backend: backend settings of its expensive cells.
        cheap: independent serial runs (True) or a manager/worker group per cell (False).
        reference_objective: a best known value given by the user (None: sampled or unknown).
    """

    label: str
    workload: dict[str, Any]
    space: dict[str, Any] = field(default_factory=dict)
    fidelity: dict[str, Any] = field(default_factory=dict)
    backend: dict[str, Any] = field(default_factory=dict)
    cheap: bool = True
    reference_objective: float | None = None


@dataclass(frozen=True)
class AlgorithmSpec:
    """One algorithm of the grid: ``name`` (registry name, baseline name or "module:Class") plus options."""

    label: str
    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GridSpec:
    """A parsed comparison experiment (no workload built yet)."""

    name: str
    seeds: tuple[int, ...]
    budget_unit: str
    budget_max: float
    problems: tuple[ProblemSpec, ...]
    algorithms: tuple[AlgorithmSpec, ...]
    backend: dict[str, Any]
    run: dict[str, Any]
    reference_samples: int = 20_000
    reference_seed: int = 0

    @property
    def stop(self) -> dict[str, float]:
        """The ``[stop]`` table every cell gets."""
        v = self.budget_max
        return {BUDGET_UNITS[self.budget_unit]: int(v) if self.budget_unit == "evaluations" else v}

    @property
    def ranks_per_cell(self) -> int | None:
        return self.backend.get("ranks_per_cell")


def _table(raw: Mapping[str, Any], key: str, where: str = "") -> dict[str, Any]:
    v = raw.get(key, {})
    if not isinstance(v, Mapping):
        raise ConfigError(f"{where}{key}: expected a table, got {type(v).__name__}")
    return dict(v)


def _unknown(where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    bad = sorted(set(table) - allowed)
    if bad:
        raise ConfigError(f"{where}: unknown key {bad[0]!r} (valid keys: {', '.join(sorted(allowed))})")


def _positive(where: str, v: Any, integer: bool = False) -> Any:
    ok = isinstance(v, int) if integer else isinstance(v, int | float)
    if isinstance(v, bool) or not ok or not math.isfinite(v) or v <= 0:
        kind = "a positive integer" if integer else "a positive number"
        raise ConfigError(f"{where}: expected {kind}, got {v!r}")
    return v


def _label(where: str, label: str) -> str:
    if not _LABEL.match(label):
        raise ConfigError(f"{where}: label {label!r} must be a folder name (letters, digits, _ . = + -)")
    return label


def _seeds(raw: Mapping[str, Any]) -> tuple[int, ...]:
    if "seeds" not in raw:
        raise ConfigError("seeds: missing (a list of integers, or a count n for seeds 0..n-1)")
    v = raw["seeds"]
    if isinstance(v, int) and not isinstance(v, bool):
        if v < 1:
            raise ConfigError(f"seeds: the count must be >= 1, got {v}")
        return tuple(range(v))
    if not isinstance(v, list):
        raise ConfigError(f"seeds: expected a list of integers or a count, got {v!r}")
    if not v:
        raise ConfigError("seeds: the list is empty; give at least one seed")
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in v):
        raise ConfigError(f"seeds: every seed must be an integer >= 0, got {v!r}")
    if len(set(v)) != len(v):
        raise ConfigError(f"seeds: duplicate seeds in {v!r}")
    return tuple(v)


def _budget(raw: Mapping[str, Any]) -> tuple[str, float]:
    b = _table(raw, "budget")
    if not b:
        raise ConfigError(f"[budget]: missing (unit = one of {', '.join(BUDGET_UNITS)}; max = the budget per cell)")
    stop_keys = sorted(set(b) & set(BUDGET_UNITS.values()))
    if stop_keys:
        raise ConfigError(f"budget.{stop_keys[0]}: conflicting budgets; a comparison has one budget: "
                          f"give unit = {'/'.join(BUDGET_UNITS)} and max")
    _unknown("[budget]", b, _BUDGET)
    unit = b.get("unit")
    if unit not in BUDGET_UNITS:
        raise ConfigError(f"budget.unit: expected one of {', '.join(BUDGET_UNITS)}, got {unit!r}")
    if "max" not in b:
        raise ConfigError("budget.max: missing")
    mx = _positive("budget.max", b["max"], integer=(unit == "evaluations"))
    return unit, float(mx)


def _problem_budget_conflicts(table: Mapping[str, Any], where: str) -> None:
    for key in ("stop", "budget", *BUDGET_UNITS.values()):
        if key in table:
            raise ConfigError(f"{where}.{key}: conflicting budgets; the grid's [budget] applies to every cell")


def _expand_problem(label: str, table: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """One problem, or one per LCBench task when ``task_id`` is "all" or a list."""
    if table.get("type") != "lcbench" or not isinstance(table.get("task_id"), list | str):
        return [(label, table)]
    tid = table.get("task_id")
    if isinstance(tid, str) and tid != "all":
        return [(label, table)]
    from evoautodl.workloads.lcbench import LCBENCH_TASK_IDS

    tasks = list(LCBENCH_TASK_IDS) if tid == "all" else [str(t) for t in tid]
    if not tasks:
        raise ConfigError(f"problems.{label}.task_id: the list is empty")
    return [(f"{label}-{t}", {**table, "task_id": t}) for t in tasks]


def _problems(raw: Mapping[str, Any], fidelity: dict[str, Any], backend: dict[str, Any]) -> tuple[ProblemSpec, ...]:
    probs = _table(raw, "problems")
    if not probs:
        raise ConfigError("[problems]: missing; add at least one [problems.LABEL] table with a workload type")
    out: list[ProblemSpec] = []
    for label, table in probs.items():
        where = f"problems.{_label('problems', label)}"
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: expected a table, got {type(table).__name__}")
        table = dict(table)
        _problem_budget_conflicts(table, where)
        if "type" not in table:
            raise ConfigError(f"{where}.type: missing (lcbench, synthetic, mlp, cnn or python)")
        cost = table.pop("cost", "cheap" if table["type"] in CHEAP_WORKLOADS else "expensive")
        if cost not in ("cheap", "expensive"):
            raise ConfigError(f"{where}.cost: expected 'cheap' or 'expensive', got {cost!r}")
        ref = table.pop("reference_objective", None)
        if ref is not None and (isinstance(ref, bool) or not isinstance(ref, int | float) or not math.isfinite(ref)):
            raise ConfigError(f"{where}.reference_objective: expected a number, got {ref!r}")
        space = _table(table, "space", where + ".")
        table.pop("space", None)
        fid = {**fidelity, **_table(table, "fidelity", where + ".")}
        table.pop("fidelity", None)
        _unknown(f"[{where}.fidelity]", fid, _FIDELITY)
        back = {**backend, **_table(table, "backend", where + ".")}
        table.pop("backend", None)
        _unknown(f"[{where}.backend]", back, _BACKEND)
        for name, wl in _expand_problem(label, table):
            out.append(ProblemSpec(label=name, workload=wl, space=space, fidelity=fid, backend=back,
                                   cheap=(cost == "cheap"), reference_objective=None if ref is None else float(ref)))
    labels = [p.label for p in out]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ConfigError(f"problems: label {dup[0]!r} appears twice (after expanding task lists)")
    return tuple(out)


def _algorithms(raw: Mapping[str, Any]) -> tuple[AlgorithmSpec, ...]:
    algos = _table(raw, "algorithms")
    if not algos:
        raise ConfigError("[algorithms]: missing; add at least one [algorithms.LABEL] table")
    out = []
    for label, table in algos.items():
        where = f"algorithms.{_label('algorithms', label)}"
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: expected a table, got {type(table).__name__}")
        table = dict(table)
        _problem_budget_conflicts(table, where)
        if "seed" in table:
            raise ConfigError(f"{where}.seed: seeds come from the grid's seeds list")
        name = table.pop("name", label)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}.name: expected an algorithm name, got {name!r}")
        out.append(AlgorithmSpec(label=label, name=name, options=table))
    return tuple(out)


def parse_grid(raw: Mapping[str, Any]) -> GridSpec:
    """Validate the structure of a comparison file (algorithms and workloads are built later)."""
    if "stop" in raw:
        raise ConfigError("[stop]: a comparison gives its budget once, in [budget] (unit and max), for every cell")
    _unknown("top level", raw, _TOP)
    name = raw.get("name", "comparison")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"name: expected a non-empty string, got {name!r}")
    seeds = _seeds(raw)
    unit, mx = _budget(raw)
    fidelity = _table(raw, "fidelity")
    _unknown("[fidelity]", fidelity, _FIDELITY)
    backend = _table(raw, "backend")
    _unknown("[backend]", backend, _BACKEND)
    btype = backend.get("type", "simulated" if unit == "time_s" else "serial")
    if btype not in ("serial", "simulated"):
        raise ConfigError(f"backend.type: cheap cells run 'serial' or 'simulated', got {btype!r} (expensive cells "
                          "get a manager/worker group under mpiexec by themselves)")
    if unit == "time_s" and btype == "serial":
        raise ConfigError("backend.type: budget.unit = 'time_s' counts simulated seconds; cheap cells need "
                          "backend.type = 'simulated' (or leave it out)")
    backend["type"] = btype
    for key in ("n_workers", "ranks_per_cell", "workers_per_gpu", "torch_threads"):
        if key in backend:
            _positive(f"backend.{key}", backend[key], integer=True)
    run = _table(raw, "run")
    ref = _table(raw, "reference")
    _unknown("[reference]", ref, _REFERENCE)
    samples = _positive("reference.samples", ref.get("samples", 20_000), integer=True)
    rseed = ref.get("seed", 0)
    if isinstance(rseed, bool) or not isinstance(rseed, int) or rseed < 0:
        raise ConfigError(f"reference.seed: expected an integer >= 0, got {rseed!r}")
    return GridSpec(name=name, seeds=seeds, budget_unit=unit, budget_max=mx,
                    problems=_problems(raw, fidelity, backend), algorithms=_algorithms(raw), backend=backend,
                    run=run, reference_samples=int(samples), reference_seed=int(rseed))
