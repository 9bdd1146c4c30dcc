"""The DEAP bridge: individuals, the repairing toolbox, eaSimple end to end."""

from __future__ import annotations

import copy
import pickle
import random
from typing import Any

import numpy as np
import pytest
from deap import algorithms, base, tools

from evoautodl.operators import (
    Fitness,
    Individual,
    RepairingToolbox,
    make_toolbox,
    mutate,
    one_point_crossover,
    sbx_crossover,
)
from evoautodl.space import SearchSpace


@pytest.fixture(scope="module")
def space() -> SearchSpace:
    """A small conditional space with a forbidden clause."""
    return SearchSpace.from_dict(
        {
            "optimizer": {"type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
            "lr": {"type": "float", "lower": 1e-4, "upper": 1.0, "log": True},
            "momentum": {"type": "float", "lower": 0.0, "upper": 0.99,
                         "condition": {"parent": "optimizer", "equals": "sgd"}},
            "nesterov": {"type": "categorical", "choices": ["yes", "no"],
                         "condition": {"all": [{"parent": "optimizer", "equals": "sgd"},
                                               {"parent": "momentum", "gt": 0.5}]}},
            "layers": {"type": "int", "lower": 1, "upper": 6},
            "width": {"type": "ordinal", "sequence": [16, 32, 64, 128, 256]},
            "dropout": {"type": "float", "lower": 0.0, "upper": 0.5, "condition": {"parent": "layers", "gt": 2}},
        },
        [{"all": [{"name": "width", "equals": 256}, {"name": "layers", "ge": 5}]}],
    )


def loss(space: SearchSpace, ind: Any) -> tuple[float]:
    cfg = space.to_config(ind)
    value = (np.log10(cfg["lr"]) + 2.0) ** 2 + 0.1 * abs(cfg["layers"] - 3) + cfg.get("dropout", 0.0)
    return (float(value) + (0.0 if cfg["optimizer"] == "adam" else 0.3),)


def assert_valid(space: SearchSpace, ind: Any) -> None:
    assert len(ind) == space.dim
    assert space.is_valid(space.to_config(ind))
    assert np.array_equal(space.repair(np.asarray(ind)), np.asarray(ind))


def test_individual_is_a_deap_individual() -> None:
    ind = Individual([0.1, 0.2], weights=(-1.0, 1.0))
    assert isinstance(ind, list) and isinstance(ind.fitness, base.Fitness)
    assert not ind.fitness.valid
    ind.fitness.values = (1.0, 2.0)
    assert ind.fitness.wvalues == (-1.0, 2.0)
    clone = copy.deepcopy(ind)
    assert clone == ind and clone is not ind and clone.fitness.weights == (-1.0, 1.0)
    assert clone.fitness.values == (1.0, 2.0)
    ind.extra = "meta"  # type: ignore[attr-defined]
    back = pickle.loads(pickle.dumps(ind))
    assert back == ind and back.fitness.values == (1.0, 2.0) and back.fitness.weights == (-1.0, 1.0)
    assert back.extra == "meta"  # type: ignore[attr-defined]
    assert np.array_equal(back.genome, [0.1, 0.2])
    default = Individual([0.5])
    assert default.fitness.weights == (-1.0,)
    with pytest.raises(ValueError):
        Fitness(weights=())
    a, b = Individual([0.0]), Individual([0.0])
    a.fitness.values, b.fitness.values = (1.0,), (2.0,)
    assert a.fitness > b.fitness, "minimisation by default"


def test_toolbox_registrations(space: SearchSpace) -> None:
    toolbox = make_toolbox(space, np.random.default_rng(0))
    assert isinstance(toolbox, RepairingToolbox)
    for name in ("individual", "population", "mutate", "mate", "select", "clone", "map"):
        assert hasattr(toolbox, name)
    assert not hasattr(toolbox, "evaluate")
    pop = toolbox.population(n=10)
    assert all(isinstance(ind, Individual) for ind in pop)
    for ind in pop:
        assert_valid(space, ind)


def test_deap_calling_convention(space: SearchSpace) -> None:
    toolbox = make_toolbox(space, np.random.default_rng(1))
    a, b = toolbox.individual(), toolbox.individual()
    a.fitness.values, b.fitness.values = (1.0,), (2.0,)
    out = toolbox.mutate(a)
    assert isinstance(out, tuple) and len(out) == 1 and out[0] is a
    assert not a.fitness.valid
    ra, rb = toolbox.mate(a, b)
    assert ra is a and rb is b and not b.fitness.valid
    assert_valid(space, a)
    assert_valid(space, b)
    for ind in (a, b):
        ind.fitness.values = loss(space, ind)
    chosen = toolbox.select([a, b], 4)
    assert len(chosen) == 4 and all(c is a or c is b for c in chosen)


def test_deap_tools_operators_are_repaired(space: SearchSpace) -> None:
    random.seed(0)
    toolbox = make_toolbox(space, np.random.default_rng(2))
    toolbox.register("mutate", tools.mutGaussian, mu=0.0, sigma=0.8, indpb=0.9)
    toolbox.register("mate", tools.cxTwoPoint)
    pop = toolbox.population(n=20)
    for ind in pop:
        ind.fitness.values = (0.0,)
    for i in range(0, 20, 2):
        toolbox.mate(pop[i], pop[i + 1])
        toolbox.mutate(pop[i])
    for ind in pop:
        assert_valid(space, ind)
        assert not ind.fitness.valid
    toolbox.register("mate", tools.cxBlend, alpha=3.0)
    toolbox.register("mutate", tools.mutPolynomialBounded, eta=5.0, low=-1.0, up=2.0, indpb=1.0)
    for i in range(0, 20, 2):
        toolbox.mutate(pop[i])
        toolbox.mate(pop[i], pop[i + 1])
    for ind in pop:
        assert_valid(space, ind)


def test_user_functions_are_repaired(space: SearchSpace) -> None:
    toolbox = make_toolbox(space, np.random.default_rng(3))

    def scramble(ind: Individual, value: float) -> tuple[Individual]:
        ind[:] = [value] * len(ind)
        return (ind,)

    def new_object(ind: Individual) -> Individual:  # returns a fresh individual, not a tuple
        return Individual([float("nan")] * len(ind))

    toolbox.register("mutate", scramble, value=7.5)
    ind = toolbox.individual()
    (same,) = toolbox.mutate(ind)
    assert same is ind
    assert_valid(space, ind)
    toolbox.register("mutate", new_object)
    out = toolbox.mutate(ind)
    assert_valid(space, out)
    # toolbox.decorate keeps the repair
    toolbox.register("mutate", scramble, value=-3.0)
    toolbox.decorate("mutate", lambda f: (lambda *a, **k: f(*a, **k)))
    toolbox.mutate(ind)
    assert_valid(space, ind)


def test_pure_operator_choices(space: SearchSpace) -> None:
    toolbox = make_toolbox(
        space, np.random.default_rng(4),
        mutation=mutate, mutation_params={"float_op": "polynomial", "branch_rate": 0.5},
        crossover=sbx_crossover, crossover_params={"eta": 5.0},
        selection="truncation",
    )
    pop = toolbox.population(n=6)
    before = [list(ind) for ind in pop]
    toolbox.mate(pop[0], pop[1])
    toolbox.mutate(pop[2])
    assert pop[0] != before[0] or pop[1] != before[1]
    for ind in pop:
        assert_valid(space, ind)
    toolbox2 = make_toolbox(space, np.random.default_rng(4), crossover=one_point_crossover)
    a, b = toolbox2.individual(), toolbox2.individual()
    toolbox2.mate(a, b)
    assert_valid(space, a)


def test_ea_simple_end_to_end(space: SearchSpace) -> None:
    random.seed(42)
    toolbox = make_toolbox(space, np.random.default_rng(42))
    toolbox.register("evaluate", loss, space)
    pop = toolbox.population(n=24)
    hof = tools.HallOfFame(3)
    stats = tools.Statistics(lambda ind: ind.fitness.values[0])
    stats.register("min", np.min)
    pop, log = algorithms.eaSimple(pop, toolbox, cxpb=0.6, mutpb=0.4, ngen=12, stats=stats, halloffame=hof,
                                   verbose=False)
    assert len(log) == 13
    assert log[-1]["min"] <= log[0]["min"]
    for ind in [*pop, *hof]:
        assert_valid(space, ind)
        assert ind.fitness.valid
    best = space.to_config(hof[0])
    assert hof[0].fitness.values == loss(space, hof[0])
    assert best["optimizer"] in ("sgd", "adam", "rmsprop")


def test_multi_objective_mu_plus_lambda(space: SearchSpace) -> None:
    random.seed(7)
    toolbox = make_toolbox(space, np.random.default_rng(7), n_objectives=2)

    def two(ind: Individual) -> tuple[float, float]:
        cfg = space.to_config(ind)
        return loss(space, ind)[0], float(cfg["layers"] * cfg["width"])

    toolbox.register("evaluate", two)
    pop = toolbox.population(n=16)
    assert pop[0].fitness.weights == (-1.0, -1.0)
    pop, _ = algorithms.eaMuPlusLambda(pop, toolbox, mu=16, lambda_=16, cxpb=0.5, mutpb=0.5, ngen=6, verbose=False)
    for ind in pop:
        assert_valid(space, ind)
    front = tools.sortNondominated(pop, len(pop), first_front_only=True)[0]
    assert len(front) >= 2
    restored = pickle.loads(pickle.dumps(pop))
    assert [r.fitness.values for r in restored] == [p.fitness.values for p in pop]
