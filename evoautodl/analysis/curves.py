"""Learning curves of a run: the configuration x epoch table the ``curve`` column holds.

Every trial logs its per-epoch metrics (including epochs inherited from the
checkpoint it resumed from). A ``design`` run trains every configuration to
the maximum budget, so its curves give the objective of *every*
configuration at *every* epoch: the unbiased data for budget correlation
and importance across epochs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evoautodl.analysis.frame import AnalysisError, ok_trials

__all__ = ["curve_metric", "curve_matrix", "geometric_epochs"]


def curve_metric(df: pd.DataFrame, metric: str | None = None) -> str:
    """The curve key holding the objective (``"objective"``, else the objective's name), or ``metric``."""
    keys: set[str] = set()
    for c in df["curve"].head(50):
        if isinstance(c, dict):
            keys |= set(c)
    if metric is not None:
        if metric not in keys:
            raise AnalysisError(f"the learning curves have no metric {metric!r} (they have: "
                                f"{', '.join(sorted(keys)) or 'none'})")
        return metric
    names = list(df.attrs.get("objective_names", []))
    for key in ("objective", *names[:1]):
        if key in keys:
            return key
    raise AnalysisError("the learning curves do not record the objective (keys: "
                        f"{', '.join(sorted(keys)) or 'none'}); name one with metric=")


def curve_matrix(df: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Objective per epoch of every OK trial's learning curve.

    Returns a DataFrame indexed by ``trial_id`` with one column per epoch
    (1, 2, ...; NaN past a trial's budget), the curve of ``metric`` (default:
    the objective). An individual logged at several budgets (promotions)
    counts once, with its longest curve (which contains the shorter ones).
    """
    ok = ok_trials(df)
    if "individual_id" in ok.columns:
        ok = ok.sort_values("budget_epochs", kind="stable").drop_duplicates("individual_id", keep="last")
        ok = ok.sort_values("trial_id", kind="stable")
    if ok.empty:
        raise AnalysisError("no OK trial, so no learning curve")
    key = curve_metric(ok, metric)
    curves = [c.get(key, []) if isinstance(c, dict) else [] for c in ok["curve"]]
    longest = max((len(c) for c in curves), default=0)
    if longest == 0:
        raise AnalysisError(f"the OK trials logged no learning curve of {key!r}")
    m = np.full((len(curves), longest), np.nan)
    for i, c in enumerate(curves):
        m[i, : len(c)] = c
    return pd.DataFrame(m, index=pd.Index(ok["trial_id"].to_numpy(), name="trial_id"),
                        columns=pd.Index(np.arange(1, longest + 1), name="epoch"))


def geometric_epochs(max_epoch: int, n: int = 7) -> list[int]:
    """About ``n`` epochs spaced geometrically from 1 to ``max_epoch`` (both included)."""
    if max_epoch <= 1:
        return [1]
    raw = np.unique(np.round(np.geomspace(1, max_epoch, n)).astype(int))
    return [int(e) for e in raw]
