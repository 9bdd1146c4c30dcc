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
epochs); ``design`` gets ``n_configs`` = the number of evaluations (its default
of 128 would stop it early, and the run's fixed costs would read as per-evaluation
cost). Reported per algorithm, in milliseconds per evaluation:

* ``runner``: wall time of ``Runner.run()`` / evaluations (ask, tell, journal,
  log line, checkpoint-key deletion, state snapshot at the end);
* ``ask+tell``: the same algorithm driven by a bare ask(1)/tell loop (no
  runner, no files), i.e. the algorithm's own share.

Times are CPU seconds of this process (``time.process_time``, system time of
the log writes included), so other jobs on the machine do not inflate them
directly; a shared machine still drifts in speed (frequency, caches), so the
repeats run round-robin (every algorithm once, then again...) and each figure
is the minimum over the rounds. The header's calibration figure is the CPU time
of a fixed pure-Python loop (minimum over the rounds, and the maximum): it shows
the machine's speed during the run.

Target: runner < 0.2 ms per evaluation; ``adaptive_mf`` has its own target,
ask+tell < 1 ms per evaluation (``adaptive_overhead.py``). ``--profile NAME``
prints a cProfile of that algorithm's runner loop instead.
"""

from __future__ import annotations

import argparse
import cProfile
import math
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
#: runner ms per evaluation
TARGET_MS = 0.2
#: algorithms with a target of their own: (ask+tell ms per evaluation, the benchmark that owns it)
OWN_TARGETS = {"adaptive_mf": (1.0, "adaptive_overhead.py")}


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


def build(name: str, space: SearchSpace, population: int, seed: int = 0, evals: int | None = None) -> Any:
    from evoautodl.algorithms import ALGORITHMS, algorithm_options, get_algorithm

    valid = algorithm_options(ALGORITHMS[name])
    opts: dict[str, Any] = {"seed": seed, "ladder": LADDER}
    if "population_size" in valid:
        opts["population_size"] = population
    if "n_configs" in valid and evals is not None:
        opts["n_configs"] = evals  # a design as long as the run (not stopped early by its own size)
    return get_algorithm(name, space, **opts)


def calibrate() -> float:
    """CPU ms of a fixed pure-Python loop: the machine's speed at the moment (lower: faster)."""
    t0 = _clock()
    total = 0
    for i in range(300_000):
        total += i % 7
    return (_clock() - t0) * 1e3


def n_objectives_of(algo: Any) -> int:
    return int(getattr(algo, "n_objectives", 1))


def time_runner(name: str, space: SearchSpace, evals: int, population: int, profile: bool = False) -> float:
    algo = build(name, space, population, evals=evals)
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
    algo = build(name, space, population, evals=evals)
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
    ap.add_argument("--repeats", type=int, default=3, help="rounds over all algorithms; each figure is the best")
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
    load = os.getloadavg()[0]
    runner_ms = dict.fromkeys(names, math.inf)
    algo_ms = dict.fromkeys(names, math.inf)
    calibration: list[float] = []
    for r in range(args.repeats):  # round-robin: a drift of the machine's speed touches every algorithm alike
        calibration.append(calibrate())
        for name in names:
            runner_ms[name] = min(runner_ms[name], time_runner(name, space, args.evals, args.population))
            algo_ms[name] = min(algo_ms[name], time_ask_tell(name, space, args.evals, args.population))
        print(f"round {r + 1}/{args.repeats} done (calibration {calibration[-1]:.1f} ms)", file=sys.stderr, flush=True)
    lines = [f"LCBench space ({space.dim} hyperparameters), {args.evals} evaluations, population "
             f"{args.population}, ladder {LADDER.budgets}, best of {args.repeats} rounds, CPU ms per evaluation; "
             f"python {sys.version.split()[0]}; load average at start {load:.2f}",
             f"calibration (CPU ms of a fixed pure-Python loop, lower is faster): best {min(calibration):.1f}, "
             f"worst {max(calibration):.1f}",
             f"{'algorithm':<14}{'runner ms/eval':>16}{'ask+tell ms/eval':>18}  target"]
    worst = ("", 0.0)
    for name in names:
        if name in OWN_TARGETS:
            limit, owner = OWN_TARGETS[name]
            target, ok = f"ask+tell < {limit:g} ({owner})", algo_ms[name] < limit
        else:
            target, ok = f"runner < {TARGET_MS:g}", runner_ms[name] < TARGET_MS
            worst = max(worst, (name, runner_ms[name]), key=lambda w: w[1])
        lines.append(f"{name:<14}{runner_ms[name]:>16.3f}{algo_ms[name]:>18.3f}  {target:<36}{'ok' if ok else 'SLOW'}")
    lines.append(f"worst runner figure against {TARGET_MS:g}: {worst[1]:.3f} ms/evaluation ({worst[0]})")
    print("\n".join(lines))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
