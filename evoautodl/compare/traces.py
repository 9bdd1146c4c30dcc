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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evoautodl.compare.grid import CellSpec, CompareError, Grid, ProblemSpec, cell_status
from evoautodl.errors import RunDirError
from evoautodl.log import LOG_NAME, read_meta, result_from_json

__all__ = ["CellData", "budget_spent", "cell_trace", "load_cell", "load_cells", "trace_steps", "trial_frame"]

logger = logging.getLogger(__name__)

_BUDGET_TOL = 1e-9


Trials = pd.DataFrame | Mapping[str, np.ndarray]


def _float(trials: Trials, name: str) -> np.ndarray:
    return np.asarray(trials[name], dtype=float)


def budget_spent(trials: Trials, unit: str) -> np.ndarray:
    """Budget spent after each trial of ``trials`` (log order), in ``unit``.

    ``trials`` (a DataFrame or a mapping of equal-length arrays) needs
    ``status`` and ``epochs_trained`` (unit "epochs") or ``start_time`` and
    ``end_time`` (unit "time_s"); see the module docstring.
    """
    n = len(trials["status"])
    if unit == "evaluations":
        return np.arange(1, n + 1, dtype=float)
    if unit == "epochs":
        return np.cumsum(_float(trials, "epochs_trained")) if n else np.zeros(0)
    if unit == "time_s":
        if not n:
            return np.zeros(0)
        t0 = float(np.nanmin(_float(trials, "start_time")))
        return np.maximum.accumulate(_float(trials, "end_time") - t0)
    raise CompareError(f"unknown budget unit {unit!r} (epochs, evaluations or time_s)")


def full_budget_values(trials: Trials, max_budget: float | None) -> np.ndarray:
    """The objective of each OK trial evaluated at ``max_budget`` (all OK trials if None); NaN elsewhere."""
    if not len(trials["status"]):
        return np.zeros(0)
    y = _float(trials, "objective")
    ok = (np.asarray(trials["status"]).astype(str) == "OK") & np.isfinite(y)
    if max_budget is not None:
        ok &= _float(trials, "budget_epochs") >= max_budget - _BUDGET_TOL
    return np.where(ok, y, np.nan)


def _trace(trials: Trials, unit: str, max_budget: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    budget = budget_spent(trials, unit)
    value = full_budget_values(trials, max_budget)
    best = np.minimum.accumulate(np.where(np.isnan(value), np.inf, value)) if len(value) else value
    return budget, value, best


def cell_trace(trials: Trials, unit: str, max_budget: float | None) -> pd.DataFrame:
    """The anytime trace of one run: a row per logged trial, in log order.

    Args:
        trials: a run's trials in log order with columns ``status``, ``objective``
            (the compared objective), ``budget_epochs``, ``epochs_trained``,
            ``start_time``, ``end_time`` (what :func:`evoautodl.load_run` returns;
            a mapping of arrays with these keys works too).
        unit: how budget is counted ("epochs", "evaluations", "time_s").
        max_budget: the problem's maximum fidelity (None: every OK trial counts).

    Returns:
        Columns ``budget`` (spent after the trial), ``value`` (its objective if
        it counts, else NaN) and ``best`` (best counted value so far, +inf
        before the first).
    """
    budget, value, best = _trace(trials, unit, max_budget)
    return pd.DataFrame({"budget": budget, "value": value, "best": best})


def _objective_index(run_dir: Path, problem: ProblemSpec) -> int:
    try:
        names = [str(n) for n in read_meta(run_dir).get("objective_names", [])]
    except RunDirError as exc:
        raise CompareError(str(exc)) from exc
    if problem.objective in names:
        return names.index(problem.objective)
    if problem.objective == "objective":
        return 0
    raise CompareError(
        f"{run_dir}: problem {problem.name!r} compares objective {problem.objective!r}, but the run's objectives "
        f"are {names or ['(unnamed)']}; fix problems.{problem.name}.objective in grid.json"
    )


_COLUMNS = ("trial_id", "status", "objective", "budget_epochs", "epochs_trained", "start_time", "end_time")
_GENOME_KEY = b',"genome":['
_CONFIG_KEY = b',"config":{'
_EPOCHS_KEY = b',"epochs_trained":'
_NEEDED = frozenset(("trial_id", "status", "objectives", "budget_epochs", "epochs_trained", "start_time", "end_time"))


def _num(v: object) -> float:
    """A logged number: null is NaN, "inf"/"-inf" are infinities (what the log writer stores for them)."""
    if v is None:
        return math.nan
    if v == "inf":
        return math.inf
    if v == "-inf":
        return -math.inf
    return float(v)  # type: ignore[arg-type]


def _log_lines(run_dir: Path) -> list[bytes]:
    """The complete lines of the log (a line a killed writer left without its newline is not part of it)."""
    with open(run_dir / LOG_NAME, "rb") as fh:
        data = fh.read()
    return [line for line in data[:data.rfind(b"\n") + 1].split(b"\n") if line.strip()]


def _head(line: bytes, where: str) -> dict:
    """The fields of a log line that the comparison needs, parsing as few bytes as possible.

    The log writer (:func:`evoautodl.log.result_to_json`) writes compact JSON
    with the config and metrics (flat tables of scalars) before
    ``epochs_trained`` and the genome and learning curve last. Inside a JSON
    string every quote is escaped, so ``,"key":`` only occurs as a key of
    the record: the line minus config, metrics, genome and curve is parsed.
    Should that not give valid JSON with every needed key (a log from
    another writer), the whole line is parsed.
    """
    cut = line.find(_GENOME_KEY)
    if cut > 0:
        c, m = line.find(_CONFIG_KEY, 0, cut), line.rfind(_EPOCHS_KEY, 0, cut)
        part = line[:c] + line[m:cut] + b"}" if 0 < c < m else line[:cut] + b"}"
        try:
            obj = json.loads(part)
            if obj.keys() >= _NEEDED:
                return obj
        except json.JSONDecodeError:
            pass
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise CompareError(f"{where}: corrupt log line ({exc})") from exc


def _read_trials(path: Path, objective_index: int) -> tuple[dict[str, np.ndarray], list[bytes]]:
    lines = _log_lines(path)
    rows = []
    for i, line in enumerate(lines):
        obj = _head(line, f"{path / LOG_NAME}: line {i + 1}")
        try:
            objectives = obj["objectives"]
            rows.append((int(obj["trial_id"]), str(obj["status"]),
                         _num(objectives[objective_index]) if len(objectives) > objective_index else math.nan,
                         _num(obj["budget_epochs"]), _num(obj["epochs_trained"]), _num(obj["start_time"]),
                         _num(obj["end_time"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise CompareError(f"{path / LOG_NAME}: line {i + 1} is not a log record ({exc!r})") from exc
    columns = list(zip(*rows)) if rows else [()] * len(_COLUMNS)
    out = {name: np.array(col, dtype=object if name == "status" else float) for name, col in zip(_COLUMNS, columns)}
    out["trial_id"] = out["trial_id"].astype(np.int64)
    return out, lines


def trial_frame(run_dir: str | Path, objective_index: int = 0) -> pd.DataFrame:
    """The columns :func:`cell_trace` needs, one row per logged trial in log order.

    Columns trial_id, status, objective (the ``objective_index``-th objective),
    budget_epochs, epochs_trained, start_time, end_time: the values
    :func:`evoautodl.log.read_results` decodes (a test checks they agree),
    read without decoding configs, genomes and learning curves, which makes
    reading thousands of cells several times faster.
    """
    return pd.DataFrame(_read_trials(Path(run_dir), objective_index)[0], columns=list(_COLUMNS))


def _steps(best: np.ndarray) -> np.ndarray:
    keep = np.zeros(len(best), dtype=bool)
    if len(best):
        keep[1:] = best[1:] < best[:-1]
        keep[0] = np.isfinite(best[0])
        keep[-1] = True
    return keep


def trace_steps(trace: pd.DataFrame) -> pd.DataFrame:
    """The rows of a :func:`cell_trace` where the best so far improves, and its last row (columns budget, best).

    Enough to read the step function at any budget and to know the budget the run spent.
    """
    keep = _steps(trace["best"].to_numpy(dtype=float))
    return trace.loc[keep, ["budget", "best"]].reset_index(drop=True)


@dataclass(frozen=True, slots=True)
class CellData:
    """What one cell contributes: a row of the cells table, and its trace steps if it is compared."""

    cell: CellSpec
    summary: dict
    budget: np.ndarray | None = None  # budget spent at each step of the trace (see trace_steps)
    best: np.ndarray | None = None
    best_genome: tuple[float, ...] = ()

    @property
    def included(self) -> bool:
        return bool(self.summary["included"])


_SUMMARY = ["problem", "algorithm", "seed", "status", "included", "n_trials", "n_full_budget", "budget_spent",
            "best", "first_full_budget", "note", "path"]


def _summary(cell: CellSpec, status: str, included: bool, note: str, budget: np.ndarray | None = None,
             value: np.ndarray | None = None) -> dict:
    counted = value[~np.isnan(value)] if value is not None else np.zeros(0)
    return {
        "problem": cell.problem, "algorithm": cell.algorithm, "seed": cell.seed, "status": status,
        "included": included, "n_trials": len(value) if value is not None else 0, "n_full_budget": len(counted),
        "budget_spent": float(budget[-1]) if budget is not None and len(budget) else 0.0,
        "best": float(counted.min()) if len(counted) else math.inf,
        "first_full_budget": float(counted[0]) if len(counted) else math.inf,
        "note": note, "path": str(cell.path),
    }


def load_cell(cell: CellSpec, grid: Grid, include_incomplete: bool = False) -> CellData:
    """Read one cell: its status (cell.json) and, when it is compared, its trace steps and best genome."""
    status = cell_status(cell)
    if status != "complete" and not include_incomplete:
        return CellData(cell, _summary(cell, status, False, f"status {status}: left out"))
    if not (cell.path / LOG_NAME).is_file():
        if status == "complete":
            logger.warning("%s: cell.json says complete but there is no %s; the cell is left out", cell.path, LOG_NAME)
        return CellData(cell, _summary(cell, status, False, f"status {status}, no {LOG_NAME}: left out"))
    problem = grid.problem(cell.problem)
    trials, lines = _read_trials(cell.path, _objective_index(cell.path, problem))
    budget, value, best = _trace(trials, grid.budget_unit, problem.max_budget)
    genome: tuple[float, ...] = ()
    if len(best) and np.isfinite(best[-1]):  # the best trial's genome, decoded by the log's own decoder
        genome = tuple(result_from_json(json.loads(lines[int(np.nanargmin(value))])).trial.genome)
    note = "" if status == "complete" else f"status {status}: included (include_incomplete)"
    keep = _steps(best)
    return CellData(cell, _summary(cell, status, True, note, budget, value), budget[keep], best[keep], genome)


def _load_chunk(args: tuple[list[CellSpec], Grid, bool]) -> list[CellData]:
    cells, grid, include_incomplete = args
    return [load_cell(c, grid, include_incomplete) for c in cells]


def load_cells(grid: Grid, include_incomplete: bool = False, cells: Sequence[CellSpec] | None = None,
               jobs: int = 1) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Read every cell of the grid (``jobs`` > 1: in that many processes).

    Returns:
        ``(cells, traces, genomes)``: the cells table (one row per cell of
        grid.json: status, included, trials, full-budget trials, budget spent,
        best and first full-budget value over the whole log, note, path); the
        trace steps of the compared cells (columns problem, algorithm, seed,
        budget, best: the rows where the best so far improves, and each
        cell's last trial); and ``{(problem, algorithm, seed): genome of the
        best counted trial}``.
    """
    todo = list(cells if cells is not None else grid.cells)
    if jobs > 1 and len(todo) > 1:
        from concurrent.futures import ProcessPoolExecutor

        size = max(1, len(todo) // (4 * jobs))
        chunks = [(todo[i:i + size], grid, include_incomplete) for i in range(0, len(todo), size)]
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            data = [d for part in pool.map(_load_chunk, chunks) for d in part]
    else:
        data = _load_chunk((todo, grid, include_incomplete))
    table = pd.DataFrame([d.summary for d in data], columns=_SUMMARY)
    parts = [d for d in data if d.included and d.budget is not None and len(d.budget)]
    n = [len(d.budget) for d in parts]
    traces = pd.DataFrame({
        "problem": np.repeat([d.cell.problem for d in parts], n).astype(object),
        "algorithm": np.repeat([d.cell.algorithm for d in parts], n).astype(object),
        "seed": np.repeat(np.array([d.cell.seed for d in parts], dtype=np.int64), n),
        "budget": np.concatenate([d.budget for d in parts]) if parts else np.zeros(0),
        "best": np.concatenate([d.best for d in parts]) if parts else np.zeros(0),
    })
    genomes = {(d.cell.problem, d.cell.algorithm, d.cell.seed): d.best_genome for d in data if d.included}
    return table, traces, genomes
