"""Epochs per second of the MLP and CNN workloads on CUDA vs the CPU.

Usage::

    python experiments/bench/device_speed.py [--epochs 10] [--repeats 3] [--devices cpu cuda:0]

Rows: the LCBench MLP on digits (tabular, 1,079 training rows), the conditional
CNN on 8x8 digits images, and a larger synthetic tabular task (60,000 x 128,
10 classes; wide MLP, batch 512) where a GPU has work to do. Each row trains a
fixed configuration through the workload's ``evaluate`` (model build, training,
per-epoch validation, final test metrics, no checkpoints) and reports the
median epochs per second (wall clock, CUDA synchronised by ``.item()`` calls).
Devices that are not available are reported as such.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from evoautodl.records import Trial
from evoautodl.workloads.base import WorkerContext
from evoautodl.workloads.torch_cnn import DEFAULT_CONFIG as CNN_DEFAULT
from evoautodl.workloads.torch_cnn import ImageCNN
from evoautodl.workloads.torch_mlp import DEFAULT_CONFIG as MLP_DEFAULT
from evoautodl.workloads.torch_mlp import LCBenchMLP


def _large_npz(folder: Path) -> str:
    rng = np.random.default_rng(0)
    n, d, k = 60_000, 128, 10
    centers = rng.normal(0, 1.0, (k, d))
    y = rng.integers(0, k, n)
    x = centers[y] + rng.normal(0, 2.0, (n, d))
    path = folder / "large.npz"
    np.savez(path, X=x.astype(np.float32), y=y)
    return str(path)


def _time(workload, config: dict, epochs: int, device: str, repeats: int, threads: int) -> float:
    ctx = WorkerContext.local(None, device=device, torch_threads=threads)
    workload.setup(ctx)
    rates = []
    for r in range(repeats + 1):  # the first run warms up (CUDA context, kernels)
        trial = Trial(trial_id=r, individual_id=r, config=config, genome=(), budget_epochs=epochs, seed=r)
        t0 = time.perf_counter()
        ev = workload.evaluate(trial, ctx)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if r:
            rates.append(ev.epochs_trained / (time.perf_counter() - t0))
    return statistics.median(rates)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--devices", nargs="+", default=["cpu", "cuda:0"])
    p.add_argument("--no-large", action="store_true", help="skip the 60,000-row task")
    args = p.parse_args()
    print(f"torch {torch.__version__}, cuda available {torch.cuda.is_available()}"
          + (f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""))
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            ("MLP digits", lambda: LCBenchMLP("digits", max_budget_epochs=args.epochs), dict(MLP_DEFAULT)),
            ("CNN digits 8x8", lambda: ImageCNN("digits", max_budget_epochs=args.epochs), dict(CNN_DEFAULT)),
        ]
        if not args.no_large:
            big = dict(MLP_DEFAULT, batch_size=512, max_units=1024, num_layers=4, max_dropout=0.1)
            path = _large_npz(Path(tmp))
            rows.append(("MLP synthetic 60k x 128", lambda: LCBenchMLP(path, max_budget_epochs=args.epochs), big))
        print(f"{'task':26s}" + "".join(f"{d:>14s}" for d in args.devices) + "   (epochs/s, median of "
              f"{args.repeats}, {args.epochs} epochs, {args.threads} CPU thread(s))")
        for name, make, config in rows:
            cells = []
            for dev in args.devices:
                if dev.startswith("cuda") and not torch.cuda.is_available():
                    cells.append("n/a")
                    continue
                cells.append(f"{_time(make(), config, args.epochs, dev, args.repeats, args.threads):.1f}")
            print(f"{name:26s}" + "".join(f"{c:>14s}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
