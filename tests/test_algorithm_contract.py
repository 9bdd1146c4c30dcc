"""The contract every registered algorithm passes (parametrized over the registry).

Valid trials, failures as data, budgets, stopping criteria, state_dict
round-trip, serial determinism, exact resume, and progress with 8 simulated
workers. Algorithms whose module is missing are skipped with a reason.
"""

from __future__ import annotations

import copy
import json
import math
import pickle
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evoautodl.algorithms import ALGORITHM_SPECS, ALGORITHMS, Algorithm, available_algorithms, get_algorithm
from evoautodl.backends.base import execute_trial
from evoautodl.backends.serial import SerialBackend
from evoautodl.backends.simulated import SimulatedBackend
from evoautodl.errors import ConfigError
from evoautodl.fidelity import BudgetLadder
from evoautodl.records import Result, Status, Trial, derive_seed
from evoautodl.runner import Runner, StopCriteria
from evoautodl.workloads.base import WorkerContext
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
}
MULTI_OBJECTIVE = {"nsga2"}
#: algorithms that breed whenever a worker is free (they must keep every worker busy)
ASYNCHRONOUS = {"random", "steady_state", "regularized", "de-async", "asha_ea", "dehb"}
TIMING_FIELDS = ("start_time", "end_time", "cost_s", "host")
#: further cases: registry name and options (ga-rungs: budget rises per generation, survivors are promoted)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "de-async": ("de", {"asynchronous": True}),
    "ga-rungs": ("ga", {"generations_per_rung": 1}),
}
LADDER_ONLY = {"ga-rungs"}

CASES = [*ALGORITHM_SPECS, *VARIANTS]


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


class Driver:
    """A scripted backend: asks batches of 0-4, tells in a random order, injects failures.

    Checks on the way: ids unique and increasing, seeds derived from (seed, id),
    valid configs decoded from the genome, ``ask`` returning [] leaves the state unchanged.
    """

    def __init__(self, algo: Algorithm, workload: MixedRastrigin, seed: int = 0, fail_rate: float = 0.25):
        self.algo, self.workload = algo, workload
        self.rng = random.Random(seed)
        self.fail_rate = fail_rate
        self.pending: list[Trial] = []
        self.asked: list[Trial] = []
        self.told: list[Result] = []
        self.short = False  # the last ask returned fewer trials than asked for
        self.context = WorkerContext.local()

    def result(self, trial: Trial) -> Result:
        u = self.rng.random()
        if u < self.fail_rate / 3:
            return Result(trial=trial, status=Status.FAILED, error="injected")
        if u < 2 * self.fail_rate / 3:
            return Result(trial=trial, status=Status.TIMEOUT, error="injected timeout")
        r = execute_trial(self.workload, trial, self.context)
        if u < self.fail_rate and r.ok:  # a NaN loss reported as OK must count as failed too
            r = Result(trial=trial, status=Status.OK, objectives=(math.nan,) * len(r.objectives))
        return r

    def step(self) -> None:
        if not self.pending:
            n = self.rng.randint(1, 4)
        else:
            n = self.rng.randint(0, 4) if len(self.pending) < 8 else 0
        # snapshot only where an empty answer is likely (cheap enough for every step otherwise)
        before = pickle.dumps(self.algo.state_dict()) if n == 0 or self.short else None
        new = self.algo.ask(n)
        assert len(new) <= n
        self.short = len(new) < n
        if not new:
            if before is not None:
                assert pickle.dumps(self.algo.state_dict()) == before, "ask returning [] changed the state"
            assert self.pending, f"{self.algo.name}: ask({n}) returned nothing with nothing running (stuck)"
        for t in new:
            self.check_trial(t)
        self.pending += new
        self.asked += new
        if self.pending and (not new or self.rng.random() < 0.7):
            t = self.pending.pop(self.rng.randrange(len(self.pending)))
            r = self.result(t)
            self.algo.tell(r)
            self.told.append(r)

    def check_trial(self, t: Trial) -> None:
        space = self.algo.space
        if self.asked:
            assert t.trial_id > self.asked[-1].trial_id, "trial ids must increase"
        assert t.seed == derive_seed(self.algo.seed, t.trial_id)
        assert len(t.genome) == space.dim and all(0.0 <= g <= 1.0 for g in t.genome)
        problem = space.explain_invalid(t.config)
        assert problem is None, f"invalid config {t.config}: {problem}"
        assert dict(t.config) == space.to_config(t.genome)
        self.workload.check_config(t.config)
        assert t.trial_id in {p.trial_id for p in self.algo.pending}

    def run(self, n_told: int, max_steps: int = 5000) -> Driver:
        for _ in range(max_steps):
            if len(self.told) >= n_told:
                return self
            self.step()
        raise AssertionError(f"{self.algo.name}: only {len(self.told)} results told in {max_steps} steps")


def _log_lines(run_dir: Path) -> list[dict[str, Any]]:
    lines = [json.loads(s) for s in (run_dir / "evaluations.jsonl").read_text().splitlines()]
    for obj in lines:
        for k in TIMING_FIELDS:
            obj.pop(k, None)
    return lines


def _run(algo: Algorithm, backend: Any, stop: StopCriteria, run_dir: Path | None = None, **kw: Any) -> Any:
    return Runner(algo, backend, run_dir=run_dir, stop=stop, handle_signals=False, **kw).run()


# ---------------------------------------------------------------------------------------------- trials
@pytest.mark.parametrize("case", CASES)
def test_valid_trials_ids_seeds_and_failures(case: str) -> None:
    wl = _workload(case)
    algo = _build(case, wl.search_space(), seed=3)
    d = Driver(algo, wl, seed=1).run(90)
    ids = [t.trial_id for t in d.asked]
    assert len(set(ids)) == len(ids)
    assert sum(not r.ok for r in d.told) > 10
    assert algo.n_told == len(d.told) and algo.n_failed == sum(not r.ok for r in d.told)
    assert {t.trial_id for t in algo.pending} == {t.trial_id for t in d.pending}
    assert algo.ask(0) == []


@pytest.mark.parametrize("case", CASES)
def test_failing_workload_does_not_stop_the_run(case: str) -> None:
    wl = _workload(case, fail_prob=0.3, nan_prob=0.05)
    summary = _run(_build(case, wl.search_space()), SerialBackend(wl), StopCriteria(max_evaluations=60))
    assert summary.n_evaluations == 60 and 8 < summary.n_failed < 40


@pytest.mark.parametrize("case", CASES)
def test_every_trial_failing_is_survivable(case: str) -> None:
    wl = _workload(case, fail_prob=1.0)
    summary = _run(_build(case, wl.search_space()), SimulatedBackend(wl, 3), StopCriteria(max_evaluations=40))
    assert summary.n_evaluations == 40 and summary.n_failed == 40


# ---------------------------------------------------------------------------------------------- budgets, stopping
@pytest.mark.parametrize("with_ladder", [True, False], ids=["ladder", "no-ladder"])
@pytest.mark.parametrize("case", CASES)
def test_budgets_respect_the_ladder_or_max_budget(case: str, with_ladder: bool) -> None:
    wl = _workload(case)
    name, _ = _case(case)
    if case in LADDER_ONLY and not with_ladder:
        pytest.skip(f"{case} needs a fidelity ladder")
    try:
        algo = _build(case, wl.search_space(), ladder=LADDER if with_ladder else None)
    except ConfigError:
        if with_ladder or not ALGORITHMS[name].multi_fidelity:
            raise
        pytest.skip(f"{name} needs a fidelity ladder")
    d = Driver(algo, wl, seed=2, fail_rate=0.1).run(80)
    for t in d.asked:
        if with_ladder:
            assert LADDER.min_budget <= t.budget_epochs <= LADDER.max_budget
            assert 0 <= t.rung < LADDER.n_rungs
        elif not ALGORITHMS[name].multi_fidelity:
            assert t.budget_epochs == MAX_BUDGET
    if case == "ga-rungs":
        assert {t.budget_epochs for t in d.asked} == set(LADDER.budgets)
        assert any(t.operator == "promote" and t.resume_from for t in d.asked)


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
def test_state_dict_round_trip_continues_identically(case: str) -> None:
    wl = _workload(case)
    space = wl.search_space()
    first = Driver(_build(case, space, seed=5), wl, seed=9).run(40)
    assert first.pending or first.algo.ask(0) == []
    state = pickle.loads(pickle.dumps(first.algo.state_dict()))
    clone = _build(case, space, seed=5)
    clone.load_state_dict(state)
    second = copy.copy(first)
    second.algo, second.rng = clone, copy.deepcopy(first.rng)
    second.pending, second.asked, second.told = list(first.pending), list(first.asked), list(first.told)
    n_asked = len(first.asked)
    first.run(100)
    second.run(100)
    assert first.asked[n_asked:] == second.asked[n_asked:]
    assert len(first.asked) > n_asked


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
