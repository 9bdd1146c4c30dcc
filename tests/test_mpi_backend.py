"""MPI backend: placement rules (no MPI) and real runs under ``mpiexec`` (marker ``mpi``).

Every MPI test launches ``mpiexec -n K`` (`mpi_scripts/mpi_launch.py`) with a
hard timeout: a deadlock kills the whole process tree and fails the test. The
launcher is ``$EVOAUTODL_MPIEXEC``, else the ``mpiexec`` next to this Python,
else the one on PATH (Open MPI: run with ``EVOAUTODL_MPIEXEC=/path/to/mpiexec``
and the Python whose mpi4py was built against it). Without mpi4py or mpiexec
the MPI tests are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from evoautodl.backends.devices import assign_device, node_local_index, parse_devices

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SCRIPTS = TESTS / "mpi_scripts"
sys.path.insert(0, str(SCRIPTS))
from mpi_launch import LAUNCH_VARS, Job, is_open_mpi, skip_reason  # noqa: E402

needs_mpi = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")


# ---------------------------------------------------------------- placement (pure, no MPI)
@pytest.mark.parametrize(("index", "n_gpus", "per_gpu", "expected"), [
    (0, 0, 1, "cpu"), (3, 0, 2, "cpu"),                                  # no GPU: CPU
    (0, 4, 1, "cuda:0"), (3, 4, 1, "cuda:3"), (4, 4, 1, "cpu"),          # one worker per GPU, extra on CPU
    (0, 2, 2, "cuda:0"), (1, 2, 2, "cuda:1"), (2, 2, 2, "cuda:0"), (3, 2, 2, "cuda:1"), (4, 2, 2, "cpu"),
    (0, 1, 3, "cuda:0"), (2, 1, 3, "cuda:0"), (3, 1, 3, "cpu"),
])
def test_assign_device_auto(index: int, n_gpus: int, per_gpu: int, expected: str) -> None:
    assert assign_device(index, n_gpus, per_gpu) == expected


def test_assign_device_explicit_lists_and_cpu() -> None:
    spec = "cuda:0, cuda:0, cuda:1"
    assert [assign_device(k, 0, 1, spec) for k in range(4)] == ["cuda:0", "cuda:0", "cuda:1", "cuda:0"]
    assert [assign_device(k, 8, 1, ["cuda:2", "cpu"]) for k in (4, 5)] == ["cuda:2", "cpu"]
    assert assign_device(0, 8, 1, "cpu") == "cpu"
    assert parse_devices(("cuda", "cpu")) == ("cuda", "cpu")
    for bad in ("", "gpu:0", "cuda:x", "cpu:1", []):
        with pytest.raises(ValueError):
            parse_devices(bad)
    with pytest.raises(ValueError):
        assign_device(-1, 2)
    with pytest.raises(ValueError):
        assign_device(0, 2, workers_per_gpu=0)


def test_node_local_index_counts_workers_with_the_same_gpus() -> None:
    node = [(0, (None,)), (1, (None,)), (2, (None,)), (5, (None,))]  # the manager (rank 0) shares the node
    assert [node_local_index(r, node) for r in (1, 2, 5)] == [0, 1, 2]
    bound = [(3, ("0",)), (4, ("1",)), (6, ("2",))]  # SLURM --gpus-per-task=1: one GPU each -> cuda:0 each
    assert [assign_device(node_local_index(r, bound), 1) for r in (3, 4, 6)] == ["cuda:0"] * 3


# ---------------------------------------------------------------- importing without MPI
def _python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(LAUNCH_VARS)}
    full.update(env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=60, env=full, check=False)


def test_import_and_world_size_without_mpi4py() -> None:
    out = _python("""
        import sys
        sys.modules["mpi4py"] = None  # as if mpi4py were not installed
        import evoautodl.backends.mpi as m
        from mpi_workloads import ScriptedWorkload
        b = m.MPIBackend(ScriptedWorkload(), timeout_s=5)  # constructor does no MPI
        print(m.mpi_world_size(), m.mpi_rank(), b.n_running)
    """, {"PYTHONPATH": str(TESTS)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "0", "0"]
    out = _python("""
        import sys
        sys.modules["mpi4py"] = None
        import evoautodl.backends.mpi as m
        m.mpi_world_size()
    """, {"PMI_SIZE": "4", "PMI_RANK": "0"})
    assert out.returncode != 0 and "mpi4py" in out.stderr and "ImportError" in out.stderr


def test_world_size_outside_a_launcher_does_not_import_mpi4py() -> None:
    out = _python("""
        import sys
        import evoautodl.backends.mpi as m
        print(m.mpi_world_size(), m.mpi_rank(), "mpi4py" in sys.modules)
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "0", "False"]


# ---------------------------------------------------------------- running under mpiexec
def drive(tmp_path: Path, n: int, *args: str, timeout: float = 60.0) -> tuple[int, dict, str, float]:
    rc, _, err, elapsed = Job(n, [str(SCRIPTS / "drive.py"), str(tmp_path), *args]).wait(timeout)
    path = tmp_path / "summary.json"
    summary = json.loads(path.read_text()) if path.exists() else {}
    return rc, summary, err, elapsed


def _statuses(summary: dict) -> dict[int, str]:
    return {r["trial_id"]: r["status"] for r in summary["results"] + summary["cancelled"]}


@pytest.mark.mpi
@needs_mpi
@pytest.mark.parametrize("n", [3, 5])
def test_basic_run_uses_every_worker_once_set_up(tmp_path: Path, n: int) -> None:
    rc, s, err, elapsed = drive(tmp_path, n, "--n-trials", "24", "--sleep", "0.02")
    assert rc == 0, err[-3000:]
    assert s["error"] is None and s["capacity_at_start"] == n - 1
    res = s["results"]
    assert sorted(r["trial_id"] for r in res) == list(range(24))
    assert all(r["status"] == "OK" and r["objectives"] == [0.1 * r["trial_id"]] for r in res)
    assert {r["worker"] for r in res} == set(range(1, n))
    assert {r["setup_calls"] for r in res} == {1.0}  # setup once per worker
    assert {r["device"] for r in res} == {"cpu"}
    assert all(w["state"] == "gone" for w in s["workers_after"])
    assert elapsed < 30


@pytest.mark.mpi
@needs_mpi
def test_faults_cost_one_trial_each(tmp_path: Path) -> None:
    actions = {1: "raise", 2: "nan", 3: "hang", 4: "sysexit"}
    rc, s, err, elapsed = drive(tmp_path, 3, "--n-trials", "12", "--timeout", "1.0", "--hang", "30",
                                "--actions", json.dumps(actions))
    assert rc == 0, err[-3000:]
    by_id = {r["trial_id"]: r for r in s["results"]}
    assert len(by_id) == 12
    assert by_id[1]["status"] == "FAILED" and "injected failure in trial 1" in by_id[1]["error"]
    assert by_id[2]["status"] == "FAILED" and "non-finite" in by_id[2]["error"]
    assert by_id[3]["status"] == "TIMEOUT" and "timeout_s=1" in by_id[3]["error"]
    assert 0.9 < by_id[3]["cost_s"] < 5
    assert by_id[4]["status"] == "FAILED" and "SystemExit" in by_id[4]["error"]
    assert all(by_id[i]["status"] == "OK" for i in (0, *range(5, 12)))
    hung_worker = by_id[3]["worker"]
    assert any(r["worker"] == hung_worker for r in s["results"][-4:]) or s["capacity_at_end"] == 2
    assert s["capacity_at_end"] == 2
    assert elapsed < 25


@pytest.mark.mpi
@needs_mpi
def test_worker_stuck_in_c_code_hits_the_manager_deadline(tmp_path: Path) -> None:
    # SIGALRM blocked for 4 s: the worker cannot interrupt itself; the manager gives up after 0.5 + 0.5 s
    rc, s, err, elapsed = drive(tmp_path, 3, "--n-trials", "16", "--sleep", "0.05", "--timeout", "0.5",
                                "--timeout-grace", "0.5", "--hang", "4", "--actions", json.dumps({2: "hang_hard"}))
    assert rc == 0, err[-3000:]
    by_id = {r["trial_id"]: r for r in s["results"]}
    assert by_id[2]["status"] == "TIMEOUT" and "gave no answer" in by_id[2]["error"]
    assert 0.9 < by_id[2]["cost_s"] < 3.0
    assert sum(r["status"] == "OK" for r in s["results"]) == 15  # the run went on with the other worker
    assert "set aside" in err
    assert elapsed < 25


@pytest.mark.mpi
@needs_mpi
def test_worker_death_kills_the_job_but_not_the_log(tmp_path: Path) -> None:
    rc, s, _, _ = drive(tmp_path, 3, "--n-trials", "60", "--sleep", "0.05",
                        "--actions", json.dumps({10: "exit"}), timeout=60)
    assert rc != 0 and s == {}  # the job died before the summary
    lines = (tmp_path / "evaluations.jsonl").read_text().splitlines()
    parsed = [json.loads(line) for line in lines]  # every line written so far is complete JSON
    assert 3 <= len(parsed) < 60
    assert all(r["status"] == "OK" for r in parsed) and 10 not in {r["trial_id"] for r in parsed}


@pytest.mark.mpi
@needs_mpi
def test_idle_ranks_do_not_spin(tmp_path: Path) -> None:
    rc, _, err, _ = Job(5, [str(SCRIPTS / "idle_cpu.py"), str(tmp_path)]).wait(60)
    assert rc == 0, err[-3000:]
    manager = json.loads((tmp_path / "manager.json").read_text())
    assert manager["status"] == ["OK"] and manager["wall_s"] > 0.9
    assert manager["cpu_s"] / manager["wall_s"] < 0.1, manager  # a blocking MPICH receive would be ~1.0
    workers = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("worker*.json"))]
    assert len(workers) == 4
    for w in workers:
        assert w["wall_s"] > 2.5
        assert w["cpu_s"] / w["wall_s"] < 0.1, workers


@pytest.mark.mpi
@needs_mpi
def test_cancel_running_returns_cancelled_and_the_job_exits_promptly(tmp_path: Path) -> None:
    rc, s, err, elapsed = drive(tmp_path, 3, "--n-trials", "10", "--sleep", "60", "--cancel-delay", "1.0",
                                "--grace", "0.5", timeout=40)
    assert rc == 0, err[-3000:]
    assert s["results"] == []
    assert sorted(r["trial_id"] for r in s["cancelled"]) == [0, 1]
    assert {r["status"] for r in s["cancelled"]} == {"CANCELLED"}
    assert {r["worker"] for r in s["cancelled"]} == {1, 2}
    assert s["cancel_s"] < 1.5 and s["shutdown_s"] < 3.0
    assert all(w["state"] == "gone" for w in s["workers_after"])
    assert elapsed < 15


@pytest.mark.mpi
@needs_mpi
def test_prefetch_queues_one_trial_per_worker_and_requeues_on_timeout(tmp_path: Path) -> None:
    rc, s, err, _ = drive(tmp_path, 3, "--n-trials", "30", "--sleep", "0.02", "--prefetch", "1", "--timeout", "0.5",
                          "--timeout-grace", "0.5", "--hang", "3", "--actions", json.dumps({4: "hang_hard"}))
    assert rc == 0, err[-3000:]
    assert s["capacity_at_start"] == 4  # 2 workers x (1 running + 1 queued)
    by_id = {r["trial_id"]: r for r in s["results"]}
    assert sorted(by_id) == list(range(30))  # the trial queued behind the stuck one ran elsewhere
    assert by_id[4]["status"] == "TIMEOUT" and "gave no answer" in by_id[4]["error"]
    assert all(r["status"] == "OK" for i, r in by_id.items() if i != 4)
    rc, s, err, elapsed = drive(tmp_path / "cancel", 3, "--n-trials", "10", "--sleep", "60", "--prefetch", "1",
                                "--cancel-delay", "1.0", "--grace", "0.3", timeout=40)
    assert rc == 0, err[-3000:]
    errors = sorted(r["error"] for r in s["cancelled"])
    assert sorted(r["trial_id"] for r in s["cancelled"]) == [0, 1, 2, 3]
    assert errors == ["run stopped after a grace of 0.3 s"] * 2 + ["run stopped before the trial started"] * 2
    assert all(w["state"] == "gone" for w in s["workers_after"]) and elapsed < 15


@pytest.mark.mpi
@needs_mpi
def test_shutdown_aborts_as_last_resort_when_a_worker_ignores_signals(tmp_path: Path) -> None:
    rc, s, err, elapsed = drive(tmp_path, 3, "--n-trials", "4", "--hang", "60", "--cancel-delay", "1.0",
                                "--shutdown-timeout", "1.0", "--actions", json.dumps({0: "hang_hard", 1: "hang_hard"}),
                                timeout=40)
    assert rc == 0, err[-3000:]  # MPI_Abort(COMM_WORLD, 0)
    assert {r["status"] for r in s["cancelled"]} == {"CANCELLED"}
    assert s["shutdown_s"] < 3.0 and elapsed < 15
    assert "MPI_Abort" in err


@pytest.mark.mpi
@needs_mpi
def test_setup_failure_on_one_worker_leaves_the_others(tmp_path: Path) -> None:
    rc, s, err, _ = drive(tmp_path, 4, "--n-trials", "9", "--bad-setup", "2")
    assert rc == 0, err[-3000:]
    # rank 2's failed setup takes it out of the capacity; on a busy machine the 9 trials can all be done by the
    # other two before its report arrives, when it is still counted as starting
    assert s["error"] is None and s["capacity_at_end"] in (2, 3)
    # every trial ran on a healthy rank; which of ranks 1 and 3 got them is up to the scheduler (on a loaded machine
    # one of them can start late and find the queue empty)
    workers = {r["worker"] for r in s["results"]}
    assert len(s["results"]) == 9 and all(r["status"] == "OK" for r in s["results"]) and workers and workers <= {1, 3}
    assert "data file missing on rank 2" in err
    rc, s, err, _ = drive(tmp_path / "all", 3, "--n-trials", "4", "--bad-setup", "all")
    assert rc == 0, err[-3000:]
    assert "no MPI worker could set up the workload" in s["error"] and "data file missing" in s["error"]


@pytest.mark.mpi
@needs_mpi
def test_explicit_device_list_is_per_node(tmp_path: Path) -> None:
    rc, s, err, _ = drive(tmp_path, 4, "--n-trials", "6", "--devices", "cuda:0,cuda:1")
    assert rc == 0, err[-3000:]
    assert {w["rank"]: w["device"] for w in s["workers"]} == {1: "cuda:0", 2: "cuda:1", 3: "cuda:0"}
    assert {r["device"] for r in s["results"]} <= {"cuda:0", "cuda:1"}


# ---------------------------------------------------------------- through the CLI and the runner
def _experiment(tmp_path: Path, sleep_s: float, n_evals: int, extra: str = "", grace_s: float = 2.0) -> Path:
    exp = tmp_path / "exp.toml"
    exp.write_text(textwrap.dedent(f"""
        name = "mpi-cli"
        seed = 1
        [workload]
        type = "python"
        target = "mpi_workloads:ScriptedWorkload"
        sleep_s = {sleep_s}
        {extra}
        [space.hyperparameters.x]
        type = "float"
        lower = 0.0
        upper = 1.0
        [algorithm]
        name = "random"
        [stop]
        max_evaluations = {n_evals}
        [backend]
        timeout_s = 20
        [run]
        grace_s = {grace_s}
    """))
    return exp


def _log_ids(run: Path) -> list[int]:
    return [json.loads(line)["trial_id"] for line in (run / "evaluations.jsonl").read_text().splitlines()]


def _wait_for_lines(run: Path, n: int, job: Job, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and job.proc.poll() is None:
        log = run / "evaluations.jsonl"
        if log.exists() and len(log.read_text().splitlines()) >= n:
            return
        time.sleep(0.05)
    job.kill()
    pytest.fail(f"the run did not log {n} evaluations within {timeout} s")


@pytest.mark.mpi
@needs_mpi
@pytest.mark.parametrize("via", ["launcher", "ranks"])
def test_sigterm_stops_cleanly_and_resume_with_other_rank_count(tmp_path: Path, via: str) -> None:
    # Open MPI's mpirun kills the job on SIGTERM and forwards only SIGUSR1/2: the runner stops on SIGUSR1 too
    sig = signal.SIGUSR1 if via == "launcher" and is_open_mpi() else signal.SIGTERM
    if via == "ranks" and not Path("/proc/self/stat").exists():
        pytest.skip("finding the rank processes needs Linux /proc")
    # trials 4 and 5 hang (60 s) on both workers when the signal comes: the run must cancel them
    # after grace_s (0.5 s) instead of waiting, exit 0, and run them again on resume
    marker = tmp_path / "hung"
    extra = f'hang_s = 60\nmarker = "{marker}"\nactions = {{"4" = "hang_once", "5" = "hang_once"}}'
    exp, run = _experiment(tmp_path, 0.1, 20, extra, grace_s=0.5), tmp_path / "run"
    job = Job(3, ["-m", "evoautodl", "run", str(exp), "--out", str(run)])
    _wait_for_lines(run, 4, job)
    end = time.monotonic() + 20
    while not (Path(f"{marker}.4").exists() and Path(f"{marker}.5").exists()) and time.monotonic() < end:
        time.sleep(0.05)
    for pid in [job.proc.pid] if via == "launcher" else job.rank_pids():  # srun signals every task
        os.kill(pid, sig)
    t_signal = time.monotonic()
    rc, out, err, _ = job.wait(60)
    assert rc == 0, err[-3000:]
    assert time.monotonic() - t_signal < 8
    assert f"stopped by    : signal {sig.name}" in out
    first = _log_ids(run)
    assert sorted(first) == [0, 1, 2, 3]  # the cancelled trials are not logged
    rc, out, err, _ = Job(4, ["-m", "evoautodl", "resume", str(run)]).wait(90)
    assert rc == 0, err[-3000:]
    ids = _log_ids(run)
    assert ids[:len(first)] == first and sorted(ids) == list(range(20))
    assert "stopped by    : max_evaluations" in out


@pytest.mark.mpi
@needs_mpi
def test_dead_worker_rank_then_resume_loses_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "died"
    exp = _experiment(tmp_path, 0.05, 24, f'marker = "{marker}"\nactions = {{"8" = "exit_once"}}')
    run = tmp_path / "run"
    rc, _, err, _ = Job(3, ["-m", "evoautodl", "run", str(exp), "--out", str(run)]).wait(90)
    assert rc != 0 and marker.exists()  # the worker's os._exit took the MPI job down
    first = _log_ids(run)  # every line written so far parses
    assert 8 not in first and len(first) >= 4
    rc, _, err, _ = Job(2, ["-m", "evoautodl", "resume", str(run)]).wait(90)
    assert rc == 0, err[-3000:]
    ids = _log_ids(run)
    assert ids[:len(first)] == first and sorted(ids) == list(range(24))
