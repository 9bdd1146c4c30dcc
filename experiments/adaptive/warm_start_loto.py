"""Warm-starting adaptive_mf from other tasks, judged leave-one-task-out on the LCBench surrogate.

Usage::

    python experiments/adaptive/warm_start_loto.py [--data DIR] [--seeds 10] [--size 5] [--jobs 2]
                                                   [--out experiments/adaptive/results/warm_start.md]

Portfolio (as Auto-PyTorch seeds BOHB, Zimmer et al., TPAMI 2021; greedy
construction as in Auto-sklearn 2.0, Feurer et al., JMLR 2022). For a
held-out task T, only the other 33 tasks are used: on each of them the best
10 of 2,000 uniform random configurations (52 epochs) are candidates; every
candidate is scored on every other task by its normalised error
``(err - best) / (median - best)`` (clipped to [0, 1]) among the candidates;
the portfolio starts empty and greedily adds the candidate that most lowers
the mean over tasks of the portfolio's best normalised error, ``--size``
times. adaptive_mf then runs on T with ``warm_start`` = that portfolio (its
configurations are trained to the full budget first), against adaptive_mf
without it, same seeds, 2,600 epochs through the runner and the serial
backend.

Reported separately from the main comparison (it uses other tasks' data): per
task the mean final error with and without the portfolio at 650 and 2,600
epochs, wins/ties/losses over (task, seed) and a Wilcoxon signed-rank test.
Final error: the best validation error among the run's trials at 52 epochs
trained by the time the epoch budget is reached.
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
from evoautodl.workloads.lcbench import ENV_VAR, LCBENCH_TASK_IDS, LCBenchSurrogate

LADDER = BudgetLadder(1, 52, 3)
BUDGETS = (650, 2600)
HERE = Path(__file__).resolve().parent
_WORKLOADS: dict[str, LCBenchSurrogate] = {}


def _workload(task: str, data: str) -> LCBenchSurrogate:
    if task not in _WORKLOADS:
        w = LCBenchSurrogate(task, data_dir=data)
        w.setup()
        _WORKLOADS[task] = w
    return _WORKLOADS[task]


def candidate_table(data: str, per_task: int = 10, samples: int = 2000, seed: int = 0
                    ) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Candidates (the best ``per_task`` random configurations of every task) and their errors (cand, task)."""
    space = _workload(LCBENCH_TASK_IDS[0], data).search_space()
    rng = np.random.default_rng(seed)
    configs = [space.to_config(space.sample(rng)) for _ in range(samples)]
    cands: list[dict[str, Any]] = []
    for task in LCBENCH_TASK_IDS:
        err = 1.0 - _workload(task, data).predict(configs, 52)[:, 1].astype(np.float64) / 100.0
        cands += [configs[i] for i in np.argsort(err, kind="stable")[:per_task]]
    errors = np.column_stack([1.0 - _workload(t, data).predict(cands, 52)[:, 1].astype(np.float64) / 100.0
                              for t in LCBENCH_TASK_IDS])
    return cands, errors


def greedy_portfolio(errors: np.ndarray, owners: np.ndarray, held_out: int, size: int) -> list[int]:
    """Indices of a greedy portfolio built without task ``held_out`` (neither its candidates nor its errors)."""
    tasks = [t for t in range(errors.shape[1]) if t != held_out]
    allowed = np.flatnonzero(owners != held_out)
    e = errors[np.ix_(allowed, tasks)]
    best, med = e.min(axis=0), np.median(e, axis=0)
    norm = np.clip((e - best) / np.maximum(med - best, 1e-12), 0.0, 1.0)
    chosen: list[int] = []
    current = np.ones(len(tasks))
    for _ in range(size):
        scores = np.minimum(norm, current[None, :]).mean(axis=1)
        scores[chosen] = np.inf
        j = int(np.argmin(scores))
        chosen.append(j)
        current = np.minimum(current, norm[j])
    return [int(allowed[j]) for j in chosen]


def run_one(job: tuple[str, int, str, list[dict[str, Any]] | None]) -> dict[str, Any]:
    from evoautodl.algorithms import get_algorithm
    from evoautodl.backends.serial import SerialBackend

    task, seed, data, portfolio = job
    w = _workload(task, data)
    algo = get_algorithm("adaptive_mf", w.search_space(), seed=seed, ladder=LADDER,
                         **({"warm_start": portfolio} if portfolio else {}))
    results: list[Result] = []
    Runner(algo, SerialBackend(w), stop=StopCriteria(max_epochs=max(BUDGETS)), on_result=results.append,
           handle_signals=False).run()
    out: dict[str, Any] = {"task": task, "seed": seed, "warm": bool(portfolio)}
    spent, best = 0.0, math.inf
    marks = dict.fromkeys(BUDGETS, math.inf)
    for r in results:  # results in the order they were told (serial: the order they were trained)
        spent += r.epochs_trained
        if r.ok and r.trial.budget_epochs >= 52:
            best = min(best, r.objective)
        for b in BUDGETS:
            if spent <= b + 1e-9:
                marks[b] = best
    out.update({f"best_{b}": marks[b] for b in BUDGETS})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get(ENV_VAR))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--size", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "results" / "warm_start.md"))
    args = ap.parse_args(argv)
    if not args.data:
        ap.error(f"give --data or set {ENV_VAR}")
    from scipy.stats import wilcoxon

    t0 = time.perf_counter()
    cands, errors = candidate_table(args.data)
    owners = np.repeat(np.arange(len(LCBENCH_TASK_IDS)), 10)
    portfolios = {t: [cands[i] for i in greedy_portfolio(errors, owners, k, args.size)]
                  for k, t in enumerate(LCBENCH_TASK_IDS)}
    jobs = [(t, s, args.data, p) for t in LCBENCH_TASK_IDS for s in range(args.seeds)
            for p in (None, portfolios[t])]
    with mp.get_context("fork").Pool(args.jobs) as pool:
        rows = pool.map(run_one, jobs, chunksize=2)
    lines = ["# Warm start from other tasks (leave-one-task-out), adaptive_mf on the LCBench surrogate\n",
             f"{len(LCBENCH_TASK_IDS)} tasks x {args.seeds} seeds; portfolio of {args.size} configurations per "
             f"held-out task, built from the other 33 tasks only; {time.perf_counter() - t0:.0f} s.\n",
             "| budget | mean error without | mean error with | wins / ties / losses (with vs without) | "
             "Wilcoxon p | tasks better by > 0.5 pt | tasks worse by > 0.5 pt |", "|---|---:|---:|---:|---:|---:|---:|"]
    for b in BUDGETS:
        cold = {(r["task"], r["seed"]): r[f"best_{b}"] for r in rows if not r["warm"]}
        warm = {(r["task"], r["seed"]): r[f"best_{b}"] for r in rows if r["warm"]}
        keys = sorted(cold)
        a, c = np.array([warm[k] for k in keys]), np.array([cold[k] for k in keys])
        p = wilcoxon(a, c).pvalue if np.any(a != c) else 1.0
        per_task = {t: np.mean([warm[(t, s)] - cold[(t, s)] for s in range(args.seeds)]) for t in LCBENCH_TASK_IDS}
        better = sorted(t for t, d in per_task.items() if d < -0.005)
        worse = sorted(t for t, d in per_task.items() if d > 0.005)
        lines.append(f"| {b} | {c.mean():.4f} | {a.mean():.4f} | {(a < c).sum()} / {(a == c).sum()} / "
                     f"{(a > c).sum()} | {p:.2g} | {len(better)} ({', '.join(better)}) | "
                     f"{len(worse)} ({', '.join(worse)}) |")
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    out.with_suffix(".json").write_text(json.dumps({"portfolios": portfolios, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
