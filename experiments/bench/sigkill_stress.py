"""SIGKILL stress: kill an MPI run at random moments, resume it each time, count what the log holds.

Usage::

    python experiments/bench/sigkill_stress.py [--algorithms regularized asha_ea] [--kills 6]
                                               [--ranks 4] [--evaluations 120] [--workload mlp|sleep]
                                               [--seed 0] [--keep DIR]

For each algorithm: ``mpiexec -n RANKS evoautodl run`` on an experiment that
trains LCBench's MLP on iris (``--workload mlp``: real training, a ladder of
1-3-9 epochs, checkpoints) or sleeps 20-60 ms per trial (``sleep``). After a
random number of new log lines (and a random extra fraction of a second, so
the kill lands inside a trial, a log write or a snapshot) the whole process
tree gets SIGKILL; ``evoautodl resume`` starts again, KILLS times, then runs to
the end. Printed per algorithm: the kills (log lines at each), and the counts
the promise is about: rows, distinct trial ids, duplicates, missing ids (in
0..N-1), FAILED rows (with their reasons) and whether every line reads back.
The process exits 1 if a row is duplicated or missing.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LAUNCH_VARS = ("PMI_", "OMPI_COMM_WORLD", "PMIX_", "MPI_LOCAL", "HYDRA_", "SLURM_STEP")


class Sleepy:
    """A cheap workload for the stress: sleeps 20-60 ms (seeded), objective (x - 0.3)^2 + 1/budget."""

    objective_names = ("f",)
    max_budget = 9

    def setup(self, context) -> None:
        pass

    def evaluate(self, trial, context):
        from evoautodl.records import Evaluation

        time.sleep(0.02 + (trial.seed % 1000) / 25000)
        f = (float(trial.config["x"]) - 0.3) ** 2 + 1.0 / trial.budget_epochs
        return Evaluation(objectives=(f,), epochs_trained=trial.budget_epochs)


def experiment(algorithm: str, workload: str, evaluations: int, seed: int) -> str:
    if workload == "mlp":
        wl = 'type = "mlp"\ndataset = "iris"\nmax_budget_epochs = 9'
        space = ""
    else:
        wl = 'type = "python"\ntarget = "sigkill_stress:Sleepy"'
        space = '[space.hyperparameters.x]\ntype = "float"\nlower = 0.0\nupper = 1.0'
    ladder = "[fidelity]\nmin_budget = 1\nmax_budget = 9\neta = 3" if algorithm in ("asha_ea", "dehb") else ""
    return textwrap.dedent(f"""
        seed = {seed}
        [workload]
        {wl}
        {space}
        [algorithm]
        name = "{algorithm}"
        {ladder}
        [stop]
        max_evaluations = {evaluations}
        [backend]
        timeout_s = 120
        [run]
        checkpoint_interval_s = 0.5
        grace_s = 5
    """)


def mpiexec() -> str:
    sibling = Path(sys.executable).parent / "mpiexec"
    return os.environ.get("EVOAUTODL_MPIEXEC") or (str(sibling) if sibling.exists() else "mpiexec")


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = collections.defaultdict(list)
    for d in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            children[int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])].append(int(d.name))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def launch(ranks: int, args: list[str], cwd: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(LAUNCH_VARS)}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.Popen([mpiexec(), "-n", str(ranks), sys.executable, "-m", "evoautodl", *args], cwd=cwd,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def kill_tree(proc: subprocess.Popen) -> None:
    for pid in [*descendants(proc.pid), proc.pid]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=60)


def n_lines(log: Path) -> int:
    return log.read_bytes().count(b"\n") if log.exists() else 0


def stress(algorithm: str, args: argparse.Namespace, work: Path, rng: random.Random) -> dict:
    exp = work / f"{algorithm}.toml"
    exp.write_text(experiment(algorithm, args.workload, args.evaluations, args.seed))
    run = work / algorithm
    log = run / "evaluations.jsonl"
    kills = []
    command = ["run", str(exp), "--out", str(run)]
    t0 = time.monotonic()
    step = max(1, args.evaluations // (args.kills + 1))
    jitter_s = 0.2 if args.workload == "mlp" else 0.05  # about one trial
    for _ in range(args.kills):
        target = min(n_lines(log) + rng.randint(1, step), args.evaluations - 2)
        proc = launch(args.ranks, command, work)
        deadline = time.monotonic() + 300
        while proc.poll() is None and n_lines(log) < target and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, jitter_s))  # inside a trial, a log write or a snapshot
        finished = proc.poll() is not None
        kill_tree(proc)
        kills.append(n_lines(log))
        if finished:
            print(f"  {algorithm}: the run ended before kill {len(kills)} (exit {proc.returncode})", file=sys.stderr)
        command = ["resume", str(run)]
    proc = launch(args.ranks, ["resume", str(run)], work)
    _, err = proc.communicate(timeout=1800)
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    ids = [x["trial_id"] for x in lines]
    counts = collections.Counter(ids)
    failed = [x for x in lines if x["status"] != "OK"]
    readable = True
    try:
        from evoautodl.log import load_run

        readable = len(load_run(run)) == len(lines)
    except Exception:
        readable = False
    return {
        "algorithm": algorithm, "exit": proc.returncode, "stderr": err[-2000:] if proc.returncode else "",
        "kills_at_lines": kills, "rows": len(lines), "distinct_ids": len(counts),
        "duplicates": sum(c - 1 for c in counts.values()),
        "missing_ids": sorted(set(range(args.evaluations)) - set(ids)),
        "failed": [(x["trial_id"], x["status"], (x["error"] or "").splitlines()[0][:100]) for x in failed],
        "readable": readable, "wall_s": round(time.monotonic() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--algorithms", nargs="+", default=["regularized", "asha_ea"])
    ap.add_argument("--kills", type=int, default=6)
    ap.add_argument("--ranks", type=int, default=4)
    ap.add_argument("--evaluations", type=int, default=120)
    ap.add_argument("--workload", choices=("mlp", "sleep"), default="mlp")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", default=None, help="keep the run directories here (default: a temporary folder)")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="sigkill-stress-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"SIGKILL stress: mpiexec -n {args.ranks}, {args.kills} kills per algorithm at random moments, "
          f"{args.evaluations} evaluations, workload {args.workload}")
    print(f"{'algorithm':<12} {'exit':>4} {'rows':>5} {'ids':>5} {'dups':>5} {'missing':>7} {'failed':>6} "
          f"{'reads':>5} {'wall_s':>7}  kills at log lines")
    bad = False
    for algorithm in args.algorithms:
        r = stress(algorithm, args, work, rng)
        bad |= bool(r["duplicates"] or r["missing_ids"] or r["exit"] or not r["readable"])
        print(f"{r['algorithm']:<12} {r['exit']:>4} {r['rows']:>5} {r['distinct_ids']:>5} {r['duplicates']:>5} "
              f"{len(r['missing_ids']):>7} {len(r['failed']):>6} {r['readable']!s:>5} {r['wall_s']:>7}  "
              f"{r['kills_at_lines']}")
        for tid, status, error in r["failed"]:
            print(f"    trial {tid} {status}: {error}")
        if r["missing_ids"]:
            print(f"    missing ids: {r['missing_ids'][:20]}")
        if r["stderr"]:
            print(f"    final resume failed:\n{r['stderr']}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
