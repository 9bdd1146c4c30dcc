"""Records: the resume budget a trial carries, the one builder of failed results, compact printing."""

from __future__ import annotations

import json

import pytest

from evoautodl import BudgetLadder, get_algorithm
from evoautodl.log import result_from_json, result_to_json
from evoautodl.records import Result, Status, Trial, checkpoint_key, failed_result
from evoautodl.workloads.base import resolve_budget
from evoautodl.workloads.synthetic import MixedRastrigin


def _trial(**kw) -> Trial:
    base = dict(trial_id=3, individual_id=2, config={"x": 1}, genome=(0.5,), budget_epochs=9.0, seed=1)
    return Trial(**{**base, **kw})


def test_resume_budget_round_trips_through_the_log() -> None:
    t = _trial(resume_from=checkpoint_key(2, 3), resume_budget=3.0, operator="promote")
    back = result_from_json(json.loads(result_to_json(Result(trial=t, status=Status.OK, objectives=(0.5,)))))
    assert back.trial.resume_budget == 3.0 and back.trial.resume_from == "ind0000002_b3"
    assert back.trial.epochs_to_train == 6.0


def test_an_old_log_line_without_resume_budget_reads_it_from_the_key() -> None:
    line = json.loads(result_to_json(Result(trial=_trial(resume_from="ind0000002_b3", resume_budget=3.0),
                                            status=Status.OK, objectives=(0.5,))))
    del line["resume_budget"]
    assert result_from_json(line).trial.resume_budget == 3.0
    line["resume_from"] = None
    assert result_from_json(line).trial.resume_budget is None


def test_make_trial_needs_the_resume_budget_with_a_checkpoint() -> None:
    space = MixedRastrigin().search_space()
    algo = get_algorithm("random", space, ladder=BudgetLadder(1, 27, 3))
    g = space.sample(algo.rng)
    with pytest.raises(ValueError, match=r"needs resume_budget="):
        algo.make_trial(g, budget=9, resume_from="ind0000000_b3")
    with pytest.raises(ValueError, match="without resume_from"):
        algo.make_trial(g, budget=9, resume_budget=3)
    with pytest.raises(ValueError, match=r"must be a number in \[0, 9\]"):
        algo.make_trial(g, budget=9, resume_from="ind0000000_b27", resume_budget=27)
    assert algo.n_asked == 0  # a refused trial takes no id
    t = algo.make_trial(g, budget=9, resume_from="ind0000000_b3", resume_budget=3)
    assert t.resume_budget == 3.0 and t.epochs_to_train == 6.0


def test_workloads_read_the_budget_from_the_trial_not_the_key() -> None:
    # a key that does not encode a budget at all: the trial's resume_budget is what counts
    t = _trial(budget_epochs=9.0, resume_from="my-checkpoint", resume_budget=4.0)
    assert resolve_budget(t, 27) == (9, 4)
    with pytest.raises(ValueError, match="without resume_budget"):
        resolve_budget(_trial(resume_from="ind0000002_b3"), 27)


def test_failed_result_is_the_one_builder() -> None:
    r = failed_result(_trial(), Status.TIMEOUT, "TIMEOUT: too slow", worker=2, host="h", device="cpu",
                      start_time=100.0, end_time=103.5)
    assert (r.status, r.error, r.worker, r.objectives, r.cost_s) == (Status.TIMEOUT, "TIMEOUT: too slow", 2, (), 3.5)
    assert not r.ok and r.objective == float("inf")
    now = failed_result(_trial(), Status.CANCELLED, "stopped")
    assert now.start_time == now.end_time and now.cost_s == 0.0


def test_printing_a_result_leaves_out_curves_and_genomes() -> None:
    r = Result(trial=_trial(genome=tuple(0.1 * i for i in range(50))), status=Status.OK, objectives=(0.5,),
               curve={"loss": [0.1] * 1000})
    text = repr(r)
    assert "curve" not in text and "genome" not in text and "objectives=(0.5,)" in text
