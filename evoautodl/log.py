"""The run directory's evaluation log: append-only JSONL, one object per finished trial.

Each line is flushed as soon as it is written, so a killed run loses at most
the line being written (a truncated last line is dropped when the log is read
or reopened). ``load_run(path)`` flattens a run into a pandas DataFrame.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from evoautodl.errors import RunDirError
from evoautodl.records import Result, Status, Trial

__all__ = ["EvaluationLog", "load_run", "read_results", "result_from_json", "result_to_json", "trim_partial_line"]

LOG_NAME = "evaluations.jsonl"


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if hasattr(v, "item"):
        return v.item()
    return v


def _num(v: Any) -> float:
    if v is None:
        return math.nan
    if v == "inf":
        return math.inf
    if v == "-inf":
        return -math.inf
    return float(v)


_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def result_to_json(r: Result) -> str:
    """One log line (no newline)."""
    t = r.trial
    obj = {
        "trial_id": t.trial_id,
        "individual_id": t.individual_id,
        "generation": t.generation,
        "rung": t.rung,
        "budget_epochs": t.budget_epochs,
        "status": r.status.value,
        "objectives": list(r.objectives),
        "config": dict(t.config),
        "metrics": dict(r.metrics),
        "epochs_trained": r.epochs_trained,
        "cost_s": r.cost_s,
        "start_time": r.start_time,
        "end_time": r.end_time,
        "worker": r.worker,
        "host": r.host,
        "device": r.device,
        "seed": t.seed,
        "parent_ids": list(t.parent_ids),
        "operator": t.operator,
        "resume_from": t.resume_from,
        "checkpoint": r.checkpoint,
        "error": r.error,
        "genome": list(t.genome),
        "curve": {k: list(v) for k, v in r.curve.items()},
    }
    try:  # fast path: plain finite values serialise as they are (what _clean would return)
        return _dumps(obj)
    except (ValueError, TypeError):  # non-finite floats, numpy scalars: clean first
        return _dumps(_clean(obj))


def result_from_json(obj: dict[str, Any]) -> Result:
    """Inverse of :func:`result_to_json` (from the parsed object)."""
    trial = Trial(
        trial_id=int(obj["trial_id"]),
        individual_id=int(obj["individual_id"]),
        config=obj["config"],
        genome=tuple(float(x) for x in obj["genome"]),
        budget_epochs=float(obj["budget_epochs"]),
        seed=int(obj["seed"]),
        parent_ids=tuple(int(p) for p in obj["parent_ids"]),
        operator=obj["operator"],
        resume_from=obj["resume_from"],
        generation=int(obj["generation"]),
        rung=int(obj["rung"]),
    )
    return Result(
        trial=trial,
        status=Status(obj["status"]),
        objectives=tuple(_num(v) for v in obj["objectives"]),
        metrics={k: _num(v) if v is None or isinstance(v, int | float | str) else v
                 for k, v in obj["metrics"].items()},
        curve={k: [_num(x) for x in v] for k, v in obj["curve"].items()},
        epochs_trained=float(obj["epochs_trained"]),
        cost_s=float(obj["cost_s"]),
        error=obj["error"],
        worker=int(obj["worker"]),
        host=obj["host"],
        device=obj["device"],
        start_time=float(obj["start_time"]),
        end_time=float(obj["end_time"]),
        checkpoint=obj["checkpoint"],
    )


def _iter_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(byte offset after the line, object) for every complete line."""
    with open(path, "rb") as fh:
        offset = 0
        for raw in fh:
            if not raw.endswith(b"\n"):
                return  # truncated by a kill: not part of the log
            offset += len(raw)
            line = raw.strip()
            if not line:
                continue
            try:
                yield offset, json.loads(line)
            except json.JSONDecodeError as exc:
                raise RunDirError(f"{path}: corrupt line ending at byte {offset}: {exc}") from exc


def trim_partial_line(path: Path) -> int:
    """Cut a line a killed writer left half-written; returns the number of complete, non-blank lines."""
    if not path.exists():
        return 0
    data = path.read_bytes()
    good = data.rfind(b"\n") + 1
    if good != len(data):
        with open(path, "r+b") as fh:
            fh.truncate(good)
    return sum(1 for line in data[:good].splitlines() if line.strip())


def read_results(run_dir: str | Path) -> list[Result]:
    """All logged results, in the order they were told."""
    path = Path(run_dir) / LOG_NAME
    if not path.exists():
        return []
    return [result_from_json(obj) for _, obj in _iter_lines(path)]


class EvaluationLog:
    """Append-only writer of ``evaluations.jsonl``.

    Opening drops a truncated last line (from a killed run) so appends stay
    valid JSONL. Every append is flushed; ``fsync`` additionally forces it to
    disk (slower; off by default, a flushed line survives a killed process).
    """

    def __init__(self, run_dir: str | Path, fsync: bool = False):
        self.path = Path(run_dir) / LOG_NAME
        self.fsync = fsync
        self._fh: IO[str] | None = None
        self.n_lines = 0

    def open(self) -> EvaluationLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.n_lines = trim_partial_line(self.path)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        return self

    def append(self, result: Result) -> None:
        if self._fh is None:
            self.open()
        assert self._fh is not None
        self._fh.write(result_to_json(result) + "\n")
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())
        self.n_lines += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> EvaluationLog:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _objective_column(names: list[str], i: int, reserved: set[str]) -> str:
    name = names[i] if i < len(names) else f"objective_{i}"
    return name if name not in reserved else f"obj.{name}"


def load_run(path: str | Path):  # -> pandas.DataFrame
    """A run directory as a DataFrame, one row per finished trial.

    Columns: trial_id, individual_id, generation, rung, budget_epochs, status,
    objective (first objective), one column per objective name, one column per
    hyperparameter (NaN when inactive), epochs_trained, cost_s, start_time,
    end_time, duration_s, worker, host, device, seed, parent_ids, operator,
    resume_from, checkpoint, error_message, ``metric.<name>`` per metric, and
    ``curve`` (dict of per-epoch lists). An objective whose name collides with
    one of these columns is prefixed ``obj.``; ``df.attrs["objective_columns"]``
    lists the objective columns in order.
    """
    import pandas as pd

    run_dir = Path(path)
    if not (run_dir / LOG_NAME).exists():
        raise RunDirError(f"{run_dir}: no {LOG_NAME} (is this a run directory?)")
    meta_path = run_dir / "run.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    objective_names = list(meta.get("objective_names", []))
    hp_names = list(meta.get("hyperparameters", []))
    reserved = {"trial_id", "individual_id", "generation", "rung", "budget_epochs", "status", "objective",
                "epochs_trained", "cost_s", "start_time", "end_time", "duration_s", "worker", "host",
                "device", "seed", "parent_ids", "operator", "resume_from", "checkpoint", "error_message", "curve"}
    rows = []
    for r in read_results(run_dir):
        t = r.trial
        row: dict[str, Any] = {"trial_id": t.trial_id, "individual_id": t.individual_id, "generation": t.generation,
                               "rung": t.rung, "budget_epochs": t.budget_epochs, "status": r.status.value,
                               "objective": r.objectives[0] if r.objectives else math.nan}
        values = list(r.objectives) + [math.nan] * (len(objective_names) - len(r.objectives))
        for i, v in enumerate(values):
            row[_objective_column(objective_names, i, reserved)] = v
        for k, v in t.config.items():
            if k not in hp_names:
                hp_names.append(k)
            row[k if k not in reserved else f"hp.{k}"] = v
        row.update(epochs_trained=r.epochs_trained, cost_s=r.cost_s, start_time=r.start_time, end_time=r.end_time,
                   duration_s=r.end_time - r.start_time, worker=r.worker, host=r.host, device=r.device, seed=t.seed,
                   operator=t.operator, resume_from=t.resume_from, checkpoint=r.checkpoint, error_message=r.error,
                   parent_ids=t.parent_ids)
        row.update({f"metric.{k}": v for k, v in r.metrics.items()})
        row["curve"] = dict(r.curve)
        rows.append(row)
    df = pd.DataFrame(rows)
    for k in hp_names:
        col = k if k not in reserved else f"hp.{k}"
        if col not in df.columns:
            df[col] = math.nan
    if "status" in df.columns:
        df["status"] = df["status"].astype("category")
    df.attrs["objective_names"] = objective_names
    n_cols = len(objective_names)
    df.attrs["objective_columns"] = [_objective_column(objective_names, i, reserved) for i in range(n_cols)]
    df.attrs["hyperparameters"] = hp_names
    df.attrs["run_dir"] = str(run_dir)
    return df
