"""Enqueued configurations (a warm start): evaluated first, logged "enqueued", learned from, resumed exactly."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from evoautodl.algorithms import get_algorithm
from evoautodl.backends.serial import SerialBackend
from evoautodl.errors import ConfigError, RunDirError
from evoautodl.experiment import parse_experiment
from evoautodl.log import load_run
from evoautodl.runner import Runner, StopCriteria
from evoautodl.space import SearchSpace

sys.path.insert(0, str(Path(__file__).parent))
from helper_workloads import SPACE, SleepySphere

KNOWN = [{"x": 0.0, "n": 3, "kind": "a"}, {"x": 1.5, "n": 2, "kind": "b", "y": 0.1}]
TIMING = {"start_time", "end_time", "cost_s", "host", "duration_s"}


def _algorithm(name: str = "steady_state", enqueue: list[dict[str, Any]] = KNOWN) -> Any:
    algo = get_algorithm(name, SearchSpace.from_dict(SPACE), seed=4, max_budget=9)
    for config in enqueue:
        algo.enqueue(config)
    return algo


def _run(algo: Any, run_dir: Path, n: int, resume: bool = False, **kw: Any) -> Any:
    return Runner(algo, SerialBackend(SleepySphere()), run_dir=run_dir, stop=StopCriteria(max_evaluations=n),
                  resume=resume, **kw).run()


def _lines(run_dir: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING}
            for line in (run_dir / "evaluations.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", ["steady_state", "random", "dehb"])
def test_enqueued_configurations_run_first_and_are_logged_as_enqueued(tmp_path: Path, name: str) -> None:
    algo = get_algorithm(name, SearchSpace.from_dict(SPACE), seed=4, max_budget=9,
                         **({"ladder": __import__("evoautodl").BudgetLadder(1, 9, 3)} if name == "dehb" else {}))
    for config in KNOWN:
        algo.enqueue(config)
    assert algo.n_enqueued == 2 and algo.enqueued_configs == KNOWN
    _run(algo, tmp_path / "r", 8)
    df = load_run(tmp_path / "r").sort_values("trial_id")
    first = df.head(2)
    assert list(first["operator"]) == ["enqueued", "enqueued"] and (first["budget_epochs"] == 9).all()
    assert list(first["x"]) == [0.0, 1.5] and list(first["kind"]) == ["a", "b"]
    assert (df["operator"].iloc[2:] != "enqueued").all() and algo.n_enqueued == 0
    assert json.loads((tmp_path / "r" / "run.json").read_text())["enqueued"] == KNOWN


def test_an_algorithm_learns_from_the_enqueued_results(tmp_path: Path) -> None:
    algo = _algorithm("regularized")
    _run(algo, tmp_path / "r", 2)
    assert algo.n_told == 2 and len(algo.population) == 2  # the enqueued results joined its population


def test_bad_enqueued_configurations_are_refused_with_a_clear_message() -> None:
    algo = _algorithm(enqueue=[])
    with pytest.raises(ConfigError, match=r"enqueued configuration \{'x': 9.0.*'x'"):
        algo.enqueue({"x": 9.0, "n": 3, "kind": "a"})
    with pytest.raises(ConfigError, match=r"unknown hyperparameter\(s\) \['z'\]"):
        algo.enqueue({"z": 1})
    with pytest.raises(ConfigError, match="takes a configuration"):
        algo.enqueue([0.0, 3, "a"])  # type: ignore[arg-type]
    algo.ask(1)
    with pytest.raises(ConfigError, match="before the first ask"):
        algo.enqueue(KNOWN[0])


def test_a_resumed_run_with_enqueued_configurations_is_exact(tmp_path: Path) -> None:
    _run(_algorithm(), tmp_path / "full", 10)
    _run(_algorithm(), tmp_path / "part", 1, checkpoint_interval_s=3600.0)  # no snapshot: the journal replays
    _run(_algorithm(), tmp_path / "part", 4, resume=True, checkpoint_interval_s=0.0)  # a snapshot this time
    _run(_algorithm(), tmp_path / "part", 10, resume=True)
    assert _lines(tmp_path / "part") == _lines(tmp_path / "full")
    with pytest.raises(RunDirError, match="another enqueued"):
        _run(_algorithm(enqueue=KNOWN[:1]), tmp_path / "part", 12, resume=True)


def test_enqueue_from_toml_and_from_a_json_file(tmp_path: Path) -> None:
    raw = {"workload": {"type": "python", "target": "helper_workloads:SleepySphere"},
           "algorithm": {"name": "steady_state"}, "stop": {"max_evaluations": 3}, "run": {"enqueue": KNOWN}}
    exp = parse_experiment(raw)
    assert exp.algorithm.n_enqueued == 2 and exp.enqueued == KNOWN
    (tmp_path / "warm.json").write_text(json.dumps(KNOWN[::-1]))
    raw["run"] = {"enqueue_file": "warm.json"}
    exp = parse_experiment(raw, base_dir=tmp_path)
    assert exp.algorithm.enqueued_configs == KNOWN[::-1]
    assert exp.config["run"] == {"enqueue": KNOWN[::-1]}  # config.toml holds the configurations themselves
    (tmp_path / "bad.json").write_text("{not json")
    raw["run"] = {"enqueue_file": "bad.json"}
    with pytest.raises(ConfigError, match=r"run.enqueue_file: .*bad.json' is not a JSON list"):
        parse_experiment(raw, base_dir=tmp_path)
    (tmp_path / "odd.json").write_text(json.dumps([{"x": 0.0, "n": 3, "kind": "c"}]))
    raw["run"] = {"enqueue_file": "odd.json"}
    with pytest.raises(ConfigError, match=r"run.enqueue_file \(odd.json\)\[0\]: .*'kind'"):
        parse_experiment(raw, base_dir=tmp_path)


def test_a_python_resume_with_other_settings_is_refused_naming_them(tmp_path: Path) -> None:
    _run(_algorithm(), tmp_path / "r", 3)
    other = get_algorithm("steady_state", SearchSpace.from_dict(SPACE), seed=5, max_budget=9)
    for config in KNOWN:
        other.enqueue(config)
    with pytest.raises(RunDirError, match=r"started with another seed \(was 4, now 5\)"):
        _run(other, tmp_path / "r", 6, resume=True)
    narrow = dict(SPACE, x={"type": "float", "lower": -1.0, "upper": 2.0})
    with pytest.raises(RunDirError, match="the search space"):
        _run(_algorithm_in(SearchSpace.from_dict(narrow)), tmp_path / "r", 6, resume=True)
    _run(_algorithm(), tmp_path / "r", 6, resume=True)  # the same settings resume


def _algorithm_in(space: SearchSpace) -> Any:
    algo = get_algorithm("steady_state", space, seed=4, max_budget=9)
    for config in KNOWN:
        algo.enqueue(config)
    return algo
