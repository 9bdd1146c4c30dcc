"""Export to IOHprofiler's format (what IOHexperimenter's ``Analyzer`` logger writes).

Readable by IOHanalyzer and the ``iohinspector`` / ``ioh`` packages. Layout,
one folder per algorithm (IOHanalyzer loads a folder or a zip of folders)::

    ioh/ALGORITHM/IOHprofiler_f{F}_{PROBLEM}.json
    ioh/ALGORITHM/data_f{F}_{PROBLEM}/IOHprofiler_f{F}_DIM{D}.dat

F is the problem's 1-based position in grid.json, D its number of
hyperparameters. The .json file (IOHexperimenter's index format) names the
function, the algorithm (``info``: its settings from grid.json), the
experiment attributes ``budget_unit`` and ``objective``, the run attribute
``seed``, and per run its ``evals`` (budget spent, rounded up) and ``best``
(budget at which it was found, value, and the unit-cube genome as ``x``).

The .dat file has one block per run (seed order), each starting with the
header line ``evaluations raw_y``; a row is written whenever the best-so-far
objective improves: ``evaluations`` = budget spent in the grid's unit (epochs,
finished trials or seconds) rounded up to an integer, ``raw_y`` = the best
full-budget objective so far (minimised). Each block starts at evaluation 1
(readers split runs there; ``raw_y`` is ``inf`` until the first full-budget
result) and ends with the run's total budget. A run without any full-budget
result has ``raw_y = inf`` throughout and best ``y`` = the largest double
(JSON has no infinity). The whole log is exported, including a last trial
that finished past the grid's budget.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evoautodl.compare.grid import Grid
from evoautodl.errors import RunDirError
from evoautodl.log import read_meta

__all__ = ["IOH_VERSION", "export_ioh", "ioh_rows"]

IOH_VERSION = "0.4.2"
"""The IOHexperimenter version whose Analyzer output the export mirrors (checked against the ``ioh`` package)."""

_NO_RESULT = sys.float_info.max


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def ioh_rows(budget: np.ndarray, best: np.ndarray, total_budget: float) -> list[tuple[int, float]]:
    """(evaluation, best-so-far) rows of one run: improvements only, from evaluation 1 to the total budget."""
    evals = np.maximum(np.ceil(np.asarray(budget, dtype=float) - 1e-9), 1).astype(np.int64)
    rows: list[tuple[int, float]] = []
    for e, y in zip(evals, np.asarray(best, dtype=float)):
        if not math.isfinite(y) or (rows and y >= rows[-1][1]):
            continue
        if rows and rows[-1][0] == e:
            rows[-1] = (int(e), float(y))
        else:
            rows.append((int(e), float(y)))
    if not rows or rows[0][0] > 1:
        rows.insert(0, (1, math.inf))
    last = max(int(math.ceil(total_budget - 1e-9)), 1)
    if rows[-1][0] < last:
        rows.append((last, rows[-1][1]))
    return rows


def _dimension(cells: pd.DataFrame, genomes: Mapping[tuple, tuple[float, ...]]) -> int:
    for row in cells.itertuples(index=False):
        try:
            names = read_meta(row.path).get("hyperparameters", [])
        except RunDirError:
            names = []
        if names:
            return len(names)
    lengths = [len(genomes.get((r.problem, r.algorithm, r.seed), ())) for r in cells.itertuples(index=False)]
    return max([n for n in lengths if n] or [1])


def _number(y: float) -> str:
    return "inf" if math.isinf(y) else format(y, ".17g")


def export_ioh(grid: Grid, cells: pd.DataFrame, traces: pd.DataFrame, out_dir: str | Path,
               genomes: Mapping[tuple, tuple[float, ...]] | None = None) -> list[Path]:
    """Write the IOHprofiler files of every compared cell; returns the paths (.json and .dat).

    Args:
        grid: the parsed grid.json.
        cells: the compared cells (problem, algorithm, seed, budget_spent, path).
        traces: their traces (problem, algorithm, seed, budget, best).
        out_dir: the ``ioh`` folder to write.
        genomes: ``{(problem, algorithm, seed): genome of the best trial}`` (the runs' ``x``).
    """
    out = Path(out_dir)
    genomes = genomes or {}
    settings = dict(grid.settings)
    groups = {k: g for k, g in traces.groupby(["problem", "algorithm", "seed"], sort=False)} if len(traces) else {}
    written = []
    for fid, problem in enumerate(grid.problems, start=1):
        pcells = cells[cells["problem"] == problem.name]
        if pcells.empty:
            continue
        dim = _dimension(pcells, genomes)
        fname = _safe(problem.name)
        for algorithm in dict.fromkeys(pcells["algorithm"]):
            acells = pcells[pcells["algorithm"] == algorithm].sort_values("seed")
            folder = out / _safe(algorithm)
            rel = f"data_f{fid}_{fname}/IOHprofiler_f{fid}_DIM{dim}.dat"
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            blocks, runs = [], []
            for cell in acells.itertuples(index=False):
                key = (problem.name, algorithm, cell.seed)
                g = groups.get(key)
                budget = g["budget"].to_numpy() if g is not None else np.zeros(0)
                best = g["best"].to_numpy() if g is not None else np.zeros(0)
                rows = ioh_rows(budget, best, float(cell.budget_spent))
                blocks.append("evaluations raw_y\n" + "".join(f"{e} {_number(y)}\n" for e, y in rows))
                finite = [(e, y) for e, y in rows if math.isfinite(y)]
                best_e, best_y = min(finite, key=lambda r: (r[1], r[0])) if finite else (rows[-1][0], _NO_RESULT)
                runs.append({"instance": 1, "evals": rows[-1][0],
                             "best": {"evals": best_e, "y": best_y, "x": [float(v) for v in genomes.get(key, ())]},
                             "seed": int(cell.seed)})
            (folder / rel).write_text("".join(blocks))
            index = {
                "version": IOH_VERSION,
                "suite": grid.name,
                "function_id": fid,
                "function_name": problem.name,
                "maximization": False,
                "algorithm": {"name": algorithm, "info": _info(settings.get(algorithm))},
                "experiment_attributes": [{"budget_unit": grid.budget_unit}, {"objective": problem.objective}],
                "run_attributes": ["seed"],
                "attributes": ["evaluations", "raw_y"],
                "scenarios": [{"dimension": dim, "path": rel, "runs": runs}],
            }
            path = folder / f"IOHprofiler_f{fid}_{fname}.json"
            path.write_text(json.dumps(index, indent=1, allow_nan=False) + "\n")
            written += [path, folder / rel]
    return written


def _info(settings: Any) -> str:
    if not settings:
        return "evoautodl"
    return "evoautodl " + json.dumps(settings, sort_keys=True, default=str)
