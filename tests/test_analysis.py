"""Analysis of run directories: incumbent trace, budget correlation, Pareto front."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from evoautodl import load_run
from evoautodl.algorithms import get_algorithm
from evoautodl.analysis import budget_correlation, incumbent_trace, pareto_front
from evoautodl.backends.serial import SerialBackend
from evoautodl.fidelity import BudgetLadder
from evoautodl.runner import Runner, StopCriteria
from evoautodl.workloads.synthetic import MixedRastrigin


def _run(tmp_path: Path, correlation: float) -> Path:
    wl = MixedRastrigin(max_budget=27, fidelity_correlation=correlation)
    algo = get_algorithm("asha_ea", wl.search_space(), seed=0, ladder=BudgetLadder(1, 27, 3))
    out = tmp_path / f"run{correlation}"
    Runner(algo, SerialBackend(wl), run_dir=out, stop=StopCriteria(max_epochs=800)).run()
    return out


def test_incumbent_trace_is_monotone_within_a_budget(tmp_path: Path) -> None:
    df = load_run(_run(tmp_path, 1.0))
    trace = incumbent_trace(df)
    assert len(trace) == len(df)
    assert np.isclose(trace["epochs"].iloc[-1], df["epochs_trained"].sum())
    for _, grp in trace.dropna().groupby("budget_epochs"):
        assert grp["incumbent"].is_monotonic_decreasing
    top = df[df["budget_epochs"] == df["budget_epochs"].max()]
    assert np.isclose(trace["incumbent"].iloc[-1], top["objective"].min())


def test_budget_correlation_follows_the_fidelity_knob(tmp_path: Path) -> None:
    high = budget_correlation(load_run(_run(tmp_path, 1.0)))
    low = budget_correlation(load_run(_run(tmp_path, 0.0)))
    pair = (high["budget_low"] == 1) & (high["budget_high"] == 3)
    assert high.loc[pair, "kendall_tau"].iloc[0] > 0.9
    pair = (low["budget_low"] == 1) & (low["budget_high"] == 3)
    assert low.loc[pair, "kendall_tau"].iloc[0] < high.loc[(high["budget_low"] == 1) & (high["budget_high"] == 3),
                                                            "kendall_tau"].iloc[0]


def test_pareto_front() -> None:
    df = pd.DataFrame({"status": ["OK"] * 4, "a": [1.0, 2.0, 3.0, 2.5], "b": [3.0, 2.0, 1.0, 2.5]})
    front = pareto_front(df, ["a", "b"])
    assert sorted(front["a"]) == [1.0, 2.0, 3.0]


def test_two_objective_run_gets_a_front_and_a_pareto_figure(tmp_path: Path) -> None:
    wl = MixedRastrigin(multi_objective=True)  # objectives "error" and "size"
    algo = get_algorithm("nsga2", wl.search_space(), seed=0, max_budget=27, population_size=12)
    out = tmp_path / "mo"
    Runner(algo, SerialBackend(wl), run_dir=out, stop=StopCriteria(max_evaluations=60)).run()
    df = load_run(out)
    cols = df.attrs["objective_columns"]
    assert cols == ["error", "size"]  # the failure text lives in "error_message", so no collision
    assert df["error_message"].isna().all() and df["error"].notna().all()
    front = pareto_front(df, cols)
    assert 1 <= len(front) < len(df)
    from evoautodl.analysis.report import analyze_run

    report = analyze_run(out, importance=False)
    names = {p.name for p in report.figures}
    assert {"pareto.png", "hypervolume.png", "learning_curves.png"} <= names
    assert "objective_by_budget.png" not in names  # a single budget


def test_importing_the_analysis_package_stays_light() -> None:
    import subprocess
    import sys

    code = ("import sys, evoautodl.analysis; "
            "print(sorted(m for m in ('matplotlib', 'sklearn', 'torch', 'mpi4py') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr
