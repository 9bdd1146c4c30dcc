"""The run directory's evaluation log: append-only JSONL, one object per finished trial.

Each line is flushed as soon as it is written (one unbuffered write), so a
killed run loses at most the line being written (a truncated last line is
dropped when the log is read or reopened); ``sync()`` forces the lines to disk
(the runner calls it before every state snapshot, so a snapshot never counts a
line a power loss could take). ``append`` writes only lines that read back:
a result of plain numbers and strings is written by `evoautodl.logline`
(readable by construction), anything else is encoded by the json module and
decoded again, and a result that cannot be encoded (a metric that is neither
a number nor a list of numbers, say) is logged as FAILED naming the problem.
``load_run(path)`` flattens a run into a pandas DataFrame; ``skip_corrupt=True``
skips (and reports) lines damaged outside evoautodl instead of refusing the
whole run.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from evoautodl.errors import RunDirError
from evoautodl.logline import plain_line
from evoautodl.records import Result, Status, Trial, parse_checkpoint_budget

__all__ = [
    "CorruptLine",
    "EvaluationLog",
    "load_run",
    "read_log",
    "read_results",
    "result_from_json",
    "result_to_json",
    "trim_partial_line",
]

logger = logging.getLogger(__name__)

LOG_NAME = "evaluations.jsonl"


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if hasattr(v, "tolist") and not isinstance(v, str | bytes):  # numpy scalars and arrays, torch tensors
        return _clean(v.tolist())
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        return _clean(v.item())
    return v


def _num(v: Any) -> float:
    """A logged number: JSON numbers, null (NaN), "inf" and "-inf"; anything else is a ValueError."""
    if isinstance(v, int | float):
        return float(v)
    if v is None:
        return math.nan
    if v == "inf":
        return math.inf
    if v == "-inf":
        return -math.inf
    raise ValueError(f"{v!r} is not a number")


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
        "resume_budget": t.resume_budget,
        "checkpoint": r.checkpoint,
        "error": r.error,
        "genome": list(t.genome),
        "curve": {k: list(v) for k, v in r.curve.items()},
    }
    try:  # fast path: plain finite values serialise as they are (what _clean would return)
        return _dumps(obj)
    except (ValueError, TypeError):  # non-finite floats, numpy scalars: clean first
        return _dumps(_clean(obj))


def _metric(v: Any) -> float | list[float]:
    return [_num(x) for x in v] if isinstance(v, list) else _num(v)


def _text(v: Any, key: str) -> str | None:
    if v is not None and not isinstance(v, str):
        raise ValueError(f"{key!r} is {type(v).__name__}, expected a string or null")
    return v


def result_from_json(obj: dict[str, Any]) -> Result:
    """Inverse of :func:`result_to_json` (from the parsed object).

    Raises:
        ValueError: naming the missing key or the value that is not what the log holds.
    """
    if not isinstance(obj, dict):
        raise ValueError(f"a log line is a JSON object, got {type(obj).__name__}")
    try:
        return _decode(obj)
    except KeyError as exc:
        raise ValueError(f"missing key {exc.args[0]!r}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"bad value: {exc}") from None


def _decode(obj: dict[str, Any]) -> Result:
    if not isinstance(obj["config"], dict):
        raise ValueError(f"'config' is {type(obj['config']).__name__}, expected an object")
    resume_from = _text(obj["resume_from"], "resume_from")
    if "resume_budget" in obj:
        resume_budget = None if obj["resume_budget"] is None else _num(obj["resume_budget"])
    else:  # a log written before trials carried their resume budget: the key names it
        resume_budget = None if resume_from is None else parse_checkpoint_budget(resume_from)
    trial = Trial(
        trial_id=int(obj["trial_id"]),
        individual_id=int(obj["individual_id"]),
        config=obj["config"],
        genome=tuple(float(x) for x in obj["genome"]),
        budget_epochs=float(obj["budget_epochs"]),
        seed=int(obj["seed"]),
        parent_ids=tuple(int(p) for p in obj["parent_ids"]),
        operator=str(obj["operator"]),
        resume_from=resume_from,
        generation=int(obj["generation"]),
        rung=int(obj["rung"]),
        resume_budget=resume_budget,
    )
    return Result(
        trial=trial,
        status=Status(obj["status"]),
        objectives=tuple(_num(v) for v in obj["objectives"]),
        metrics={str(k): _metric(v) for k, v in obj["metrics"].items()},
        curve={str(k): [_num(x) for x in v] for k, v in obj["curve"].items()},
        epochs_trained=_num(obj["epochs_trained"]),
        cost_s=_num(obj["cost_s"]),
        error=_text(obj["error"], "error"),
        worker=int(obj["worker"]),
        host=str(obj["host"]),
        device=str(obj["device"]),
        start_time=_num(obj["start_time"]),
        end_time=_num(obj["end_time"]),
        checkpoint=_text(obj["checkpoint"], "checkpoint"),
    )


@dataclass(frozen=True, slots=True)
class CorruptLine:
    """A log line that does not read back: its 1-based line number and why."""

    line: int
    reason: str


def _iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, stripped bytes) of every complete, non-blank line."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.endswith(b"\n"):
                return  # truncated by a kill: not part of the log
            line = raw.strip()
            if line:
                yield number, line


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


def read_log(run_dir: str | Path, *, skip_corrupt: bool = False) -> tuple[list[Result], list[CorruptLine]]:
    """Logged results in the order they were told, and the lines skipped as corrupt.

    Args:
        skip_corrupt: skip a line that is not JSON or lacks what a result needs
            (and report it) instead of raising.

    Raises:
        RunDirError: for the first corrupt line (unless ``skip_corrupt``), naming the line and the problem.
    """
    path = Path(run_dir) / LOG_NAME
    results: list[Result] = []
    bad: list[CorruptLine] = []
    if not path.exists():
        return results, bad
    if path.is_dir():
        raise RunDirError(f"{path} is a directory; the evaluation log is a file")
    for number, line in _iter_lines(path):
        try:
            results.append(result_from_json(json.loads(line)))
        except (ValueError, RecursionError) as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if not skip_corrupt:
                raise RunDirError(
                    f"{path}, line {number}: not a readable evaluation ({reason}); load_run(..., skip_corrupt=True) "
                    "and `evoautodl show --skip-corrupt` read the other lines"
                ) from exc
            bad.append(CorruptLine(number, reason))
    return results, bad


def read_results(run_dir: str | Path) -> list[Result]:
    """All logged results, in the order they were told (RunDirError naming a corrupt line)."""
    return read_log(run_dir)[0]


def open_lines(path: Path) -> BinaryIO:
    """``path`` opened to append lines with `write_line`: unbuffered, each line one system call."""
    return open(path, "ab", buffering=0)


def write_line(fh: BinaryIO, line: str) -> None:
    """Append ``line`` (ASCII, as the json module writes it) and a newline; in the file when this returns."""
    data = (line + "\n").encode()
    n = fh.write(data)
    while n < len(data):  # a short write: write the rest (a full disk raises OSError)
        data = data[n:]
        n = fh.write(data)


class EvaluationLog:
    """Append-only writer of ``evaluations.jsonl``.

    Opening drops a truncated last line (from a killed run) so appends stay
    valid JSONL. Every append is written through to the operating system (a
    written line survives a killed process); ``sync()`` forces the lines to
    disk (what survives a power loss); ``fsync=True`` syncs every line (slower).
    """

    def __init__(self, run_dir: str | Path, fsync: bool = False):
        self.path = Path(run_dir) / LOG_NAME
        self.fsync = fsync
        self._fh: BinaryIO | None = None
        self.n_lines = 0

    def open(self) -> EvaluationLog:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.n_lines = trim_partial_line(self.path)
            self._fh = open_lines(self.path)
        except OSError as exc:
            raise RunDirError(f"cannot open the evaluation log {self.path}: {exc.strerror or exc}") from exc
        return self

    def append(self, result: Result) -> Result:
        """Write one line; returns what was written: ``result``, or a FAILED result when it does not read back."""
        if self._fh is None:
            self.open()
        assert self._fh is not None
        line, result = encode_checked(result)
        try:
            write_line(self._fh, line)
            if self.fsync:
                os.fsync(self._fh.fileno())
        except OSError as exc:
            raise RunDirError(f"cannot write the evaluation log {self.path}: {exc.strerror or exc}") from exc
        self.n_lines += 1
        return result

    def sync(self) -> None:
        """Force the written lines to disk."""
        if self._fh is not None:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> EvaluationLog:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def encode_checked(result: Result) -> tuple[str, Result]:
    """(log line, result it encodes): the line always reads back.

    A result whose line cannot be encoded, or would not decode (a string
    metric, a nested list...), is replaced by a FAILED result with its
    timing and placement, whose error names the problem.
    """
    line = plain_line(result)
    if line is not None:  # plain finite numbers and strings: the line reads back by construction
        return line, result
    try:  # anything else: prove that the line reads back
        line = result_to_json(result)
        result_from_json(json.loads(line))
        return line, result
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        reason = f"the result cannot be logged ({exc}); objectives, metrics and curves must be numbers"
        if result.error:
            reason += f". Its error was: {result.error}"
        logger.warning("trial %d: %s", result.trial_id, reason.splitlines()[0])
        failed = replace(result, status=Status.FAILED, objectives=(), metrics={}, curve={}, checkpoint=None,
                         error=reason, epochs_trained=_finite_or_zero(result.epochs_trained),
                         cost_s=_finite_or_zero(result.cost_s))
        return result_to_json(failed), failed


def _finite_or_zero(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return 0.0
    return x if math.isfinite(x) and x >= 0 else 0.0


def _objective_column(names: list[str], i: int, reserved: set[str]) -> str:
    name = names[i] if i < len(names) else f"objective_{i}"
    return name if name not in reserved else f"obj.{name}"


def load_run(path: str | Path, *, skip_corrupt: bool = False):  # -> pandas.DataFrame
    """A run directory as a DataFrame, one row per finished trial.

    ``skip_corrupt=True`` skips log lines that do not read back (a warning and
    ``df.attrs["corrupt_lines"]``, a list of `CorruptLine`, report them);
    otherwise the first one raises `RunDirError` naming it.

    Columns: trial_id, individual_id, generation, rung, budget_epochs, status,
    objective (first objective), one column per objective name, one column per
    hyperparameter (NaN when inactive), epochs_trained, cost_s, start_time,
    end_time, duration_s, worker, host, device, seed, parent_ids, operator,
    resume_from, resume_budget, checkpoint, error_message, ``metric.<name>`` per metric, and
    ``curve`` (dict of per-epoch lists). An objective whose name collides with
    one of these columns is prefixed ``obj.``; ``df.attrs["objective_columns"]``
    lists the objective columns in order.
    """
    import pandas as pd

    run_dir = Path(path)
    if not run_dir.exists():
        raise RunDirError(f"{run_dir}: not a run directory (does not exist)")
    if not (run_dir / LOG_NAME).exists():
        raise RunDirError(f"{run_dir}: no {LOG_NAME} (is this a run directory?)")
    meta = read_meta(run_dir)
    objective_names = list(meta.get("objective_names", []))
    hp_names = list(meta.get("hyperparameters", []))
    reserved = {"trial_id", "individual_id", "generation", "rung", "budget_epochs", "status", "objective",
                "epochs_trained", "cost_s", "start_time", "end_time", "duration_s", "worker", "host",
                "device", "seed", "parent_ids", "operator", "resume_from", "resume_budget", "checkpoint",
                "error_message", "curve"}
    rows = []
    results, corrupt = read_log(run_dir, skip_corrupt=skip_corrupt)
    for c in corrupt:
        logger.warning("%s, line %d skipped: %s", run_dir / LOG_NAME, c.line, c.reason)
    for r in results:
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
                   operator=t.operator, resume_from=t.resume_from, resume_budget=t.resume_budget,
                   checkpoint=r.checkpoint, error_message=r.error, parent_ids=t.parent_ids)
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
    df.attrs["corrupt_lines"] = corrupt
    return df


def read_meta(run_dir: str | Path) -> dict[str, Any]:
    """``run.json`` of a run directory ({} when absent); RunDirError when it is not a JSON object."""
    p = Path(run_dir) / "run.json"
    if not p.exists():
        return {}
    try:
        meta = json.loads(p.read_bytes())
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{p} cannot be read: {exc}") from exc
    if not isinstance(meta, dict):
        raise RunDirError(f"{p} is not a JSON object")
    return meta
