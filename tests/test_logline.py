"""The fast writers of log and journal lines write exactly what the json module writes, or leave the value to it.

`evoautodl.logline.plain_line` is the log line of every ordinary evaluation; the journal writes its ask lines
without the encoder. Both must be byte for byte what the general path (`result_to_json`, ``json``) writes, and
every line must read back.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evoautodl.algorithms import get_algorithm
from evoautodl.backends.serial import SerialBackend
from evoautodl.fidelity import BudgetLadder
from evoautodl.log import encode_checked, read_results, result_from_json, result_to_json
from evoautodl.logline import plain_line
from evoautodl.records import Result, Status, Trial
from evoautodl.rundir import RunDir
from evoautodl.runner import Runner, StopCriteria
from evoautodl.workloads.synthetic import MixedRastrigin

numbers = st.one_of(st.floats(), st.integers(-(2**70), 2**70), st.sampled_from([0.0, -0.0, 1.0, 1, 52.0, 1e300]))
odd = st.one_of(st.booleans(), st.none(), st.builds(np.float64, st.floats()), st.just([1.0, [2.0]]))
maybe_odd = st.one_of(numbers, numbers, numbers, odd)
texts = st.text(max_size=12)
seqs = st.one_of(st.lists(maybe_odd, max_size=6), st.lists(maybe_odd, max_size=6).map(tuple))
config_values = st.one_of(numbers, texts, st.booleans(), st.none(), odd)


@st.composite
def results(draw: st.DrawFn) -> Result:
    trial = Trial(
        trial_id=draw(st.one_of(st.integers(0, 10**6), odd)), individual_id=draw(st.integers(0, 10**6)),
        config=draw(st.dictionaries(texts, config_values, max_size=5)), genome=draw(seqs),
        budget_epochs=draw(maybe_odd), seed=draw(st.integers(0, 2**32)),
        parent_ids=draw(st.lists(st.one_of(st.integers(0, 99), odd), max_size=3).map(tuple)),
        operator=draw(texts), resume_from=draw(st.one_of(st.none(), texts)), generation=draw(st.integers(0, 9)),
        rung=draw(st.integers(0, 4)), resume_budget=draw(st.one_of(st.none(), maybe_odd)),
    )
    lists = st.lists(maybe_odd, max_size=4)
    return Result(
        trial=trial, status=draw(st.sampled_from(list(Status))), objectives=draw(seqs),
        metrics=draw(st.dictionaries(texts, st.one_of(maybe_odd, lists), max_size=3)),
        curve=draw(st.dictionaries(texts, lists, max_size=2)), epochs_trained=draw(maybe_odd),
        cost_s=draw(maybe_odd), error=draw(st.one_of(st.none(), st.text(max_size=30))), worker=draw(st.integers(0, 64)),
        host=draw(texts), device=draw(texts), start_time=draw(maybe_odd), end_time=draw(maybe_odd),
        checkpoint=draw(st.one_of(st.none(), texts)),
    )


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(results())
def test_a_plain_line_is_the_line_the_json_module_writes_and_reads_back(r: Result) -> None:
    line = plain_line(r)
    if line is not None:
        assert line == result_to_json(r)
        assert result_from_json(json.loads(line)).trial.trial_id == r.trial.trial_id  # reads back
        assert encode_checked(r) == (line, r)


def _trial(genome, config=None, **kw) -> Trial:
    return Trial(trial_id=1, individual_id=1, config=config if config is not None else {"x": 0.5}, genome=genome,
                 budget_epochs=9.0, seed=7, **kw)


@pytest.mark.parametrize("genome", [(1.0, 0.5, 2.5e-7), (1, 0.5, 2.5e-7), (-0.0, 0.0, 1.0), [0.0, -0.0, 1]])
def test_remembered_float_texts_never_stand_in_for_an_equal_int_or_a_signed_zero(genome) -> None:
    warm = Result(trial=_trial((1.0, 0.0, 0.5, 2.5e-7), {"a": 1.0, "b": 0.0}), status=Status.OK, objectives=(1.0,))
    assert plain_line(warm) == result_to_json(warm)
    r = Result(trial=_trial(genome, {"a": genome[0], "b": genome[1]}), status=Status.OK, objectives=(1.0,))
    assert plain_line(r) == result_to_json(r)


@pytest.mark.parametrize("change", [
    {"objectives": (math.nan,)}, {"objectives": (np.float64(1.0),)}, {"objectives": (True,)},
    {"metrics": {"m": math.inf}}, {"metrics": {"m": "abc"}}, {"curve": {"c": [1.0, None]}},
    {"start_time": np.float32(1.5)}, {"worker": np.int64(1)}, {"status": "OK"}, {"host": None},
])
def test_what_is_not_plain_is_left_to_the_general_path(change: dict) -> None:
    r = Result(**{"trial": _trial((0.5,)), "status": Status.OK, "objectives": (1.0,), **change})
    assert plain_line(r) is None


@pytest.mark.parametrize("config", [{"x": [1, 2]}, {"x": math.nan}, {1: 0.5}, {"x": np.int64(3)}])
def test_a_config_that_is_not_plain_is_left_to_the_general_path(config: dict) -> None:
    assert plain_line(Result(trial=_trial((0.5,), config), status=Status.OK, objectives=(1.0,))) is None


@pytest.mark.parametrize("name", ["ga", "asha_ea", "nsga2"])
def test_every_line_of_a_run_is_written_by_the_fast_path_and_the_journal_as_json_writes_it(tmp_path: Path,
                                                                                           name: str) -> None:
    space = MixedRastrigin().search_space()
    workload = MixedRastrigin(multi_objective=True) if name == "nsga2" else MixedRastrigin()
    algo = get_algorithm(name, space, seed=3, ladder=BudgetLadder(1, workload.max_budget, 3))
    Runner(algo, SerialBackend(workload), run_dir=tmp_path / "r", stop=StopCriteria(max_evaluations=60)).run()
    results = read_results(tmp_path / "r")
    lines = (tmp_path / "r" / "evaluations.jsonl").read_text().splitlines()
    assert len(results) == len(lines) == 60
    for r, line in zip(results, lines):
        assert plain_line(r) == result_to_json(r) == line
    encode = json.JSONEncoder(separators=(",", ":")).encode
    journal = (tmp_path / "r" / "journal.jsonl").read_text().splitlines()
    assert journal and [encode(entry) for entry in RunDir(tmp_path / "r").read_journal()] == journal


def test_journal_ask_lines_are_what_the_json_module_writes(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.open_journal()
    entries = [(0, 1, [0], True), (3, 2, [4, 5], False), (5, 4, [], True), (2**70, 1, [7], True)]
    for after, n, ids, mark in entries:
        run.journal_ask(after, n, ids, run=mark)
    run.journal_ask(1, 1, [True])  # not an int: the encoder writes it
    with pytest.raises(TypeError):  # as before: the encoder refuses what JSON cannot hold
        run.journal_ask(1, 1, [np.int64(3)])
    run.release()
    encode = json.JSONEncoder(separators=(",", ":")).encode
    expected = [encode({"after": a, "n": n, "ids": ids, **({"run": True} if mark else {})})
                for a, n, ids, mark in entries] + [encode({"after": 1, "n": 1, "ids": [True]})]
    assert (tmp_path / "journal.jsonl").read_text().splitlines() == expected
