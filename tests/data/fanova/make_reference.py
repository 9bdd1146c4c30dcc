#!/usr/bin/env python3
"""Make the fANOVA reference data sets and the original package's numbers for them.

Two steps, in two environments:

1. ``python tests/data/fanova/make_reference.py data`` (evoautodl's environment, with
   EVOAUTODL_YAHPO_DATA set): writes the input data sets ``*.csv`` here: every
   hyperparameter already mapped to the unit interval on its own scale (the genome,
   as ConfigSpace's vector form does), the objective in column ``y``; ``datasets.json``
   records each column's number of levels (0: continuous; k: a categorical with k levels).
2. ``/tmp/fanova-ref/bin/python tests/data/fanova/make_reference.py reference``: in a scratch
   environment with the original package (``pip install "numpy<2" swig; pip install pyrfr==0.9.0
   fanova==2.0.19`` on Python 3.10), computes the main-effect importances with
   ``fanova.fANOVA`` (256 trees, seed 1; numerical inputs with unit bounds, categoricals as
   CategoricalHyperparameter over their level indices) and writes ``reference.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
N_TREES_REFERENCE = 256


def _synthetic(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[str], list[int]]:
    """y depends strongly on x1, less on x2, weakly on x3, on x3 and x4 jointly, not on x5."""
    x = rng.random((800, 5))
    y = (12.0 * (x[:, 0] - 0.3) ** 2 + 1.2 * np.sin(4.0 * x[:, 1]) + 0.8 * x[:, 2]
         + 6.0 * (x[:, 2] - 0.5) * (x[:, 3] - 0.5) + 0.02 * rng.normal(size=len(x)))
    return x, y, ["x1", "x2", "x3", "x4", "x5"], [0] * 5


def _mixed(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[str], list[int]]:
    """Two continuous inputs and a 4-level categorical whose levels are not ordered by effect."""
    n = 800
    x = rng.random((n, 3))
    level = rng.integers(0, 4, n)
    x[:, 2] = (level + 0.5) / 4
    effect = np.array([0.0, 1.2, 0.3, 0.9])[level]
    y = 2.0 * x[:, 0] + effect + 0.4 * np.cos(5 * x[:, 1]) + 0.05 * rng.normal(size=n)
    return x, y, ["lr", "width", "optimizer"], [0, 0, 4]


def _lcbench(task: str, n: int) -> tuple[np.ndarray, np.ndarray, list[str], list[int]]:
    import pandas as pd
    from scipy.stats import qmc

    from evoautodl.analysis.frame import encode_configs
    from evoautodl.workloads.lcbench import LCBenchSurrogate

    wl = LCBenchSurrogate(task_id=task)
    space = wl.search_space()
    genomes = qmc.Sobol(space.dim, scramble=True, seed=7).random_base2(int(np.ceil(np.log2(n))))[:n]
    configs = [space.to_config(space.repair(g)) for g in genomes]
    out = wl.predict(configs, 52)
    y = 1.0 - out[:, 1].astype(float) / 100.0
    names = list(space.names)
    x = encode_configs(pd.DataFrame(configs), space, names)
    return x, y, names, [0] * len(names)  # integers enter as continuous unit-interval columns, as for the original


def make_data() -> None:
    rng = np.random.default_rng(20240501)
    sets = {"synthetic_5d": _synthetic(rng), "mixed_categorical": _mixed(rng),
            "lcbench_3945": _lcbench("3945", 600), "lcbench_189906": _lcbench("189906", 600)}
    meta = {}
    for name, (x, y, names, levels) in sets.items():
        header = ",".join([*names, "y"])
        np.savetxt(HERE / f"{name}.csv", np.column_stack([x, y]), delimiter=",", header=header, comments="",
                   fmt="%.8g")
        meta[name] = {"names": names, "n_levels": levels, "rows": len(y)}
    (HERE / "datasets.json").write_text(json.dumps(meta, indent=2) + "\n")


def make_reference() -> None:
    np.float = float  # the original package still uses the removed alias
    import ConfigSpace as CS
    import fanova
    from fanova.__version__ import __version__ as fanova_version

    meta = json.loads((HERE / "datasets.json").read_text())
    out = {"package": f"fanova {fanova_version}", "n_trees": N_TREES_REFERENCE, "seed": 1, "datasets": {}}
    for name, m in meta.items():
        data = np.loadtxt(HERE / f"{name}.csv", delimiter=",", skiprows=1)
        x, y = data[:, :-1].copy(), data[:, -1]
        cs = CS.ConfigurationSpace()
        for j, (hp, k) in enumerate(zip(m["names"], m["n_levels"])):
            if k:
                cs.add(CS.CategoricalHyperparameter(hp, list(range(k))))
                x[:, j] = np.floor(x[:, j] * k)
            else:
                cs.add(CS.UniformFloatHyperparameter(hp, 0.0, 1.0))
        order = list(cs.keys())  # ConfigSpace orders hyperparameters by name: give the columns that order
        x = x[:, [m["names"].index(hp) for hp in order]]
        f = fanova.fANOVA(x, y, config_space=cs, n_trees=N_TREES_REFERENCE, seed=1)
        res = {}
        for j, hp in enumerate(order):
            imp = f.quantify_importance((j,))[(j,)]
            res[hp] = {"importance": float(imp["individual importance"]), "std": float(imp["individual std"])}
        out["datasets"][name] = res
        print(name, {k: round(v["importance"], 4) for k, v in res.items()})
    (HERE / "reference.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    {"data": make_data, "reference": make_reference}[sys.argv[1]]()
