"""Fault injection under ``mpiexec`` (issue 8, defects 5, 6, 10): no live worker left, a trial that
kills its worker rank, setup failing everywhere. Every run has a hard timeout (a hang fails the test).
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS / "mpi_scripts"))
from mpi_launch import Job, skip_reason  # noqa: E402

pytestmark = [pytest.mark.mpi, pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")]


def _experiment(tmp_path: Path, n: int, workload: str, backend: str = "", run: str = "",
                target: str = "mpi_workloads:ScriptedWorkload") -> Path:
    exp = tmp_path / "exp.toml"
    exp.write_text(textwrap.dedent(f"""
        seed = 2
        [workload]
        type = "python"
        target = "{target}"
        {workload}
        [space.hyperparameters.x]
        type = "float"
        lower = 0.0
        upper = 1.0
        [algorithm]
        name = "random"
        [stop]
        max_evaluations = {n}
        [backend]
        shutdown_timeout_s = 1
        {backend}
        [run]
        grace_s = 0.5
        {run}
    """))
    return exp


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "evaluations.jsonl").read_text().splitlines()]


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("evoautodl: error:")]


@pytest.mark.parametrize("prefetch", [0, 1])
def test_no_live_worker_left_is_named_saved_and_non_zero(tmp_path: Path, prefetch: int) -> None:
    marker = tmp_path / "hung"
    # trials 2..7 block SIGALRM for 20 s: both workers hang, the manager sets both aside, none is left
    hangs = ", ".join(f'"{i}" = "hang_hard_once"' for i in range(2, 8))
    exp = _experiment(tmp_path, 12, f'sleep_s = 0.05\nhang_s = 20\nmarker = "{marker}"\nactions = {{{hangs}}}',
                      backend=f"timeout_s = 0.5\nprefetch = {prefetch}")
    run = tmp_path / "run"
    rc, _, err, elapsed = Job(3, ["-m", "evoautodl", "run", str(exp), "--out", str(run)]).wait(60)
    assert rc == 1, err[-3000:]
    lines = _error_lines(err)
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    assert "no MPI worker can run a trial any more" in lines[0]
    assert "rank 1" in lines[0] and "rank 2" in lines[0] and "set aside" in lines[0]
    assert "evoautodl resume" in err and (run / "state.pkl").exists()
    first = _log(run)
    assert [x["status"] for x in first].count("TIMEOUT") == 2 and len(first) == 4
    assert elapsed < 40
    for i in range(12):  # the hang is fixed: the trials run normally from now on
        Path(f"{marker}.{i}").touch()
    rc, _, err, _ = Job(3, ["-m", "evoautodl", "resume", str(run)]).wait(60)
    assert rc == 0, err[-3000:]
    ids = [x["trial_id"] for x in _log(run)]
    assert sorted(ids) == list(range(12)) and ids[:len(first)] == [x["trial_id"] for x in first]


def test_trial_that_kills_its_worker_rank_is_failed_after_max_attempts(tmp_path: Path) -> None:
    exp = _experiment(tmp_path, 12, 'sleep_s = 0.05\nactions = {"5" = "segv"}', run="max_trial_attempts = 2")
    run = tmp_path / "run"
    rc, _, err, _ = Job(3, ["-m", "evoautodl", "run", str(exp), "--out", str(run)]).wait(60)
    assert rc != 0 and 5 not in {x["trial_id"] for x in _log(run)}, err[-3000:]
    rc, _, err, _ = Job(3, ["-m", "evoautodl", "resume", str(run)]).wait(60)  # trial 5 runs alone, dies again
    assert rc != 0 and 5 not in {x["trial_id"] for x in _log(run)}, err[-3000:]
    rc, out, err, _ = Job(3, ["-m", "evoautodl", "resume", str(run)]).wait(60)
    assert rc == 0, err[-3000:]
    lines = _log(run)
    assert sorted(x["trial_id"] for x in lines) == list(range(12))
    dead = next(x for x in lines if x["trial_id"] == 5)
    assert dead["status"] == "FAILED" and "Segmentation fault (SIGSEGV)" in dead["error"]
    assert "died 2 times" in dead["error"] and "evaluations   : 12 (1 failed)" in out


def test_setup_failing_on_every_rank_is_one_message_and_no_run_directory(tmp_path: Path) -> None:
    exp = _experiment(tmp_path, 4, "", target="mpi_workloads:FailingSetup")
    run = tmp_path / "run"
    rc, _, err, _ = Job(4, ["-m", "evoautodl", "run", str(exp), "--out", str(run)]).wait(60)
    assert rc == 2, err[-3000:]
    lines = _error_lines(err)
    assert len(lines) == 1 and "no MPI worker could set up the workload" in lines[0], err[-3000:]
    assert "data file missing" in lines[0] and "Traceback" not in err
    assert not run.exists()


def test_bad_device_under_mpiexec_is_refused_by_rank_0_before_the_run_directory(tmp_path: Path) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text('[workload]\ntype = "synthetic"\n[stop]\nmax_evaluations = 4\n[backend]\ndevices = "tpu"\n')
    run = tmp_path / "run"
    rc, _, err, _ = Job(3, ["-m", "evoautodl", "run", str(exp), "--out", str(run)]).wait(60)
    assert rc == 2, err[-3000:]
    lines = _error_lines(err)
    assert len(lines) == 1 and "backend.devices" in lines[0] and "Traceback" not in err, err[-3000:]
    assert not run.exists()


@pytest.mark.slow
def test_sigkill_stress_short(tmp_path: Path) -> None:
    """The benchmark's SIGKILL stress, short: kills at random moments, then every trial logged exactly once."""
    import subprocess

    script = TESTS.parent / "experiments" / "bench" / "sigkill_stress.py"
    done = subprocess.run([sys.executable, str(script), "--workload", "sleep", "--kills", "2", "--evaluations", "30",
                           "--ranks", "3", "--algorithms", "asha_ea", "--seed", "3", "--keep", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    row = next(line.split() for line in done.stdout.splitlines() if line.startswith("asha_ea"))
    assert row[1:5] == ["0", "30", "30", "0"] and row[5] == "0", done.stdout  # exit, rows, ids, duplicates, missing
