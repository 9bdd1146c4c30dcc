"""Comparison grids: the file, bad input (exit code 2), cells as run directories, reruns, budgets (serial)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from evoautodl import load_run
from evoautodl.cli import main
from evoautodl.errors import ConfigError
from evoautodl.grid import load_plan, parse_grid, read_cell_state

GRID = """
name = "t"
seeds = [0, 1]
[budget]
unit = "epochs"
max = 60
[fidelity]
min_budget = 1
eta = 3
[problems.syn]
type = "synthetic"
max_budget = 9
fidelity_correlation = 0.7
[algorithms.random]
[algorithms.dehb]
[algorithms.de5]
name = "de"
population_size = 4
"""


def _write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def _objectives(run_dir: Path) -> list[tuple[int, float, float]]:
    df = load_run(run_dir)
    return list(zip(df["trial_id"], df["budget_epochs"], df["objective"]))


def _run(exp: Path, out: Path, *extra: str) -> int:
    return main(["experiment", str(exp), "--out", str(out), "--no-progress", *extra])


def test_grid_runs_every_cell_as_a_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    exp, out = _write(tmp_path, GRID), tmp_path / "res"
    assert _run(exp, out) == 0
    grid = json.loads((out / "grid.json").read_text())
    assert grid["version"] == 1 and grid["name"] == "t"
    assert grid["budget"] == {"unit": "epochs", "max": 60.0}
    assert grid["seeds"] == [0, 1] and set(grid["algorithms"]) == {"random", "dehb", "de5"}
    assert grid["algorithms"]["de5"]["name"] == "de" and grid["algorithms"]["de5"]["population_size"] == 4
    prob = grid["problems"]["syn"]
    assert prob["max_budget"] == 9 and prob["objective"] == "error"
    assert 0.05 < prob["reference_objective"] < 0.5 and "random configurations" in prob["reference_method"]
    assert len(grid["cells"]) == 6
    for cell in grid["cells"]:
        path = out / cell["path"]
        assert cell["path"] == f"cells/{cell['problem']}/{cell['algorithm']}/seed{cell['seed']}"
        state = read_cell_state(path)
        assert state["status"] == "complete" and state["seed"] == cell["seed"]
        assert state["versions"]["numpy"] and state["host"] and state["config"]["stop"] == {"max_epochs": 60.0}
        df = load_run(path)
        assert len(df) and df["epochs_trained"].sum() >= 60 - 9  # the budget, counted as trained epochs
        assert df["epochs_trained"].sum() < 60 + 9
        assert df["objective"].min() >= prob["reference_objective"] - 0.05
    out_text = capsys.readouterr().out
    assert "cells         : 6 (complete 6)" in out_text
    # a rerun skips complete cells: nothing runs, nothing changes
    before = {c["path"]: (out / c["path"] / "evaluations.jsonl").stat().st_mtime_ns for c in grid["cells"]}
    assert _run(exp, out) == 0
    assert "this run      : 0 cells" in capsys.readouterr().out
    assert before == {c["path"]: (out / c["path"] / "evaluations.jsonl").stat().st_mtime_ns for c in grid["cells"]}


def test_killed_cheap_cell_restarts_cleanly_and_ends_as_an_uninterrupted_run(tmp_path: Path) -> None:
    exp = _write(tmp_path, GRID)
    ref, out = tmp_path / "ref", tmp_path / "res"
    assert _run(exp, ref) == 0
    assert _run(exp, out) == 0
    victim = out / "cells/syn/dehb/seed1"
    log = victim / "evaluations.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[: len(lines) // 2]) + lines[len(lines) // 2][:10])  # killed mid-line
    state = read_cell_state(victim)
    state["status"] = "running"
    (victim / "cell.json").write_text(json.dumps(state))
    missing = out / "cells/syn/random/seed0"
    for p in sorted(missing.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    missing.rmdir()
    assert _run(exp, out) == 0
    for cell in json.loads((out / "grid.json").read_text())["cells"]:
        assert _objectives(out / cell["path"]) == _objectives(ref / cell["path"])
    assert read_cell_state(victim)["attempt"] == 2


def test_expensive_cell_resumes_exactly(tmp_path: Path) -> None:
    text = GRID.replace('fidelity_correlation = 0.7', 'fidelity_correlation = 0.7\ncost = "expensive"')
    exp = _write(tmp_path, text)
    ref, out = tmp_path / "ref", tmp_path / "res"
    assert _run(exp, ref) == 0 and _run(exp, out) == 0
    victim = out / "cells/syn/de5/seed0"
    log = victim / "evaluations.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:5]))  # as if killed after 5 results: the asks made until then stay
    journal = victim / "journal.jsonl"
    asks = [a for a in journal.read_text().splitlines(keepends=True) if json.loads(a)["after"] <= 5]
    journal.write_text("".join(asks))
    (victim / "state.pkl").unlink()  # replay the whole journal and log
    state = read_cell_state(victim)
    state["status"] = "running"
    (victim / "cell.json").write_text(json.dumps(state))
    assert _run(exp, out) == 0
    after = read_cell_state(victim)
    assert after["status"] == "complete" and after["resumed_from"] == "running" and after["attempt"] == 2
    assert _objectives(victim) == _objectives(ref / "cells/syn/de5/seed0")


@pytest.mark.parametrize(("unit", "stop"), [("evaluations", "max_evaluations"), ("time_s", "max_time_s")])
def test_budget_units(tmp_path: Path, unit: str, stop: str) -> None:
    text = GRID.replace('unit = "epochs"\nmax = 60', f'unit = "{unit}"\nmax = 20')
    exp, out = _write(tmp_path, text), tmp_path / "res"
    assert _run(exp, out) == 0
    for cell in json.loads((out / "grid.json").read_text())["cells"]:
        state = read_cell_state(out / cell["path"])
        assert state["stopped_by"] == stop, state["stopped_by"]
        df = load_run(out / cell["path"])
        if unit == "evaluations":
            assert len(df) == 20
        else:  # simulated seconds: the synthetic function costs 1 s per epoch trained
            assert state["config"]["backend"]["type"] == "simulated"
            assert 20 <= df["epochs_trained"].sum() < 20 + 9


def test_dry_run_lists_cells_and_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    exp, out = _write(tmp_path, GRID), tmp_path / "res"
    assert _run(exp, out, "--dry-run") == 0
    text = capsys.readouterr().out
    assert "6 cells = 1 problems x 3 algorithms x 2 seeds" in text
    assert text.count("missing   cheap") == 6 and "cells/syn/dehb/seed1" in text
    assert not out.exists()


def test_a_changed_configuration_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    exp, out = _write(tmp_path, GRID), tmp_path / "res"
    assert _run(exp, out) == 0
    capsys.readouterr()
    _write(tmp_path, GRID.replace("population_size = 4", "population_size = 5"))
    assert _run(exp, out) == 2
    err = capsys.readouterr().err
    assert "cells/syn/de5/seed0: this cell ran with another configuration (algorithm.population_size changed)" in err
    _write(tmp_path, GRID.replace("seeds = [0, 1]", "seeds = [0, 1, 2]"))  # more seeds: new cells only
    assert _run(exp, out) == 0
    assert "this run      : 3 cells" in capsys.readouterr().out


BAD = [
    ("seeds = [0, 1]", "seeds = []", "seeds: the list is empty; give at least one seed"),
    ("[algorithms.random]", "[algorithms.random]\n[algorithms.nope]",
     "algorithms.nope: unknown algorithm 'nope'; evoautodl's: random, ga"),
    ('type = "synthetic"', 'type = "synthtic"', "problems.syn: workload.type: unknown workload 'synthtic'"),
    ("[budget]", "[stop]\nmax_epochs = 10\n[budget]", "[stop]: a comparison gives its budget once, in [budget]"),
    ('unit = "epochs"', 'unit = "epochs"\nmax_evaluations = 10', "budget.max_evaluations: conflicting budgets"),
    ("max = 60", "max = 5", "budget.max: conflicting budgets: 5 epochs per cell is less than one evaluation"),
    ("population_size = 4", "population_size = 4\nmax_epochs = 9", "algorithms.de5.max_epochs: conflicting budgets"),
    ("population_size = 4", "population_sise = 4", "unknown option 'population_sise'"),
    ('name = "t"', 'name = "t"\ncolour = 1', "top level: unknown key 'colour'"),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD, ids=[b[2][:30] for b in BAD])
def test_bad_input_is_one_message_and_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture, old: str,
                                                   new: str, message: str) -> None:
    exp, out = _write(tmp_path, GRID.replace(old, new)), tmp_path / "res"
    assert GRID.replace(old, new) != GRID
    assert _run(exp, out) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("evoautodl: error: ") and message in err, err
    assert len(err.splitlines()) == 1 and not out.exists()


def test_missing_baseline_library_is_named_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from evoautodl import baselines

    fake = baselines.Baseline("evoautodl.baselines.optuna_tpe:OptunaTPE", ("nolib",), ("evoautodl_no_such_lib",))
    monkeypatch.setitem(baselines.BASELINES, "optuna_tpe", fake)
    exp = _write(tmp_path, GRID.replace("[algorithms.random]", '[algorithms.tpe]\nname = "optuna_tpe"'))
    assert _run(exp, tmp_path / "res") == 2
    err = capsys.readouterr().err
    assert ("algorithms.tpe: baseline 'optuna_tpe' needs the 'evoautodl_no_such_lib' package, which is not "
            "installed (pip install 'evoautodl[baselines]')") in err
    assert not (tmp_path / "res").exists()


def test_lcbench_task_lists_expand_to_one_problem_per_task() -> None:
    raw = {"seeds": 1, "budget": {"unit": "evaluations", "max": 5}, "algorithms": {"random": {}},
           "problems": {"lcb": {"type": "lcbench", "task_id": ["3945", "7593"]},
                        "all": {"type": "lcbench", "task_id": "all", "cost": "cheap"}}}
    spec = parse_grid(raw)
    labels = [p.label for p in spec.problems]
    assert labels[:2] == ["lcb-3945", "lcb-7593"] and len(labels) == 2 + 34 and "all-189909" in labels
    assert spec.problems[0].workload == {"type": "lcbench", "task_id": "3945"}
    assert spec.seeds == (0,) and spec.stop == {"max_evaluations": 5}
    with pytest.raises(ConfigError, match="seeds: duplicate seeds"):
        parse_grid({**raw, "seeds": [1, 1]})
    with pytest.raises(ConfigError, match=r"budget\.unit: expected one of epochs, evaluations, time_s"):
        parse_grid({**raw, "budget": {"unit": "hours", "max": 1}})


@pytest.mark.skipif(not os.environ.get("EVOAUTODL_YAHPO_DATA"), reason="needs the LCBench surrogate files "
                    "(set EVOAUTODL_YAHPO_DATA)")
def test_lcbench_reference_matches_the_documented_oracle(tmp_path: Path) -> None:
    exp = _write(tmp_path, """
        seeds = 1
        [budget]
        unit = "evaluations"
        max = 2
        [algorithms.random]
        [problems.lcb]
        type = "lcbench"
        task_id = "3945"
        """)
    plan = load_plan(exp, tmp_path / "res")
    from evoautodl.grid import write_grid_json

    grid = write_grid_json(plan, tmp_path / "res")
    # best val_error at 52 epochs of 20,000 uniform configs (seed 0), as experiments/bench recorded it
    assert grid["problems"]["lcb"]["reference_objective"] == pytest.approx(0.0038235, abs=1e-6)
    assert grid["problems"]["lcb"]["max_budget"] == 52 and grid["problems"]["lcb"]["objective"] == "val_error"


@pytest.mark.slow
@pytest.mark.timeout(900)  # about a minute alone on 2 cores; several times that beside other tests on a busy machine
@pytest.mark.skipif(not os.environ.get("EVOAUTODL_YAHPO_DATA"), reason="needs the LCBench surrogate files "
                    "(set EVOAUTODL_YAHPO_DATA)")
def test_the_small_comparison_runs_from_one_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import importlib.util

    for lib in ("optuna", "dehb"):
        if importlib.util.find_spec(lib) is None:
            pytest.skip(f"{lib} is not installed (pip install evoautodl[baselines])")
    exp = Path(__file__).resolve().parents[1] / "experiments" / "comparison" / "small.toml"
    assert _run(exp, tmp_path / "small") == 0
    assert "cells         : 72 (complete 72)" in capsys.readouterr().out
    grid = json.loads((tmp_path / "small" / "grid.json").read_text())
    assert set(grid["problems"]) == {"lcbench-3945", "lcbench-7593", "synthetic"}
    for cell in grid["cells"]:
        df = load_run(tmp_path / "small" / cell["path"])
        assert 1040 <= df["epochs_trained"].sum() < 1040 + 52


def test_expensive_serial_cells_get_the_timeout_fault_dir_and_attempts(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from evoautodl.runner import Runner

    sys.path.insert(0, str(Path(__file__).parent))  # helper_workloads
    seen: dict[str, object] = {}
    init = Runner.__init__

    def spy(self, algorithm, backend, **kw):
        seen.update(attempts=kw.get("max_trial_attempts"), faults=backend._faults, timeout=backend.timeout_s)
        init(self, algorithm, backend, **kw)

    monkeypatch.setattr(Runner, "__init__", spy)
    exp = _write(tmp_path, """
        name = "slow"
        seeds = [0]
        [budget]
        unit = "evaluations"
        max = 2
        [run]
        max_trial_attempts = 2
        [problems.sleepy]
        type = "python"
        target = "helper_workloads:SleepySphere"
        sleep_s = 5.0
        cost = "expensive"
        backend = {timeout_s = 0.2}
        [algorithms.random]
        """)
    out = tmp_path / "res"
    assert _run(exp, out) == 0
    cell = out / "cells/sleepy/random/seed0"
    assert read_cell_state(cell)["status"] == "complete"
    assert list(load_run(cell)["status"]) == ["TIMEOUT", "TIMEOUT"]  # the serial cell honoured timeout_s
    assert seen["attempts"] == 2 and seen["faults"] is not None and seen["timeout"] == 0.2
    assert not list(cell.glob(".*.tmp"))  # config.toml written atomically (temporary file renamed)
