"""A user-scripted operator in a small evolution loop.

The operator is a heavy-tailed Cauchy mutation written in plain DEAP style (it
modifies the individual in place and returns a tuple). It knows nothing about
hyperparameter types, bounds or conditions: it happily pushes genes outside
the unit cube. Registered on the evoautodl toolbox, its output still goes
through ``space.repair``, so every configuration it produces is valid.

The search space is LCBench's (when EVOAUTODL_YAHPO_DATA points at the YAHPO
Gym data) or a small synthetic conditional space (``--synthetic``, or when the
data are missing); the objective is a cheap synthetic function of the
configuration, so the script runs in a second.

    python experiments/custom_operator.py --generations 20 --population 16
"""

from __future__ import annotations

import argparse
import math
import os
import random
from pathlib import Path
from typing import Any

import numpy as np

from evoautodl.operators import make_toolbox
from evoautodl.space import SearchSpace


# ---------------------------------------------------------------------------- the custom operator
def cauchy_mutation(individual: Any, scale: float, indpb: float, rng: np.random.Generator) -> tuple[Any]:
    """Add Cauchy(0, scale) noise to each gene with probability ``indpb`` (DEAP style, in place)."""
    for i in range(len(individual)):
        if rng.random() < indpb:
            individual[i] += scale * float(rng.standard_cauchy())
    return (individual,)


# ---------------------------------------------------------------------------- problem
def synthetic_space() -> SearchSpace:
    return SearchSpace.from_dict({
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
        "learning_rate": {"type": "float", "lower": 1e-4, "upper": 0.1, "log": True},
        "momentum": {"type": "float", "lower": 0.0, "upper": 0.99,
                     "condition": {"parent": "optimizer", "equals": "sgd"}},
        "num_layers": {"type": "int", "lower": 1, "upper": 5},
        "max_units": {"type": "int", "lower": 64, "upper": 1024, "log": True},
        "max_dropout": {"type": "float", "lower": 0.0, "upper": 1.0, "condition": {"parent": "num_layers", "gt": 1}},
    })


def load_space(force_synthetic: bool) -> tuple[SearchSpace, str]:
    root = os.environ.get("EVOAUTODL_YAHPO_DATA")
    path = Path(root) / "lcbench" / "config_space.json" if root else None
    if not force_synthetic and path is not None and path.is_file():
        return SearchSpace.from_json(path, drop=("OpenML_task_id", "epoch")), "LCBench"
    return synthetic_space(), "synthetic"


def objective(config: dict[str, Any]) -> float:
    """A smooth toy loss with an optimum near lr=3e-3, 3 layers, 256 units, dropout 0.2."""
    loss = (math.log10(config["learning_rate"]) + 2.5) ** 2
    loss += 0.05 * abs(config["num_layers"] - 3) + 0.3 * (math.log2(config["max_units"]) - 8) ** 2 / 9
    loss += (config.get("max_dropout", 0.2) - 0.2) ** 2
    loss += 0.5 * (config.get("momentum", 0.9) - 0.9) ** 2 + 0.01 * config.get("weight_decay", 0.0)
    return loss


# ---------------------------------------------------------------------------- the loop
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--synthetic", action="store_true", help="use the synthetic space even if LCBench is there")
    args = parser.parse_args(argv)

    space, name = load_space(args.synthetic)
    rng = np.random.default_rng(args.seed)
    random.seed(args.seed)
    toolbox = make_toolbox(space, rng)
    toolbox.register("mutate", cauchy_mutation, scale=0.05, indpb=0.4, rng=rng)  # repaired by the toolbox
    toolbox.register("evaluate", lambda ind: (objective(space.to_config(ind)),))

    pop = toolbox.population(n=args.population)
    for ind in pop:
        ind.fitness.values = toolbox.evaluate(ind)
    n_checked = len(pop)
    print(f"space: {name} ({space!r}); operator: Cauchy mutation (user script) + condition-aware uniform crossover")
    print(f"{'gen':>4} {'best':>10} {'median':>10}")
    for gen in range(1, args.generations + 1):
        parents = [toolbox.clone(p) for p in toolbox.select(pop, args.population)]
        for a, b in zip(parents[::2], parents[1::2]):
            if rng.random() < 0.5:
                toolbox.mate(a, b)
        for child in parents:
            toolbox.mutate(child)
            assert space.is_valid(space.to_config(child)), "the toolbox repairs every child"
            child.fitness.values = toolbox.evaluate(child)
        n_checked += len(parents)
        pop = sorted(pop + parents, key=lambda ind: ind.fitness.values[0])[: args.population]  # (mu + lambda)
        values = [ind.fitness.values[0] for ind in pop]
        print(f"{gen:>4} {min(values):>10.4f} {float(np.median(values)):>10.4f}")
    best = pop[0]
    print(f"best loss {best.fitness.values[0]:.4f}: {space.to_config(best)}")
    print(f"all {n_checked} evaluated configurations were valid")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
