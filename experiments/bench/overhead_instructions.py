"""Optimizer overhead per evaluation in machine instructions (callgrind): a figure that does not drift.

Usage::

    python experiments/bench/overhead_instructions.py [--data DIR] [--evals 300 1000]
                                                      [--algorithms de steady_state ...]

``overhead.py`` times the runner loop in CPU milliseconds, and on a shared or
virtual machine those drift (here by up to 1.7x within seconds, and by 2-3x from
one day to the next). This benchmark counts instead the user-space
instructions the same loop executes (the Runner with a run directory, the
SerialBackend, the zero-cost workload and algorithm settings of ``overhead.py``),
under valgrind's callgrind: the count of a run repeats within about 0.1% (the
run under callgrind gets PYTHONHASHSEED=0, so string hashes and dict layouts
repeat; with random hash seeds the counts move by up to 7%), so two versions of
the code compare closely. System calls (the log and journal writes) are not
counted: they are a few percent of the CPU time (``overhead.py`` includes them).

Each algorithm runs twice, for ``n1`` and ``n2`` evaluations; the figure is
(instructions of run 2 - instructions of run 1) / (n2 - n1), so the fixed costs
of a run (opening the run directory, the final snapshot) cancel. Needs
``valgrind`` and ``callgrind_control`` on the PATH (Debian: ``apt install
valgrind``); about 20 s per algorithm.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import overhead as ov  # experiments/bench/overhead.py: the loop's settings, the space, the table writer

HERE = Path(__file__).resolve().parent
_TOTALS = re.compile(r"^(?:totals|summary): (\d+)", re.M)


def _child(data: str, names: list[str], n1: int, n2: int) -> None:
    """Runs under callgrind: each timed run is framed by os.getppid() calls (callgrind dumps its counts there)."""
    from evoautodl.backends.serial import SerialBackend
    from evoautodl.runner import Runner, StopCriteria

    space = ov.lcbench_space(data)

    def run(name: str, n: int, marked: bool) -> None:
        algo = ov.build(name, space, 100, evals=n)
        workload = ov.ZeroCost(ov.n_objectives_of(algo))
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp) / "run"
            runner = Runner(algo, SerialBackend(workload, checkpoint_dir=d / "checkpoints"), run_dir=d,
                            stop=StopCriteria(max_evaluations=n), handle_signals=False)
            if marked:
                os.getppid()
            summary = runner.run()
            if marked:
                os.getppid()
        if summary.n_evaluations != n:
            raise SystemExit(f"{name}: {summary.n_evaluations} evaluations, expected {n}")

    run(names[0], 50, marked=False)  # imports and first-call caches, outside the counted runs
    subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True, capture_output=True)
    time.sleep(0.2)
    for name in names:
        for n in (n1, n2):
            run(name, n, marked=True)


def _count(data: str, names: list[str], n1: int, n2: int) -> dict[str, float]:
    """k instructions per evaluation of each algorithm."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg"
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--dump-before=getppid",
               f"--callgrind-out-file={out}", sys.executable, str(Path(__file__).resolve()), "--child",
               "--data", data, "--evals", str(n1), str(n2), "--algorithms", *names]
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}  # str hashes: dict layouts alike
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise SystemExit(f"the run under callgrind failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        files = sorted(Path(tmp).glob("cg.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
        totals = []
        for f in files:
            m = _TOTALS.search(f.read_text(errors="replace"))
            totals.append(int(m.group(1)) if m else 0)
    # dumps: before the first mark, then (run, gap) pairs: the runs are every second dump from the second on
    runs = totals[1::2][: 2 * len(names)]
    if len(runs) != 2 * len(names):
        raise SystemExit(f"expected {2 * len(names)} counted runs, callgrind wrote {len(totals)} dumps")
    return {name: (runs[2 * i + 1] - runs[2 * i]) / (n2 - n1) / 1e3 for i, name in enumerate(names)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("EVOAUTODL_YAHPO_DATA"),
                    help="folder containing lcbench/config_space.json (default: $EVOAUTODL_YAHPO_DATA)")
    ap.add_argument("--evals", type=int, nargs=2, default=(300, 1000), metavar=("N1", "N2"))
    ap.add_argument("--algorithms", nargs="*", default=None)
    ap.add_argument("--out", default=str(HERE / "results" / "overhead_instructions.txt"),
                    help="where to save the table ('' : nowhere)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not args.data:
        ap.error("give --data or set EVOAUTODL_YAHPO_DATA to the folder that contains lcbench/")
    n1, n2 = args.evals
    if not 0 < n1 < n2:
        ap.error(f"--evals needs 0 < N1 < N2, got {n1} {n2}")
    from evoautodl.algorithms import BASELINE_LIBRARIES, available_algorithms

    names = args.algorithms or [n for n in available_algorithms()
                                if n not in BASELINE_LIBRARIES and n != "adaptive_mf"]
    if args.child:
        _child(args.data, names, n1, n2)
        return 0
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        print(f"error: {' and '.join(missing)} not found on the PATH (Debian: apt install valgrind)", file=sys.stderr)
        return 2
    print(f"counting {len(names)} algorithms under callgrind ({n1} and {n2} evaluations each)...", file=sys.stderr)
    per_eval = _count(args.data, names, n1, n2)
    lines = [f"LCBench space, population 100, zero-cost workload (overhead.py's settings); user-space instructions "
             f"per evaluation (callgrind), runs of {n2} minus {n1} evaluations; python {sys.version.split()[0]}",
             f"{'algorithm':<14}{'k instr/eval':>14}"]
    lines += [f"{name:<14}{per_eval[name]:>14.1f}" for name in names]
    ov.write_table(lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
