"""Comparison grids under ``mpiexec`` (marker ``mpi``): cheap cells over all ranks, expensive cells on
manager/worker groups, and a job killed mid-way that a rerun finishes (only the missing cells)."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path

import pytest

from evoautodl import load_run
from evoautodl.cli import main

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS / "mpi_scripts"))
from mpi_launch import Job, skip_reason  # noqa: E402

pytestmark = [pytest.mark.mpi, pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")]

GRID = """
name = "m"
seeds = {seeds}
[budget]
unit = "epochs"
max = 90
[fidelity]
min_budget = 1
eta = 3
[backend]
ranks_per_cell = 2
[problems.syn]
type = "synthetic"
max_budget = 9
fidelity_correlation = 0.7
cost = "{cost}"
[algorithms.random]
[algorithms.dehb]
[algorithms.de]
population_size = 4
"""


def _grid(tmp_path: Path, seeds: int, cost: str = "cheap") -> Path:
    p = tmp_path / "exp.toml"
    p.write_text(textwrap.dedent(GRID.format(seeds=seeds, cost=cost)))
    return p


def _cells(out: Path) -> list[dict]:
    return json.loads((out / "grid.json").read_text())["cells"]


def _logs(out: Path) -> dict[str, list]:
    return {c["path"]: load_run(out / c["path"])[["trial_id", "budget_epochs", "objective"]].values.tolist()
            for c in _cells(out)}


def _state(out: Path, cell: dict) -> dict:
    p = out / cell["path"] / "cell.json"
    return json.loads(p.read_text()) if p.exists() else {}


def _mpi(n: int, exp: Path, out: Path, timeout: float = 240) -> tuple[int, str, str]:
    job = Job(n, ["-m", "evoautodl", "experiment", str(exp), "--out", str(out), "--no-progress"])
    code, stdout, stderr, _ = job.wait(timeout)
    return code, stdout, stderr


def test_cheap_cells_spread_over_ranks_agree_with_a_serial_run(tmp_path: Path) -> None:
    exp = _grid(tmp_path, seeds=4)
    assert main(["experiment", str(exp), "--out", str(tmp_path / "serial"), "--no-progress"]) == 0
    code, stdout, stderr = _mpi(3, exp, tmp_path / "mpi")
    assert code == 0, stderr[-3000:]
    assert "cells         : 12 (complete 12)" in stdout
    assert _logs(tmp_path / "mpi") == _logs(tmp_path / "serial")
    ranks = {_state(tmp_path / "mpi", c)["rank"] for c in _cells(tmp_path / "mpi")}
    assert ranks == {0, 1, 2}  # rank 0 works too


def test_expensive_cells_run_on_manager_worker_groups(tmp_path: Path) -> None:
    exp = _grid(tmp_path, seeds=2, cost="expensive")
    code, stdout, stderr = _mpi(5, exp, tmp_path / "mpi")  # rank 0 hands out; groups {1, 2} and {3, 4}
    assert code == 0, stderr[-3000:]
    assert "cells         : 6 (complete 6)" in stdout
    leaders = set()
    for cell in _cells(tmp_path / "mpi"):
        state = _state(tmp_path / "mpi", cell)
        assert state["config"]["backend"]["type"] == "mpi"
        leaders.add(state["rank"])
        df = load_run(tmp_path / "mpi" / cell["path"])
        assert set(df["worker"]) == {1}  # the group's worker: rank 1 of the group's communicator
    assert leaders <= {1, 3} and leaders  # cells are managed by the groups' first ranks


@pytest.mark.slow
def test_a_killed_job_reruns_only_the_missing_cells(tmp_path: Path) -> None:
    exp = _grid(tmp_path, seeds=12)  # 36 cells
    ref, out = tmp_path / "ref", tmp_path / "res"
    assert main(["experiment", str(exp), "--out", str(ref), "--no-progress"]) == 0
    job = Job(3, ["-m", "evoautodl", "experiment", str(exp), "--out", str(out), "--no-progress"])
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        done = sum(_state(out, c).get("status") == "complete" for c in _cells(out)) if (out / "grid.json").exists() \
            else 0
        if done >= 8:
            break
        time.sleep(0.05)
    job.kill()  # SIGKILL every rank mid-way
    job.wait(60)
    before = {c["path"]: _state(out, c).get("status", "missing") for c in _cells(out)}
    n_complete = sum(s == "complete" for s in before.values())
    assert 8 <= n_complete < 36, before
    code, stdout, stderr = _mpi(3, exp, out)
    assert code == 0, stderr[-3000:]
    assert f"this run      : {36 - n_complete} cells" in stdout
    assert "cells         : 36 (complete 36)" in stdout
    for cell in _cells(out):
        state = _state(out, cell)
        assert state["attempt"] == (1 if before[cell["path"]] in ("complete", "missing") else 2)
    assert _logs(out) == _logs(ref)
