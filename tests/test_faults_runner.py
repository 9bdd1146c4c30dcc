"""Fault injection in one process: a raising algorithm, bad workload values, a second Ctrl-C, hung
trials on the serial backend, bad settings, power loss (issue 8, defects 1, 2, 3, 8, 9, 12).

Each test states the promise it checks: every finished evaluation is logged exactly once and reads
back, a resumed run equals the uninterrupted one, a run always ends.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from evoautodl.algorithms import get_algorithm
from evoautodl.algorithms.regularized import RegularizedEvolution
from evoautodl.backends.serial import SerialBackend
from evoautodl.backends.simulated import SimulatedBackend
from evoautodl.errors import AlgorithmError, ConfigError, RunDirError
from evoautodl.log import EvaluationLog, load_run, read_results
from evoautodl.records import Evaluation, Result, Status, Trial
from evoautodl.runner import Runner, StopCriteria
from evoautodl.space import SearchSpace

sys.path.insert(0, str(Path(__file__).parent))
from helper_workloads import SPACE, SleepySphere

N = 24
TIMING = {"start_time", "end_time", "cost_s", "host"}


def _space() -> SearchSpace:
    return SearchSpace.from_dict(SPACE)


def _algo(seed: int = 4):
    return get_algorithm("regularized", _space(), seed=seed, max_budget=9, population_size=6, sample_size=3)


def _lines(run_dir: Path) -> list[dict]:
    out = []
    for line in (run_dir / "evaluations.jsonl").read_text().splitlines():
        obj = json.loads(line)
        out.append({k: v for k, v in obj.items() if k not in TIMING})
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The uninterrupted run every faulty-then-resumed run must equal."""
    run = tmp_path_factory.mktemp("ref") / "run"
    Runner(_algo(), SerialBackend(SleepySphere()), run_dir=run, stop=StopCriteria(max_evaluations=N)).run()
    return _lines(run)


def _resume(run: Path, n: int = N) -> None:
    Runner(_algo(), SerialBackend(SleepySphere()), run_dir=run, stop=StopCriteria(max_evaluations=n),
           resume=True, checkpoint_interval_s=0.0).run()


# ---------------------------------------------------------------- defect 1: tell raises
class FlakyOnResult(RegularizedEvolution):
    """Raises in its reaction to trial ``bad``, after the base class's bookkeeping (pending, counts)."""

    def __init__(self, *args, bad: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.bad = bad

    def on_result(self, result: Result) -> None:
        if result.trial_id == self.bad:
            raise ValueError("population bookkeeping failed")
        super().on_result(result)


class RaisingTell:
    """Wraps an algorithm; ``tell`` raises for trial ``bad`` before delegating (nothing updated yet)."""

    def __init__(self, inner, bad: int):
        self.inner, self.bad = inner, bad

    def tell(self, result: Result) -> None:
        if result.trial_id == self.bad:
            raise KeyError("missing parent")
        self.inner.tell(result)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


@pytest.mark.parametrize("where", ["before_bookkeeping", "after_bookkeeping"])
def test_raising_tell_stops_the_run_and_resume_replays_exactly(tmp_path: Path, reference: list[dict],
                                                               where: str) -> None:
    run = tmp_path / "run"
    if where == "after_bookkeeping":
        algo = FlakyOnResult(_space(), seed=4, max_budget=9, population_size=6, sample_size=3, bad=9)
    else:
        algo = RaisingTell(_algo(), bad=9)
    with pytest.raises(Exception) as info:  # the type is what the fix changes: checked below
        Runner(algo, SerialBackend(SleepySphere()), run_dir=run, stop=StopCriteria(max_evaluations=N),
               checkpoint_interval_s=0.0).run()
    assert [line["trial_id"] for line in _lines(run)][-1] == 9  # the result was logged before tell raised
    _resume(run)  # the user fixed the algorithm
    lines = _lines(run)
    ids = [line["trial_id"] for line in lines]
    assert len(ids) == len(set(ids)) == N, "each trial logged once, none lost"
    assert lines == reference, "resume after the error replays exactly"
    assert isinstance(info.value, AlgorithmError)  # one message naming the algorithm, the call and the cause
    assert "regularized" in str(info.value) and "trial 9" in str(info.value)
    assert ("ValueError: population bookkeeping failed" in str(info.value)
            or "KeyError: 'missing parent'" in str(info.value))


class SigintInTell:
    """Wraps an algorithm; while telling trial ``at`` the user presses Ctrl-C twice."""

    def __init__(self, inner, at: int):
        self.inner, self.at = inner, at

    def tell(self, result: Result) -> None:
        if result.trial_id == self.at:
            os.kill(os.getpid(), signal.SIGINT)  # stop
            os.kill(os.getpid(), signal.SIGINT)  # abort, between the log write and the tell
        self.inner.tell(result)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def test_second_ctrl_c_between_log_write_and_tell_keeps_the_state_exact(tmp_path: Path,
                                                                        reference: list[dict]) -> None:
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        Runner(SigintInTell(_algo(), at=7), SerialBackend(SleepySphere()), run_dir=run,
               stop=StopCriteria(max_evaluations=N), checkpoint_interval_s=0.0).run()
    assert [line["trial_id"] for line in _lines(run)][-1] == 7
    _resume(run)
    assert _lines(run) == reference


def test_an_algorithm_that_asks_for_nothing_is_named_not_a_hang(tmp_path: Path) -> None:
    class Silent(RegularizedEvolution):
        def ask(self, n: int) -> list[Trial]:
            return [] if self.n_asked >= 3 else super().ask(n)

    algo = Silent(_space(), seed=1, max_budget=9, population_size=6)
    with pytest.raises(AlgorithmError, match=r"ask\(\) returned no trial with every worker idle"):
        Runner(algo, SerialBackend(SleepySphere()), run_dir=tmp_path / "r", stop=StopCriteria(max_evaluations=9),
               checkpoint_interval_s=0.0).run()
    assert len(read_results(tmp_path / "r")) == 3
    assert (tmp_path / "r" / "state.pkl").exists()  # the state is whole: saved


# ---------------------------------------------------------------- defects 2 and 3: what a workload returns
class BadValues:
    """SleepySphere's objective; trial ``bad`` returns ``value`` under ``field``."""

    objective_names = ("f",)
    max_budget = 9

    def __init__(self, bad: int, field: str, value):
        self.bad, self.field, self.value = bad, field, value
        self.inner = SleepySphere()

    def setup(self, context) -> None:
        pass

    def evaluate(self, trial: Trial, context) -> Evaluation:
        ev = self.inner.evaluate(trial, context)
        kwargs = {"objectives": ev.objectives, "epochs_trained": ev.epochs_trained, "cost_s": ev.cost_s,
                  "metrics": {"acc": np.float32(0.5), "per_class": np.array([0.25, 0.75])},
                  "curve": {"loss": np.linspace(1.0, 0.5, 3)}}
        if trial.trial_id == self.bad:
            if self.field in ("metrics", "curve"):
                kwargs[self.field] = {**kwargs[self.field], "bad": self.value}
            else:
                kwargs[self.field] = self.value
        return Evaluation(**kwargs)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("metrics", "high", "metric 'bad' is str 'high'"),
    ("metrics", {"nested": 1.0}, "metric 'bad' is dict"),
    ("metrics", np.ones((2, 2)), "metric 'bad'[0] is list"),
    ("curve", [0.1, "nan?", 0.3], "curve 'bad'[1] is str"),
    ("epochs_trained", math.nan, "epochs_trained must be a finite number >= 0"),
    ("epochs_trained", -1.0, "epochs_trained must be a finite number >= 0"),
    ("cost_s", math.inf, "cost_s must be None or a finite number >= 0"),
])
def test_bad_workload_values_fail_the_trial_and_the_log_reads_back(tmp_path: Path, field: str, value,
                                                                   message: str) -> None:
    run = tmp_path / "run"
    summary = Runner(_algo(), SerialBackend(BadValues(3, field, value)), run_dir=run,
                     stop=StopCriteria(max_evaluations=8)).run()
    assert summary.n_evaluations == 8 and summary.n_failed == 1
    df = load_run(run)
    assert len(df) == 8 and df["trial_id"].is_unique
    bad = df[df["trial_id"] == 3].iloc[0]
    assert bad["status"] == "FAILED" and message in bad["error_message"]
    ok = df[df["trial_id"] == 4].iloc[0]
    assert ok["metric.acc"] == 0.5 and ok["metric.per_class"] == [0.25, 0.75]  # numpy values converted
    assert ok["curve"]["loss"] == [1.0, 0.75, 0.5]
    _resume(run, 10)  # the log replays
    assert len(read_results(run)) == 10


def test_the_log_never_writes_a_line_it_cannot_read(tmp_path: Path) -> None:
    """A backend of one's own may hand the runner anything: the log writes FAILED instead of an unreadable line."""
    trial = Trial(trial_id=0, individual_id=0, config={"x": 0.5}, genome=(0.5,), budget_epochs=1.0, seed=1)
    log = EvaluationLog(tmp_path).open()
    written = log.append(Result(trial=trial, status=Status.OK, objectives=(1.0,), metrics={"m": "abc"}))
    numpy_ok = log.append(Result(trial=trial, status=Status.OK, objectives=(np.float64(2.0),),
                                 metrics={"v": np.array([1.0, 2.0])}))
    log.close()
    assert written.status is Status.FAILED and "cannot be logged" in written.error and "'abc'" in written.error
    back = read_results(tmp_path)
    assert [r.status for r in back] == [Status.FAILED, Status.OK]
    assert back[1].metrics == {"v": [1.0, 2.0]} and numpy_ok.status is Status.OK


def test_load_run_skips_and_reports_corrupt_lines_on_request(tmp_path: Path) -> None:
    run = tmp_path / "run"
    Runner(_algo(), SerialBackend(SleepySphere()), run_dir=run, stop=StopCriteria(max_evaluations=5)).run()
    path = run / "evaluations.jsonl"
    lines = path.read_text().splitlines()
    missing_key = json.loads(lines[1])
    del missing_key["status"]
    lines[1] = json.dumps(missing_key)
    lines[3] = lines[3][: len(lines[3]) // 2]  # torn in the middle, not at the end
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RunDirError, match=r"line 2: .*missing key 'status'"):
        load_run(run)
    df = load_run(run, skip_corrupt=True)
    assert len(df) == 3 and [c.line for c in df.attrs["corrupt_lines"]] == [2, 4]


# ---------------------------------------------------------------- defect 8: NaN and negative settings
@pytest.mark.parametrize("kwargs", [{"max_epochs": math.nan}, {"max_time_s": math.nan}, {"max_evaluations": 0},
                                    {"max_epochs": -3.0}, {"max_time_s": math.inf}])
def test_stop_criteria_refuse_nan_and_non_positive_limits(kwargs: dict) -> None:
    with pytest.raises(ConfigError, match=r"stop\.max_"):
        StopCriteria(**kwargs)


@pytest.mark.parametrize("kwargs", [{"grace_s": -5.0}, {"checkpoint_interval_s": math.nan},
                                    {"max_trial_attempts": 0}, {"grace_s": math.inf}])
def test_runner_refuses_nan_and_negative_settings(kwargs: dict) -> None:
    with pytest.raises(ConfigError, match=r"run\."):
        Runner(_algo(), SerialBackend(SleepySphere()), stop=StopCriteria(max_evaluations=2), **kwargs)


# ---------------------------------------------------------------- defect 9: hung trials on the serial backend
class Hangs:
    """Trial ``hang`` sleeps ``hang_s`` (inside ``except Exception``, which must not swallow the interruption)."""

    objective_names = ("f",)
    max_budget = 9

    def __init__(self, hang: int, hang_s: float = 30.0):
        self.hang, self.hang_s = hang, hang_s

    def setup(self, context) -> None:
        pass

    def evaluate(self, trial: Trial, context) -> Evaluation:
        if trial.trial_id == self.hang:
            with contextlib.suppress(Exception):  # a workload that swallows everything
                time.sleep(self.hang_s)
        return Evaluation(objectives=(float(trial.config["x"]) ** 2,), epochs_trained=trial.budget_epochs)


@pytest.mark.parametrize("backend", ["serial", "simulated"])
def test_timeout_stops_a_hung_trial_in_process(tmp_path: Path, backend: str) -> None:
    t0 = time.monotonic()
    b = (SerialBackend(Hangs(2), timeout_s=0.5) if backend == "serial"
         else SimulatedBackend(Hangs(2), 3, timeout_s=0.5))
    summary = Runner(_algo(), b, run_dir=tmp_path / "r", stop=StopCriteria(max_evaluations=6)).run()
    assert time.monotonic() - t0 < 10
    by_id = {r.trial_id: r for r in read_results(tmp_path / "r")}
    assert summary.n_evaluations == 6 and sorted(by_id) == list(range(6))
    assert by_id[2].status is Status.TIMEOUT and "timeout_s=0.5" in by_id[2].error
    assert all(r.status is Status.OK for i, r in by_id.items() if i != 2)


def test_sigterm_cancels_a_hung_serial_trial_after_the_grace(tmp_path: Path) -> None:
    run = tmp_path / "run"

    class StopDuringHang(Hangs):
        def evaluate(self, trial: Trial, context) -> Evaluation:
            if trial.trial_id == self.hang:
                os.kill(os.getpid(), signal.SIGTERM)
            return super().evaluate(trial, context)

    t0 = time.monotonic()
    summary = Runner(_algo(), SerialBackend(StopDuringHang(5)), run_dir=run, stop=StopCriteria(max_evaluations=N),
                     grace_s=0.3).run()
    assert time.monotonic() - t0 < 10 and summary.stopped_by == "signal SIGTERM"
    assert [line["trial_id"] for line in _lines(run)] == list(range(5))  # the cancelled trial is not logged
    _resume(run)
    ids = [x["trial_id"] for x in _lines(run)]
    assert ids[:5] == list(range(5)) and sorted(ids) == list(range(N))


# ---------------------------------------------------------------- defect 12: power loss
def test_snapshot_is_written_only_after_log_and_journal_reach_the_disk(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else str(fd))
        real_fsync(fd)

    if not os.path.exists("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd to name the synced files")
    monkeypatch.setattr(os, "fsync", recording_fsync)
    Runner(_algo(), SerialBackend(SleepySphere()), run_dir=tmp_path / "r", stop=StopCriteria(max_evaluations=4),
           checkpoint_interval_s=0.0).run()
    names = [Path(p).name for p in synced]
    states = [i for i, n in enumerate(names) if n == ".state.pkl.tmp"]
    assert states, names
    for i in states:
        assert "evaluations.jsonl" in names[:i] and "journal.jsonl" in names[:i]
        last_log = max(j for j in range(i) if names[j] == "evaluations.jsonl")
        assert all(n != ".state.pkl.tmp" for n in names[last_log + 1:i])


def _lose_tail(run: Path, name: str, n_lines: int) -> None:
    path = run / name
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-n_lines]))


@pytest.mark.parametrize("lost", ["log", "journal", "both"])
def test_resume_recovers_when_a_power_loss_took_the_last_lines(tmp_path: Path, reference: list[dict],
                                                                lost: str) -> None:
    run = tmp_path / "run"
    Runner(_algo(), SerialBackend(SleepySphere()), run_dir=run, stop=StopCriteria(max_evaluations=16),
           checkpoint_interval_s=0.0).run()
    snapshot = run / "state.pkl"
    saved = tmp_path / "state.pkl"
    shutil.copy(snapshot, saved)
    if lost in ("log", "both"):
        _lose_tail(run, "evaluations.jsonl", 3)  # the snapshot counts lines the disk no longer has
    if lost in ("journal", "both"):
        _lose_tail(run, "journal.jsonl", 4)
        if lost == "journal":
            snapshot.unlink()  # an older snapshot: the log holds results whose asks the journal lost
    _resume(run)
    lines = _lines(run)
    assert [x["trial_id"] for x in lines] == list(range(N)) and lines == reference
