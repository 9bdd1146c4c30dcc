"""Nothing silently ignored: every setting a run would not use as written is an error naming the key."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, Literal

import pytest

from evoautodl.errors import ConfigError, SpaceError
from evoautodl.experiment import parse_experiment
from evoautodl.space import SearchSpace
from evoautodl.typecheck import check_options, describe_type, matches

sys.path.insert(0, str(Path(__file__).parent))

MLP = {"seed": 0, "workload": {"type": "mlp", "dataset": "digits", "max_budget_epochs": 18},
       "algorithm": {"name": "random"}, "stop": {"max_evaluations": 4}}
SYNTH = {"seed": 0, "workload": {"type": "synthetic", "max_budget": 27}, "algorithm": {"name": "dehb"},
         "fidelity": {"min_budget": 1, "max_budget": 27, "eta": 3}, "stop": {"max_evaluations": 4}}
LR = {"type": "float", "lower": 0.001, "upper": 0.1, "log": True}


def _synthetic_space() -> dict[str, Any]:
    from evoautodl.workloads.synthetic import MixedRastrigin

    return MixedRastrigin().space_dict()


def _with(base: dict[str, Any], **tables: Any) -> dict[str, Any]:
    cfg = json.loads(json.dumps(base))
    for key, value in tables.items():
        if value is None:
            cfg.pop(key, None)
        elif isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    return cfg


@pytest.mark.parametrize(("cfg", "match"), [
    (_with(MLP, fidelity={"min_budget": 2, "max_budget": 18, "eta": 3}),
     r"fidelity.min_budget: algorithm 'random' does not read it .*every trial runs at budget 18.*remove min_budget "
     r"and eta"),
    (_with(MLP, algorithm={"name": "pbt", "step_epochs": 3}, fidelity={"min_budget": 3, "max_budget": 18, "eta": 2}),
     r"fidelity.min_budget: algorithm 'pbt' does not read it"),
    (_with(MLP, workload={"max_budget_epochs": "18"}),
     r"workload.max_budget_epochs: expected an integer, got '18' \(a string\)"),
    (_with(MLP, algorithm={"name": "ga", "population_size": "20"}),
     r"algorithm.population_size: expected an integer, got '20'"),
    (_with(MLP, algorithm={"name": "ga", "mutation_rate": True}), r"algorithm.mutation_rate: expected a number"),
    (_with(MLP, space={"hyperparameters": {"learning_rate": LR,
                                           "activation": {"type": "categorical", "choices": ["relu", "tanh"]}}}),
     r"space: hyperparameter 'activation' is not read by the workload LCBenchMLP"),
    (_with(MLP, backend={"type": "mpi", "n_workers": 4}),
     r"backend.n_workers: the 'mpi' backend does not use it \(only the 'simulated' backend reads it\)"),
    (_with(MLP, backend={"type": "serial", "devices": ["cuda:0"]}), r"backend.devices: the 'serial' backend"),
    (_with(MLP, backend={"type": "serial", "prefetch": 2}), r"backend.prefetch: the 'serial' backend"),
    (_with(MLP, backend={"n_workers": 4}),
     r"backend.n_workers: neither backend type = 'auto' picks \('serial', or 'mpi' under mpiexec\) uses it"),
    (_with(MLP, backend={"type": "simulated", "workers_per_gpu": 2}), r"backend.workers_per_gpu: the 'simulated'"),
    (_with(MLP, backend={"type": "serial", "device": "gpu"}), r"backend.device: 'gpu' is not"),
    (_with(MLP, backend={"type": "serial", "torch_threads": 0}), r"backend.torch_threads: expected an integer >= 1"),
    (_with(MLP, space={"drop": ["momentum"]}), r"space.drop: removes hyperparameters from a space.file"),
    (_with(MLP, space={"forbidden": [{"and": []}]}), r"space.forbidden: forbidden clauses need inline"),
    (_with(MLP, space={"hyperparameters": {"learning_rate": {"type": "categorical", "choices": [[1, 2], [3]]}}}),
     r"hyperparameter 'learning_rate': 'choices' entry \[1, 2\] is a list"),
    (_with(SYNTH, space={"hyperparameters": {"lr": LR, "colour": {"type": "categorical", "choices": ["r", "g"]}}}),
     r"hyperparameter 'colour' is not read by the workload MixedRastrigin"),
    (_with(SYNTH, space={"hyperparameters": {**_synthetic_space(), "lr": {"type": "float", "lower": 0.5,
                                                                           "upper": 50.0}}}),
     r"hyperparameter 'lr': MixedRastrigin takes values float in"),
    (_with(SYNTH, space={"hyperparameters": {k: v for k, v in _synthetic_space().items() if k != "augment"}}),
     r"the workload MixedRastrigin needs hyperparameter 'augment' in every configuration, and the space lacks it"),
    (_with(SYNTH, run={"enqueue": [{"lr": 5.0}]}), r"run.enqueue\[0\]: .*'lr'"),
    (_with(SYNTH, run={"enqueue": {"lr": 0.01}}), r"run.enqueue: expected a list of configurations"),
    (_with(SYNTH, run={"enqueue": [], "enqueue_file": "x.json"}), r"run.enqueue_file: give run.enqueue or"),
    (_with(SYNTH, run={"enqueue_file": "missing.json"}), r"run.enqueue_file: .*missing.json' does not exist"),
    (_with(SYNTH, algorithm={"name": 3}), r"algorithm name: expected a string"),
    (_with(SYNTH, algorithm={"name": "ga", "seed": 3}), r"algorithm.seed: the experiment sets it from the top-level"),
    (_with(SYNTH, algorithm={"name": "dehb", "max_budget": 3}), r"algorithm.max_budget: the experiment sets it from"),
])
def test_settings_a_run_would_ignore_or_misread_are_errors(cfg: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_experiment(cfg)


def test_the_lcbench_surrogate_names_a_hyperparameter_outside_its_training_range() -> None:
    from evoautodl.workloads.lcbench import LCBenchSurrogate

    space = SearchSpace.from_dict({"learning_rate": {"type": "float", "lower": 1e-4, "upper": 0.5, "log": True}})
    surrogate = LCBenchSurrogate.__new__(LCBenchSurrogate)  # check_space reads only class-level bounds
    with pytest.raises(ConfigError, match=r"'learning_rate': the LCBench surrogate accepts numbers in"):
        surrogate.check_space(space)


def test_a_workload_that_declares_nothing_gets_a_note_not_an_error() -> None:
    exp = parse_experiment({"workload": {"type": "python", "target": "helper_workloads:SleepySphere"},
                            "stop": {"max_evaluations": 2}})
    assert len(exp.notes) == 1 and "does not declare the hyperparameters it reads" in exp.notes[0]
    assert not parse_experiment(_with(SYNTH)).notes


def test_fidelity_is_fine_where_it_is_read() -> None:
    assert parse_experiment(_with(MLP, fidelity={"max_budget": 12})).algorithm.max_budget == 12
    assert parse_experiment(_with(MLP, algorithm={"name": "pbt"},
                                  fidelity={"min_budget": 3, "max_budget": 18})).algorithm.step_epochs == 3
    grid = parse_experiment(_with(MLP, fidelity={"min_budget": 2, "max_budget": 18}), strict_fidelity=False)
    assert grid.algorithm.max_budget == 18  # a comparison grid gives one ladder to every algorithm


def test_auto_backend_keys_the_launch_does_not_use_are_warned_about() -> None:
    from evoautodl.backends.factory import backend_warnings, check_backend_table, resolve_backend_type

    table = check_backend_table({"devices": "cpu", "device": "cpu", "timeout_s": 5})
    assert resolve_backend_type(table, 1) == "serial" and resolve_backend_type(table, 3) == "mpi"
    assert backend_warnings(table, 1) == ["backend.devices: ignored: backend.type = 'auto' runs the 'serial' backend "
                                          "outside mpiexec, and only the 'mpi' backend reads it"]
    assert [w.split(":")[0] for w in backend_warnings(table, 3)] == ["backend.device"]
    with pytest.raises(ConfigError, match="needs at least 2 ranks"):
        resolve_backend_type({"type": "mpi"}, 1)


def test_a_run_warns_about_auto_keys_it_ignores(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from evoautodl.backends.factory import make_backend
    from evoautodl.backends.serial import SerialBackend
    from evoautodl.workloads.synthetic import MixedRastrigin

    with caplog.at_level(logging.WARNING):
        backend = make_backend({"type": "auto", "prefetch": 2}, MixedRastrigin(), checkpoint_dir=tmp_path)
    assert isinstance(backend, SerialBackend)
    assert "backend.prefetch: ignored" in caplog.text


def test_the_space_layer_names_a_nested_choice() -> None:
    with pytest.raises(SpaceError, match=r"hyperparameter 'x': 'choices' entry \[1, 2\] is a list"):
        SearchSpace.from_dict({"x": {"type": "categorical", "choices": [[1, 2], [3]]}})
    with pytest.raises(SpaceError, match=r"hyperparameter 'o': 'sequence' entry \{'a': 1\} is a dict"):
        SearchSpace.from_dict({"o": {"type": "ordinal", "sequence": [{"a": 1}, 2]}})


def _annotated(a: int, b: float | None = None, c: Literal["x", "y"] = "x", d: list[int] | None = None,
               e: tuple[float, float] = (0.0, 1.0), f: dict[str, Any] | None = None, g: bool = False,
               h: Any = None) -> None:
    """A constructor-like function for the type checks."""


@pytest.mark.parametrize(("key", "value", "ok"), [
    ("a", 3, True), ("a", 3.0, False), ("a", True, False), ("a", "3", False),
    ("b", 3, True), ("b", 0.5, True), ("b", None, True), ("b", "0.5", False),
    ("c", "y", True), ("c", "z", False), ("d", [1, 2], True), ("d", [1, 2.5], False),
    ("e", [0.1, 2], True), ("e", [0.1], False), ("f", {"k": 1}, True), ("f", [1], False),
    ("g", False, True), ("g", 0, False), ("h", object(), True),
])
def test_option_values_are_checked_against_annotations(key: str, value: Any, ok: bool) -> None:
    import typing

    assert matches(value, typing.get_type_hints(_annotated)[key]) is ok
    if ok:
        check_options("workload", _annotated, {key: value})
    else:
        with pytest.raises(ConfigError, match=rf"workload.{key}: expected "):
            check_options("workload", _annotated, {key: value})


def test_types_are_described_in_words() -> None:
    assert describe_type(int | None) == "an integer or None"
    assert describe_type(list[float]) == "a list of numbers"
    assert describe_type(Literal["a", "b"]) == "one of 'a', 'b'"


def test_baselines_are_registered_lazily_and_a_missing_library_is_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from evoautodl import algorithms

    probe = ("import sys, evoautodl.algorithms as a; a.available_algorithms(); a.algorithm_class('random'); "
             "print(sorted(m for m in ('optuna', 'smac', 'dehb') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
    monkeypatch.setitem(algorithms.BASELINE_LIBRARIES, "optuna_tpe", "no_such_library_xyz")
    assert "optuna_tpe" not in algorithms.available_algorithms()
    with pytest.raises(ConfigError, match=r"algorithm 'optuna_tpe' needs the 'no_such_library_xyz' package"):
        parse_experiment(_with(MLP, algorithm={"name": "optuna_tpe"}))


def test_an_experiment_can_reuse_a_built_space() -> None:
    first = parse_experiment(_with(SYNTH))
    again = parse_experiment(_with(SYNTH), space=first.space)
    assert again.space is first.space and again.algorithm.space is first.space


def test_a_single_objective_algorithm_on_several_objectives_gets_a_note() -> None:
    mo = _with(SYNTH, workload={"multi_objective": True}, algorithm={"name": "ga"}, fidelity=None)
    notes = parse_experiment(mo).notes
    assert len(notes) == 1 and "algorithm 'ga' minimises the first (error) only" in notes[0]
    assert not parse_experiment({**mo, "algorithm": {"name": "nsga2"}}).notes


def test_every_error_class_derives_from_the_package_error() -> None:
    from evoautodl import errors
    from evoautodl.analysis.frame import AnalysisError
    from evoautodl.compare.grid import CompareError

    assert AnalysisError is errors.AnalysisError and CompareError is errors.CompareError
    assert issubclass(AnalysisError, errors.EvoAutoDLError) and issubclass(CompareError, errors.EvoAutoDLError)
