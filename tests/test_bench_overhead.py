"""The overhead benchmarks' estimators: segment minima over rounds, and the instruction counter's refusals."""

from __future__ import annotations

import importlib
import math
import os
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "experiments" / "bench"


@pytest.fixture(scope="module")
def overhead():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("overhead")
    finally:
        sys.path.remove(str(BENCH))


def test_split_gives_the_time_between_marks(overhead) -> None:  # type: ignore[no-untyped-def]
    assert overhead._split(1.0, [2.0, 4.5], 5.0) == [1.0, 2.5, 0.5]
    assert overhead._split(1.0, [], 3.0) == [2.0]


def test_segment_minima_over_rounds(overhead) -> None:  # type: ignore[no-untyped-def]
    best = overhead._Best()
    assert best.ms == math.inf
    best.add([0.010, 0.050, 0.002], 1000)  # a slow middle segment in round 1
    best.add([0.030, 0.020, 0.003], 1000)  # a slow first segment in round 2
    assert best.segments == [0.010, 0.020, 0.002]
    assert best.ms == pytest.approx(0.032)  # (10 + 20 + 2) ms over 1000 evaluations
    assert best.best_run == pytest.approx(0.053)  # the faster whole run: round 2
    with pytest.raises(RuntimeError, match="not deterministic"):
        best.add([0.01, 0.01], 1000)
    with pytest.raises(RuntimeError, match="not deterministic"):
        best.add([0.01, 0.01, 0.01], 999)


def test_overhead_table_on_the_lcbench_space(overhead, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = os.environ.get("EVOAUTODL_YAHPO_DATA")
    if not data or not (Path(data) / "lcbench" / "config_space.json").exists():
        pytest.skip("EVOAUTODL_YAHPO_DATA does not point at the LCBench data (lcbench/config_space.json)")
    out = tmp_path / "overhead.txt"
    assert overhead.main(["--data", data, "--evals", "60", "--population", "10", "--segment", "25", "--repeats", "2",
                          "--algorithms", "random", "steady_state", "--out", str(out)]) == 0
    text = out.read_text()
    assert "2 rounds, segments of 25 evaluations" in text
    rows = {line.split()[0]: line.split() for line in text.splitlines()[4:6]}
    assert set(rows) == {"random", "steady_state"}
    for row in rows.values():
        runner_ms, best_run = float(row[1]), float(row[2])
        assert 0 < runner_ms <= best_run  # the sum of segment minima is never above the best whole run


def test_instruction_counter_needs_valgrind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        counter = importlib.import_module("overhead_instructions")
    finally:
        sys.path.remove(str(BENCH))
    monkeypatch.setattr(counter.shutil, "which", lambda tool: None)
    assert counter.main(["--data", str(tmp_path), "--algorithms", "random"]) == 2
    assert "valgrind and callgrind_control not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        counter.main(["--data", str(tmp_path), "--evals", "10", "5"])
