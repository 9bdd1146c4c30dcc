"""Idle ranks must not burn a core: ``mpiexec -n K python idle_cpu.py OUT_DIR``.

Workers measure their own CPU time over their whole life: ~1 s waiting for
START, ~1 s idle after READY, ~1 s while one trial sleeps elsewhere. The
manager measures its CPU time during a ``wait()`` on a trial that sleeps 1 s.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for mpi_workloads

from evoautodl.backends.mpi import MPIBackend, mpi_rank, worker_main
from evoautodl.records import Trial


def main() -> int:
    out = Path(sys.argv[1])
    rank = mpi_rank()
    cpu0, wall0 = time.process_time(), time.monotonic()
    if rank > 0:
        rc = worker_main()
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        (out / f"worker{rank}.json").write_text(json.dumps({"cpu_s": cpu, "wall_s": wall}))
        return rc
    import mpi_workloads as mw

    out.mkdir(parents=True, exist_ok=True)
    backend = MPIBackend(mw.ScriptedWorkload(sleep_s=1.0))
    time.sleep(1.0)  # workers wait for START
    backend.start()
    while any(w["state"] == "starting" for w in backend.workers()):
        backend.wait(timeout_s=0.05)
    time.sleep(1.0)  # workers idle after READY
    backend.submit(Trial(trial_id=0, individual_id=0, config={"x": 0.1}, genome=(0.1,), budget_epochs=1, seed=0))
    c0, w0 = time.process_time(), time.monotonic()
    results = backend.wait()
    manager = {"cpu_s": time.process_time() - c0, "wall_s": time.monotonic() - w0,
               "status": [r.status.value for r in results]}
    backend.shutdown()
    (out / "manager.json").write_text(json.dumps(manager))
    return 0


if __name__ == "__main__":
    sys.exit(main())
