"""Every algorithm vs random search on the LCBench surrogate, at an equal budget of epochs.

Usage::

    python experiments/bench/lcbench.py [--data DIR] [--tasks 3945 7593 ...] [--seeds 5]
                                        [--max-epochs 2600] [--jobs 2] [--algorithms dehb asha_ea ...]
                                        [--backend serial|simulated] [--workers 4]

Setup. Each (algorithm, task, seed) run minimises the surrogate's validation
error (``val_error = 1 - val_accuracy/100``) through the Runner and the
SerialBackend (``--backend simulated --workers 4`` shows the asynchronous
schedules instead), stopping at 2,600 epochs actually trained
(``StopCriteria(max_epochs=2600)``: 50 full trainings of 52 epochs). Epochs
count what was trained: a promoted or continued trial only pays for the
epochs above its checkpoint. Multi-fidelity algorithms use
``BudgetLadder(1, 52, eta=3)`` (rungs 2, 6, 17, 52 epochs); algorithms without
a ladder evaluate at 52 epochs (ga, steady_state, regularized, de with
``population_size=10``: 50 evaluations). PBT: 50 members, 4-epoch steps.
nsga2 (multi-objective) is left out.

Metric. Final regret = best val_error among the run's trials evaluated at the
maximum budget (52 epochs), i.e. the incumbent a user would take from the run,
minus the oracle = best val_error at 52 epochs of 20,000 uniform random
configs (one batched prediction per task, cached in
``results/lcbench_oracle.json``). Lower-budget scores do not count (low-budget
errors are not comparable); a run without any 52-epoch trial has regret
+inf. Mean rank: algorithms ranked by regret within each (task, seed), ties
averaged, then averaged over (task, seed). The table goes to
``results/lcbench.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from evoautodl.fidelity import BudgetLadder
from evoautodl.records import Result
from evoautodl.runner import Runner, StopCriteria
from evoautodl.workloads.lcbench import ENV_VAR, LCBenchSurrogate

RESULTS = Path(__file__).resolve().parent / "results"
LADDER = BudgetLadder(1, 52, 3)
MAX_EPOCHS = 52
DEFAULT_TASKS = ("3945", "7593", "34539", "126025", "126026", "126029")  # the first six surrogate tasks
ORACLE_SAMPLES = 20_000
#: per-algorithm options (beyond seed and ladder) for this budget
OPTIONS: dict[str, dict[str, Any]] = {
    "pbt": {"population_size": 50, "step_epochs": 4},
    "ga": {"population_size": 10},
    "steady_state": {"population_size": 10},
    "regularized": {"population_size": 10},
    "de": {"population_size": 10},
}
SKIP = ("nsga2",)  # multi-objective

_WORKLOADS: dict[str, LCBenchSurrogate] = {}


def _workload(task: str, data: str) -> LCBenchSurrogate:
    if task not in _WORKLOADS:
        w = LCBenchSurrogate(task, data_dir=data)
        w.setup()
        _WORKLOADS[task] = w
    return _WORKLOADS[task]


def oracle(tasks: list[str], data: str) -> dict[str, float]:
    """Best val_error at 52 epochs of 20,000 random configs per task (cached)."""
    path = RESULTS / "lcbench_oracle.json"
    cache = json.loads(path.read_text()) if path.exists() else {}
    key = f"n={ORACLE_SAMPLES},seed=0"
    table = cache.setdefault(key, {})
    missing = [t for t in tasks if t not in table]
    if missing:
        w = _workload(missing[0], data)
        space = w.search_space()
        rng = np.random.default_rng(0)
        configs = [space.to_config(space.sample(rng)) for _ in range(ORACLE_SAMPLES)]
        for task in missing:
            out = _workload(task, data).predict(configs, MAX_EPOCHS)
            table[task] = float((1.0 - out[:, 1].astype(np.float64) / 100.0).min())
        RESULTS.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n")
    return {t: table[t] for t in tasks}


def run_one(job: tuple[str, str, int, str, float, str, int]) -> dict[str, Any]:
    """One (algorithm, task, seed) run; returns its summary."""
    name, task, seed, data, max_epochs, backend_kind, workers = job
    from evoautodl.algorithms import ALGORITHMS, algorithm_options, get_algorithm
    from evoautodl.backends.serial import SerialBackend
    from evoautodl.backends.simulated import SimulatedBackend

    w = _workload(task, data)
    space = w.search_space()
    opts: dict[str, Any] = {"seed": seed, "ladder": LADDER, **OPTIONS.get(name, {})}
    valid = algorithm_options(ALGORITHMS[name])
    opts = {k: v for k, v in opts.items() if k in valid or k == "ladder"}
    algo = get_algorithm(name, space, **opts)
    results: list[Result] = []
    backend = SerialBackend(w) if backend_kind == "serial" else SimulatedBackend(w, workers)
    t0 = time.perf_counter()
    summary = Runner(algo, backend, stop=StopCriteria(max_epochs=max_epochs), on_result=results.append,
                     handle_signals=False).run()
    wall_s = time.perf_counter() - t0
    full = [r.objective for r in results if r.ok and r.trial.budget_epochs >= MAX_EPOCHS]
    return {
        "algorithm": name, "task": task, "seed": seed,
        "best_full": min(full) if full else math.inf,
        "n_full": len(full),
        "n_evaluations": summary.n_evaluations,
        "epochs_trained": summary.epochs_trained,
        "epochs_saved": sum(r.trial.budget_epochs - r.epochs_trained for r in results if r.ok),
        "stopped_by": summary.stopped_by,
        "wall_s": wall_s,
    }


def _ranks(values: list[float]) -> list[float]:
    from scipy.stats import rankdata

    return [float(x) for x in rankdata(np.asarray(values, dtype=np.float64), method="average")]


def table(runs: list[dict[str, Any]], best: dict[str, float], names: list[str], tasks: list[str],
          seeds: list[int], header: str) -> str:
    regret = {(r["algorithm"], r["task"], r["seed"]): r["best_full"] - best[r["task"]] for r in runs}
    ranks: dict[str, list[float]] = {n: [] for n in names}
    for task in tasks:
        for seed in seeds:
            rk = _ranks([regret[(n, task, seed)] for n in names])
            for n, x in zip(names, rk):
                ranks[n].append(x)
    by = {n: [r for r in runs if r["algorithm"] == n] for n in names}
    lines = [header, "",
             "Mean final regret (best val_error at 52 epochs - oracle) per task; mean rank over "
             f"{len(tasks)} tasks x {len(seeds)} seeds (1 = best).", "",
             "| algorithm | " + " | ".join(tasks)
             + " | mean regret | mean rank | vs random W/T/L | evals | epochs | saved by continuation |",
             "|---|" + "---:|" * (len(tasks) + 6)]
    order = sorted(names, key=lambda n: float(np.mean(ranks[n])))
    for n in order:
        cells = []
        for task in tasks:
            vals = [regret[(n, task, s)] for s in seeds]
            cells.append(f"{np.mean(vals):.4f}")
        allv = [regret[(n, t, s)] for t in tasks for s in seeds]
        rand = [regret[("random", t, s)] for t in tasks for s in seeds]
        wtl = (f"{sum(a < b for a, b in zip(allv, rand))}/{sum(a == b for a, b in zip(allv, rand))}/"
               f"{sum(a > b for a, b in zip(allv, rand))}")
        lines.append(
            f"| {n} | " + " | ".join(cells) + f" | {np.mean(allv):.4f} | {np.mean(ranks[n]):.2f} | {wtl} | "
            f"{np.mean([r['n_evaluations'] for r in by[n]]):.0f} | {np.mean([r['epochs_trained'] for r in by[n]]):.0f}"
            f" | {np.mean([r['epochs_saved'] for r in by[n]]):.0f} |"
        )
    lines += ["", "vs random W/T/L: (task, seed) pairs where the algorithm's regret is lower / equal / higher "
              "than random search's.", "", "Oracle (best of 20,000 random configs at 52 epochs): "
              + ", ".join(f"{t}: {best[t]:.4f}" for t in tasks)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get(ENV_VAR), help=f"folder with lcbench/ (default: ${ENV_VAR})")
    ap.add_argument("--tasks", nargs="*", default=list(DEFAULT_TASKS))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--max-epochs", type=float, default=2600)
    ap.add_argument("--jobs", type=int, default=2, help="parallel processes over (task, seed)")
    ap.add_argument("--algorithms", nargs="*", default=None)
    ap.add_argument("--backend", choices=("serial", "simulated"), default="serial")
    ap.add_argument("--workers", type=int, default=4, help="virtual workers of the simulated backend")
    ap.add_argument("--out", default=str(RESULTS / "lcbench.md"))
    args = ap.parse_args(argv)
    if not args.data:
        ap.error(f"give --data or set {ENV_VAR} to the folder that contains lcbench/model.onnx")
    from evoautodl.algorithms import available_algorithms

    names = args.algorithms or [n for n in available_algorithms() if n not in SKIP]
    if "random" not in names:
        names.insert(0, "random")
    tasks, seeds = [str(t) for t in args.tasks], list(range(args.seeds))
    t0 = time.perf_counter()
    best = oracle(tasks, args.data)
    jobs = [(n, t, s, args.data, args.max_epochs, args.backend, args.workers)
            for t in tasks for s in seeds for n in names]
    if args.jobs > 1:
        with mp.get_context("fork").Pool(args.jobs) as pool:
            runs = pool.map(run_one, jobs, chunksize=len(names))
    else:
        runs = [run_one(j) for j in jobs]
    wall = time.perf_counter() - t0
    backend = "SerialBackend" if args.backend == "serial" else f"SimulatedBackend({args.workers} workers)"
    header = (f"# LCBench surrogate: algorithms vs random search\n\n{len(tasks)} tasks x {len(seeds)} seeds, "
              f"{args.max_epochs:.0f} epochs per run (counted as trained), ladder {LADDER.budgets} (eta 3), "
              f"{backend}; {len(jobs)} runs in {wall:.0f} s on {args.jobs} processes.")
    text = table(runs, best, names, tasks, seeds, header)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    (out.with_suffix(".json")).write_text(json.dumps(runs, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
