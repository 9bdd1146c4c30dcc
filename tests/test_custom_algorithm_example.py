"""The user-algorithm example runs as a script, and from an experiment file as "module:Class"."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from evoautodl.algorithms import get_algorithm
from evoautodl.errors import ConfigError
from evoautodl.workloads.synthetic import MixedRastrigin

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def test_example_script_runs() -> None:
    done = subprocess.run([sys.executable, str(EXPERIMENTS / "custom_algorithm.py")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
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
    env = {**os.environ, "PYTHONPATH": str(EXPERIMENTS)}
    done = subprocess.run([sys.executable, "-m", "evoautodl", "run", str(exp), "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "evaluations   : 31" in done.stdout
    more = subprocess.run([sys.executable, "-m", "evoautodl", "resume", str(tmp_path / "r"), "--max-evaluations",
                           "40"], capture_output=True, text=True, timeout=120, env=env)
    assert more.returncode == 0 and "evaluations   : 40" in more.stdout


def test_bad_user_algorithm_names() -> None:
    space = MixedRastrigin().search_space()
    with pytest.raises(ConfigError, match="cannot import 'no_such_module'"):
        get_algorithm("no_such_module:X", space)
    with pytest.raises(ConfigError, match="not a subclass"):
        get_algorithm("evoautodl.records:Trial", space)
