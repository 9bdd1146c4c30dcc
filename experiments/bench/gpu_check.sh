#!/usr/bin/env bash
# GPU check of the MPI backend: real torch training (LCBench funnel MLP on digits),
# first one worker on the GPU, then two workers sharing it (workers_per_gpu = 2);
# then epochs/s of the MLP and the CNN workloads on CUDA vs the CPU (device_speed.py).
#
#   experiments/bench/gpu_check.sh [SECONDS=20] [EPOCHS=10]
#
# Environment (all optional):
#   PYTHON         interpreter with evoautodl, torch and mpi4py (default: python3)
#   MPIEXEC        launcher of the MPI mpi4py was built with (default: mpiexec next to
#                  $PYTHON, else the one on PATH)
#   MPIEXEC_FLAGS  extra launcher flags, e.g. "--oversubscribe" for Open MPI
#   DATASET        data set name (default: digits, shipped with scikit-learn)
#   CPU_THREADS    torch CPU threads for the CPU side of phase 3 (default 4)
#
# Prints the GPUs, torch/CUDA versions, each worker's device, the processes that
# nvidia-smi sees on the GPU during the run, and the throughput of both phases.
# Without a GPU (or without CUDA in torch) the workers train on the CPU and the
# script says so. Exit code: 0 when both phases ran and every trial was OK.
set -uo pipefail

SECONDS_PER_PHASE=${1:-20}
EPOCHS=${2:-10}
PYTHON=${PYTHON:-python3}
DATASET=${DATASET:-digits}
PY_DIR=$(dirname "$(command -v "$PYTHON")")
MPIEXEC=${MPIEXEC:-$([ -x "$PY_DIR/mpiexec" ] && echo "$PY_DIR/mpiexec" || command -v mpiexec || true)}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

if [ -z "$MPIEXEC" ]; then
    echo "gpu_check: no mpiexec found (set MPIEXEC, or pip install mpich mpi4py)" >&2
    exit 2
fi
echo "== machine"
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader || true
else
    echo "nvidia-smi not found: no NVIDIA GPU visible, workers will train on the CPU"
fi
echo "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-<unset>}"
"$PYTHON" - <<'EOF' || { echo "gpu_check: torch or mpi4py missing in $PYTHON" >&2; exit 2; }
import mpi4py, torch
print(f"python torch {torch.__version__}, cuda available {torch.cuda.is_available()}, "
      f"devices {torch.cuda.device_count()}, mpi4py {mpi4py.__version__}")
EOF
"$MPIEXEC" --version 2>&1 | head -n 2

DRIVER=$(mktemp /tmp/gpu_check_XXXXXX.py)
trap 'rm -f "$DRIVER"' EXIT
cat >"$DRIVER" <<'EOF'
"""Rank 0 keeps the workers busy with fixed LCBench configurations for a few seconds."""
import logging
import shutil
import subprocess
import sys
import time

from evoautodl.backends.mpi import MPIBackend, mpi_rank, mpi_world_size, worker_main

rank = mpi_rank()
logging.basicConfig(level=logging.WARNING, format=f"[rank {rank}] %(levelname)s %(name)s: %(message)s")
if rank > 0:
    sys.exit(worker_main())

from evoautodl.records import Trial
from evoautodl.workloads.torch_mlp import DEFAULT_CONFIG, LCBenchMLP

seconds, epochs, per_gpu, dataset, label = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
backend = MPIBackend(LCBenchMLP(dataset=dataset, max_budget_epochs=epochs), devices="auto",
                     workers_per_gpu=per_gpu, timeout_s=600)
backend.start()
t_start = time.monotonic()
while any(w["state"] == "starting" for w in backend.workers()):
    backend.wait(timeout_s=0.1)
    if time.monotonic() - t_start > 300:
        sys.exit("workers did not finish setup within 300 s")
print(f"-- {label}: {mpi_world_size() - 1} worker(s), workers_per_gpu={per_gpu}, setup {time.monotonic() - t_start:.1f} s")
for w in backend.workers():
    print(f"   worker rank {w['rank']} on {w['host']} pid {w['pid']}: device {w['device']} ({w['state']})")
configs = [dict(DEFAULT_CONFIG, learning_rate=lr, batch_size=bs) for lr in (0.003, 0.01, 0.03) for bs in (32, 91, 256)]
results, next_id, smi_done = [], 0, False
t0 = time.monotonic()
while True:
    running = time.monotonic() - t0 < seconds
    while running and backend.n_running < backend.capacity:
        cfg = configs[next_id % len(configs)]
        backend.submit(Trial(trial_id=next_id, individual_id=next_id, config=cfg, genome=(), budget_epochs=epochs,
                             seed=next_id))
        next_id += 1
    if not running and backend.n_running == 0:
        break
    results.extend(backend.wait(timeout_s=1.0))
    if not smi_done and time.monotonic() - t0 > seconds / 2 and shutil.which("nvidia-smi"):
        smi_done = True
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader"],
                             capture_output=True, text=True, check=False).stdout.strip()
        print("   processes on the GPU mid-run (pid, memory):", out.replace("\n", "; ") or "none listed")
wall = time.monotonic() - t0
backend.shutdown()
ok = [r for r in results if r.ok]
bad = [r for r in results if not r.ok]
per_worker = {}
for r in results:
    per_worker.setdefault((r.worker, r.device), []).append(r.cost_s)
print(f"   trials {len(results)} ({len(bad)} not OK), wall {wall:.1f} s, {len(results) / wall:.2f} trials/s, "
      f"{sum(r.epochs_trained for r in ok) / wall:.1f} epochs/s")
for (w, dev), costs in sorted(per_worker.items()):
    print(f"   worker {w} [{dev}]: {len(costs)} trials, mean {sum(costs) / len(costs):.3f} s per {epochs}-epoch trial")
if ok:
    best = min(ok, key=lambda r: r.objective)
    print(f"   best val_error {best.objective:.4f} (lr {best.trial.config['learning_rate']}, "
          f"batch {best.trial.config['batch_size']})")
if bad:
    print(f"   first problem: {bad[0].status.value}: {(bad[0].error or '').splitlines()[0]}")
sys.exit(0 if results and not bad else 1)
EOF

status=0
echo "== phase 1: one worker"
timeout 600 "$MPIEXEC" ${MPIEXEC_FLAGS:-} -n 2 "$PYTHON" "$DRIVER" "$SECONDS_PER_PHASE" "$EPOCHS" 1 "$DATASET" "1 worker" || status=1
echo "== phase 2: two workers sharing the GPU"
timeout 600 "$MPIEXEC" ${MPIEXEC_FLAGS:-} -n 3 "$PYTHON" "$DRIVER" "$SECONDS_PER_PHASE" "$EPOCHS" 2 "$DATASET" "2 workers" || status=1
echo "== phase 3: MLP and CNN epochs/s, CUDA vs CPU (${CPU_THREADS:-4} CPU threads)"
timeout 600 "$PYTHON" "$ROOT/experiments/bench/device_speed.py" --epochs "$EPOCHS" --repeats 2 \
    --threads "${CPU_THREADS:-4}" || status=1
echo "== gpu_check exit status $status"
exit $status
