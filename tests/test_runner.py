"""Runner, run directory and log: serial runs, failures, resume, kill and SIGTERM."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from evoautodl.algorithms.random_search import RandomSearch
from evoautodl.backends.serial import SerialBackend
from evoautodl.backends.simulated import SimulatedBackend
from evoautodl.errors import RunDirError
from evoautodl.log import load_run, read_results
from evoautodl.records import Status
from evoautodl.runner import Runner, StopCriteria
from evoautodl.space import SearchSpace

sys.path.insert(0, str(Path(__file__).parent))
from helper_workloads import SPACE, SleepySphere

ROOT = Path(__file__).resolve().parents[1]
TIMING = {"start_time", "end_time", "cost_s", "host"}


def _space() -> SearchSpace:
    return SearchSpace.from_dict(SPACE)


def _lines(run_dir: Path) -> list[dict]:
    out = []
    for line in (run_dir / "evaluations.jsonl").read_text().splitlines():
        obj = json.loads(line)
        out.append({k: v for k, v in obj.items() if k not in TIMING})
    return out


def test_serial_run_writes_log_and_dataframe(tmp_path: Path) -> None:
    algo = RandomSearch(_space(), seed=3, max_budget=9)
    summary = Runner(algo, SerialBackend(SleepySphere()), run_dir=tmp_path / "r",
                     stop=StopCriteria(max_evaluations=25)).run()
    assert summary.n_evaluations == 25 and summary.stopped_by == "max_evaluations"
    df = load_run(tmp_path / "r")
    assert len(df) == 25 and df["trial_id"].is_unique
    assert {"x", "n", "kind", "y", "objective", "budget_epochs", "status", "curve", "duration_s"} <= set(df.columns)
    inactive = df[df["kind"] == "a"]
    assert inactive["y"].isna().all()
    assert (df["status"] == "OK").all()
    assert summary.best is not None and math.isclose(summary.best.objective, df["objective"].min())
    assert (tmp_path / "r" / "state.pkl").exists()


def test_failures_are_logged_and_the_run_goes_on(tmp_path: Path) -> None:
    algo = RandomSearch(_space(), seed=0, max_budget=9)
    summary = Runner(algo, SerialBackend(SleepySphere(fail_every=3)), run_dir=tmp_path / "r",
                     stop=StopCriteria(max_evaluations=12)).run()
    assert summary.n_evaluations == 12 and summary.n_failed == 4
    results = read_results(tmp_path / "r")
    failed = [r for r in results if r.status is Status.FAILED]
    assert len(failed) == 4 and all("injected failure" in r.error for r in failed)


def test_refuses_to_overwrite_a_run(tmp_path: Path) -> None:
    Runner(RandomSearch(_space()), SerialBackend(SleepySphere()), run_dir=tmp_path / "r",
           stop=StopCriteria(max_evaluations=2)).run()
    with pytest.raises(RunDirError, match="resume"):
        Runner(RandomSearch(_space()), SerialBackend(SleepySphere()), run_dir=tmp_path / "r",
               stop=StopCriteria(max_evaluations=2)).run()


def test_resume_extends_a_finished_run_identically(tmp_path: Path) -> None:
    full = tmp_path / "full"
    Runner(RandomSearch(_space(), seed=5), SerialBackend(SleepySphere()), run_dir=full,
           stop=StopCriteria(max_evaluations=30)).run()
    part = tmp_path / "part"
    Runner(RandomSearch(_space(), seed=5), SerialBackend(SleepySphere()), run_dir=part,
           stop=StopCriteria(max_evaluations=12), checkpoint_interval_s=0.0).run()
    Runner(RandomSearch(_space(), seed=5), SerialBackend(SleepySphere()), run_dir=part,
           stop=StopCriteria(max_evaluations=30), resume=True).run()
    assert _lines(part) == _lines(full)


def test_stop_on_epochs_and_simulated_time(tmp_path: Path) -> None:
    s = Runner(RandomSearch(_space(), max_budget=9), SerialBackend(SleepySphere()),
               stop=StopCriteria(max_epochs=50)).run()
    assert 45 <= s.epochs_trained <= 50 + 9 and s.stopped_by == "max_epochs"
    s = Runner(RandomSearch(_space(), max_budget=3), SimulatedBackend(SleepySphere(), 4),
               stop=StopCriteria(max_time_s=100)).run()
    assert s.stopped_by == "max_time_s" and s.n_evaluations > 4


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from helper_workloads import SleepySphere, SPACE
    from evoautodl.algorithms import get_algorithm
    from evoautodl.backends.serial import SerialBackend
    from evoautodl.runner import Runner, StopCriteria
    from evoautodl.space import SearchSpace
    algo = get_algorithm({algo!r}, SearchSpace.from_dict(SPACE), seed=11, max_budget=9)
    Runner(algo, SerialBackend(SleepySphere(sleep_s=0.01)), run_dir=sys.argv[1],
           stop=StopCriteria(max_evaluations=int(sys.argv[2])), resume=sys.argv[3] == "1",
           checkpoint_interval_s=float(sys.argv[4])).run()
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["random", "steady_state", "ga", "regularized"])
def test_sigkill_at_a_random_point_then_resume(tmp_path: Path, algo: str) -> None:
    pytest.importorskip("evoautodl.algorithms")
    from evoautodl.algorithms import ALGORITHMS

    if algo not in ALGORITHMS:
        pytest.skip(f"algorithm {algo} not available")
    script = tmp_path / "target.py"
    script.write_text(_KILL_SCRIPT.format(tests=str(Path(__file__).parent), algo=algo))
    n = 60
    ref = tmp_path / "ref"
    subprocess.run([sys.executable, str(script), str(ref), str(n), "0", "1000"], check=True, timeout=120)
    rng = random.Random(algo)
    run = tmp_path / "killed"
    resume = "0"
    log = run / "evaluations.jsonl"
    for k in sorted(rng.sample(range(5, n - 5), 2)):
        proc = subprocess.Popen([sys.executable, str(script), str(run), str(n), resume, "0.05"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if log.exists() and log.read_bytes().count(b"\n") >= k:
                break
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.02))  # a random point inside a trial or a log write
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        resume = "1"
    subprocess.run([sys.executable, str(script), str(run), str(n), "1", "0.05"], check=True, timeout=120)
    lines = _lines(run)
    ids = [line["trial_id"] for line in lines]
    assert len(ids) == len(set(ids)) == n, "every finished evaluation logged exactly once"
    assert lines == _lines(ref), "killed + resumed run equals the uninterrupted run"


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_resume_finishes(tmp_path: Path) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text(textwrap.dedent(
        """
        seed = 1
        [workload]
        type = "python"
        target = "helper_workloads:SleepySphere"
        sleep_s = 0.05
        [algorithm]
        name = "random"
        [stop]
        max_evaluations = 160
        [backend]
        type = "serial"
        """
    ))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "evoautodl", "run", str(exp), "--out", str(out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = out / "evaluations.jsonl"
    deadline = time.monotonic() + 60  # start-up may take seconds on a loaded machine: signal once trials run
    while time.monotonic() < deadline and proc.poll() is None and not (log.exists() and log.read_bytes().count(b"\n")):
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "stopped by    : signal SIGTERM" in stdout and "evoautodl resume" in stdout
    n_before = len(_lines(out))
    assert 0 < n_before < 160
    done = subprocess.run([sys.executable, "-m", "evoautodl", "resume", str(out)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ids = [line["trial_id"] for line in _lines(out)]
    assert len(ids) == len(set(ids)) == 160


def test_resume_removes_half_written_checkpoints(tmp_path: Path) -> None:
    run = tmp_path / "r"
    Runner(RandomSearch(_space(), seed=2), SerialBackend(SleepySphere()), run_dir=run,
           stop=StopCriteria(max_evaluations=3)).run()
    stale = run / "checkpoints" / "ind0000002_b9.pt.tmp4242"
    stale.write_bytes(b"half")
    keep = run / "checkpoints" / "ind0000001_b9.pt"
    keep.write_bytes(b"whole")
    Runner(RandomSearch(_space(), seed=2), SerialBackend(SleepySphere()), run_dir=run,
           stop=StopCriteria(max_evaluations=5), resume=True).run()
    assert not stale.exists() and keep.exists()


class _FileCheckpoints(SleepySphere):
    """Writes a checkpoint file per trial, as the torch workloads do."""

    def evaluate(self, trial, context):
        ev = super().evaluate(trial, context)
        (context.checkpoint_dir / f"{trial.checkpoint_key}.pt").write_text("weights")
        return ev.__class__(objectives=ev.objectives, epochs_trained=ev.epochs_trained, cost_s=ev.cost_s,
                            checkpoint=trial.checkpoint_key)


def test_discarded_checkpoints_are_deleted_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evoautodl.rundir import RunDir
    from evoautodl.runner import DELETE_BATCH

    scans: list[int] = []
    original = RunDir.delete_checkpoints
    monkeypatch.setattr(RunDir, "delete_checkpoints",
                        lambda self, keys: scans.append(len(keys)) or original(self, keys))
    on_disk: list[int] = []
    run = tmp_path / "r"
    n = 3 * DELETE_BATCH + 10
    backend = SerialBackend(_FileCheckpoints(), checkpoint_dir=run / "checkpoints")
    summary = Runner(RandomSearch(_space(), seed=1, max_budget=9), backend, run_dir=run,
                     stop=StopCriteria(max_evaluations=n), checkpoint_interval_s=1e9,
                     on_result=lambda r: on_disk.append(len(list((run / "checkpoints").iterdir())))).run()
    assert summary.n_evaluations == n and summary.n_failed == 0
    # one folder scan per batch of keys (plus the rest at the end), not one per evaluation
    assert len(scans) <= n // DELETE_BATCH + 1 and all(k >= DELETE_BATCH for k in scans[:-1])
    assert max(on_disk) <= DELETE_BATCH + 2
    left = [p.name for p in (run / "checkpoints").iterdir()]
    assert left == [f"{summary.best.trial.checkpoint_key}.pt"]  # random search keeps the incumbent's only
