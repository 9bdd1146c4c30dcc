"""Driver the MPI tests launch: ``mpiexec -n K python tests/mpi_scripts/drive.py OUT_DIR --options``.

Rank 0 runs a plain submit/wait loop on `MPIBackend` (no algorithm), writes
each result to ``OUT_DIR/evaluations.jsonl`` (flushed per line, as the runner's
log does) and, at the end, ``OUT_DIR/summary.json``. Other ranks serve as workers.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for mpi_workloads

from evoautodl.backends.mpi import MPIBackend, mpi_rank, worker_main
from evoautodl.records import Result, Trial


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("out", type=Path)
    p.add_argument("--n-trials", type=int, default=12)
    p.add_argument("--sleep", type=float, default=0.01)
    p.add_argument("--hang", type=float, default=60.0)
    p.add_argument("--actions", default="{}", help='JSON {trial_id: action}')
    p.add_argument("--timeout", type=float, default=None)
    p.add_argument("--timeout-grace", type=float, default=None)
    p.add_argument("--shutdown-timeout", type=float, default=10.0)
    p.add_argument("--devices", default="auto")
    p.add_argument("--workers-per-gpu", type=int, default=1)
    p.add_argument("--wants-device", action="store_true")
    p.add_argument("--bad-setup", default=None, help="comma-separated worker ranks whose setup fails ('all')")
    p.add_argument("--cancel-after", type=int, default=None, help="cancel_running after this many results")
    p.add_argument("--cancel-delay", type=float, default=None, help="cancel_running this many s after start")
    p.add_argument("--grace", type=float, default=0.0)
    p.add_argument("--prefetch", type=int, default=0)
    return p


def _line(r: Result) -> dict:
    return {"trial_id": r.trial_id, "status": r.status.value, "objectives": list(r.objectives),
            "error": r.error, "worker": r.worker, "host": r.host, "device": r.device,
            "setup_calls": r.metrics.get("setup_calls"), "cost_s": r.cost_s}


def _workload(args: argparse.Namespace):
    import mpi_workloads as mw

    if args.bad_setup is not None:
        bad = () if args.bad_setup == "all" else tuple(int(x) for x in args.bad_setup.split(","))
        return mw.FailingSetup(bad_ranks=bad)
    actions = {int(k): v for k, v in json.loads(args.actions).items()}
    return mw.ScriptedWorkload(sleep_s=args.sleep, actions=actions, hang_s=args.hang,
                               wants_device=True if args.wants_device else None)


def main() -> int:
    args = _parser().parse_args()
    rank = mpi_rank()
    logging.basicConfig(level=logging.INFO, format=f"[rank {rank}] %(levelname)s %(name)s: %(message)s")
    if rank > 0:
        return worker_main()
    args.out.mkdir(parents=True, exist_ok=True)
    backend = MPIBackend(_workload(args), timeout_s=args.timeout, timeout_grace_s=args.timeout_grace,
                         devices=args.devices, workers_per_gpu=args.workers_per_gpu,
                         shutdown_timeout_s=args.shutdown_timeout, checkpoint_dir=args.out / "checkpoints",
                         prefetch=args.prefetch)
    summary: dict = {"capacity_at_start": None, "results": [], "cancelled": [], "error": None}
    t0 = time.monotonic()
    backend.start()
    summary["capacity_at_start"] = backend.capacity
    next_id = 0
    with open(args.out / "evaluations.jsonl", "a", encoding="utf-8") as log:
        try:
            while len(summary["results"]) < args.n_trials:
                free = backend.capacity - backend.n_running
                while free > 0 and next_id < args.n_trials:
                    backend.submit(Trial(trial_id=next_id, individual_id=next_id, config={"x": 0.1 * next_id},
                                         genome=(0.1,), budget_epochs=1, seed=next_id))
                    next_id += 1
                    free -= 1
                if args.cancel_delay is not None:
                    results = backend.wait(timeout_s=max(0.0, args.cancel_delay - (time.monotonic() - t0)))
                else:
                    results = backend.wait()
                for r in results:
                    log.write(json.dumps(_line(r)) + "\n")
                    log.flush()
                    summary["results"].append(_line(r))
                n = len(summary["results"])
                late = args.cancel_delay is not None and time.monotonic() - t0 >= args.cancel_delay
                if (args.cancel_after is not None and n >= args.cancel_after) or late:
                    t1 = time.monotonic()
                    summary["cancelled"] = [_line(r) for r in backend.cancel_running(args.grace)]
                    summary["cancel_s"] = time.monotonic() - t1
                    break
                if not results and backend.n_running == 0 and next_id >= args.n_trials:
                    break
        except Exception as exc:  # reported to the test
            summary["error"] = f"{type(exc).__name__}: {exc}"
        summary["capacity_at_end"] = backend.capacity
        summary["workers"] = backend.workers()
        t1 = time.monotonic()
        backend.shutdown()
        summary["shutdown_s"] = time.monotonic() - t1
        summary["workers_after"] = backend.workers()
    summary["elapsed_s"] = time.monotonic() - t0
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
