"""Algorithm-specific behaviour: replacement, aging, one-to-one selection, Pareto fronts, budget schedules, registry."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from evoautodl.algorithms import ALGORITHMS, Algorithm, Member, algorithm_options, available_algorithms, get_algorithm
from evoautodl.algorithms.de import DifferentialEvolution
from evoautodl.algorithms.ga import GeneticAlgorithm
from evoautodl.algorithms.nsga2 import NSGA2
from evoautodl.algorithms.random_search import RandomSearch
from evoautodl.algorithms.regularized import RegularizedEvolution
from evoautodl.algorithms.steady_state import SteadyStateEA
from evoautodl.backends.serial import SerialBackend
from evoautodl.errors import ConfigError
from evoautodl.fidelity import BudgetLadder
from evoautodl.operators import pareto_ranks
from evoautodl.records import Result, Status, Trial
from evoautodl.runner import Runner, StopCriteria
from evoautodl.space import SearchSpace
from evoautodl.workloads.synthetic import MixedRastrigin


@pytest.fixture(scope="module")
def space() -> SearchSpace:
    return MixedRastrigin().search_space()


def _sphere(t: Trial) -> float:
    return float(np.sum((np.asarray(t.genome) - 0.3) ** 2))


def _ok(t: Trial, value: float | tuple[float, ...]) -> Result:
    objectives = value if isinstance(value, tuple) else (value,)
    return Result(trial=t, status=Status.OK, objectives=objectives, epochs_trained=t.budget_epochs,
                  checkpoint=t.checkpoint_key)


def _generation(algo: Algorithm, f: Callable[[Trial], Any] = _sphere) -> list[Trial]:
    """Ask the whole current generation (in odd batch sizes), tell it in reverse order."""
    trials: list[Trial] = []
    while batch := algo.ask(3):
        trials += batch
    assert algo.ask(5) == []  # the barrier
    for t in reversed(trials):
        algo.tell(_ok(t, f(t)))
    return trials


def _run(name: str, wl: MixedRastrigin, seed: int, n: int, **options: Any) -> tuple[Algorithm, list[Result]]:
    algo = get_algorithm(name, wl.search_space(), seed=seed, max_budget=wl.max_budget, **options)
    results: list[Result] = []
    Runner(algo, SerialBackend(wl), stop=StopCriteria(max_evaluations=n), on_result=results.append,
           handle_signals=False).run()
    return algo, results


# ---------------------------------------------------------------------------------------------- GA
@pytest.mark.parametrize("options", [{"replacement": "plus"}, {"replacement": "comma", "offspring_size": 20},
                                     {"replacement": "generational"}, {"crossover": "sbx"},
                                     {"crossover": "one_point"}], ids=lambda o: "-".join(map(str, o.values())))
def test_ga_beats_random_search(options: dict[str, Any]) -> None:
    wl = MixedRastrigin(max_budget=9)
    ga_last, rs_last = [], []
    for seed in range(3):
        _, ga = _run("ga", wl, seed, 200, population_size=10, **options)
        _, rs = _run("random", wl, seed, 200)
        ga_last.append(np.mean([r.objective for r in ga[-50:]]))
        rs_last.append(np.mean([r.objective for r in rs[-50:]]))
        assert min(r.objective for r in ga) < min(r.objective for r in rs) + 0.05
    assert np.mean(ga_last) < np.mean(rs_last) - 0.1


@pytest.mark.parametrize("replacement", ["plus", "comma", "generational"])
def test_ga_replacement(space: SearchSpace, replacement: str) -> None:
    mu = 4
    ga = GeneticAlgorithm(space, seed=1, population_size=mu, replacement=replacement, elite_count=1)
    _generation(ga)
    assert ga.generation == 1 and len(ga.population) == mu
    for _ in range(3):
        parents = list(ga.population)
        children = _generation(ga)
        assert ga.generation >= 2 and len(ga.population) == mu
        got = sorted(m.fitness for m in ga.population)
        child_f = sorted(_sphere(t) for t in children)
        parent_f = sorted(m.fitness for m in parents)
        if replacement == "plus":
            assert got == sorted(parent_f + child_f)[:mu]
        elif replacement == "comma":
            assert got == child_f[:mu]
        else:
            assert got == sorted(parent_f[:1] + child_f[: mu - 1])
        assert all(t.generation == ga.generation - 1 for t in children)
        assert all(t.operator in ("mutate", "crossover+mutate") and t.parent_ids for t in children)


def test_ga_barrier_and_failures_count_as_evaluated(space: SearchSpace) -> None:
    ga = GeneticAlgorithm(space, seed=2, population_size=4)
    first = ga.ask(10)
    assert len(first) == 4 and ga.ask(1) == []
    for t in first[:3]:
        ga.tell(Result(trial=t, status=Status.FAILED, error="boom"))
    assert ga.ask(1) == [] and ga.generation == 0
    ga.tell(_ok(first[3], 0.5))
    assert ga.generation == 1
    assert sorted(m.fitness for m in ga.population) == [0.5, math.inf, math.inf, math.inf]
    children = ga.ask(10)
    assert len(children) == 4
    # every child has the only finite member among its parents more often than chance: just check validity
    assert all(space.is_valid(t.config) for t in children)


def test_ga_budget_schedule_raises_budgets_and_reevaluates_survivors(space: SearchSpace) -> None:
    ga = GeneticAlgorithm(space, seed=3, population_size=3, budget_schedule=[(0, 1), (2, 3), (3, 9)],
                          max_budget=9)
    budgets: dict[int, set[float]] = {}
    promoted: list[Trial] = []
    for _ in range(5):
        before = {m.individual_id: m for m in ga.population}
        trials = _generation(ga)
        for t in trials:
            budgets.setdefault(t.generation, set()).add(t.budget_epochs)
        promoted = [t for t in trials if t.operator == "promote"]
        for t in promoted:  # continues the survivor's checkpoint, same individual
            assert t.individual_id in before and t.resume_from == before[t.individual_id].checkpoint
            assert before[t.individual_id].budget_epochs < t.budget_epochs
        discarded = ga.pop_discarded_checkpoints()
        assert all(m.checkpoint not in discarded for m in ga.population)
        if promoted:
            assert {before[t.individual_id].checkpoint for t in promoted} <= set(discarded)
    assert budgets == {0: {1.0}, 1: {1.0}, 2: {3.0}, 3: {9.0}, 4: {9.0}}
    assert all(m.budget_epochs == 9.0 for m in ga.population)


def test_ga_ladder_generations_per_rung(space: SearchSpace) -> None:
    ladder = BudgetLadder(1, 27, 3)
    ga = GeneticAlgorithm(space, seed=4, population_size=2, ladder=ladder, generations_per_rung=2)
    seen = []
    for _ in range(9):
        trials = _generation(ga)
        seen.append(trials[-1].budget_epochs)
        assert {t.rung for t in trials} == {ladder.rung_of(trials[-1].budget_epochs)}
    assert seen == [1, 1, 3, 3, 9, 9, 27, 27, 27]


@pytest.mark.parametrize("bad", [{"replacement": "best"}, {"population_size": 1}, {"crossover_prob": 1.5},
                                 {"replacement": "comma", "offspring_size": 2}, {"crossover": "two_point"},
                                 {"budget_schedule": [(0, 3), (2, 1)]}, {"budget_schedule": [(0, 99)]},
                                 {"generations_per_rung": 2}])
def test_ga_rejects_bad_options(space: SearchSpace, bad: dict[str, Any]) -> None:
    options = {"max_budget": 9, "population_size": 4, **bad}
    with pytest.raises(ConfigError, match=next(iter(bad)).split("_")[0]):
        GeneticAlgorithm(space, **options)


# ---------------------------------------------------------------------------------------------- steady state / aging
def _fill(algo: Algorithm, values: list[float]) -> list[Trial]:
    trials = algo.ask(len(values))
    assert len(trials) == len(values)
    for t, v in zip(trials, values):
        algo.tell(_ok(t, v))
    return trials


@pytest.mark.parametrize("removal", ["worst", "oldest"])
def test_steady_state_removal(space: SearchSpace, removal: str) -> None:
    ea = SteadyStateEA(space, seed=0, population_size=3, removal=removal)
    first = _fill(ea, [0.5, 0.1, 0.9])
    assert all(t.operator == "sample" for t in first)
    children = _fill(ea, [0.3, 0.7])
    assert all(t.operator != "sample" and t.parent_ids for t in children)
    ids = [m.trial_id for m in ea.population]
    if removal == "worst":
        assert sorted(m.fitness for m in ea.population) == [0.1, 0.3, 0.5]
    else:
        assert ids == [first[2].trial_id, children[0].trial_id, children[1].trial_id]


def test_steady_state_keeps_workers_busy_before_any_result(space: SearchSpace) -> None:
    ea = SteadyStateEA(space, seed=0, population_size=3)
    assert len(ea.ask(8)) == 8  # more workers than the population: extra random genomes
    assert ea.n_sampled == 8 and not ea.population


def test_regularized_evolution_removes_the_oldest_and_mutates_the_best_of_the_sample(space: SearchSpace) -> None:
    rea = RegularizedEvolution(space, seed=0, population_size=3, sample_size=64)
    first = _fill(rea, [0.9, 0.1, 0.5])
    child = rea.ask(1)[0]
    assert child.operator == "mutate" and child.parent_ids == (first[1].individual_id,)
    assert child.genome != first[1].genome  # mutation changes at least one gene
    rea.tell(_ok(child, 0.95))  # worse than everything: it still replaces the oldest
    assert [m.trial_id for m in rea.population] == [first[1].trial_id, first[2].trial_id, child.trial_id]
    assert rea.pop_discarded_checkpoints() == [first[0].checkpoint_key]
    for v in (0.99, 0.98):
        _fill(rea, [v])
    assert first[1].trial_id not in [m.trial_id for m in rea.population]  # even the best ages out



@pytest.mark.parametrize("values", [
    [0.5, 0.9, 0.1, 0.9], [math.inf, 0.2, math.inf], [math.nan, 0.4, 0.7, 0.7], [0.3, math.nan, 0.8],
    [math.nan, math.nan], [-math.inf, -math.inf], [-0.0, 0.0], [0.0, -0.0, 0.0],
])
def test_steady_state_removes_the_first_of_the_worst(values: list[float]) -> None:
    from evoautodl.algorithms.steady_state import _first_worst

    k, worst = 0, -math.inf  # the definition: the first value greater than every value before it
    for i, v in enumerate(values):
        if v > worst:
            k, worst = i, v
    assert _first_worst(list(values)) == k


@pytest.mark.parametrize("name", ["steady_state", "regularized", "de"])
def test_state_saved_without_derived_fields_continues_alike(name: str) -> None:
    """A state saved before the fitness list (steady_state, regularized) or the member count (de) was kept."""
    wl = MixedRastrigin(max_budget=9)
    algo, _ = _run(name, wl, 3, 40, population_size=6)
    state = algo.state_dict()
    derived = {"steady_state": "_fitness", "regularized": "_fitness", "de": "_n_members"}[name]
    old = {k: v for k, v in state.items() if k != derived}
    a = get_algorithm(name, wl.search_space(), seed=3, max_budget=9, population_size=6)
    b = get_algorithm(name, wl.search_space(), seed=3, max_budget=9, population_size=6)
    a.load_state_dict(state)
    b.load_state_dict(old)
    assert getattr(b, derived) == getattr(a, derived)
    for _ in range(30):
        ta, tb = a.ask(1), b.ask(1)
        assert [t.genome for t in ta] == [t.genome for t in tb] and [t.parent_ids for t in ta] == [
            t.parent_ids for t in tb]
        for x, y in zip(ta, tb):
            a.tell(_ok(x, _sphere(x)))
            b.tell(_ok(y, _sphere(y)))

# ---------------------------------------------------------------------------------------------- DE
@pytest.mark.parametrize("strategy", ["rand/1/bin", "current-to-best/1/bin"])
def test_de_one_to_one_selection(space: SearchSpace, strategy: str) -> None:
    de = DifferentialEvolution(space, seed=1, population_size=5, strategy=strategy)
    _generation(de)
    for _ in range(4):
        targets = list(de.population)
        best = min(targets, key=lambda m: m.fitness)
        trials = _generation(de)
        assert len(trials) == 5
        for slot, (target, t) in enumerate(zip(targets, trials)):
            assert target is not None
            assert t.parent_ids[0] == target.individual_id
            if strategy == "current-to-best/1/bin":
                assert t.parent_ids[1] == best.individual_id
            kept = de.population[slot]
            assert kept is not None
            assert kept.trial_id == (t.trial_id if _sphere(t) <= target.fitness else target.trial_id)


def test_de_asynchronous_compares_with_the_current_target(space: SearchSpace) -> None:
    de = DifferentialEvolution(space, seed=2, population_size=4, asynchronous=True)
    first = _fill(de, [0.4, 0.3, 0.2, 0.1])
    a, b = de.ask(2)  # targets 0 and 1, no barrier
    assert de.ask(3) and all(p is not None for p in de.population)
    de.tell(_ok(b, 0.35))  # slot 1: 0.35 > 0.3, rejected
    de.tell(_ok(a, 0.05))  # slot 0: accepted
    assert de.population[0].trial_id == a.trial_id and de.population[1].trial_id == first[1].trial_id
    assert de.n_replacements == 1


def test_de_needs_enough_members(space: SearchSpace) -> None:
    with pytest.raises(ConfigError, match="population_size"):
        DifferentialEvolution(space, population_size=3)
    DifferentialEvolution(space, population_size=3, strategy="current-to-best/1/bin")


# ---------------------------------------------------------------------------------------------- NSGA-II
def _hypervolume_2d(points: list[tuple[float, ...]], ref: tuple[float, float]) -> float:
    pts = sorted(p for p in points if p[0] < ref[0] and p[1] < ref[1])
    area, floor = 0.0, ref[1]
    for x, y in pts:
        if y < floor:
            area += (ref[0] - x) * (floor - y)
            floor = y
    return area


def test_nsga2_front_is_non_dominated_and_beats_random_on_hypervolume() -> None:
    wl = MixedRastrigin(max_budget=9, multi_objective=True)
    ref = (1.0, 6.0)  # error, parameters in millions
    ours, theirs = [], []
    for seed in range(4):
        algo, _ = _run("nsga2", wl, seed, 240, population_size=12, n_objectives=2)
        assert isinstance(algo, NSGA2)
        front = algo.pareto_front()
        objs = np.array([m.objectives for m in front])
        assert len(front) >= 3 and (pareto_ranks(objs) == 0).all()
        _, rs = _run("random", wl, seed, 240, n_objectives=2)
        ours.append(_hypervolume_2d([m.objectives for m in front], ref))
        theirs.append(_hypervolume_2d([r.objectives for r in rs if r.ok], ref))
    assert np.mean(ours) > np.mean(theirs) + 0.1
    assert sum(o > t for o, t in zip(ours, theirs)) >= 3


def test_nsga2_survivors_are_the_nsga2_selection(space: SearchSpace) -> None:
    def two(t: Trial) -> tuple[float, float]:
        return (float(t.genome[0]), float(1.0 - t.genome[0] + 0.1 * t.genome[1]))

    algo = NSGA2(space, seed=0, population_size=6)
    _generation(algo, two)
    for _ in range(3):
        pool = list(algo.population)
        children = _generation(algo, two)
        pool_objs = [m.objectives for m in pool] + [two(t) for t in children]
        ranks = pareto_ranks(np.array(pool_objs))
        kept = {m.objectives for m in algo.population}
        # every survivor's front is at least as good as every non-survivor's
        worst_kept = max(r for o, r in zip(pool_objs, ranks) if o in kept)
        assert all(r >= worst_kept for o, r in zip(pool_objs, ranks) if o not in kept)
    failed = algo.ask(6)
    for t in failed:
        algo.tell(Result(trial=t, status=Status.FAILED))
    assert all(math.isfinite(m.objectives[0]) for m in algo.population)  # failures lose


# ---------------------------------------------------------------------------------------------- registry
def test_registry_names_and_lazy_classes(space: SearchSpace) -> None:
    names = available_algorithms()
    assert {"random", "ga", "steady_state", "regularized", "de", "nsga2"} <= set(names)
    assert list(ALGORITHMS) == names and "ga" in ALGORITHMS and "nope" not in ALGORITHMS
    assert ALGORITHMS["ga"] is GeneticAlgorithm and ALGORITHMS["random"] is RandomSearch
    for name in names:
        algo = get_algorithm(name, space, seed=1, ladder=BudgetLadder(1, 9, 3))
        assert isinstance(algo, ALGORITHMS[name]) and algo.name == name


def test_registry_errors_name_the_problem(space: SearchSpace) -> None:
    with pytest.raises(ConfigError, match=r"unknown algorithm 'gaa' \(did you mean 'ga'\?\).*ga, steady_state"):
        get_algorithm("gaa", space)
    with pytest.raises(ConfigError, match=r"unknown option 'populaton_size' \(did you mean 'population_size'\?\)"
                                          r".*valid options: population_size.*tournament_size"):
        get_algorithm("ga", space, populaton_size=20)
    with pytest.raises(ConfigError, match="valid options: population_size"):
        get_algorithm("regularized", space, cxpb=0.5)


def test_registry_passes_options_and_ladders(space: SearchSpace) -> None:
    ga = get_algorithm("ga", space, seed=3, population_size=7, replacement="comma", offspring_size=9,
                       budget_schedule=[[0, 1], [5, 3]], max_budget=3)
    assert isinstance(ga, GeneticAlgorithm) and ga.population_size == 7 and ga.offspring_size == 9
    assert ga.budget_schedule == ((0, 1.0), (5, 3.0))
    rs = get_algorithm("random", space, ladder=BudgetLadder(1, 27, 3))  # takes no ladder: runs at its max
    assert rs.ask(1)[0].budget_epochs == 27
    assert get_algorithm("random", space, ladder=None, max_budget=5).ask(1)[0].budget_epochs == 5
    opts = algorithm_options(NSGA2)
    assert opts["n_objectives"] == 2 and "tournament_size" not in opts and "ladder" in opts


def test_member_from_failed_or_short_results(space: SearchSpace) -> None:
    t = GeneticAlgorithm(space).ask(1)[0]
    assert Member.from_result(_ok(t, 0.25)).objectives == (0.25,)
    assert Member.from_result(_ok(t, 0.25), n_objectives=2).objectives == (math.inf, math.inf)
    assert Member.from_result(_ok(t, (math.nan,))).fitness == math.inf
    assert Member.from_result(Result(trial=t, status=Status.TIMEOUT)).fitness == math.inf


def test_registry_survives_a_missing_module(space: SearchSpace, monkeypatch: pytest.MonkeyPatch) -> None:
    from evoautodl import algorithms

    monkeypatch.setitem(algorithms.ALGORITHM_SPECS, "ghost", "evoautodl.algorithms.ghost:Ghost")
    assert "ghost" not in ALGORITHMS and "ghost" not in available_algorithms()
    with pytest.raises(KeyError):
        ALGORITHMS["ghost"]
    with pytest.raises(ConfigError, match=r"'ghost' is registered but its module evoautodl\.algorithms\.ghost"):
        get_algorithm("ghost", space)
    assert get_algorithm("ga", space).name == "ga"


def test_tell_is_the_base_class_and_on_result_sees_only_own_trials(space: SearchSpace) -> None:
    with pytest.raises(TypeError, match="override on_result"):
        type("Bad", (RandomSearch,), {"tell": lambda self, result: None})

    seen: list[int] = []

    class Recorder(RandomSearch):
        def on_result(self, result: Result) -> None:
            seen.append(result.trial_id)

    import dataclasses

    a = Recorder(space, seed=0)
    mine = a.ask(2)
    foreign = dataclasses.replace(mine[0], trial_id=99)
    assert a.n_pending == 2 and a.is_pending(mine[0].trial_id) and not a.is_pending(99)
    a.tell(_ok(mine[1], 0.5))
    a.tell(_ok(foreign, 0.1))  # not asked by this algorithm: counted, not seen
    a.tell(_ok(mine[1], 0.5))  # told twice: counted, not seen again
    assert seen == [mine[1].trial_id] and a.n_told == 3 and a.n_pending == 1
    a.discard_checkpoint(None)
    a.discard_checkpoint("ind0000001_b3")
    assert a.pop_discarded_checkpoints() == ["ind0000001_b3"]
