"""The contract every registered algorithm passes (parametrized over the registry).

The algorithm contract itself is evoautodl.testing.check_algorithm (valid
trials, failures as data, determinism, resume = snapshot + replay, ladder
budgets, checkpoint hygiene, workers): every built-in runs through each of its
checks here, and deliberately broken algorithms show that each check fails.
The tests below it run the algorithms through the real Runner (stopping
criteria, the same log for the same seed, resume from a run directory,
simulated workers). Algorithms whose module is missing are skipped with a reason.
"""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evoautodl.algorithms import (
    ALGORITHM_SPECS,
    ALGORITHMS,
    BASELINE_LIBRARIES,
    Algorithm,
    available_algorithms,
    get_algorithm,
)
from evoautodl.backends.serial import SerialBackend
from evoautodl.backends.simulated import SimulatedBackend
from evoautodl.fidelity import BudgetLadder
from evoautodl.records import Result, Trial
from evoautodl.runner import Runner, StopCriteria
from evoautodl.testing import ALGORITHM_CHECKS, check_algorithm
from evoautodl.workloads.synthetic import MixedRastrigin

MAX_BUDGET = 9
LADDER = BudgetLadder(1, MAX_BUDGET, 3)
#: small populations so that short runs go through several generations
SMALL: dict[str, dict[str, Any]] = {
    "ga": {"population_size": 6},
    "steady_state": {"population_size": 6},
    "regularized": {"population_size": 6, "sample_size": 3},
    "de": {"population_size": 6},
    "nsga2": {"population_size": 6},
    "asha_ea": {"population_size": 12, "n_initial": 4},
    "pbt": {"population_size": 16, "step_epochs": 1},  # 16 members x 9 steps: not finished within the tests
    "adaptive_mf": {"n_initial": 4, "n_candidates": 4, "max_model_points": 20},  # a cheaper GP: tests in seconds
}
MULTI_OBJECTIVE = {"nsga2"}
#: algorithms that breed whenever a worker is free (they must keep every worker busy)
ASYNCHRONOUS = {"random", "steady_state", "regularized", "de-async", "asha_ea", "dehb", "adaptive_mf"}
TIMING_FIELDS = ("start_time", "end_time", "cost_s", "host")
#: further cases: registry name and options (ga-rungs: budget rises per generation, survivors are promoted)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "de-async": ("de", {"asynchronous": True}),
    "ga-rungs": ("ga", {"generations_per_rung": 1}),
}
LADDER_ONLY = {"ga-rungs"}

#: the registry's own algorithms (the baselines wrap other libraries: tests/test_baselines.py checks them)
CASES = [*(n for n in ALGORITHM_SPECS if n not in BASELINE_LIBRARIES), *VARIANTS]


def _case(case: str) -> tuple[str, dict[str, Any]]:
    """(registry name, extra options) of a test case; skips algorithms whose module is missing."""
    name, extra = VARIANTS.get(case, (case, {}))
    if name not in available_algorithms():
        pytest.skip(f"algorithm {name!r}: module {ALGORITHM_SPECS[name].split(':')[0]} does not exist (yet)")
    return name, extra


def _workload(case: str, **kwargs: Any) -> MixedRastrigin:
    name, _ = _case(case)
    return MixedRastrigin(max_budget=MAX_BUDGET, multi_objective=name in MULTI_OBJECTIVE, with_forbidden=True,
                          **kwargs)


def _build(case: str, space: Any, seed: int = 0, ladder: BudgetLadder | None = LADDER) -> Algorithm:
    name, extra = _case(case)
    return get_algorithm(name, space, seed=seed, n_objectives=2 if name in MULTI_OBJECTIVE else 1,
                         max_budget=MAX_BUDGET, ladder=ladder, **SMALL.get(name, {}), **extra)


def _log_lines(run_dir: Path) -> list[dict[str, Any]]:
    lines = [json.loads(s) for s in (run_dir / "evaluations.jsonl").read_text().splitlines()]
    for obj in lines:
        for k in TIMING_FIELDS:
            obj.pop(k, None)
    return lines


def _run(algo: Algorithm, backend: Any, stop: StopCriteria, run_dir: Path | None = None, **kw: Any) -> Any:
    return Runner(algo, backend, run_dir=run_dir, stop=stop, handle_signals=False, **kw).run()


# ---------------------------------------------------------------------------------------------- the contract
@pytest.mark.parametrize("check", list(ALGORITHM_CHECKS))
@pytest.mark.parametrize("case", CASES)
def test_builtin_algorithms_pass_the_contract(case: str, check: str) -> None:
    name, extra = _case(case)
    factory = functools.partial(ALGORITHMS[name], **SMALL.get(name, {}), **extra)
    report = check_algorithm(factory, n_objectives=2 if name in MULTI_OBJECTIVE else 1, checks=[check],
                             ladder="with" if case in LADDER_ONLY else "both")
    assert [c for c, _, _ in report.passed] == [check] * len(report.passed) and report.passed
    if ALGORITHMS[name].requires_ladder:
        assert report.skipped and "needs a budget ladder" in report.skipped[0]


@pytest.mark.parametrize("case", CASES)
def test_failing_workload_does_not_stop_the_run(case: str) -> None:
    wl = _workload(case, fail_prob=0.3, nan_prob=0.05)
    summary = _run(_build(case, wl.search_space()), SerialBackend(wl), StopCriteria(max_evaluations=60))
    assert summary.n_evaluations == 60 and 8 < summary.n_failed < 40


# ---------------------------------------------------------------------------------------------- budgets, stopping
@pytest.mark.parametrize("n_workers", [1, 4])
@pytest.mark.parametrize("case", CASES)
def test_stops_after_exactly_max_evaluations(case: str, n_workers: int, tmp_path: Path) -> None:
    wl = _workload(case, fail_prob=0.1)
    backend = SerialBackend(wl) if n_workers == 1 else SimulatedBackend(wl, n_workers)
    summary = _run(_build(case, wl.search_space()), backend, StopCriteria(max_evaluations=37), tmp_path / "run")
    assert summary.n_evaluations == 37 and summary.stopped_by == "max_evaluations"
    assert len(_log_lines(tmp_path / "run")) == 37


@pytest.mark.parametrize("case", CASES)
def test_max_epochs_is_respected_up_to_one_trial_per_worker(case: str) -> None:
    wl = _workload(case)
    n_workers, limit = 4, 100.0
    summary = _run(_build(case, wl.search_space()), SimulatedBackend(wl, n_workers), StopCriteria(max_epochs=limit))
    assert summary.stopped_by == "max_epochs"
    assert limit <= summary.epochs_trained <= limit + n_workers * MAX_BUDGET
    assert summary.n_evaluations >= limit / MAX_BUDGET


# ---------------------------------------------------------------------------------------------- state
@pytest.mark.parametrize("case", CASES)
def test_same_seed_gives_the_same_log_serially(case: str, tmp_path: Path) -> None:
    def log(seed: int, sub: str) -> list[dict[str, Any]]:
        wl = _workload(case, fail_prob=0.15, noise_std=0.01)
        _run(_build(case, wl.search_space(), seed=seed), SerialBackend(wl), StopCriteria(max_evaluations=40),
             tmp_path / sub)
        return _log_lines(tmp_path / sub)

    a = log(7, "a")
    assert a == log(7, "b")
    assert a != log(8, "c")


@pytest.mark.parametrize("how", ["stopped", "journal-only", "killed"])
@pytest.mark.parametrize("case", CASES)
def test_resume_gives_the_uninterrupted_log(case: str, how: str, tmp_path: Path) -> None:
    """stopped: a run stopped at N/2 resumes from state.pkl; journal-only: the same without state.pkl
    (every ask and tell is replayed); killed: the files as a hard kill at N/2 leaves them (state.pkl
    one result behind the log, trials pending)."""
    n = 36
    wl = _workload(case, fail_prob=0.15)
    space = wl.search_space()

    def copy_at_half(r: Result) -> None:
        if not (tmp_path / "part").exists() and len(_log_lines(tmp_path / "whole")) == n // 2:
            shutil.copytree(tmp_path / "whole", tmp_path / "part")

    _run(_build(case, space, seed=2), SerialBackend(wl), StopCriteria(max_evaluations=n), tmp_path / "whole",
         checkpoint_interval_s=0.0, on_result=copy_at_half if how == "killed" else None)
    if how != "killed":
        _run(_build(case, space, seed=2), SerialBackend(wl), StopCriteria(max_evaluations=n // 2), tmp_path / "part")
    assert len(_log_lines(tmp_path / "part")) == n // 2
    if how == "journal-only":
        (tmp_path / "part" / "state.pkl").unlink()
    summary = _run(_build(case, space, seed=2), SerialBackend(wl), StopCriteria(max_evaluations=n),
                   tmp_path / "part", resume=True)
    assert summary.n_evaluations == n
    assert _log_lines(tmp_path / "part") == _log_lines(tmp_path / "whole")


# ---------------------------------------------------------------------------------------------- parallel
def _record_asks(algo: Algorithm) -> list[tuple[int, int]]:
    calls: list[tuple[int, int]] = []
    ask: Callable[[int], list[Trial]] = algo.ask

    def recording(n: int) -> list[Trial]:
        out = ask(n)
        calls.append((n, len(out)))
        return out

    algo.ask = recording  # type: ignore[method-assign]
    return calls


@pytest.mark.parametrize("case", CASES)
def test_eight_simulated_workers_make_progress(case: str) -> None:
    wl = _workload(case, cost_spread=0.5, fail_prob=0.05)
    algo = _build(case, wl.search_space())
    calls = _record_asks(algo)
    results: list[Result] = []
    summary = _run(algo, SimulatedBackend(wl, 8), StopCriteria(max_evaluations=120), on_result=results.append)
    assert summary.n_evaluations == 120
    assert any(n > 1 and got > 1 for n, got in calls), "never asked for (and got) several trials at once"
    assert max(r.trial.trial_id for r in results) >= 119
    if case in ASYNCHRONOUS:
        assert all(got == n for n, got in calls), f"an asynchronous algorithm left workers idle: {calls}"
        # all 8 workers are busy until the evaluation budget runs out
        starts = sorted(r.start_time for r in results)
        assert starts[7] == 0.0
