"""The user-defined workload example runs as a script and prints metrics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "custom_workload.py"


def test_example_runs_on_sklearn_data() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--epochs", "5"], capture_output=True, text=True,
                         timeout=120, cwd=SCRIPT.parents[1])
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("config ")]
    assert len(lines) == 2 and all("status OK" in ln and "val acc" in ln for ln in lines)


def test_example_runs_on_a_csv(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 3))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "kind": (x[:, 0] > 0).astype(int)}).to_csv(
        tmp_path / "mine.csv", index=False)
    out = subprocess.run([sys.executable, str(SCRIPT), "--csv", str(tmp_path / "mine.csv"), "--target", "kind",
                          "--epochs", "3"], capture_output=True, text=True, timeout=120, cwd=SCRIPT.parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("status OK") == 2
