"""Anytime traces: the best full-budget objective of a cell as a function of budget spent.

Budget spent after each logged trial, in log order (the order results were told):

- ``epochs``: cumulative ``epochs_trained`` (what was actually trained: a
  promoted trial pays only the epochs above its checkpoint; failed trials
  count what they trained);
- ``evaluations``: the number of finished trials (any status);
- ``time_s``: ``end_time`` minus the earliest ``start_time`` of the cell
  (virtual seconds on the simulated backend), made non-decreasing in log order
  (a result counts from the latest end time told so far, never earlier).

The anytime performance of a cell is the step function of the best objective
so far among OK trials evaluated at the problem's maximum budget
(``budget_epochs == max_budget``; every OK trial for a problem without
fidelity). A value counts from the budget at which its trial finished (no
look-ahead). Before the first full-budget result the value is +inf.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evoautodl.compare.grid import CellSpec, CompareError, Grid, ProblemSpec, cell_status
from evoautodl.log import LOG_NAME, read_results

__all__ = ["CellData", "budget_spent", "cell_trace", "load_cell", "load_cells", "trial_frame"]

logger = logging.getLogger(__name__)

_BUDGET_TOL = 1e-9


def budget_spent(trials: pd.DataFrame, unit: str) -> np.ndarray:
    """Budget spent after each trial of ``trials`` (log order), in ``unit``.

    ``trials`` needs ``epochs_trained`` (unit "epochs") or ``start_time`` and
    ``end_time`` (unit "time_s"); see the module docstring.
    """
    n = len(trials)
    if unit == "evaluations":
        return np.arange(1, n + 1, dtype=float)
    if unit == "epochs":
        return np.cumsum(trials["epochs_trained"].to_numpy(dtype=float)) if n else np.zeros(0)
    if unit == "time_s":
        if not n:
            return np.zeros(0)
        t0 = float(np.nanmin(trials["start_time"].to_numpy(dtype=float)))
        return np.maximum.accumulate(trials["end_time"].to_numpy(dtype=float) - t0)
    raise CompareError(f"unknown budget unit {unit!r} (epochs, evaluations or time_s)")


def full_budget_values(trials: pd.DataFrame, max_budget: float | None) -> np.ndarray:
    """The objective of each OK trial evaluated at ``max_budget`` (all OK trials if None); NaN elsewhere."""
    if not len(trials):
        return np.zeros(0)
    y = trials["objective"].to_numpy(dtype=float)
    ok = (trials["status"].astype(str).to_numpy() == "OK") & np.isfinite(y)
    if max_budget is not None:
        ok &= trials["budget_epochs"].to_numpy(dtype=float) >= max_budget - _BUDGET_TOL
    return np.where(ok, y, np.nan)


def cell_trace(trials: pd.DataFrame, unit: str, max_budget: float | None) -> pd.DataFrame:
    """The anytime trace of one run: a row per logged trial, in log order.

    Args:
        trials: a run's trials in log order with columns ``status``, ``objective``
            (the compared objective), ``budget_epochs``, ``epochs_trained``,
            ``start_time``, ``end_time`` (what :func:`evoautodl.load_run` returns).
        unit: how budget is counted ("epochs", "evaluations", "time_s").
        max_budget: the problem's maximum fidelity (None: every OK trial counts).

    Returns:
        Columns ``budget`` (spent after the trial), ``value`` (its objective if
        it counts, else NaN) and ``best`` (best counted value so far, +inf
        before the first).
    """
    budget = budget_spent(trials, unit)
    value = full_budget_values(trials, max_budget)
    best = np.minimum.accumulate(np.where(np.isnan(value), np.inf, value)) if len(value) else value
    return pd.DataFrame({"budget": budget, "value": value, "best": best})


def _objective_index(run_dir: Path, problem: ProblemSpec) -> int:
    meta_path = run_dir / "run.json"
    names: list[str] = []
    if meta_path.is_file():
        try:
            names = list(json.loads(meta_path.read_text()).get("objective_names", []))
        except (OSError, json.JSONDecodeError) as exc:
            raise CompareError(f"{meta_path}: not readable as JSON ({exc})") from exc
    if problem.objective in names:
        return names.index(problem.objective)
    if problem.objective == "objective":
        return 0
    raise CompareError(
        f"{run_dir}: problem {problem.name!r} compares objective {problem.objective!r}, but the run's objectives "
        f"are {names or ['(unnamed)']}; fix problems.{problem.name}.objective in grid.json"
    )


def trial_frame(run_dir: str | Path, objective_index: int = 0) -> tuple[pd.DataFrame, list[tuple[float, ...]]]:
    """The columns :func:`cell_trace` needs, read from a run directory's log (one row per logged trial).

    Reads the log through :func:`evoautodl.log.read_results` (the decoder
    :func:`evoautodl.load_run` uses) without building the hyperparameter
    columns, which is several times faster on thousands of cells. Returns the
    frame and the trials' genomes (unit-cube vectors) in the same order.
    """
    results = read_results(run_dir)
    rows = {
        "trial_id": [r.trial.trial_id for r in results],
        "status": [r.status.value for r in results],
        "objective": [r.objectives[objective_index] if len(r.objectives) > objective_index else math.nan
                      for r in results],
        "budget_epochs": [r.trial.budget_epochs for r in results],
        "epochs_trained": [r.epochs_trained for r in results],
        "start_time": [r.start_time for r in results],
        "end_time": [r.end_time for r in results],
    }
    return pd.DataFrame(rows), [tuple(r.trial.genome) for r in results]


@dataclass(frozen=True, slots=True)
class CellData:
    """What one cell contributes: its status, whether it is compared, and its trace."""

    cell: CellSpec
    status: str
    included: bool
    note: str
    trace: pd.DataFrame
    best_genome: tuple[float, ...] = ()

    def summary(self) -> dict[str, object]:
        """One row of the cells table."""
        t = self.trace
        counted = t["value"].dropna() if len(t) else pd.Series(dtype=float)
        return {
            "problem": self.cell.problem, "algorithm": self.cell.algorithm, "seed": self.cell.seed,
            "status": self.status, "included": self.included, "n_trials": len(t),
            "n_full_budget": len(counted), "budget_spent": float(t["budget"].iloc[-1]) if len(t) else 0.0,
            "best": float(counted.min()) if len(counted) else math.inf,
            "first_full_budget": float(counted.iloc[0]) if len(counted) else math.inf,
            "note": self.note, "path": str(self.cell.path),
        }


def load_cell(cell: CellSpec, grid: Grid, include_incomplete: bool = False) -> CellData:
    """Read one cell: status from cell.json, trace from its log (empty when it is not compared)."""
    status = cell_status(cell)
    empty = pd.DataFrame({"budget": [], "value": [], "best": []})
    if status != "complete" and not include_incomplete:
        return CellData(cell, status, False, f"status {status}: left out", empty)
    if not (cell.path / LOG_NAME).is_file():
        if status == "complete":
            logger.warning("%s: cell.json says complete but there is no %s; the cell is left out", cell.path, LOG_NAME)
        return CellData(cell, status, False, f"status {status}, no {LOG_NAME}: left out", empty)
    problem = grid.problem(cell.problem)
    trials, genomes = trial_frame(cell.path, _objective_index(cell.path, problem))
    trace = cell_trace(trials, grid.budget_unit, problem.max_budget)
    genome: tuple[float, ...] = ()
    if len(trace) and np.isfinite(trace["best"].iloc[-1]):
        genome = genomes[int(np.nanargmin(trace["value"].to_numpy()))]
    note = "" if status == "complete" else f"status {status}: included (include_incomplete)"
    return CellData(cell, status, True, note, trace, genome)


def load_cells(grid: Grid, include_incomplete: bool = False,
               cells: Sequence[CellSpec] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Read every cell of the grid.

    Returns:
        ``(cells, traces, genomes)``: the cells table (one row per cell of
        grid.json: status, included, trials, full-budget trials, budget spent,
        best and first full-budget value, note, path); the traces of the
        included cells (columns problem, algorithm, seed, budget, value, best);
        and ``{(problem, algorithm, seed): genome of the best counted trial}``.
    """
    rows, parts, genomes = [], [], {}
    for cell in cells if cells is not None else grid.cells:
        data = load_cell(cell, grid, include_incomplete)
        rows.append(data.summary())
        if data.included:
            key = (cell.problem, cell.algorithm, cell.seed)
            if len(data.trace):
                parts.append(data.trace.assign(problem=cell.problem, algorithm=cell.algorithm, seed=cell.seed))
            genomes[key] = data.best_genome
    table = pd.DataFrame(rows, columns=["problem", "algorithm", "seed", "status", "included", "n_trials",
                                        "n_full_budget", "budget_spent", "best", "first_full_budget", "note",
                                        "path"])
    cols = ["problem", "algorithm", "seed", "budget", "value", "best"]
    traces = pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)
    return table, traces, genomes
