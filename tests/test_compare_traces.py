"""Anytime traces, regret and summaries of evoautodl.compare on hand-made logs (pure functions, no runs)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evoautodl.compare import (
    CompareError,
    add_regret,
    aggregate_anytime,
    anytime_summary,
    budget_grid,
    cell_trace,
    ecdf,
    oracle_values,
    performance_at,
    regret_scales,
)
from evoautodl.compare.ioh import ioh_rows

INF = math.inf


def _log(rows: list[tuple]) -> pd.DataFrame:
    """(status, budget_epochs, objective, epochs_trained, start_time, end_time) per trial, in log order."""
    return pd.DataFrame(rows, columns=["status", "budget_epochs", "objective", "epochs_trained", "start_time",
                                       "end_time"])


LOG = _log([
    ("OK", 3, 0.50, 3, 10.0, 13.0),     # low fidelity: never counts
    ("OK", 9, 0.40, 9, 11.0, 20.0),     # first full-budget result
    ("FAILED", 9, INF, 4, 12.0, 16.0),  # failed: pays its epochs, no value
    ("OK", 9, 0.45, 6, 14.0, 19.0),     # promoted from 3 (6 epochs); worse; logged late with an earlier end
    ("OK", 3, 0.10, 3, 21.0, 24.0),     # low fidelity, very good: still never counts
    ("OK", 9, 0.30, 9, 22.0, 31.0),
])


def test_budget_is_counted_per_unit() -> None:
    epochs = cell_trace(LOG, "epochs", 9)["budget"].tolist()
    assert epochs == [3, 12, 16, 22, 25, 34]
    assert cell_trace(LOG, "evaluations", 9)["budget"].tolist() == [1, 2, 3, 4, 5, 6]
    # end - earliest start, made non-decreasing: the 4th result ends at 19 but was told after one ending at 20
    assert cell_trace(LOG, "time_s", 9)["budget"].tolist() == [3, 10, 10, 10, 14, 21]
    with pytest.raises(CompareError, match="budget unit"):
        cell_trace(LOG, "hours", 9)


def test_only_ok_trials_at_the_maximum_budget_count() -> None:
    t = cell_trace(LOG, "epochs", 9)
    assert np.allclose(t["value"].fillna(-1), [-1, 0.40, -1, 0.45, -1, 0.30])
    assert t["best"].tolist() == [INF, 0.40, 0.40, 0.40, 0.40, 0.30]
    # without a fidelity every OK trial counts
    assert cell_trace(LOG, "epochs", None)["best"].tolist() == [0.5, 0.4, 0.4, 0.4, 0.1, 0.1]


def test_performance_is_a_step_function_without_look_ahead() -> None:
    t = cell_trace(LOG, "epochs", 9).assign(problem="p", algorithm="a", seed=0)
    cells = pd.DataFrame({"problem": ["p", "p"], "algorithm": ["a", "b"], "seed": [0, 0]})
    perf = performance_at(t, cells, [2, 11.999, 12, 33.9, 34, 100])
    a = perf[perf["algorithm"] == "a"]["best"].tolist()
    assert a == [INF, INF, 0.40, 0.40, 0.30, 0.30]  # a value counts from the budget its trial finished at
    assert perf[perf["algorithm"] == "b"]["best"].tolist() == [INF] * 6  # no trace at all: +inf


def test_oracle_scale_and_regret() -> None:
    cells = pd.DataFrame({"problem": ["p", "p", "q", "q"], "best": [0.3, 0.2, 5.0, 7.0],
                          "first_full_budget": [0.5, 0.6, 9.0, INF]})
    oracle = oracle_values(cells, {"p": 0.25, "q": None, "r": None})
    assert oracle["p"] == 0.2  # a run beat the reference
    assert oracle["q"] == 5.0
    assert math.isnan(oracle["r"])  # nothing found and no reference
    assert oracle_values(cells, {"p": 0.1})["p"] == 0.1
    scale = regret_scales(cells, oracle.drop("r"))
    assert scale["p"] == pytest.approx(np.median([0.3, 0.4]))
    assert scale["q"] == pytest.approx(4.0)  # the run without a full-budget result is left out of the median
    perf = pd.DataFrame({"problem": ["p", "p", "q"], "algorithm": "a", "seed": 0, "budget": 1.0,
                         "best": [0.2, INF, 6.0]})
    out = add_regret(perf, oracle, scale)
    assert out["regret"].tolist() == pytest.approx([0.0, INF, 1.0])
    assert out["nregret"].tolist() == pytest.approx([0.0, INF, 0.25])


def test_scale_falls_back_when_every_first_result_is_the_oracle() -> None:
    cells = pd.DataFrame({"problem": ["p", "p", "p"], "best": [0.2, 0.2, 0.2], "first_full_budget": [0.2, 0.2, 0.5]})
    assert regret_scales(cells, pd.Series({"p": 0.2}))["p"] == pytest.approx(0.3)  # median 0: largest first regret
    cells["first_full_budget"] = 0.2
    assert regret_scales(cells, pd.Series({"p": 0.2}))["p"] == 1.0


def test_budget_grid() -> None:
    g = budget_grid(100, 4)
    assert g.tolist() == [25, 50, 75, 100]
    lg = budget_grid(1000, 4, log=True, start=1)
    assert lg.tolist() == pytest.approx([1, 10, 100, 1000])
    ints = budget_grid(10, 100, integer=True)
    assert ints.tolist() == list(range(1, 11))
    with pytest.raises(CompareError):
        budget_grid(0, 10)
    with pytest.raises(CompareError):
        budget_grid(10, 10, log=True, start=20)


def _perf() -> pd.DataFrame:
    rows = []
    for b, (a0, a1, c0, c1) in zip([1, 2, 3], [(INF, 0.5, 1.0, 2.0), (0.4, 0.2, 0.5, 1.0), (0.1, 0.1, 0.0, 0.0)]):
        rows += [("p", "a", 0, b, a0), ("p", "a", 1, b, a1), ("p", "c", 0, b, c0), ("p", "c", 1, b, c1)]
    df = pd.DataFrame(rows, columns=["problem", "algorithm", "seed", "budget", "regret"])
    return df.assign(nregret=df["regret"], best=df["regret"])


def test_anytime_mean_needs_every_seed() -> None:
    s = anytime_summary(_perf())
    a = s[s["algorithm"] == "a"].set_index("budget")
    assert math.isnan(a.loc[1, "mean"]) and a.loc[1, "median"] == INF  # one seed without a result yet
    assert a.loc[2, "mean"] == pytest.approx(0.3)
    assert a.loc[2, "se"] == pytest.approx(np.std([0.4, 0.2], ddof=1) / math.sqrt(2))
    agg = aggregate_anytime(_perf()).set_index(["algorithm", "budget"])
    assert agg.loc[("c", 2), "mean"] == pytest.approx(0.75)


def test_ecdf_counts_problem_seed_target_triples() -> None:
    e = ecdf(_perf(), targets=np.array([1.0, 0.3, 0.05])).set_index(["algorithm", "budget"])
    # a at budget 1: (inf, 0.5) -> 0.5 solves the target 1.0 only: 1 of 2 runs x 3 targets
    assert e.loc[("a", 1), "fraction"] == pytest.approx(1 / 6)
    assert e.loc[("a", 2), "fraction"] == pytest.approx(3 / 6)  # 0.4 solves {1}, 0.2 solves {1, 0.3}
    assert e.loc[("c", 3), "fraction"] == 1.0
    assert e.loc[("c", 1), "n_triples"] == 6


def test_ioh_rows_start_at_one_and_end_at_the_total_budget() -> None:
    rows = ioh_rows(np.array([3, 12, 16, 22.5, 34]), np.array([INF, 0.4, 0.4, 0.35, 0.3]), 40.2)
    assert rows == [(1, INF), (12, 0.4), (23, 0.35), (34, 0.3), (41, 0.3)]
    assert ioh_rows(np.array([]), np.array([]), 0.0) == [(1, INF)]
    assert ioh_rows(np.array([0.4, 0.9]), np.array([0.5, 0.2]), 0.9) == [(1, 0.2)]  # same evaluation: the last


def test_fast_log_reader_agrees_with_the_log_decoder(tmp_path) -> None:
    from evoautodl.algorithms import get_algorithm
    from evoautodl.backends.serial import SerialBackend
    from evoautodl.compare.traces import trial_frame
    from evoautodl.fidelity import BudgetLadder
    from evoautodl.log import read_results
    from evoautodl.runner import Runner, StopCriteria
    from evoautodl.workloads.synthetic import MixedRastrigin

    wl = MixedRastrigin(max_budget=9, fail_prob=0.1, nan_prob=0.1)  # FAILED trials and NaN objectives too
    algo = get_algorithm("asha_ea", wl.search_space(), seed=3, ladder=BudgetLadder(1, 9, 3))
    Runner(algo, SerialBackend(wl), run_dir=tmp_path / "run", stop=StopCriteria(max_evaluations=60),
           handle_signals=False).run()
    log = tmp_path / "run" / "evaluations.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    # a config string that spells out record keys (escaped inside JSON strings), and a half-written last line
    odd = lines[0].replace('"config":{', '"config":{"note":",\\"genome\\":[1],\\"epochs_trained\\":99",', 1)
    log.write_text(odd + "".join(lines[1:]) + lines[1][:40])
    fast = trial_frame(tmp_path / "run")
    results = read_results(tmp_path / "run")
    assert len(fast) == len(results) == 60
    assert set(fast["status"]) >= {"OK", "FAILED"}
    for row, r in zip(fast.itertuples(index=False), results):
        assert row.trial_id == r.trial_id and row.status == r.status.value
        y = r.objectives[0] if r.objectives else math.nan  # an exception leaves no objective
        assert row.objective == y or (math.isnan(row.objective) and math.isnan(y))
        assert (row.budget_epochs, row.epochs_trained, row.start_time, row.end_time) == (
            r.trial.budget_epochs, r.epochs_trained, r.start_time, r.end_time)
    with open(log, "a") as fh:
        fh.write("\n{not json\n")
    with pytest.raises(CompareError, match="corrupt log line"):
        trial_frame(tmp_path / "run")


def test_trace_steps_keep_improvements_and_the_last_trial() -> None:
    from evoautodl.compare.traces import trace_steps

    steps = trace_steps(cell_trace(LOG, "epochs", 9))
    assert steps["budget"].tolist() == [12, 34] and steps["best"].tolist() == [0.4, 0.3]
    flat = trace_steps(cell_trace(LOG.iloc[:1], "epochs", 9))
    assert flat["budget"].tolist() == [3] and flat["best"].tolist() == [INF]
