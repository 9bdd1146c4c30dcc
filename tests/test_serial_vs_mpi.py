"""A generational GA run serially and under mpiexec (4 workers) with the same seed logs the same trials."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS / "mpi_scripts"))
from mpi_launch import Job, skip_reason  # noqa: E402

IGNORED = {"start_time", "end_time", "cost_s", "worker", "host", "device"}
EXPERIMENT = """
seed = 7
[workload]
type = "synthetic"
noise_std = 0.01
fidelity_correlation = 0.6
[algorithm]
name = "ga"
population_size = 8
replacement = "plus"
generations_per_rung = 1
[fidelity]
min_budget = 1
max_budget = 27
eta = 3
[stop]
max_evaluations = 48
[backend]
type = "{backend}"
"""


def _trials(run: Path) -> list[dict]:
    lines = [json.loads(x) for x in (run / "evaluations.jsonl").read_text().splitlines()]
    return sorted(({k: v for k, v in d.items() if k not in IGNORED} for d in lines), key=lambda d: d["trial_id"])


@pytest.mark.mpi
@pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
def test_ga_serial_and_mpi_logs_are_identical(tmp_path: Path) -> None:
    serial_toml = tmp_path / "serial.toml"
    serial_toml.write_text(textwrap.dedent(EXPERIMENT.format(backend="serial")))
    mpi_toml = tmp_path / "mpi.toml"
    mpi_toml.write_text(textwrap.dedent(EXPERIMENT.format(backend="mpi")))
    done = subprocess.run([sys.executable, "-m", "evoautodl", "run", str(serial_toml), "--out", str(tmp_path / "s")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rc, _out, err, _ = Job(5, ["-m", "evoautodl", "run", str(mpi_toml), "--out", str(tmp_path / "m")]).wait(120)
    assert rc == 0, err[-3000:]
    serial, mpi = _trials(tmp_path / "s"), _trials(tmp_path / "m")
    assert len(serial) == len(mpi) == 48
    assert serial == mpi
    workers = {json.loads(x)["worker"] for x in (tmp_path / "m" / "evaluations.jsonl").read_text().splitlines()}
    assert workers == {1, 2, 3, 4}
    assert {d["budget_epochs"] for d in serial} == {1.0, 3.0, 9.0, 27.0}
