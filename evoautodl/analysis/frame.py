"""Shared data preparation of the analyses: OK trials, the space's own scales, names and units.

Every analysis reads the DataFrame of :func:`evoautodl.load_run` (one row per
trial, one column per hyperparameter, NaN when inactive). This module turns
it into what a model needs:

* :func:`encode_configs` maps configurations to the unit cube on each
  hyperparameter's own scale, the genome of :mod:`evoautodl.space.codec`:
  log hyperparameters on the log scale, integers in equal-width bins,
  categoricals and ordinals as the centres of k equal bins. Uniform measure
  on the cube is therefore "uniform on the space's own scale", which is the
  measure fANOVA integrates over.
* :func:`impute_inactive` fills inactive values (NaN) with uniform draws: an
  inactive gene is carried but ignored (as in the genome), so a model learns
  that it does not matter there.
* :func:`objective_label` names the objective and its unit for axes and
  reports.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evoautodl.errors import AnalysisError
from evoautodl.space import GeneKind, SearchSpace

__all__ = [
    "AnalysisError",
    "MIN_FOREST_TRIALS",
    "encode_configs",
    "hyperparameter_columns",
    "impute_inactive",
    "is_virtual_time",
    "load_space",
    "objective_label",
    "ok_trials",
    "varying_hyperparameters",
]

MIN_FOREST_TRIALS = 10
"""Fewest OK trials a random forest (fANOVA, LPI, partial dependence) is fitted on."""


def ok_trials(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with status OK and a finite objective."""
    if df.empty:
        return df
    obj = pd.to_numeric(df["objective"], errors="coerce")
    return df[(df["status"] == "OK") & np.isfinite(obj.to_numpy(dtype=float))]


def hyperparameter_columns(df: pd.DataFrame, space: SearchSpace) -> list[str]:
    """The DataFrame column of every hyperparameter of ``space`` (``hp.NAME`` where a name collides)."""
    return [n if n in df.columns else f"hp.{n}" for n in space.names]


def load_space(run_dir: str | Path) -> SearchSpace:
    """The search space a run used (its ``space.json``)."""
    path = Path(run_dir) / "space.json"
    if not path.is_file():
        raise AnalysisError(f"{run_dir}: no space.json (runs written by evoautodl before 0.1 lack it), so the "
                            "hyperparameters' scales are unknown")
    return SearchSpace.from_json(path)


def varying_hyperparameters(space: SearchSpace) -> list[str]:
    """Hyperparameters that can take more than one value (constants are left out)."""
    return [h.name for h in space.hyperparameters if h.kind is not GeneKind.CONSTANT]


def _encode_column(h: Any, values: pd.Series) -> np.ndarray:
    if h.kind in (GeneKind.CATEGORICAL, GeneKind.ORDINAL):
        k = len(h.levels)
        lookup = {(type(v), v): (i + 0.5) / k for i, v in enumerate(h.levels)}
        out = np.full(len(values), np.nan)
        for j, v in enumerate(values.tolist()):
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            v = v.item() if hasattr(v, "item") else v
            g = lookup.get((type(v), v))
            if g is None and isinstance(v, float) and v.is_integer():
                g = lookup.get((int, int(v)))  # an int level read back as float (a column with NaN)
            if g is None:
                raise AnalysisError(f"hyperparameter {h.name!r}: value {v!r} is not one of its levels {h.levels}")
            out[j] = g
        return out
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    lo, hi = (h.lower - 0.5, h.upper + 0.5) if h.kind is GeneKind.INT else (h.lower, h.upper)
    if h.log:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.clip((np.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo)), 0.0, 1.0)
    return np.clip((v - lo) / (hi - lo), 0.0, 1.0)


def encode_configs(configs: pd.DataFrame, space: SearchSpace, names: Sequence[str] | None = None) -> np.ndarray:
    """Configurations as points of the unit cube on each hyperparameter's own scale (NaN where inactive).

    Args:
        configs: one column per hyperparameter (``hp.NAME`` accepted), NaN or
            None when inactive; other columns are ignored.
        space: the search space the configurations come from.
        names: hyperparameters to encode, in this order (default: the
            non-constant ones of ``space``).

    Returns:
        float array (n, len(names)).
    """
    names = list(names) if names is not None else varying_hyperparameters(space)
    out = np.full((len(configs), len(names)), np.nan)
    for j, name in enumerate(names):
        if name not in space.index:
            raise AnalysisError(f"{name!r} is not a hyperparameter of the search space ({', '.join(space.names)})")
        col = name if name in configs.columns else f"hp.{name}"
        if col not in configs.columns:
            continue  # never active in these rows
        out[:, j] = _encode_column(space.hyperparameters[space.index[name]], configs[col])
    return out


def impute_inactive(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``x`` whose NaN entries (inactive hyperparameters) are uniform draws from [0, 1]."""
    out = np.array(x, dtype=float, copy=True)
    holes = np.isnan(out)
    out[holes] = rng.random(int(holes.sum()))
    return out


_UNITS = (
    ("balanced_error", "balanced error", "fraction"),
    ("error", "error", "fraction"),
    ("cross_entropy", "cross-entropy", "nats"),
    ("loss", "loss", None),
    ("size", "size", "million parameters"),
)


def objective_label(df: pd.DataFrame | None = None, name: str | None = None) -> str:
    """``"val_error (fraction, minimised)"``: the objective's name and, where it is known, its unit."""
    if name is None:
        names = list(df.attrs.get("objective_names", [])) if df is not None else []
        name = names[0] if names else "objective"
    unit = next((u for key, _, u in _UNITS if key in name), None)
    return f"{name} ({unit}, minimised)" if unit else f"{name} (minimised)"


def is_virtual_time(df: pd.DataFrame) -> bool:
    """True when the run's clock is the simulated backend's (virtual seconds, not wall time).

    Read from ``config.toml`` (``backend.type = "simulated"``) when the run has
    one; otherwise a clock that starts near 0 rather than at a Unix time is virtual.
    """
    run_dir = df.attrs.get("run_dir")
    if run_dir:
        cfg = Path(run_dir) / "config.toml"
        if cfg.is_file():
            try:
                backend = tomllib.loads(cfg.read_text()).get("backend", {})
            except (OSError, tomllib.TOMLDecodeError):
                backend = {}
            if isinstance(backend, dict) and "type" in backend:
                return backend["type"] == "simulated"
    return bool(len(df)) and float(df["start_time"].min()) < 1e8
