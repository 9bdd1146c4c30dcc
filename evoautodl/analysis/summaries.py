"""Numbers from a run's DataFrame (as returned by :func:`evoautodl.load_run`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["best_by_budget", "hypervolume", "hypervolume_trace", "incumbent_trace", "pareto_front"]


def _ok_mask(df: pd.DataFrame) -> np.ndarray:
    obj = pd.to_numeric(df["objective"], errors="coerce").to_numpy(dtype=float)
    return (df["status"] == "OK").to_numpy() & np.isfinite(obj)


def _best_so_far(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(budgets, best-so-far matrix: rows = trials in log order, columns = budgets, +inf until the first OK)."""
    budgets = np.array(sorted(df["budget_epochs"].unique()), dtype=float)
    ok = _ok_mask(df)
    obj = np.where(ok, pd.to_numeric(df["objective"], errors="coerce").to_numpy(dtype=float), np.inf)
    b = df["budget_epochs"].to_numpy(dtype=float)
    best = np.full((len(df), len(budgets)), np.inf)
    for j, budget in enumerate(budgets):
        best[:, j] = np.minimum.accumulate(np.where(b == budget, obj, np.inf)) if len(df) else []
    return budgets, best


def incumbent_trace(df: pd.DataFrame) -> pd.DataFrame:
    """The incumbent after every finished trial, in the order results were logged.

    The incumbent is the best objective at the highest budget evaluated so far
    (a low-budget score never counts as a final one). Columns: ``n_evaluations``,
    ``epochs`` (cumulative epochs actually trained), ``time_s`` (since the first
    trial started), ``budget_epochs`` and ``incumbent``.
    """
    n = len(df)
    budgets, best = _best_so_far(df)
    ok = _ok_mask(df)
    b = df["budget_epochs"].to_numpy(dtype=float)
    top = np.maximum.accumulate(np.where(ok, b, -np.inf)) if n else np.zeros(0)
    col = np.searchsorted(budgets, np.where(np.isfinite(top), top, budgets[0] if n else 0.0))
    incumbent = best[np.arange(n), col] if n else np.zeros(0)
    t0 = df["start_time"].min() if n else 0.0
    out = pd.DataFrame({
        "n_evaluations": np.arange(1, n + 1),
        "epochs": df["epochs_trained"].to_numpy(dtype=float).cumsum(),
        "time_s": df["end_time"].to_numpy(dtype=float) - t0,
        "budget_epochs": top,
        "incumbent": incumbent,
    })
    return out.replace([np.inf, -np.inf], np.nan)


def best_by_budget(df: pd.DataFrame) -> pd.DataFrame:
    """Best objective so far at each budget, after every finished trial.

    Index: cumulative epochs trained; one column per budget (NaN until the
    first OK trial at that budget).
    """
    budgets, best = _best_so_far(df)
    epochs = df["epochs_trained"].to_numpy(dtype=float).cumsum()
    out = pd.DataFrame(best, columns=list(budgets), index=pd.Index(epochs, name="epochs"))
    return out.replace(np.inf, np.nan)


def pareto_front(df: pd.DataFrame, objectives: list[str]) -> pd.DataFrame:
    """Rows of ``df`` (OK trials) that no other OK trial dominates on ``objectives`` (all minimised)."""
    ok = df[df["status"] == "OK"].dropna(subset=objectives)
    from evoautodl.operators.pareto import non_dominated

    keep = non_dominated(ok[objectives].to_numpy(dtype=float))
    return ok[keep].sort_values(objectives[0])


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Volume dominated by ``points`` (all objectives minimised) and bounded by ``reference``.

    Exact: a sweep for two objectives, slicing along the last objective for
    more (HSO; Zitzler 2001, While et al. 2006), fine for fronts of hundreds of points.
    """
    p = np.asarray(points, dtype=float).reshape(-1, len(reference))
    ref = np.asarray(reference, dtype=float)
    p = p[np.all(p < ref, axis=1)]
    if len(p) == 0:
        return 0.0
    if p.shape[1] == 1:
        return float(ref[0] - p[:, 0].min())
    if p.shape[1] == 2:
        p = p[np.argsort(p[:, 0], kind="stable")]
        best_y, vol = ref[1], 0.0
        for x, y in p:
            if y < best_y:
                vol += (ref[0] - x) * (best_y - y)
                best_y = y
        return float(vol)
    p = p[np.argsort(p[:, -1], kind="stable")]
    vol = 0.0
    for i in range(len(p)):
        upper = p[i + 1, -1] if i + 1 < len(p) else ref[-1]
        if upper > p[i, -1]:
            vol += hypervolume(p[: i + 1, :-1], ref[:-1]) * (upper - p[i, -1])
    return float(vol)


def hypervolume_trace(df: pd.DataFrame, objectives: list[str] | None = None,
                      reference: list[float] | None = None) -> pd.DataFrame:
    """Hypervolume of the OK trials seen so far, after every finished trial (multi-objective runs).

    Args:
        df: the run (rows in the order results were logged).
        objectives: objective columns (default: the run's objective columns).
        reference: the reference point (default: per objective, the worst OK
            value plus 10% of its range, so every OK trial can contribute).

    Returns:
        Columns ``n_evaluations``, ``epochs`` (cumulative epochs trained), ``time_s`` and ``hypervolume``;
        ``df.attrs["reference"]`` holds the reference point.
    """
    names = objectives or list(df.attrs.get("objective_columns", []))
    ok_mask = (df["status"] == "OK").to_numpy() & np.all(np.isfinite(df[names].to_numpy(dtype=float)), axis=1)
    values = df[names].to_numpy(dtype=float)
    if reference is None:
        good = values[ok_mask]
        if len(good) == 0:
            ref = np.ones(len(names))
        else:
            lo, hi = good.min(axis=0), good.max(axis=0)
            ref = hi + 0.1 * np.where(hi > lo, hi - lo, np.maximum(np.abs(hi), 1.0))
    else:
        ref = np.asarray(reference, dtype=float)
    t0 = df["start_time"].min() if len(df) else 0.0
    epochs = df["epochs_trained"].astype(float).cumsum().to_numpy()
    front = np.zeros((0, len(names)))
    rows, hv = [], 0.0
    for i, (ok, v) in enumerate(zip(ok_mask, values)):
        if ok and not np.any(np.all(front <= v, axis=1)):
            front = np.vstack([front[~np.all(v <= front, axis=1)], v])
            hv = hypervolume(front, ref)
        rows.append((i + 1, epochs[i], df["end_time"].iloc[i] - t0, hv))
    out = pd.DataFrame(rows, columns=["n_evaluations", "epochs", "time_s", "hypervolume"])
    out.attrs["reference"] = ref.tolist()
    out.attrs["objectives"] = names
    return out
