"""Experiment TOML validation and the CLI: one clear line naming the key, exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from evoautodl.errors import ConfigError
from evoautodl.experiment import load_experiment, parse_experiment

ROOT = Path(__file__).resolve().parents[1]
BASE = {
    "seed": 0,
    "workload": {"type": "synthetic", "max_budget": 27},
    "algorithm": {"name": "dehb"},
    "fidelity": {"min_budget": 1, "max_budget": 27, "eta": 3},
    "stop": {"max_evaluations": 30},
}


def _with(**changes) -> dict:
    cfg = json.loads(json.dumps(BASE))
    for dotted, value in changes.items():
        node = cfg
        *path, last = dotted.split("__")
        for key in path:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return cfg


def test_valid_experiment_builds_everything() -> None:
    exp = parse_experiment(BASE)
    assert exp.algorithm.name == "dehb" and exp.ladder.budgets == (1.0, 3.0, 9.0, 27.0)
    assert exp.stop.max_evaluations == 30


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"colour": "red"}, r"top level: unknown key 'colour'"),
        ({"stop__max_evals": 3}, r"\[stop\]: unknown key 'max_evals'"),
        ({"stop__max_evaluations": "ten"}, r"stop.max_evaluations: expected an integer"),
        ({"stop__max_evaluations": None}, r"\[stop\]: give at least one"),
        ({"seed": 1.5}, r"seed: expected an integer"),
        ({"fidelity__eta": 1}, r"fidelity.eta: must be > 1"),
        ({"fidelity__min_budget": 30}, r"fidelity.max_budget: must be >= min_budget"),
        ({"fidelity__min_budget": 20}, r"fidelity: the ladder .* has a single rung"),
        ({"fidelity__max_budget": 100}, r"fidelity.max_budget: 100 exceeds the workload's maximum budget 27"),
        ({"workload__type": "resnet"}, r"workload.type: unknown workload 'resnet'"),
        ({"workload__colour": 1}, r"workload.colour: unknown option"),
        ({"algorithm__name": "cmaes"}, r"unknown algorithm 'cmaes'"),
        ({"algorithm__populaton_size": 5}, r"populaton_size"),
        ({"backend__type": "ray"}, r"backend.type: unknown backend 'ray'"),
        ({"space__file": "missing.json"}, r"space.file: .*missing.json' does not exist"),
        ({"space__hyperparameters": {"x": {"type": "float", "lower": 1, "upper": 0}}}, r"'x': empty or inverted"),
    ],
)
def test_bad_experiments_name_the_key(changes: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_experiment(_with(**changes))


def test_missing_data_file_names_the_path(tmp_path: Path) -> None:
    from evoautodl.errors import EvoAutoDLError

    cfg = _with(workload__type="mlp", workload__dataset="nowhere/data.csv", workload__target="y",
                workload__max_budget=None, fidelity=None, algorithm__name="random")
    exp = parse_experiment(cfg, base_dir=tmp_path)  # the constructor is cheap: data is read on the workers
    with pytest.raises(EvoAutoDLError, match=r"data\.csv"):
        from evoautodl.workloads.base import WorkerContext

        exp.workload.setup(WorkerContext.local())


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evoautodl", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_cli_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    exp = tmp_path / "bad.toml"
    exp.write_text(textwrap.dedent(
        """
        [workload]
        type = "synthetic"
        [stop]
        max_evaluations = 10
        [algorithm]
        name = "ga"
        popsize = 10
        """
    ))
    done = _cli("run", str(exp), "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("evoautodl: error:") and "popsize" in lines[-1]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "r" / "evaluations.jsonl").exists()


def test_cli_missing_file_and_bad_toml(tmp_path: Path) -> None:
    done = _cli("run", "nope.toml", "--out", "r", cwd=tmp_path)
    assert done.returncode == 2 and "nope.toml" in done.stderr
    (tmp_path / "x.toml").write_text("[workload\n")
    done = _cli("run", "x.toml", "--out", "r", cwd=tmp_path)
    assert done.returncode == 2 and "not valid TOML" in done.stderr
    done = _cli("resume", "not-a-run", cwd=tmp_path)
    assert done.returncode == 2 and "not-a-run" in done.stderr


def test_cli_run_show_resume_analyze(tmp_path: Path) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text(textwrap.dedent(
        """
        seed = 3
        [workload]
        type = "synthetic"
        [algorithm]
        name = "dehb"
        [fidelity]
        min_budget = 1
        max_budget = 27
        [stop]
        max_evaluations = 40
        [backend]
        type = "simulated"
        n_workers = 8
        """
    ))
    done = _cli("run", str(exp), "--out", "runs/a", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "evaluations   : 40" in done.stdout and "incumbent     : trial" in done.stdout
    run = tmp_path / "runs" / "a"
    for name in ("config.toml", "run.json", "space.json", "evaluations.jsonl", "journal.jsonl", "state.pkl"):
        assert (run / name).exists(), name
    assert (run / "checkpoints").is_dir()
    again = _cli("run", str(exp), "--out", "runs/a", cwd=tmp_path)
    assert again.returncode == 2 and "resume" in again.stderr
    more = _cli("resume", "runs/a", "--max-evaluations", "60", cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    assert "evaluations   : 60" in more.stdout
    shown = _cli("show", "runs/a", cwd=tmp_path)
    assert shown.returncode == 0 and "per budget" in shown.stdout
    analyzed = _cli("analyze", "runs/a", cwd=tmp_path)
    assert analyzed.returncode == 0 and (run / "figures" / "incumbent.png").exists()


@pytest.mark.parametrize("path", sorted((ROOT / "experiments").glob("*.toml")), ids=lambda p: p.name)
def test_example_experiments_validate(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = path.read_text()
    if 'type = "lcbench"' in text:
        import os

        if not os.environ.get("EVOAUTODL_YAHPO_DATA"):
            pytest.skip("set EVOAUTODL_YAHPO_DATA to the yahpo_data folder to validate LCBench examples")
    exp = load_experiment(path)
    assert exp.algorithm is not None and exp.space.dim > 0


def test_embedded_demo_config_validates() -> None:
    done = subprocess.run([sys.executable, "-m", "evoautodl", "demo", "--print-config"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    import tomllib

    exp = parse_experiment(tomllib.loads(done.stdout))
    assert exp.algorithm.name == "asha_ea" and exp.ladder is not None


def test_resume_refuses_an_edited_experiment(tmp_path: Path) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text('seed = 1\n[workload]\ntype = "synthetic"\n[algorithm]\nname = "regularized"\n'
                   '[stop]\nmax_evaluations = 12\n')
    assert _cli("run", str(exp), "--out", "r", cwd=tmp_path).returncode == 0
    cfg = tmp_path / "r" / "config.toml"
    original = cfg.read_text()
    cfg.write_text(original.replace('name = "regularized"', 'name = "regularized"\nsample_size = 2'))
    done = _cli("resume", "r", "--max-evaluations", "20", cwd=tmp_path)
    assert done.returncode == 2 and "algorithm.sample_size" in done.stderr
    cfg.write_text(original.replace("max_evaluations = 12", "max_evaluations = 16"))  # [stop] may change
    done = _cli("resume", "r", cwd=tmp_path)
    assert done.returncode == 0 and "evaluations   : 16" in done.stdout
