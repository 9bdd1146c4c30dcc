"""Comparison experiments: algorithms x problems x seeds, each cell an ordinary run directory.

    evoautodl experiment exp.toml --out results/E              # serially
    mpiexec -n 8 evoautodl experiment exp.toml --out results/E # over 8 ranks

Modules: :mod:`~evoautodl.grid.spec` (the file), :mod:`~evoautodl.grid.cells` (planning,
``cell.json``), :mod:`~evoautodl.grid.reference` (oracle), :mod:`~evoautodl.grid.prepare`
(``grid.json``), :mod:`~evoautodl.grid.execute` (one cell), :mod:`~evoautodl.grid.schedule`
(serial and MPI distribution), :mod:`~evoautodl.grid.command` (the CLI).
"""

from __future__ import annotations

from evoautodl.grid.cells import Cell, CellPlan, plan_cells, read_cell_state
from evoautodl.grid.prepare import GRID_FILE, load_plan, read_grid_file, write_grid_json
from evoautodl.grid.spec import BUDGET_UNITS, AlgorithmSpec, GridSpec, ProblemSpec, parse_grid

__all__ = ["BUDGET_UNITS", "GRID_FILE", "AlgorithmSpec", "Cell", "CellPlan", "GridSpec", "ProblemSpec", "load_plan",
           "parse_grid", "plan_cells", "read_cell_state", "read_grid_file", "write_grid_json"]
