"""Training speed of the LCBench MLP: evoautodl workload vs a plain PyTorch loop vs a DataLoader.

Usage::

    python experiments/bench/train_speed.py [--epochs 20] [--repeats 5] [--threads 1] [--device cpu]

Same model (funnel MLP, 3 layers, 256 units, dropout 0.2), same data split,
same batch size (64), same optimizer (SGD, momentum 0.9), same cosine schedule
and the same class-weighted loss in all three variants; each epoch also
computes the validation loss and accuracy. Reported: median epochs per second
over the repeats (variants interleaved), and the ratio to the plain loop. On CPU
the clock is the process CPU time by default (``--clock cpu``: other jobs on a
shared machine do not distort it); ``--clock wall`` (and any GPU run) uses
elapsed time.

* workload:    ``LCBenchMLP.evaluate`` (model build, training, per-epoch validation
               metrics, final test metrics), no checkpoints; a second row writes
               the end-of-trial checkpoint too.
* plain loop:  hand-written loop, per-batch index gather ``x[perm[i:i+b]]``,
               ``loss.item()`` per batch, validation under ``torch.no_grad``.
* DataLoader:  the plain loop fed by ``DataLoader(TensorDataset(x, y), shuffle=True)``.

Target: workload >= 0.95 x plain loop, faster than the DataLoader.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from evoautodl.records import Trial
from evoautodl.workloads.base import WorkerContext
from evoautodl.workloads.torch_mlp import LCBenchMLP, build_funnel_mlp

CLOCK = time.process_time  # --clock cpu (default) or wall

CONFIG = {"batch_size": 64, "learning_rate": 0.01, "momentum": 0.9, "weight_decay": 1e-4,
          "num_layers": 3, "max_units": 256, "max_dropout": 0.2}


def _setup(workload: LCBenchMLP, device: str, epochs: int, seed: int):
    torch.manual_seed(seed)
    data, t = workload.data, workload.tensors
    model = build_funnel_mlp(data.n_features, data.n_classes, CONFIG["num_layers"], CONFIG["max_units"],
                             CONFIG["max_dropout"]).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=CONFIG["learning_rate"], momentum=CONFIG["momentum"],
                          weight_decay=CONFIG["weight_decay"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    loss_fn = workload.build_loss(CONFIG, data).to(device)
    return t, model, opt, sched, loss_fn


def _validate(model, t) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model(t.x_val)
        return F.cross_entropy(logits, t.y_val).item(), (logits.argmax(1) == t.y_val).float().mean().item()


def plain_loop(workload: LCBenchMLP, device: str, epochs: int, seed: int) -> float:
    t, model, opt, sched, loss_fn = _setup(workload, device, epochs, seed)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    n, bs = t.x_train.shape[0], CONFIG["batch_size"]
    start = CLOCK()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=gen, device=device)
        running = 0.0
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(t.x_train[idx]), t.y_train[idx])
            loss.backward()
            opt.step()
            running += loss.item() * len(idx)
        sched.step()
        _validate(model, t)
    return epochs / (CLOCK() - start)


def dataloader_loop(workload: LCBenchMLP, device: str, epochs: int, seed: int) -> float:
    t, model, opt, sched, loss_fn = _setup(workload, device, epochs, seed)
    gen = torch.Generator()
    gen.manual_seed(seed)
    loader = DataLoader(TensorDataset(t.x_train, t.y_train), batch_size=CONFIG["batch_size"], shuffle=True,
                        generator=gen)
    start = CLOCK()
    for _ in range(epochs):
        model.train()
        running = 0.0
        for xb, yb in loader:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            running += loss.item() * len(yb)
        sched.step()
        _validate(model, t)
    return epochs / (CLOCK() - start)


def workload_run(workload: LCBenchMLP, ctx: WorkerContext, epochs: int, seed: int) -> float:
    trial = Trial(trial_id=seed, individual_id=seed, config=CONFIG, genome=(), budget_epochs=epochs, seed=seed)
    start = CLOCK()
    workload.evaluate(trial, ctx)
    return epochs / (CLOCK() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--datasets", nargs="+", default=["digits", "breast_cancer"])
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                        help="cpu: process CPU time (robust on a shared machine); wall: elapsed time")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" and args.device == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    ckdir = tempfile.TemporaryDirectory()
    print(f"torch {torch.__version__}, device {args.device}, threads {args.threads}, epochs {args.epochs}, "
          f"repeats {args.repeats}, clock {CLOCK.__name__}, config {CONFIG}")
    print(f"{'dataset':<14} {'variant':<24} {'n_train':>7} {'epochs/s':>9} {'vs plain':>9}")
    for name in args.datasets:
        workload = LCBenchMLP(name, max_budget_epochs=args.epochs)
        ctx = WorkerContext.local(device=args.device, torch_threads=args.threads)
        ctx_ck = WorkerContext.local(checkpoint_dir=ckdir.name, device=args.device, torch_threads=args.threads)
        workload.setup(ctx)
        device = str(workload.device)
        variants: dict[str, Callable[[int], float]] = {
            "plain loop": partial(plain_loop, workload, device, args.epochs),
            "workload": partial(workload_run, workload, ctx, args.epochs),
            "workload + checkpoint": partial(workload_run, workload, ctx_ck, args.epochs),
            "DataLoader": partial(dataloader_loop, workload, device, args.epochs),
        }
        for fn in variants.values():  # warm-up
            fn(0)
        rates: dict[str, list[float]] = {k: [] for k in variants}
        for rep in range(args.repeats):
            for key, fn in variants.items():
                rates[key].append(fn(rep + 1))
        med = {k: statistics.median(v) for k, v in rates.items()}
        for key, value in med.items():
            print(f"{name:<14} {key:<24} {workload.tensors.x_train.shape[0]:>7} {value:>9.1f} "
                  f"{value / med['plain loop']:>9.3f}")
        print(f"{name:<14} ratios: workload/plain = {med['workload'] / med['plain loop']:.3f}, "
              f"workload/DataLoader = {med['workload'] / med['DataLoader']:.3f}")
    ckdir.cleanup()


if __name__ == "__main__":
    main()
