"""Numbers from a run's DataFrame (as returned by :func:`evoautodl.load_run`)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

__all__ = ["best_by_budget", "budget_correlation", "incumbent_trace", "pareto_front"]


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df["status"] == "OK") & np.isfinite(df["objective"])]


def incumbent_trace(df: pd.DataFrame) -> pd.DataFrame:
    """The incumbent after every finished trial, in the order results were logged.

    The incumbent is the best objective at the highest budget evaluated so far
    (a low-budget score never counts as a final one). Columns: ``n_evaluations``,
    ``epochs`` (cumulative epochs actually trained), ``time_s`` (since the first
    trial started), ``budget_epochs`` and ``incumbent``.
    """
    rows = []
    best_budget, best = -np.inf, np.inf
    epochs = 0.0
    t0 = df["start_time"].min() if len(df) else 0.0
    for i, r in enumerate(df.itertuples(index=False)):
        epochs += float(r.epochs_trained)
        if r.status == "OK" and np.isfinite(r.objective):
            if r.budget_epochs > best_budget:
                best_budget, best = r.budget_epochs, r.objective
            elif r.budget_epochs == best_budget:
                best = min(best, r.objective)
        rows.append((i + 1, epochs, r.end_time - t0, best_budget, best))
    out = pd.DataFrame(rows, columns=["n_evaluations", "epochs", "time_s", "budget_epochs", "incumbent"])
    return out.replace([np.inf, -np.inf], np.nan)


def best_by_budget(df: pd.DataFrame) -> pd.DataFrame:
    """Best objective so far at each budget, after every finished trial.

    Index: cumulative epochs trained; one column per budget (NaN until the
    first OK trial at that budget).
    """
    budgets = sorted(df["budget_epochs"].unique())
    best = {b: np.inf for b in budgets}
    rows, epochs = [], 0.0
    for r in df.itertuples(index=False):
        epochs += float(r.epochs_trained)
        if r.status == "OK" and np.isfinite(r.objective):
            best[r.budget_epochs] = min(best[r.budget_epochs], r.objective)
        rows.append([epochs, *(best[b] for b in budgets)])
    out = pd.DataFrame(rows, columns=["epochs", *budgets]).set_index("epochs")
    return out.replace(np.inf, np.nan)


def budget_correlation(df: pd.DataFrame, min_pairs: int = 5) -> pd.DataFrame:
    """Kendall tau between budgets, over individuals evaluated at both.

    High tau means low budgets rank configurations as high budgets do (multi-
    fidelity pays off). Columns: ``budget_low``, ``budget_high``, ``n_pairs``,
    ``kendall_tau``, ``p_value``; pairs of budgets with fewer than
    ``min_pairs`` shared individuals are left out.
    """
    from scipy.stats import kendalltau

    ok = _ok(df)
    table = ok.pivot_table(index="individual_id", columns="budget_epochs", values="objective", aggfunc="last")
    rows = []
    for lo, hi in itertools.combinations(sorted(table.columns), 2):
        both = table[[lo, hi]].dropna()
        if len(both) >= min_pairs:
            tau, p = kendalltau(both[lo], both[hi])
            rows.append((lo, hi, len(both), float(tau), float(p)))
    return pd.DataFrame(rows, columns=["budget_low", "budget_high", "n_pairs", "kendall_tau", "p_value"])


def pareto_front(df: pd.DataFrame, objectives: list[str]) -> pd.DataFrame:
    """Rows of ``df`` (OK trials) that no other OK trial dominates on ``objectives`` (all minimised)."""
    ok = df[df["status"] == "OK"].dropna(subset=objectives)
    values = ok[objectives].to_numpy(dtype=float)
    keep = np.ones(len(values), dtype=bool)
    for i in range(len(values)):
        dominated = np.all(values <= values[i], axis=1) & np.any(values < values[i], axis=1)
        keep[i] = not dominated.any()
    return ok[keep].sort_values(objectives[0])
