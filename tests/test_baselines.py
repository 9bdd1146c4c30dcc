"""Baselines from other libraries (Optuna, DEHB, SMAC3) behind the ask/tell contract.

Each is skipped with a reason when its library is missing (``pip install evoautodl[baselines]``).
"""

from __future__ import annotations

import importlib.util
import pickle
from typing import Any

import pytest

from evoautodl.algorithms import get_algorithm
from evoautodl.backends.serial import SerialBackend
from evoautodl.baselines import BASELINES
from evoautodl.errors import ConfigError
from evoautodl.fidelity import BudgetLadder
from evoautodl.records import Result, parse_checkpoint_budget
from evoautodl.runner import Runner, StopCriteria
from evoautodl.workloads.synthetic import MixedRastrigin

MAX_BUDGET = 9
LADDER = BudgetLadder(1, MAX_BUDGET, 3)
QUICK = {"smac_bo": {"n_initial_configs": 5}, "smac_hyperband": {"n_initial_configs": 5}}


def _installed(name: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in BASELINES[name].modules)


def _params() -> list[Any]:
    out = []
    for n in BASELINES:
        marks = [pytest.mark.skipif(not _installed(n), reason=f"{BASELINES[n].packages[0]} is not installed "
                                    "(pip install evoautodl[baselines])")]
        if n.startswith("smac"):
            marks.append(pytest.mark.slow)  # random-forest refits: tens of seconds on a shared 2-core machine
        out.append(pytest.param(n, marks=marks))
    return out


def _build(name: str, seed: int = 0, forbidden: bool = False) -> tuple[Any, MixedRastrigin]:
    wl = MixedRastrigin(max_budget=MAX_BUDGET, fidelity_correlation=0.7, with_forbidden=forbidden)
    algo = get_algorithm(BASELINES[name].target, wl.search_space(), seed=seed, ladder=LADDER, **QUICK.get(name, {}))
    return algo, wl


@pytest.mark.parametrize("name", _params())
def test_baseline_runs_valid_trials_within_the_epoch_budget(name: str) -> None:
    algo, wl = _build(name)
    space = wl.search_space()
    results: list[Result] = []
    summary = Runner(algo, SerialBackend(wl), stop=StopCriteria(max_epochs=120), on_result=results.append,
                     handle_signals=False).run()
    assert summary.stopped_by == "max_epochs" and summary.n_failed == 0
    assert 120 <= summary.epochs_trained < 120 + MAX_BUDGET  # the same accounting as every algorithm
    for r in results:
        assert space.is_valid(r.trial.config), r.trial.config
        assert r.trial.budget_epochs in (*LADDER.budgets, 18.0) or r.trial.budget_epochs <= MAX_BUDGET
        if r.trial.resume_from is not None:  # continuation: same individual, a lower checkpoint
            assert r.trial.resume_from.startswith(f"ind{r.trial.individual_id:07d}_b")
            assert r.trial.resume_budget == parse_checkpoint_budget(r.trial.resume_from) < r.trial.budget_epochs
            assert r.epochs_trained == r.trial.budget_epochs - r.trial.resume_budget
    full = [r for r in results if r.trial.budget_epochs == MAX_BUDGET]
    assert full, "no evaluation at the full budget"
    if algo.multi_fidelity:
        assert any(r.trial.budget_epochs < MAX_BUDGET for r in results)
        assert any(r.trial.resume_from is not None for r in results)


@pytest.mark.parametrize("name", _params())
def test_baseline_resumes_exactly_by_replaying_library_calls(name: str) -> None:
    algo, wl = _build(name, seed=3)
    backend = SerialBackend(wl)
    clone = None
    for k in range(24):
        if k == 12:
            clone, _ = _build(name, seed=3)
            clone.load_state_dict(pickle.loads(pickle.dumps(algo.state_dict())))
        trial = algo.ask(1)[0]
        backend.submit(trial)
        result = backend.wait()[0]
        algo.tell(result)
        if clone is not None:
            assert clone.ask(1)[0] == trial
            clone.tell(result)
    # a failed trial is data: told to the library, the run goes on
    trial = algo.ask(1)[0]
    from evoautodl.records import Status

    algo.tell(Result(trial=trial, status=Status.FAILED, error="boom"))
    assert algo.ask(1)


@pytest.mark.parametrize("name", [p for p in _params() if p.values[0] in ("optuna_tpe", "optuna_hyperband")])
def test_optuna_steers_away_from_forbidden_configurations(name: str) -> None:
    algo, wl = _build(name, forbidden=True)
    summary = Runner(algo, SerialBackend(wl), stop=StopCriteria(max_epochs=200), handle_signals=False).run()
    assert summary.n_failed == 0 and summary.epochs_trained >= 200


@pytest.mark.skipif(not _installed("dehb_lib"), reason="dehb is not installed")
def test_dehb_lib_refuses_forbidden_clauses_with_a_clear_message() -> None:
    with pytest.raises(ConfigError, match=r"DEHB 0\.1\.1 cannot sample spaces with forbidden clauses"):
        _build("dehb_lib", forbidden=True)


@pytest.mark.parametrize("name", [p for p in _params() if p.values[0] in ("optuna_hyperband", "dehb_lib",
                                                                          "smac_hyperband")])
def test_multi_fidelity_baselines_need_a_ladder(name: str) -> None:
    wl = MixedRastrigin(max_budget=MAX_BUDGET)
    with pytest.raises(ConfigError, match="needs a fidelity ladder"):
        get_algorithm(BASELINES[name].target, wl.search_space(), seed=0, max_budget=MAX_BUDGET)
