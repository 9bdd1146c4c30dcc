"""The examples in examples/ run as scripts and from experiment files, serially and under mpiexec.

custom_operator: a user's mutation inside ga and asha_ea through the CLI, with
a run directory, resume and its name in the log's operator column (asha_ea
under mpiexec -n 3); custom_algorithm: a (1 + lambda)-ES that passes
check_algorithm and runs as "module:Class"; custom_workload: a user's torch model.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evoautodl import load_run
from evoautodl.algorithms import get_algorithm
from evoautodl.errors import ConfigError
from evoautodl.experiment import parse_experiment
from evoautodl.workloads.synthetic import MixedRastrigin

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(ROOT / "tests" / "mpi_scripts"))
from mpi_launch import Job, skip_reason  # noqa: E402


def _env() -> dict[str, str]:
    """This checkout and examples/ on PYTHONPATH (as the README tells users)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(EXAMPLES), os.environ.get("PYTHONPATH", "")])}


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evoautodl", *args, "--no-progress"], capture_output=True, text=True,
                          timeout=timeout, env=_env())


def _operators(run_dir: Path) -> Counter[str]:
    return Counter(load_run(run_dir)["operator"])


# ---------------------------------------------------------------------------------------------- custom operator
def test_custom_operator_script(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES / "custom_operator.py"), "--out", str(tmp_path / "ga"),
                           "--evaluations", "40"], capture_output=True, text=True, timeout=180, env=_env())
    assert done.returncode == 0, done.stderr
    assert "cauchy_mutation: mutation, native convention, arity 1, 1 child(ren): 5 checks passed" in done.stdout
    assert "20 evaluations, resumed to 40" in done.stdout
    assert "mutPolynomialBounded" in done.stdout
    ops = _operators(tmp_path / "ga")
    assert ops["crossover+cauchy_mutation"] > 0 and set(ops) <= {"sample", "cauchy_mutation",
                                                                 "crossover+cauchy_mutation"}


def test_custom_operator_in_ga_from_an_experiment_file_with_resume(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    first = _cli("run", str(EXAMPLES / "custom_operator_ga.toml"), "--out", str(run_dir))
    assert first.returncode == 0, first.stderr
    assert "evaluations   : 48" in first.stdout
    more = _cli("resume", str(run_dir), "--max-evaluations", "64")
    assert more.returncode == 0, more.stderr
    assert "evaluations   : 64" in more.stdout
    ops = _operators(run_dir)
    assert sum(ops.values()) == 64 and ops["cxTwoPoint+cauchy_mutation"] > 20 and ops["sample"] == 8


@pytest.mark.parametrize(("line", "message"), [
    ('mutation = "custom_operator:cauchy"', "ga: mutation='custom_operator:cauchy': module 'custom_operator' "
                                            "has no attribute 'cauchy'"),
    ('mutation = "deap.tools:cxTwoPoint"', "it takes 2 positional argument(s) (ind1, ind2), but 1 parent(s) are "
                                           "passed here (parameters go in mutation_params)"),
    ('mutation = "custom_operator:cauchy_mutation"\nmutation_params = {scael = 0.1}',
     "got an unexpected keyword argument 'scael'"),
    ('mutation = "custom_operator:cauchy_mutation"\nmutation_sigma = 0.3',
     "ga: mutation_sigma sets the built-in mutation, but mutation is 'cauchy_mutation'"),
    ('crossover = "blend"', "ga: crossover='blend': unknown crossover (built-in: 'uniform', 'one_point', 'sbx'"),
])
def test_bad_operator_in_an_experiment_file_names_it(line: str, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    raw = tomllib.loads(f'[workload]\ntype = "synthetic"\n[algorithm]\nname = "ga"\n{line}\n[stop]\n'
                        'max_evaluations = 10\n')
    with pytest.raises(ConfigError) as err:
        parse_experiment(raw)
    assert message in str(err.value)


def test_bad_operator_on_the_command_line_is_one_line(tmp_path: Path) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text('[workload]\ntype = "synthetic"\n[algorithm]\nname = "asha_ea"\n'
                   'mutation = "custom_operator:nope"\n[fidelity]\nmin_budget = 1\nmax_budget = 9\n[stop]\n'
                   'max_evaluations = 10\n')
    done = _cli("run", str(exp), "--out", str(tmp_path / "never"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "evoautodl: error: asha_ea: mutation='custom_operator:nope': module 'custom_operator' has no attribute 'nope'"]
    assert not (tmp_path / "never" / "evaluations.jsonl").exists()


@pytest.mark.mpi
@pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
def test_custom_operator_in_asha_under_mpiexec_with_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])
    run_dir = tmp_path / "run"
    rc, out, err, _ = Job(3, ["-m", "evoautodl", "run", str(EXAMPLES / "custom_operator_asha.toml"), "--out",
                              str(run_dir), "--no-progress"]).wait(240)
    assert rc == 0, err[-3000:]
    assert "evaluations   : 80" in out
    rc, out, err, _ = Job(3, ["-m", "evoautodl", "resume", str(run_dir), "--max-evaluations", "120",
                              "--no-progress"]).wait(240)
    assert rc == 0, err[-3000:]
    assert "evaluations   : 120" in out
    df = load_run(run_dir)
    assert len(df) == 120 and set(df["worker"]) == {1, 2}
    ops = Counter(df["operator"])
    assert ops["cauchy_mutation"] + ops["crossover+cauchy_mutation"] > 5 and ops["promote"] > 5


# ---------------------------------------------------------------------------------------------- custom algorithm
def test_custom_algorithm_script_passes_the_contract() -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES / "custom_algorithm.py")], capture_output=True,
                          text=True, timeout=180, env=_env())
    assert done.returncode == 0, done.stderr
    assert "one_plus_lambda: 16 checks passed" in done.stdout
    assert "121 evaluations, 21 generations" in done.stdout


def test_user_algorithm_from_an_experiment_file(tmp_path: Path) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text(textwrap.dedent(
        """
        [workload]
        type = "synthetic"
        [algorithm]
        name = "custom_algorithm:OnePlusLambda"
        offspring = 3
        [stop]
        max_evaluations = 31
        """
    ))
    done = _cli("run", str(exp), "--out", str(tmp_path / "r"))
    assert done.returncode == 0, done.stderr
    assert "evaluations   : 31" in done.stdout
    more = _cli("resume", str(tmp_path / "r"), "--max-evaluations", "40")
    assert more.returncode == 0 and "evaluations   : 40" in more.stdout


def test_bad_user_algorithm_names() -> None:
    space = MixedRastrigin().search_space()
    with pytest.raises(ConfigError, match="cannot import 'no_such_module'"):
        get_algorithm("no_such_module:X", space)
    with pytest.raises(ConfigError, match="not a subclass"):
        get_algorithm("evoautodl.records:Trial", space)


# ---------------------------------------------------------------------------------------------- custom workload
def test_custom_workload_runs_on_sklearn_data() -> None:
    out = subprocess.run([sys.executable, str(EXAMPLES / "custom_workload.py"), "--epochs", "5"], capture_output=True,
                         text=True, timeout=120, cwd=ROOT, env=_env())
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("config ")]
    assert len(lines) == 2 and all("status OK" in ln and "val acc" in ln for ln in lines)


def test_custom_workload_runs_on_a_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 3))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "kind": (x[:, 0] > 0).astype(int)}).to_csv(
        tmp_path / "mine.csv", index=False)
    out = subprocess.run([sys.executable, str(EXAMPLES / "custom_workload.py"), "--csv", str(tmp_path / "mine.csv"),
                          "--target", "kind", "--epochs", "3"], capture_output=True, text=True, timeout=120, cwd=ROOT,
                         env=_env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("status OK") == 2


# ---------------------------------------------------------------------------------------------- conditional space
def test_conditional_space_example_samples_only_allowed_configs(capsys: pytest.CaptureFixture[str]) -> None:
    from evoautodl.experiment import load_experiment

    exp = load_experiment(EXAMPLES / "conditional_space.toml")
    assert capsys.readouterr().out == ""  # ConfigSpace's debug print of the 'ge' clause stays off stdout
    rng = np.random.default_rng(0)
    configs = [exp.space.to_config(exp.space.sample(rng)) for _ in range(500)]
    assert not any(c["num_layers"] >= 3 and c["max_units"] > 256 for c in configs)
    assert all(("max_dropout" in c) == (c["num_layers"] > 1) for c in configs)
    assert all(("momentum" in c) == (c["learning_rate"] < 0.05) for c in configs)
    trials = exp.algorithm.ask(6)
    assert len(trials) == 6 and all(exp.space.is_valid(t.config) for t in trials)
