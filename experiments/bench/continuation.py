"""Epochs saved by checkpoint continuation in a multi-fidelity run.

Usage::

    python experiments/bench/continuation.py [--algorithms asha_ea dehb] [--evaluations 60]

Runs the same multi-fidelity evolution of the LCBench MLP on digits (ladder
1-27 epochs, eta 3) twice per algorithm with the same seed: once as evoautodl
runs it (a promoted trial continues from its lower-budget checkpoint) and once
retraining from scratch at every rung (the trial's ``resume_from`` is dropped).
Continuation is exact (same weights as a straight run), so both runs see the
same results and ask the same trials: the table checks that and prints the
epochs trained by each, the saving, wall time, and what is left in
checkpoints/ at the end (checkpoints that can no longer be promoted are deleted).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from evoautodl.algorithms import get_algorithm
from evoautodl.backends.serial import SerialBackend
from evoautodl.fidelity import BudgetLadder
from evoautodl.records import Evaluation, Trial
from evoautodl.runner import Runner, StopCriteria
from evoautodl.workloads.base import WorkerContext
from evoautodl.workloads.torch_mlp import LCBenchMLP


class FromScratch:
    """Wraps a workload and drops ``resume_from``: every trial trains from epoch 0.

    A promoted individual retrains with the seed of its first trial, which is the
    seed its checkpoint lineage carries, so the retrained model equals the
    continued one and both runs see the same results.
    """

    def __init__(self, inner: LCBenchMLP):
        self.inner = inner
        self.objective_names = inner.objective_names
        self.first_seed: dict[int, int] = {}

    def setup(self, context: WorkerContext) -> None:
        self.inner.setup(context)

    def evaluate(self, trial: Trial, context: WorkerContext) -> Evaluation:
        seed = self.first_seed.setdefault(trial.individual_id, trial.seed)
        return self.inner.evaluate(replace(trial, resume_from=None, seed=seed), context)


def _run(name: str, scratch: bool, n: int, folder: Path) -> dict:
    workload = LCBenchMLP("digits", max_budget_epochs=27)
    algo = get_algorithm(name, workload.search_space(), seed=0, ladder=BudgetLadder(1, 27, 3))
    run = folder / f"{name}-{'scratch' if scratch else 'continue'}"
    backend = SerialBackend(FromScratch(workload) if scratch else workload, checkpoint_dir=run / "checkpoints")
    t0 = time.perf_counter()
    summary = Runner(algo, backend, run_dir=run, stop=StopCriteria(max_evaluations=n)).run()
    wall = time.perf_counter() - t0
    lines = [json.loads(x) for x in (run / "evaluations.jsonl").read_text().splitlines()]
    ckpts = list((run / "checkpoints").glob("*.pt"))
    return {
        "epochs": summary.epochs_trained, "wall": wall, "best": summary.best.objective if summary.best else None,
        "trials": [(d["trial_id"], d["budget_epochs"], tuple(d["objectives"])) for d in lines],
        "promoted": sum(1 for d in lines if d["resume_from"]), "n_ckpt": len(ckpts),
        "ckpt_mb": sum(p.stat().st_size for p in ckpts) / 2**20,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algorithms", nargs="+", default=["asha_ea", "dehb"])
    p.add_argument("--evaluations", type=int, default=60)
    args = p.parse_args()
    print(f"LCBench MLP on digits, ladder {BudgetLadder(1, 27, 3).budgets}, {args.evaluations} evaluations, "
          "serial, CPU")
    print(f"{'algorithm':10s} {'promoted':>8s} {'epochs (continue)':>18s} {'epochs (scratch)':>17s} {'saved':>7s} "
          f"{'wall continue/scratch':>22s} {'same trials':>11s} {'checkpoints left':>17s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.algorithms:
            cont = _run(name, False, args.evaluations, Path(tmp))
            scratch = _run(name, True, args.evaluations, Path(tmp))
            same = cont["trials"] == scratch["trials"]
            saved = 1 - cont["epochs"] / scratch["epochs"]
            print(f"{name:10s} {cont['promoted']:8d} {cont['epochs']:18.0f} {scratch['epochs']:17.0f} {saved:7.1%} "
                  f"{cont['wall']:10.1f} s / {scratch['wall']:5.1f} s {'yes' if same else 'NO':>11s} "
                  f"{cont['n_ckpt']:6d} ({cont['ckpt_mb']:.1f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
