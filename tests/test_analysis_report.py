"""`evoautodl analyze`: figures (PNG + PDF), report.md with findings, bad input, and the figures' readability."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from evoautodl import load_run
from evoautodl.algorithms import get_algorithm
from evoautodl.analysis import budget_correlation, curve_correlation, curve_matrix
from evoautodl.analysis.plots import (
    plot_budget_correlation,
    plot_incumbent,
    plot_learning_curves,
    plot_objective_by_budget,
)
from evoautodl.backends.serial import SerialBackend
from evoautodl.cli import main
from evoautodl.fidelity import BudgetLadder
from evoautodl.runner import Runner, StopCriteria
from evoautodl.workloads.synthetic import MixedRastrigin

matplotlib.use("Agg")


def _run(out: Path, algorithm: str = "asha_ea", n: int = 300, **workload) -> Path:
    wl = MixedRastrigin(max_budget=9, **workload)
    opts = {"ladder": BudgetLadder(1, 9, 3)} if algorithm == "asha_ea" else {"max_budget": 9}
    algo = get_algorithm(algorithm, wl.search_space(), seed=0, **opts)
    Runner(algo, SerialBackend(wl), run_dir=out, stop=StopCriteria(max_evaluations=n)).run()
    return out


@pytest.fixture(scope="module")
def asha(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tmp_path_factory.mktemp("report") / "asha", fidelity_correlation=0.5)


@pytest.mark.slow
def test_analyze_cli_writes_figures_and_a_report(asha: Path, tmp_path: Path) -> None:
    design = tmp_path / "design"
    wl = MixedRastrigin(max_budget=9)
    Runner(get_algorithm("design", wl.search_space(), seed=0, max_budget=9, n_configs=32), SerialBackend(wl),
           run_dir=design, stop=StopCriteria(max_evaluations=100)).run()
    done = subprocess.run([sys.executable, "-m", "evoautodl", "analyze", str(asha), str(design), "--out",
                           str(tmp_path / "both")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Kendall τ between 1 and 9 epochs" in done.stdout
    for name in ("incumbent", "objective_by_budget", "budget_correlation", "learning_curves", "importance_by_budget",
                 "fanova", "lpi", "partial_dependence", "partial_dependence_2d", "diversity", "operator_success"):
        png, pdf = asha / "figures" / f"{name}.png", asha / "figures" / f"{name}.pdf"
        assert png.read_bytes()[:4] == b"\x89PNG" and pdf.read_bytes()[:4] == b"%PDF", name
    report = (asha / "report.md").read_text()
    assert report.count("**Finding.**") == 10 and "![fanova](figures/fanova.png)" in report
    assert "promoted individuals only" in report and "unbiased" in (design / "report.md").read_text()
    assert "## Importance across epochs" in (design / "report.md").read_text()
    assert (tmp_path / "both" / "figures" / "incumbents.png").exists()


def _error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["analyze", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evoautodl: error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_bad_input_is_one_line_and_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "is this a run directory" in _error(capsys, str(tmp_path))
    assert "not a run directory (does not exist)" in _error(capsys, str(tmp_path / "missing"))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "evaluations.jsonl").write_text("")
    assert "no evaluations yet" in _error(capsys, str(empty))
    failed = _run(tmp_path / "failed", "random", 6, fail_prob=1.0)
    msg = _error(capsys, str(failed))
    assert "all 6 trials failed" in msg and "injected failure" in msg
    small = _run(tmp_path / "small", "random", 6)
    assert "too few trials for a random forest: at most 6 OK trials" in _error(capsys, str(small))
    assert main(["analyze", str(small), "--no-importance"]) == 0  # the other figures still work
    assert "Incumbent:" in capsys.readouterr().out


def test_objective_by_budget_is_readable_with_5000_points(tmp_path: Path) -> None:
    import pandas as pd

    rng = np.random.default_rng(0)
    budgets = rng.choice([1.0, 3.0, 9.0, 27.0, 81.0], 5000)
    df = pd.DataFrame({"status": "OK", "budget_epochs": budgets, "objective": rng.random(5000) / budgets})
    ax = plot_objective_by_budget(df)
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels == ["1", "3", "9", "27", "81"]
    assert not [t for t in ax.get_xticklabels(minor=True) if t.get_text()]  # no log-minor labels
    assert ax.collections[0].get_rasterized() and ax.get_ylabel() == "objective (minimised)"
    assert ax.get_yscale() == "log"  # the values span four decades


def test_incumbent_overlays_runs_and_names_the_objective(asha: Path) -> None:
    df = load_run(asha)
    ax = plot_incumbent(df, label="run A")
    plot_incumbent(df, ax=ax, label="run B")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["run A", "run B"]
    assert ax.get_ylabel() == "best error (fraction, minimised) so far"
    ax = plot_incumbent(df, x="time_s")
    assert ax.get_xlabel() == "wall-clock time (s)"
    df.attrs["run_dir"] = None
    virtual = df.assign(start_time=df["start_time"] - df["start_time"].min(),
                        end_time=df["end_time"] - df["start_time"].min())
    assert "virtual" in plot_incumbent(virtual, x="time_s").get_xlabel()


def test_correlation_heat_map_explains_itself(asha: Path) -> None:
    df = load_run(asha)
    ax = plot_budget_correlation(budget_correlation(df, n_boot=0, min_pairs=50))
    texts = [t.get_text() for t in ax.texts]
    assert any("n=" in t for t in texts) and any("*" in t for t in texts)
    note = next(t.get_text() for t in ax.texts if "p < 0.05" in t.get_text())
    assert "blank: fewer than 50 shared configurations" in note and "grey: not a pair" in note
    assert ax.get_xlabel() == "lower budget (epochs)" and ax.get_ylabel() == "higher budget (epochs)"
    assert "Kendall τ" in ax.figure.axes[-1].get_ylabel()  # the colour bar is labelled


def test_learning_curves_are_drawn(asha: Path) -> None:
    df = load_run(asha)
    ax = plot_learning_curves(df)
    longest = df.drop_duplicates("individual_id")
    assert len(ax.lines) == min(400, len(longest)) + 1
    m = curve_matrix(df)
    assert m.shape == (len(longest), 9) and m.index.is_unique
    assert curve_correlation(df, epochs=[1, 3])["n_pairs"].iloc[0] == (df.groupby("individual_id")["budget_epochs"]
                                                                       .max() >= 3).sum()
