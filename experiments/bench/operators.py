"""Throughput of the genome operators (genomes per second), printed as a table.

Spaces: LCBench (7 hyperparameters, from EVOAUTODL_YAHPO_DATA; skipped if
unset) and a 41-hyperparameter conditional space built here (model zoo with
nested conditions, AND / OR / not-equals, ordinal gt conditions, forbidden
clauses). Also times the full cycle an algorithm runs per child on LCBench:
mutate (which repairs) + repair + to_config. Target: < 100 microseconds.
The "(value)" rows call operators the way algorithms do, through
``evoautodl.operators.Operator`` (built-in, a user's native operator, DEAP
functions through the adapter).

    python experiments/bench/operators.py [--seconds 0.5]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from deap import tools

from evoautodl.operators import de_rand_1_bin, declare, mutate, resolve_operator, sbx_crossover, uniform_crossover
from evoautodl.space import SearchSpace

TARGET_CYCLE_US = 100.0


def conditional_space_41() -> SearchSpace:
    """A 41-hyperparameter model-zoo space with nested conditions and forbidden clauses."""
    def on(parent: str, value: Any) -> dict[str, Any]:
        return {"parent": parent, "equals": value}

    def gt(parent: str, value: Any) -> dict[str, Any]:
        return {"parent": parent, "gt": value}

    spec: dict[str, Any] = {
        "lr": {"type": "float", "lower": 1e-5, "upper": 1.0, "log": True},
        "batch_size": {"type": "ordinal", "sequence": [16, 32, 64, 128, 256, 512]},
        "epochs": {"type": "int", "lower": 5, "upper": 300, "log": True},
        "weight_decay": {"type": "float", "lower": 1e-6, "upper": 1e-1, "log": True},
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam", "adamw"]},
        "momentum": {"type": "float", "lower": 0.0, "upper": 0.99, "condition": on("optimizer", "sgd")},
        "nesterov": {"type": "categorical", "choices": [True, False],
                     "condition": {"all": [on("optimizer", "sgd"), {"parent": "momentum", "gt": 0.5}]}},
        "beta1": {"type": "float", "lower": 0.8, "upper": 0.999,
                  "condition": {"parent": "optimizer", "in": ["adam", "adamw"]}},
        "scheduler": {"type": "categorical", "choices": ["none", "cosine", "step", "exponential"]},
        "warmup": {"type": "int", "lower": 0, "upper": 10, "condition": {"parent": "scheduler", "not_equals": "none"}},
        "gamma": {"type": "float", "lower": 0.1, "upper": 0.99,
                  "condition": {"any": [on("scheduler", "step"), on("scheduler", "exponential")]}},
        "model": {"type": "categorical", "choices": ["mlp", "cnn", "resnet", "transformer"]},
        "mlp:layers": {"type": "int", "lower": 1, "upper": 8, "condition": on("model", "mlp")},
        "mlp:units": {"type": "ordinal", "sequence": [64, 128, 256, 512, 1024], "condition": on("model", "mlp")},
        "mlp:dropout": {"type": "float", "lower": 0.0, "upper": 0.8, "condition": on("model", "mlp")},
        "mlp:activation": {"type": "categorical", "choices": ["relu", "gelu", "tanh"], "condition": on("model", "mlp")},
        "cnn:conv_layers": {"type": "int", "lower": 1, "upper": 6, "condition": on("model", "cnn")},
        "cnn:kernel": {"type": "ordinal", "sequence": [3, 5, 7], "condition": on("model", "cnn")},
        "cnn:channels": {"type": "int", "lower": 8, "upper": 256, "log": True, "condition": on("model", "cnn")},
        "cnn:pooling": {"type": "categorical", "choices": ["max", "avg"], "condition": on("model", "cnn")},
        "cnn:dropout": {"type": "float", "lower": 0.0, "upper": 0.5, "condition": gt("cnn:conv_layers", 2)},
        "resnet:depth": {"type": "ordinal", "sequence": [18, 34, 50, 101], "condition": on("model", "resnet")},
        "resnet:width_mult": {"type": "float", "lower": 0.25, "upper": 2.0, "condition": on("model", "resnet")},
        "resnet:se": {"type": "categorical", "choices": ["yes", "no"], "condition": on("model", "resnet")},
        "resnet:se_ratio": {"type": "float", "lower": 0.05, "upper": 0.5, "condition": on("resnet:se", "yes")},
        "tf:layers": {"type": "int", "lower": 1, "upper": 12, "condition": on("model", "transformer")},
        "tf:heads": {"type": "ordinal", "sequence": [1, 2, 4, 8, 16], "condition": on("model", "transformer")},
        "tf:d_model": {"type": "ordinal", "sequence": [64, 128, 256, 512], "condition": on("model", "transformer")},
        "tf:ff_mult": {"type": "int", "lower": 1, "upper": 8, "condition": on("model", "transformer")},
        "tf:attn_dropout": {"type": "float", "lower": 0.0, "upper": 0.3, "condition": on("model", "transformer")},
        "tf:pos_enc": {"type": "categorical", "choices": ["absolute", "relative", "rotary"],
                       "condition": on("model", "transformer")},
        "tf:rel_buckets": {"type": "int", "lower": 8, "upper": 128, "log": True,
                           "condition": on("tf:pos_enc", "relative")},
        "augmentation": {"type": "ordinal", "sequence": ["none", "light", "heavy"]},
        "mixup_alpha": {"type": "float", "lower": 0.0, "upper": 1.0, "condition": gt("augmentation", "light")},
        "cutmix_prob": {"type": "float", "lower": 0.0, "upper": 1.0, "condition": gt("augmentation", "light")},
        "randaug_n": {"type": "int", "lower": 1, "upper": 4, "condition": gt("augmentation", "none")},
        "label_smoothing": {"type": "float", "lower": 0.0, "upper": 0.3},
        "ema": {"type": "categorical", "choices": ["on", "off"]},
        "ema_decay": {"type": "float", "lower": 0.9, "upper": 0.9999, "log": True, "condition": on("ema", "on")},
        "grad_clip": {"type": "categorical", "choices": ["none", "norm", "value"]},
        "clip_value": {"type": "float", "lower": 0.1, "upper": 10.0, "log": True,
                       "condition": {"parent": "grad_clip", "in": ["norm", "value"]}},
    }
    forbidden = [
        {"all": [{"name": "model", "equals": "transformer"}, {"name": "batch_size", "equals": 512}]},
        {"all": [{"name": "tf:heads", "equals": 16}, {"name": "tf:d_model", "in": [64, 128]}]},
        {"all": [{"name": "optimizer", "equals": "sgd"}, {"name": "lr", "gt": 0.5}]},
    ]
    return SearchSpace.from_dict(spec, forbidden)


@declare(arity=1, n_children=1, kind="mutation")
def user_mutation(space: SearchSpace, genome: Any, rng: np.random.Generator, *, scale: float = 0.05) -> np.ndarray:
    """A user's operator: Cauchy noise on every gene, then repair (the algorithm repairs it again)."""
    return space.repair(np.asarray(genome) + scale * rng.standard_cauchy(len(genome)), rng)


def per_second(fn: Callable[[int], Any], seconds: float, children: int = 1) -> tuple[float, float]:
    """(microseconds per call, genomes per second) of ``fn(i)`` run for about ``seconds``."""
    n, calls = 0, 64
    start = time.perf_counter()
    while True:
        for i in range(calls):
            fn(n + i)
        n += calls
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
        calls = min(calls * 2, 8192)
    us = elapsed / n * 1e6
    return us, children * n / elapsed


def bench_space(name: str, space: SearchSpace, seconds: float) -> list[tuple[str, str, float, float]]:
    rng = np.random.default_rng(0)
    pool = [space.sample(rng) for _ in range(256)]
    raw = [rng.random(space.dim) * 1.4 - 0.2 for _ in range(256)]
    m = len(pool)

    def pick(i: int, k: int = 0) -> np.ndarray:
        return pool[(i * 7 + k * 31) % m]

    # operators as values: what an algorithm calls (the adapter's cost on top of the function)
    def value(op: Any, kind: str, **params: Any) -> Any:
        return resolve_operator(op, kind=kind, owner="bench", option=kind, params=params, space=space)

    builtin = value("gaussian", "mutation")
    user = value(user_mutation, "mutation", scale=0.05)
    deap_mut = value(tools.mutGaussian, "mutation", mu=0.0, sigma=0.1, indpb=0.3)
    deap_cx = value(tools.cxTwoPoint, "crossover")
    cases: list[tuple[str, Callable[[int], Any], int]] = [
        ("sample", lambda i: space.sample(rng), 1),
        ("mutate", lambda i: mutate(space, pick(i), rng), 1),
        ("mutate (branch_rate 0.5)", lambda i: mutate(space, pick(i), rng, branch_rate=0.5), 1),
        ("uniform crossover", lambda i: uniform_crossover(space, pick(i), pick(i, 1), rng), 2),
        ("SBX crossover", lambda i: sbx_crossover(space, pick(i), pick(i, 1), rng), 2),
        ("DE rand/1/bin", lambda i: de_rand_1_bin(space, pick(i), pick(i, 1), pick(i, 2), pick(i, 3), rng), 1),
        ("repair (random vector)", lambda i: space.repair(raw[i % m], rng), 1),
        ("to_config", lambda i: space.to_config(pick(i)), 1),
        ("mutate as a value", lambda i: builtin.vary(space, (pick(i),), rng), 1),
        ("user mutation (value)", lambda i: user.vary(space, (pick(i),), rng), 1),
        ("DEAP mutGaussian (value)", lambda i: deap_mut.vary(space, (pick(i),), rng), 1),
        ("DEAP cxTwoPoint (value)", lambda i: deap_cx.vary(space, (pick(i), pick(i, 1)), rng), 2),
    ]
    rows = []
    for label, fn, children in cases:
        us, rate = per_second(fn, seconds, children)
        rows.append((name, label, us, rate))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="operator throughput")
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    args = parser.parse_args(argv)
    spaces: list[tuple[str, SearchSpace]] = []
    root = os.environ.get("EVOAUTODL_YAHPO_DATA")
    lcbench = Path(root) / "lcbench" / "config_space.json" if root else None
    if lcbench is not None and lcbench.is_file():
        spaces.append(("LCBench (7)", SearchSpace.from_json(lcbench, drop=("OpenML_task_id", "epoch"))))
    else:
        print("LCBench space skipped: set EVOAUTODL_YAHPO_DATA to the YAHPO Gym data folder")
    cond = conditional_space_41()
    spaces.append((f"conditional ({cond.dim})", cond))

    print(f"python {platform.python_version()} on {platform.machine()}; {args.seconds:.2f} s per measurement")
    print(f"{'space':<18} {'operation':<26} {'us/call':>9} {'genomes/s':>12}")
    for name, space in spaces:
        for sname, label, us, rate in bench_space(name, space, args.seconds):
            print(f"{sname:<18} {label:<26} {us:>9.1f} {rate:>12,.0f}")
    for name, space in spaces:
        rng = np.random.default_rng(1)
        pool = [space.sample(rng) for _ in range(256)]

        def cycle(i: int, space: SearchSpace = space, pool: list[np.ndarray] = pool, rng: Any = rng) -> Any:
            return space.to_config(space.repair(mutate(space, pool[i % 256], rng), rng))

        us, _ = per_second(cycle, args.seconds)
        verdict = "met" if us < TARGET_CYCLE_US else "NOT met"
        target = f"target < {TARGET_CYCLE_US:.0f} us: {verdict}"
        print(f"full mutate+repair+to_config cycle on {name}: {us:.1f} us ({target})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
