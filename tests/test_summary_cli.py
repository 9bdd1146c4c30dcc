"""Outputs that name things, --dry-run, and the small sharp edges of the CLI (BrokenPipe, resume hints)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from evoautodl.cli import main
from evoautodl.summary import summarize_run

ROOT = Path(__file__).resolve().parents[1]

EXPERIMENT = """
    seed = 2
    [workload]
    type = "synthetic"
    max_budget = 9
    {extra_workload}
    [algorithm]
    name = "{algorithm}"
    [stop]
    max_evaluations = {n}
    [backend]
    type = "simulated"
    n_workers = 4
"""


def _experiment(tmp_path: Path, algorithm: str = "random", n: int = 12, extra_workload: str = "") -> Path:
    path = tmp_path / "exp.toml"
    path.write_text(textwrap.dedent(EXPERIMENT.format(algorithm=algorithm, n=n, extra_workload=extra_workload)))
    return path


def test_dry_run_prints_the_resolved_experiment_and_creates_nothing(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    exp = _experiment(tmp_path, algorithm="dehb")
    exp.write_text(exp.read_text() + "[fidelity]\nmin_budget = 1\nmax_budget = 9\n[run]\nenqueue = "
                   "[{lr = 0.01, batch_size = 64, layers = 2, width = 64, activation = 'relu', augment = 'none', "
                   "optimizer = 'sgd', momentum = 0.9, dropout = 0.1}]\n")
    assert main(["run", str(exp), "--out", str(tmp_path / "r"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    for expected in ("run directory : " + str(tmp_path / "r") + " (new: will be created)",
                     "workload      : synthetic (MixedRastrigin)", "max_budget = 9",
                     "objective     : error (synthetic error after the budget, in (0.05, 0.95)), minimised",
                     "search space  : 10 hyperparameters", "dropout", "layers > 1",
                     "fidelity      : rungs 1, 3, 9", "algorithm     : dehb", "mutation_factor = 0.5 (default)",
                     "enqueued      : 1 configuration(s) evaluated first, at budget 9",
                     "backend       : simulated (backend.type): n_workers = 4",
                     "stop          : max_evaluations = 12", "max_trial_attempts = 3 (default)",
                     "dry run       : nothing was created"):
        assert expected in out, expected
    assert not (tmp_path / "r").exists()


def test_dry_run_refuses_what_the_run_would_refuse(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    exp = _experiment(tmp_path)
    assert main(["run", str(exp), "--out", str(tmp_path / "r")]) == 0
    assert main(["run", str(exp), "--out", str(tmp_path / "r"), "--dry-run"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["run", str(exp), "--out", str(tmp_path / "r"), "--dry-run", "--overwrite"]) == 0
    assert "holds a run: --overwrite deletes it first" in capsys.readouterr().out
    assert main(["resume", str(tmp_path / "r"), "--dry-run", "--max-evaluations", "20"]) == 0
    out = capsys.readouterr().out
    assert "(resume: 12 evaluations logged)" in out and "max_evaluations = 20" in out
    assert len((tmp_path / "r" / "evaluations.jsonl").read_text().splitlines()) == 12


def test_run_and_show_print_the_same_summary_naming_objective_and_virtual_time(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    exp = _experiment(tmp_path)
    assert main(["run", str(exp), "--out", str(tmp_path / "r")]) == 0
    ran = capsys.readouterr().out
    assert main(["show", str(tmp_path / "r")]) == 0
    shown = capsys.readouterr().out
    assert "objective     : error (synthetic error after the budget, in (0.05, 0.95)), minimised" in shown
    assert "s virtual (simulated clock)" in shown and "np." not in shown  # values print as Python values
    assert "stopped by    : max_evaluations" in ran and "stopped by" not in shown
    assert [line for line in ran.splitlines() if not line.startswith(("stopped by", "continue with"))] == \
        shown.splitlines()
    assert f"continue with : evoautodl resume {tmp_path / 'r'} --max-evaluations 24" in ran


def test_a_multi_objective_summary_prints_the_front_or_says_what_it_cut(tmp_path: Path) -> None:
    from evoautodl.algorithms import get_algorithm
    from evoautodl.backends.simulated import SimulatedBackend
    from evoautodl.runner import Runner, StopCriteria
    from evoautodl.workloads.synthetic import MixedRastrigin

    wl = MixedRastrigin(max_budget=3, multi_objective=True)
    algo = get_algorithm("nsga2", wl.search_space(), seed=0, n_objectives=2, max_budget=3, population_size=8)
    Runner(algo, SimulatedBackend(wl, 4), run_dir=tmp_path / "r", stop=StopCriteria(max_evaluations=24)).run()
    full = summarize_run(tmp_path / "r")
    head = next(line for line in full.splitlines() if line.startswith("pareto front"))
    n_front = int(head.split(":")[1].split()[0])
    assert n_front >= 2 and "cut" not in head and "on error, size (all minimised)" in head
    assert "size (parameters of the MLP the configuration describes, millions)" in full
    cut = summarize_run(tmp_path / "r", front_rows=1)
    assert f"({n_front - 1} cut: `evoautodl show {tmp_path / 'r'} --front {n_front}` prints all)" in cut


def test_resuming_a_finished_run_says_how_to_extend_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    exp = _experiment(tmp_path, n=6)
    assert main(["run", str(exp), "--out", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    assert main(["resume", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "nothing to do  : the run had already reached stop.max_evaluations = 6" in out
    assert f"continue with : evoautodl resume {tmp_path / 'r'} --max-evaluations 12" in out


def test_a_run_summary_prints_without_its_learning_curves(tmp_path: Path) -> None:
    from evoautodl.algorithms import get_algorithm
    from evoautodl.backends.serial import SerialBackend
    from evoautodl.runner import Runner, StopCriteria
    from evoautodl.workloads.synthetic import MixedRastrigin

    wl = MixedRastrigin(max_budget=50)
    summary = Runner(get_algorithm("random", wl.search_space(), max_budget=50), SerialBackend(wl),
                     stop=StopCriteria(max_evaluations=3)).run()
    assert summary.best is not None and len(summary.best.curve) > 0
    text = repr(summary)
    assert text == str(summary) and len(text) < 300 and "curve" not in text
    assert text.startswith("RunSummary(n_evaluations=3, n_failed=0, epochs_trained=150,")


def test_show_into_a_closed_pipe_ends_quietly(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    exp = _experiment(tmp_path, n=40)
    assert main(["run", str(exp), "--out", str(tmp_path / "r")]) == 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(f"{sys.executable} -m evoautodl show {tmp_path / 'r'} --top 40 | head -n 1",
                          shell=True, capture_output=True, text=True, timeout=120, env=env)
    assert done.stdout.startswith("run           :") and len(done.stdout.splitlines()) == 1
    assert done.stderr == ""


def test_demo_dry_run_describes_the_embedded_experiment(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["demo", "--dry-run", "--out", str(tmp_path / "q")]) == 0
    out = capsys.readouterr().out
    assert "from the embedded quickstart experiment" in out and "fidelity      : rungs 2, 6, 17, 50" in out
    assert "objective     : val_error (1 - validation accuracy, fraction), minimised" in out
    assert not (tmp_path / "q").exists()
