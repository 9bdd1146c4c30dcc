"""Optimizer overhead per evaluation: ask + tell + log, with a zero-cost objective.

Usage::

    python experiments/bench/overhead.py [--data DIR] [--evals 3000] [--population 100]
                                         [--algorithms dehb asha_ea ...] [--profile NAME]

Every registered algorithm (the baselines from other libraries only when named) runs on the LCBench search space
(``<data>/lcbench/config_space.json`` without ``OpenML_task_id`` and ``epoch``;
``--data`` defaults to ``$EVOAUTODL_YAHPO_DATA``) through the real Runner with
a run directory (so journal and log writes are included) and the
SerialBackend, on a workload that costs nothing (a quadratic of the genome).
Population-based algorithms get ``population_size=100``; every algorithm
that takes a ladder gets ``BudgetLadder(1, 52, eta=3)`` (the others run at 52
epochs). Reported per algorithm, in milliseconds per evaluation:

* ``runner``: wall time of ``Runner.run()`` / evaluations (ask, tell, journal,
  log line, checkpoint-key deletion, state snapshot at the end);
* ``ask+tell``: the same algorithm driven by a bare ask(1)/tell loop (no
  runner, no files), i.e. the algorithm's own share.

Times are CPU seconds of this process (``time.process_time``, system time of
the log writes included), so other jobs on the machine do not inflate them.
Target: runner < 0.2 ms per evaluation. ``--profile NAME`` prints a cProfile
of that algorithm's runner loop instead.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from evoautodl.backends.serial import SerialBackend
from evoautodl.fidelity import BudgetLadder
from evoautodl.records import Evaluation, Result, Status, Trial
from evoautodl.runner import Runner, StopCriteria
from evoautodl.space import SearchSpace
from evoautodl.workloads.base import WorkerContext

LADDER = BudgetLadder(1, 52, 3)
_clock = time.process_time  # CPU time of this process: robust against other load on the machine


class ZeroCost:
    """A workload that costs nothing: sum of squared genome offsets, plus 1/budget."""

    max_budget = 52

    def __init__(self, n_objectives: int = 1):
        self.n_objectives = n_objectives
        self.objective_names = tuple(f"f{i}" for i in range(n_objectives))

    def setup(self, context: WorkerContext) -> None:
        pass

    def evaluate(self, trial: Trial, context: WorkerContext) -> Evaluation:
        g = trial.genome
        b0 = trial.resume_budget
        f = sum((x - 0.3) * (x - 0.3) for x in g) + 1.0 / trial.budget_epochs
        objectives = (f,) if self.n_objectives == 1 else (f, sum(x * x for x in g))
        return Evaluation(objectives=objectives, epochs_trained=trial.budget_epochs - (b0 or 0.0), cost_s=0.0,
                          checkpoint=trial.checkpoint_key)


def build(name: str, space: SearchSpace, population: int, seed: int = 0) -> Any:
    from evoautodl.algorithms import ALGORITHMS, algorithm_options, get_algorithm

    valid = algorithm_options(ALGORITHMS[name])
    opts: dict[str, Any] = {"seed": seed, "ladder": LADDER}
    if "population_size" in valid:
        opts["population_size"] = population
    return get_algorithm(name, space, **opts)


def n_objectives_of(algo: Any) -> int:
    return int(getattr(algo, "n_objectives", 1))


def time_runner(name: str, space: SearchSpace, evals: int, population: int, profile: bool = False) -> float:
    algo = build(name, space, population)
    workload = ZeroCost(n_objectives_of(algo))
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        runner = Runner(algo, SerialBackend(workload, checkpoint_dir=run_dir / "checkpoints"), run_dir=run_dir,
                        stop=StopCriteria(max_evaluations=evals), handle_signals=False)
        t0 = _clock()
        if profile:
            prof = cProfile.Profile()
            summary = prof.runcall(runner.run)
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        else:
            summary = runner.run()
        elapsed = _clock() - t0
    return elapsed / max(1, summary.n_evaluations) * 1e3


def time_ask_tell(name: str, space: SearchSpace, evals: int, population: int) -> float:
    algo = build(name, space, population)
    workload = ZeroCost(n_objectives_of(algo))
    ctx = WorkerContext()
    running: list[Trial] = []
    spent = 0.0
    done = 0
    while done < evals:
        t0 = _clock()
        running += algo.ask(1)
        spent += _clock() - t0
        if not running:
            break
        trial = running.pop(0)
        ev = workload.evaluate(trial, ctx)
        result = Result(trial=trial, status=Status.OK, objectives=ev.objectives, epochs_trained=ev.epochs_trained,
                        checkpoint=ev.checkpoint)
        t0 = _clock()
        algo.tell(result)
        algo.pop_discarded_checkpoints()
        spent += _clock() - t0
        done += 1
    return spent / max(1, done) * 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("EVOAUTODL_YAHPO_DATA"),
                    help="folder containing lcbench/config_space.json (default: $EVOAUTODL_YAHPO_DATA)")
    ap.add_argument("--evals", type=int, default=3000)
    ap.add_argument("--population", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    ap.add_argument("--algorithms", nargs="*", default=None)
    ap.add_argument("--profile", default=None, help="print a cProfile of this algorithm's runner loop")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "overhead.txt"),
                    help="where to save the table ('' : nowhere)")
    args = ap.parse_args(argv)
    if not args.data:
        ap.error("give --data or set EVOAUTODL_YAHPO_DATA to the folder that contains lcbench/")
    space = SearchSpace.from_json(Path(args.data) / "lcbench" / "config_space.json", drop=("OpenML_task_id", "epoch"))
    if args.profile:
        time_runner(args.profile, space, args.evals, args.population, profile=True)
        return 0
    from evoautodl.algorithms import BASELINE_LIBRARIES, available_algorithms

    # the registered baselines wrap other libraries (their cost is the library's): name them to time them
    names = args.algorithms or [n for n in available_algorithms() if n not in BASELINE_LIBRARIES]
    lines = [f"LCBench space ({space.dim} hyperparameters), {args.evals} evaluations, population "
             f"{args.population}, ladder {LADDER.budgets}, best of {args.repeats}, CPU ms per evaluation; "
             f"python {sys.version.split()[0]}; load average at start {os.getloadavg()[0]:.2f}",
             f"{'algorithm':<14}{'runner ms/eval':>16}{'ask+tell ms/eval':>18}  target < 0.2"]
    print("\n".join(lines), flush=True)
    worst = 0.0
    for name in names:
        runner_ms = min(time_runner(name, space, args.evals, args.population) for _ in range(args.repeats))
        algo_ms = min(time_ask_tell(name, space, args.evals, args.population) for _ in range(args.repeats))
        worst = max(worst, runner_ms)
        lines.append(f"{name:<14}{runner_ms:>16.3f}{algo_ms:>18.3f}  {'ok' if runner_ms < 0.2 else 'SLOW'}")
        print(lines[-1], flush=True)
    lines.append(f"worst: {worst:.3f} ms/evaluation")
    print(lines[-1])
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
