"""experiments/custom_operator.py runs as a script, with and without the LCBench space."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "custom_operator.py"


def run(args: list[str], env_update: dict[str, str | None]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    for key, value in env_update.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT
    )


def test_custom_operator_script_synthetic() -> None:
    proc = run(["--generations", "4", "--population", "8", "--seed", "3"], {"EVOAUTODL_YAHPO_DATA": None})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "space: synthetic" in out and "Cauchy mutation" in out
    assert "all 40 evaluated configurations were valid" in out
    assert "best loss" in out
    lines = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    best = [float(cols[1]) for cols in lines]
    assert len(best) == 4 and best == sorted(best, reverse=True), "(mu + lambda) never loses its best"


def test_custom_operator_script_lcbench() -> None:
    root = os.environ.get("EVOAUTODL_YAHPO_DATA")
    if not root or not (Path(root) / "lcbench" / "config_space.json").is_file():
        pytest.skip("EVOAUTODL_YAHPO_DATA is not set (or has no lcbench/config_space.json)")
    proc = run(["--generations", "3", "--population", "6"], {})
    assert proc.returncode == 0, proc.stderr
    assert "space: LCBench" in proc.stdout and "batch_size" in proc.stdout
    assert "all 24 evaluated configurations were valid" in proc.stdout
