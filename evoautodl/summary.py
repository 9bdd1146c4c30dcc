"""What ``evoautodl run`` prints when a run ends and ``evoautodl show`` prints for a run directory: the same text.

`summarize_run` reads the run directory (``run.json`` and the log), so a run and a
later ``show`` agree line for line; after a run, the session's own facts (what
stopped it, how many evaluations this session added) come first::

    run           : runs/x (lcbench-dehb, algorithm dehb, seed 0)
    objective     : val_error (1 - validation accuracy, fraction), minimised
    stopped by    : max_epochs                       (after a run)
    evaluations   : 312 (12 failed)  OK=300 FAILED=12
    epochs trained: 2598 (budgets asked: 3400)
    time span     : 1234.5 s virtual (simulated clock), evaluations 1200.2 s virtual
    incumbent     : trial 301 (individual 120) at budget 52: val_error 0.1234
        batch_size = 32 ...
    per budget    : a table: count, best and median objective per budget
    best 5 at the highest budget (52): a table with the hyperparameters
    pareto front  : (several objectives) every non-dominated trial, or how many were cut
    continue with : evoautodl resume RUN [--max-evaluations N ...]

Objectives are named with what they measure and their unit where the workload
says (``objective_descriptions``, recorded in ``run.json``); a simulated run's
seconds are marked virtual.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

__all__ = ["extend_hint", "objective_text", "summarize_run"]

_STOP_FLAGS = {"max_evaluations": "--max-evaluations", "max_epochs": "--max-epochs", "max_time_s": "--max-time-s"}


def objective_text(meta: dict[str, Any], name: str) -> str:
    """``"val_error (1 - validation accuracy, fraction)"``: an objective with what it measures, if recorded."""
    text = (meta.get("objective_descriptions") or {}).get(name)
    return f"{name} ({text})" if text else name


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def extend_hint(run_dir: str | Path, stopped_by: str, stop: Any = None) -> str | None:
    """How to continue a run that stopped: a resume command (with a larger budget where one was reached)."""
    if stopped_by.startswith("signal"):
        return f"evoautodl resume {run_dir}"
    flag = _STOP_FLAGS.get(stopped_by)
    if flag is None:
        return None
    limit = getattr(stop, stopped_by, None) if stop is not None else None
    more = f"{flag} {_bigger(limit)}" if limit is not None else f"{flag} N (larger than now)"
    return f"evoautodl resume {run_dir} {more}"


def _bigger(limit: float) -> str:
    v = 2 * limit
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def summarize_run(run_dir: str | Path, *, top: int = 5, front_rows: int = 50, skip_corrupt: bool = False,
                  session: Any = None, stop: Any = None) -> str:
    """The summary text of a run directory (see the module docstring).

    Args:
        run_dir: the run.
        top: the best trials listed at the highest budget.
        front_rows: the most Pareto-front rows printed (the text says how many were cut).
        skip_corrupt: skip unreadable log lines (named in the text) instead of raising.
        session: the `RunSummary` of the session that just ended (adds what stopped it).
        stop: the `StopCriteria` it ran under (the resume hint suggests a larger one).
    """
    from evoautodl.log import load_run, read_meta

    path = Path(run_dir)
    df = load_run(path, skip_corrupt=skip_corrupt)
    meta = read_meta(path)
    names = list(meta.get("objective_names") or ["objective"])
    lines = [f"run           : {path} ({meta.get('name', '?')}, algorithm {meta.get('algorithm', '?')}, "
             f"seed {meta.get('seed', '?')})"]
    corrupt = df.attrs.get("corrupt_lines", [])
    if corrupt:
        shown = ", ".join(str(c.line) for c in corrupt[:10]) + (" ..." if len(corrupt) > 10 else "")
        lines.append(f"skipped       : {len(corrupt)} corrupt log line(s) ({shown}): {corrupt[0].reason}")
    lines.append("objective     : " + ", ".join(objective_text(meta, n) for n in names) + ", minimised")
    if session is not None:
        extra = f" ({session.n_evaluations - session.n_before} this session)" if session.n_before else ""
        lines.append(f"stopped by    : {session.stopped_by}{extra}")
    if df.empty:
        lines.append("evaluations   : 0")
        return "\n".join(lines + _hint(path, session, stop))
    counts = df["status"].value_counts()
    n_failed = int(len(df) - counts.get("OK", 0))
    status = "  ".join(f"{k}={int(v)}" for k, v in counts.items() if v and k != "OK") if n_failed else ""
    lines.append(f"evaluations   : {len(df)} ({n_failed} failed)" + (f"  {status}" if status else ""))
    lines.append(f"epochs trained: {df['epochs_trained'].sum():g} (budgets asked: {df['budget_epochs'].sum():g})")
    virtual = bool(meta.get("virtual_clock"))
    unit = "s virtual (simulated clock)" if virtual else "s"
    span = float(df["end_time"].max() - df["start_time"].min())
    clock = "" if virtual else " wall-clock, first start to last end"
    lines.append(f"time span     : {span:.1f} {unit}{clock}; evaluations {df['duration_s'].sum():.1f} s in all")
    ok = df[df["status"] == "OK"]
    if ok.empty:
        lines.append("incumbent     : none (no trial finished OK)")
        return "\n".join(lines + _hint(path, session, stop))
    max_b = ok["budget_epochs"].max()
    at_max = ok[ok["budget_epochs"] == max_b]
    best = at_max.loc[at_max["objective"].idxmin()]
    lines.append(f"incumbent     : trial {int(best['trial_id'])} (individual {int(best['individual_id'])}) at budget "
                 f"{max_b:g}: {names[0]} {best['objective']:.6g}")
    hp = [h for h in df.attrs.get("hyperparameters", []) if h in df.columns]
    for h in hp:
        v = best[h]
        v = v.item() if hasattr(v, "item") else v  # a numpy scalar prints as its Python value
        if not (isinstance(v, float) and math.isnan(v)):
            lines.append(f"    {h} = {v!r}")
    by_budget = ok.groupby("budget_epochs")["objective"].agg(["count", "min", "median"])
    lines.append(f"per budget    : {names[0]}")
    lines.append(by_budget.to_string(float_format=_fmt))
    ranked = at_max.sort_values("objective").head(top)
    lines.append(f"best {len(ranked)} at the highest budget ({max_b:g}):")
    lines.append(ranked[["trial_id", "objective", *hp]].to_string(index=False, float_format=_fmt))
    if len(names) > 1:
        lines += _front(at_max, df.attrs["objective_columns"], names, max_b, front_rows, path)
    return "\n".join(lines + _hint(path, session, stop))


def _front(at_max: Any, cols: list[str], names: list[str], budget: float, rows: int, path: Path) -> list[str]:
    """The Pareto front of the OK trials at the highest budget: every row, or the first ``rows`` and the count cut."""
    from evoautodl.operators.pareto import non_dominated

    ok = at_max.dropna(subset=cols)
    front = ok[non_dominated(ok[cols].to_numpy(dtype=float))].sort_values(cols[0])
    head = (f"pareto front  : {len(front)} non-dominated of {len(ok)} OK trials at budget {budget:g} on "
            f"{', '.join(names)} (all minimised)")
    if len(front) > rows:
        head += f"; the first {rows} by {names[0]} ({len(front) - rows} cut: `evoautodl show {path} --front " \
                f"{len(front)}` prints all)"
    return [head, front[["trial_id", *cols]].head(rows).to_string(index=False, float_format=_fmt)]


def _hint(path: Path, session: Any, stop: Any) -> list[str]:
    if session is None:
        return []
    hint = extend_hint(path, session.stopped_by, stop)
    return [f"continue with : {hint}"] if hint else []
