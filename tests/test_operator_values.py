"""Operators as values: names, callables, "module:function", DEAP functions and toolbox operators,
inside every algorithm that takes them, checked when the algorithm is built."""

from __future__ import annotations

import functools
import pickle
from typing import Any

import numpy as np
import pytest
from deap import base, tools

from evoautodl.algorithms import get_algorithm
from evoautodl.errors import ConfigError
from evoautodl.fidelity import BudgetLadder
from evoautodl.operators import Operator, declare, make_toolbox, operator_name, resolve_operator
from evoautodl.records import Result, Status
from evoautodl.testing import check_algorithm
from evoautodl.workloads.synthetic import MixedRastrigin

LADDER = BudgetLadder(1, 9, 3)


@pytest.fixture(scope="module")
def space() -> Any:
    return MixedRastrigin(with_forbidden=True).search_space()


@declare(arity=1, n_children=1, kind="mutation")
def nudge(space: Any, genome: Any, rng: np.random.Generator, *, step: float = 0.1) -> np.ndarray:
    child = np.array(genome, dtype=np.float64)
    i = int(rng.integers(len(child)))
    child[i] += step * rng.standard_normal()
    return space.repair(child, rng)


def midpoint(space: Any, a: Any, b: Any, rng: np.random.Generator) -> np.ndarray:
    """An undeclared native crossover with one child: its arity comes from the signature, its children from a probe."""
    return space.repair((np.asarray(a) + np.asarray(b)) / 2 + 0.01 * rng.standard_normal(len(a)), rng)


@declare(arity=4, n_children=1, kind="crossover")
def de_mean(space: Any, target: Any, r1: Any, r2: Any, r3: Any, rng: np.random.Generator, *,
            weight: float = 0.5) -> np.ndarray:
    t, a, b, c = (np.asarray(x) for x in (target, r1, r2, r3))
    return space.repair(t + weight * (a - t) + 0.3 * (b - c), rng)


@declare(arity=0, n_children=0, kind="selection")
def best_k(objectives: Any, k: int, rng: np.random.Generator) -> np.ndarray:
    f = np.asarray(objectives, dtype=np.float64).reshape(len(objectives), -1)[:, 0]
    order = np.argsort(f, kind="stable")
    return order[np.arange(k) % len(order)]


def _drive(algo: Any, n: int = 40) -> list[Any]:
    """Ask and tell ``n`` results (the synthetic workload), returning the trials."""
    wl = MixedRastrigin(max_budget=algo.max_budget, with_forbidden=True,
                        multi_objective=algo.n_objectives > 1)
    trials: list[Any] = []
    from evoautodl.backends.base import execute_trial
    from evoautodl.workloads.base import WorkerContext

    ctx = WorkerContext.local()
    pending: list[Any] = []
    while len(trials) < n:
        new = algo.ask(4 - len(pending))
        trials += new
        pending += new
        if not pending:  # finished
            break
        algo.tell(execute_trial(wl, pending.pop(0), ctx))
    return trials


# ---------------------------------------------------------------------------------------------- inside algorithms
@pytest.mark.parametrize(("name", "options", "label"), [
    ("ga", {"mutation": nudge, "crossover": midpoint, "selection": best_k}, "midpoint+nudge"),
    ("steady_state", {"mutation": "test_operator_values:nudge", "mutation_params": {"step": 0.3}}, "crossover+nudge"),
    ("regularized", {"mutation": nudge, "selection": best_k}, "nudge"),
    ("asha_ea", {"mutation": nudge, "crossover": midpoint, "n_initial": 4, "ladder": LADDER}, "midpoint+nudge"),
    ("pbt", {"mutation": nudge, "population_size": 6, "ladder": LADDER}, "exploit+nudge"),
    ("nsga2", {"mutation": nudge, "crossover": "uniform", "population_size": 6}, "crossover+nudge"),
    ("de", {"strategy": de_mean, "strategy_params": {"weight": 0.7}, "population_size": 5}, "de:de_mean"),
    ("dehb", {"strategy": "test_operator_values:de_mean", "ladder": LADDER}, "de_mean"),
    ("adaptive_mf", {"mutation": nudge, "crossover": midpoint, "selection": best_k, "n_initial": 4,
                     "n_candidates": 4, "max_model_points": 20, "ladder": LADDER}, "midpoint+nudge+screened"),
    ("adaptive_mf", {"mutation": "deap.tools:mutGaussian", "mutation_params": {"mu": 0.0, "sigma": 0.1, "indpb": 0.3},
                     "n_initial": 4, "n_candidates": 4, "max_model_points": 20, "ladder": LADDER},
     "crossover+mutGaussian+screened"),
])
def test_user_operators_run_inside_every_algorithm(space: Any, name: str, options: dict[str, Any],
                                                   label: str) -> None:
    options = dict(options)
    ladder = options.pop("ladder", None)
    algo = get_algorithm(name, space, seed=1, max_budget=9, ladder=ladder, **options)
    trials = _drive(algo, 120 if name == "dehb" else 60)
    assert label in {t.operator for t in trials}, {t.operator for t in trials}
    clone = pickle.loads(pickle.dumps(algo.state_dict()))  # state.pkl holds the operator
    again = get_algorithm(name, space, seed=1, max_budget=9, ladder=ladder, **options)
    again.load_state_dict(clone)
    assert again.ask(2) == algo.ask(2)


def test_deap_functions_and_toolbox_operators_plug_in(space: Any) -> None:
    toolbox = make_toolbox(space, np.random.default_rng(3))
    toolbox.register("mutate", tools.mutGaussian, mu=0.0, sigma=0.2, indpb=0.3)  # repaired by the toolbox
    toolbox.register("mate", tools.cxTwoPoint)
    algo = get_algorithm("ga", space, seed=0, population_size=6, mutation=toolbox.mutate, crossover=toolbox.mate,
                         selection=toolbox.select)
    ops = {t.operator for t in _drive(algo, 30)}
    assert ops <= {"sample", "cxTwoPoint+mutGaussian", "mutGaussian"} and "cxTwoPoint+mutGaussian" in ops
    plain = base.Toolbox()  # a plain DEAP toolbox works as well
    plain.register("mutate", tools.mutPolynomialBounded, eta=20.0, low=0.0, up=1.0, indpb=0.5)
    plain.register("select", tools.selTournament, tournsize=2)
    algo = get_algorithm("steady_state", space, seed=0, population_size=6, mutation=plain.mutate,
                         selection=plain.select)
    assert "crossover+mutPolynomialBounded" in {t.operator for t in _drive(algo, 30)}
    ga = get_algorithm("ga", space, seed=0, population_size=6, mutation=tools.mutGaussian,
                       mutation_params={"mu": 0.0, "sigma": 0.1, "indpb": 0.2}, crossover="deap.tools:cxUniform",
                       crossover_params={"indpb": 0.5})
    assert "cxUniform+mutGaussian" in {t.operator for t in _drive(ga, 30)}


def test_deap_operators_are_deterministic_and_leave_python_random_alone(space: Any) -> None:
    import random

    random.seed(11)
    before = random.random()
    random.seed(11)

    def run() -> list[Any]:
        algo = get_algorithm("ga", space, seed=4, population_size=6, mutation=tools.mutGaussian,
                             mutation_params={"mu": 0.0, "sigma": 0.1, "indpb": 0.3})
        return [t.genome for t in _drive(algo, 30)]

    assert run() == run()
    assert random.random() == before  # the global state is restored after every call


def test_builtin_defaults_keep_their_labels_and_draws(space: Any) -> None:
    a = get_algorithm("ga", space, seed=2, population_size=6)
    b = get_algorithm("ga", space, seed=2, population_size=6, mutation="gaussian", crossover="uniform",
                      selection="tournament", mutation_params={"sigma": 0.1})
    ta, tb = _drive(a, 30), _drive(b, 30)
    assert ta == tb
    assert {t.operator for t in ta} <= {"sample", "mutate", "crossover+mutate"}


@pytest.mark.parametrize(("name", "options"), [
    ("asha_ea", {"n_initial": 4}),
    ("adaptive_mf", {"n_initial": 4, "n_candidates": 4, "max_model_points": 20}),
])
def test_multi_fidelity_defaults_are_the_builtin_names(space: Any, name: str, options: dict[str, Any]) -> None:
    """Naming the default operators (and the defaults' settings) changes no draw and no label."""
    a = get_algorithm(name, space, seed=3, ladder=LADDER, **options)
    b = get_algorithm(name, space, seed=3, ladder=LADDER, mutation="gaussian", crossover="uniform",
                      selection="tournament", mutation_params={"sigma": 0.2, "rate": 0.3},
                      selection_params={"size": 3}, **options)
    ta, tb = _drive(a, 40), _drive(b, 40)
    assert ta == tb
    assert "crossover+mutate" in {t.operator.removesuffix("+screened") for t in ta}


def test_adaptive_mf_refuses_builtin_settings_with_user_operators(space: Any) -> None:
    with pytest.raises(ConfigError, match="adaptive_mf: mutation_sigma sets the built-in mutation, but mutation is "
                                          "'nudge'"):
        get_algorithm("adaptive_mf", space, ladder=LADDER, mutation=nudge, mutation_sigma=0.3)
    with pytest.raises(ConfigError, match="adaptive_mf: tournament_size sets the built-in tournament"):
        get_algorithm("adaptive_mf", space, ladder=LADDER, selection="truncation", tournament_size=5)
    with pytest.raises(ConfigError, match="adaptive_mf: crossover=test_operator_values:nudge: it is declared as a "
                                          "mutation"):
        get_algorithm("adaptive_mf", space, ladder=LADDER, crossover=nudge)


def test_algorithms_with_user_operators_pass_the_contract() -> None:
    from evoautodl.algorithms.ga import GeneticAlgorithm

    report = check_algorithm(functools.partial(GeneticAlgorithm, population_size=6, mutation=nudge, crossover=midpoint),
                             checks=["determinism", "resume"])
    assert len(report.passed) == 4


# ---------------------------------------------------------------------------------------------- checked when built
def _nested() -> Any:
    def inner(space: Any, genome: Any, rng: np.random.Generator) -> Any:
        return genome
    return inner


@pytest.mark.parametrize(("options", "message"), [
    ({"mutation": "blend"}, "ga: mutation='blend': unknown mutation (built-in: 'gaussian', 'polynomial'"),
    ({"crossover": nudge}, "ga: crossover=test_operator_values:nudge: it is declared as a mutation, but "
                           "crossover is needed here"),
    ({"mutation": midpoint}, "it takes 2 positional argument(s) (a, b), but 1 parent(s) are passed here"),
    ({"mutation": lambda space, g, rng: g}, "cannot be pickled"),
    ({"mutation": _nested()}, "define the operator with def at module level"),
    ({"mutation": nudge, "mutation_params": {"stepp": 1}}, "got an unexpected keyword argument 'stepp'"),
    ({"mutation": nudge, "mutation_params": [1, 2]}, "ga: mutation_params must be a table of keyword parameters"),
    ({"mutation": nudge, "mutation_sigma": 0.3}, "ga: mutation_sigma sets the built-in mutation, but mutation is "
                                                 "'nudge'; give its parameters in mutation_params"),
    ({"selection": best_k, "tournament_size": 5}, "ga: tournament_size sets the built-in tournament, but selection is "
                                                  "'best_k'; give its parameters in selection_params"),
    ({"selection": "truncation", "tournament_size": 5}, "but selection is 'truncation'"),
    ({"mutation": "numpy:not_there"}, "module 'numpy' has no attribute 'not_there'"),
    ({"mutation": 3}, "expected a mutation name, a callable or 'module:function', got int"),
    ({"crossover": "deap.tools:mutFlipBit", "crossover_params": {"indpb": 0.1}},
     "it takes 1 positional argument(s) (individual), but 2 parent(s) are passed here"),
])
def test_bad_operator_options_are_one_config_error(space: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        get_algorithm("ga", space, **options)
    assert message in str(err.value)


@declare(arity=2, n_children=2, kind="crossover")
def one_child(space: Any, a: Any, b: Any, rng: np.random.Generator) -> Any:
    return space.repair(np.asarray(a), rng)


@declare(arity=1, n_children=1, kind="mutation")
def crashes(space: Any, genome: Any, rng: np.random.Generator) -> Any:
    raise KeyError("lr")


@declare(arity=1, n_children=1, kind="mutation")
def short(space: Any, genome: Any, rng: np.random.Generator) -> Any:
    return np.zeros(3)


def test_operators_that_fail_or_lie_fail_when_built(space: Any) -> None:
    with pytest.raises(ConfigError, match="returned 1 child"):
        resolve_operator(one_child, kind="crossover", owner="ga", option="crossover", arity=2, space=space)
    with pytest.raises(ConfigError, match="failed on sampled parents: KeyError: 'lr'"):
        resolve_operator(crashes, kind="mutation", owner="ga", option="mutation", arity=1, space=space)
    with pytest.raises(ConfigError, match=r"genome of shape \(3,\)"):
        resolve_operator(short, kind="mutation", owner="ga", option="mutation", arity=1, space=space)


def test_de_strategy_rules(space: Any) -> None:
    with pytest.raises(ConfigError, match="de: mutation_factor sets the built-in strategies"):
        get_algorithm("de", space, strategy=de_mean, mutation_factor=0.8)
    with pytest.raises(ConfigError, match="strategy_params are for a user's strategy"):
        get_algorithm("de", space, strategy_params={"weight": 1.0})
    with pytest.raises(ConfigError, match="dehb: strategy=test_operator_values:nudge: it is declared as a mutation"):
        get_algorithm("dehb", space, ladder=LADDER, strategy=nudge)
    with pytest.raises(ConfigError, match=r"it takes 2 positional argument\(s\) \(a, b\), but 4 parent\(s\)"):
        get_algorithm("de", space, strategy=midpoint)


def test_operator_names_and_values(space: Any) -> None:
    toolbox = make_toolbox(space, np.random.default_rng(0), mutation=nudge)
    assert operator_name(toolbox.mutate) == "nudge" and operator_name(toolbox.mate) == "uniform_crossover"
    assert operator_name(functools.partial(midpoint)) == "midpoint"
    op = resolve_operator(midpoint, kind="crossover", owner="x", option="crossover", space=space)
    assert isinstance(op, Operator) and (op.arity, op.n_children, op.style) == (2, 1, "native")
    assert resolve_operator(op, kind="crossover", owner="x", option="crossover") is op
    children = op.vary(space, [space.sample(np.random.default_rng(1))] * 2, np.random.default_rng(2))
    assert len(children) == 1 and space.is_valid(space.to_config(children[0]))


def test_a_user_selection_sees_failed_members_as_infinite(space: Any) -> None:
    algo = get_algorithm("regularized", space, seed=0, population_size=3, selection=best_k)
    for t in algo.ask(3):
        algo.tell(Result(trial=t, status=Status.FAILED, error="x"))
    assert [m.fitness for m in algo.population] == [np.inf] * 3 and len(algo.ask(2)) == 2
    with pytest.raises(ConfigError, match="regularized: sample_size sets the built-in tournament"):
        get_algorithm("regularized", space, selection=best_k, sample_size=7)


def test_toolbox_operators_draw_from_the_algorithm_rng(space: Any) -> None:
    """Two algorithms built around one toolbox are each a function of their seed; the toolbox's rng is untouched."""
    from evoautodl.algorithms.ga import GeneticAlgorithm

    toolbox = make_toolbox(space, np.random.default_rng(0))
    toolbox.register("mutate", tools.mutGaussian, mu=0.0, sigma=0.2, indpb=0.3)
    before = toolbox.rng.bit_generator.state
    factory = functools.partial(GeneticAlgorithm, population_size=6, mutation=toolbox.mutate, crossover=toolbox.mate,
                                selection=toolbox.select)
    report = check_algorithm(factory, checks=["determinism", "resume"], ladder="without")
    assert len(report.passed) == 2
    assert toolbox.rng.bit_generator.state == before


@pytest.mark.parametrize(("common", "message"), [
    ({"seed": "3"}, "ga: seed must be an integer >= 0, got '3'"),
    ({"seed": -1}, "ga: seed must be an integer >= 0, got -1"),
    ({"n_objectives": 0}, "ga: n_objectives must be an integer >= 1, got 0"),
    ({"max_budget": "18"}, "ga: max_budget must be a number > 0, got '18'"),
    ({"ladder": (1, 9, 3)}, "algorithm 'ga': ladder must be a BudgetLadder, got tuple"),
])
def test_common_arguments_are_checked_once_in_the_base(space: Any, common: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        get_algorithm("ga", space, **common)
    assert message in str(err.value)


def test_settings_of_the_other_builtin_mutation_are_refused(space: Any) -> None:
    with pytest.raises(ConfigError, match="ga: mutation_sigma does not apply to the polynomial mutation"):
        get_algorithm("ga", space, mutation="polynomial", mutation_sigma=0.3)
    with pytest.raises(ConfigError, match="nsga2: mutation_eta does not apply to the gaussian mutation"):
        get_algorithm("nsga2", space, mutation="gaussian", mutation_eta=5.0)
    with pytest.raises(ConfigError, match="nsga2: crossover_eta sets the built-in 'sbx' crossover"):
        get_algorithm("nsga2", space, crossover="uniform", crossover_eta=5.0)
    get_algorithm("ga", space, mutation="polynomial", mutation_params={"eta": 5.0})
    get_algorithm("nsga2", space, mutation="gaussian", mutation_params={"sigma": 0.3})


@pytest.mark.parametrize(("options", "message"), [
    ({"replacement": "plus", "elite_count": 3}, "ga: elite_count applies to replacement='generational' only"),
    ({"reevaluate_on_budget_increase": False}, "ga: reevaluate_on_budget_increase=false has no effect here"),
    ({"max_budget": 50, "ladder": LADDER}, "ga: max_budget=50 differs from the ladder's maximum 9"),
])
def test_ignored_ga_settings_are_errors(space: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        get_algorithm("ga", space, **options)
    assert message in str(err.value)
    get_algorithm("ga", space, ladder=LADDER, generations_per_rung=2, reevaluate_on_budget_increase=False)


def test_default_checkpoint_hygiene_leaves_what_on_result_discarded(space: Any) -> None:
    """An algorithm that discards its results' checkpoints itself (the contract before manages_checkpoints)
    hands each key back once; one that does nothing keeps only the incumbent's."""
    from evoautodl.algorithms.random_search import RandomSearch

    class DiscardsItself(RandomSearch):
        def on_result(self, result: Result) -> None:
            self.discard_checkpoint(result.checkpoint)

    for cls, kept in ((DiscardsItself, 0), (RandomSearch, 1)):
        algo = cls(space, seed=0, max_budget=9)
        _drive(algo, 12)
        discarded = algo.pop_discarded_checkpoints()
        assert len(discarded) == len(set(discarded)) == algo.n_told - kept
        assert (algo.incumbent_checkpoint is None) == (kept == 0)
