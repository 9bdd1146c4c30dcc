"""evoautodl.testing: each check of check_algorithm and check_operator catches the bug it is for.

Every broken algorithm or operator below breaks one rule of the contract; the
check for that rule must raise ContractViolation naming it (so the checks can
fail), and a correct one passes.
"""

from __future__ import annotations

import functools
import random
from typing import Any

import numpy as np
import pytest

from evoautodl.algorithms.base import Algorithm
from evoautodl.operators import declare, mutate, tournament, uniform_crossover
from evoautodl.records import Result, Trial
from evoautodl.testing import ContractViolation, check_algorithm, check_operator


class OnePlusOne(Algorithm):
    """A correct (1+1)-ES: one child of the parent at a time; the child replaces the parent if not worse."""

    name = "one_plus_one"

    def __init__(self, space: Any, *, sigma: float = 0.2, **common: Any):
        super().__init__(space, **common)
        self.sigma = sigma
        self.parent: tuple[tuple[float, ...], float] | None = None

    def ask(self, n: int) -> list[Trial]:
        if n < 1 or self.n_pending:
            return []
        if self.parent is None:
            return [self.make_trial(self.space.sample(self.rng))]
        child = mutate(self.space, self.parent[0], self.rng, sigma=self.sigma)
        return [self.make_trial(child, operator="mutate")]

    def on_result(self, result: Result) -> None:
        if self.parent is None or result.objective <= self.parent[1]:
            self.parent = (result.trial.genome, result.objective)


class PythonRandom(OnePlusOne):
    """Draws from Python's global random: not a function of its seed."""

    def ask(self, n: int) -> list[Trial]:
        if n < 1 or self.n_pending:
            return []
        return [self.make_trial(self.space.repair(np.array([random.random() for _ in range(self.space.dim)])))]


_CALLS = [0]


class GlobalCounter(OnePlusOne):
    """Keeps part of its state outside the instance: replaying its asks does not reproduce them."""

    def ask(self, n: int) -> list[Trial]:
        _CALLS[0] += 1
        if n < 1 or self.n_pending:
            return []
        rng = np.random.default_rng(_CALLS[0])
        return [self.make_trial(self.space.sample(rng))]


class EmptyAskCounts(OnePlusOne):
    """Changes its state on an ask that returns nothing."""

    def ask(self, n: int) -> list[Trial]:
        if n < 1 or self.n_pending:
            self.rng.random()
            return []
        return super().ask(n)


class KeepsEverything(OnePlusOne):
    """Claims to manage its checkpoints and never discards one (disk use grows with every trial)."""

    manages_checkpoints = True


class ResumesDiscarded(Algorithm):
    """Trains at the lowest rung, then continues the best config from its checkpoint, without managing
    checkpoints: the base class has already discarded the lower checkpoint it resumes from."""

    name = "resumes_discarded"
    multi_fidelity = True
    requires_ladder = True

    def __init__(self, space: Any, **common: Any):
        super().__init__(space, **common)
        self.best: tuple[float, Trial] | None = None

    def ask(self, n: int) -> list[Trial]:
        assert self.ladder is not None
        out = []
        for _ in range(max(0, n)):
            if self.best is not None and self.rng.random() < 0.3:
                t = self.best[1]
                out.append(self.make_trial(t.genome, budget=self.ladder.budgets[1], individual_id=t.individual_id,
                                           operator="promote", resume_from=t.checkpoint_key,
                                           resume_budget=t.budget_epochs, rung=1))
            else:
                out.append(self.make_trial(self.space.sample(self.rng), budget=self.ladder.budgets[0]))
        return out

    def on_result(self, result: Result) -> None:
        if result.ok and result.trial.rung == 0 and (self.best is None or result.objective < self.best[0]):
            self.best = (result.objective, result.trial)


class LazyAsync(OnePlusOne):
    """Says it is asynchronous but hands out one trial at a time."""

    asynchronous = True


class Stuck(OnePlusOne):
    """Stops asking after ten results without saying it is finished."""

    def ask(self, n: int) -> list[Trial]:
        return [] if self.n_told >= 10 else super().ask(n)


class HandMadeTrials(OnePlusOne):
    """Builds trials by hand: wrong seeds, not pending."""

    def ask(self, n: int) -> list[Trial]:
        if n < 1:
            return []
        g = tuple(self.space.sample(self.rng))
        self.n_asked += 1
        return [Trial(trial_id=self.n_asked, individual_id=0, config=self.space.to_config(g), genome=g,
                      budget_epochs=self.max_budget, seed=0)]


class BelowTheLadder(Algorithm):
    """Runs trials at half an epoch, below the ladder's minimum budget."""

    name = "below_the_ladder"

    def ask(self, n: int) -> list[Trial]:
        return [self.make_trial(self.space.sample(self.rng), budget=0.5) for _ in range(max(0, n))]


def test_a_correct_algorithm_passes_every_check() -> None:
    report = check_algorithm(OnePlusOne)
    assert {c for c, _, _ in report.passed} == {"construction", "trials", "failures", "determinism", "resume",
                                                "budgets", "checkpoints", "workers"}
    assert {v for _, v, _ in report.passed} == {"with ladder", "without ladder"}
    assert "one_plus_one: 16 checks passed" in str(report)
    report = check_algorithm(functools.partial(OnePlusOne, sigma=0.05), checks=["determinism"], ladder="without")
    assert len(report.passed) == 1


@pytest.mark.parametrize(("cls", "check", "message"), [
    (PythonRandom, "determinism", "draw every random number from self.rng"),
    (GlobalCounter, "resume", "replaying every ask and tell on a fresh instance"),
    (EmptyAskCounts, "construction", "ask(0) changed the state"),
    (EmptyAskCounts, "trials", "returned no trial but changed the algorithm's state"),
    (KeepsEverything, "checkpoints", "checkpoints written are still kept"),
    (ResumesDiscarded, "checkpoints", "discarded before"),
    (LazyAsync, "workers", "a free worker stays idle"),
    (Stuck, "trials", "returned nothing while no trial is running"),
    (HandMadeTrials, "trials", "is not derive_seed(seed, trial_id)"),
    (BelowTheLadder, "budgets", "outside the ladder"),
])
def test_each_check_catches_its_bug(cls: type[Algorithm], check: str, message: str) -> None:
    with pytest.raises(ContractViolation, match=check) as err:
        check_algorithm(cls, checks=[check], ladder="with")
    assert message in str(err.value)
    assert cls.__name__ != "OnePlusOne"


def test_check_algorithm_rejects_unknown_checks_and_non_algorithms() -> None:
    with pytest.raises(ValueError, match="unknown check"):
        check_algorithm(OnePlusOne, checks=["speed"])
    with pytest.raises(ContractViolation, match=r"not an evoautodl\.algorithms\.Algorithm"):
        check_algorithm(lambda space, **common: object(), checks=["construction"])


# ---------------------------------------------------------------------------------------------- operators
@declare(arity=1, n_children=1, kind="mutation")
def cauchy(space: Any, genome: Any, rng: np.random.Generator, *, scale: float = 0.05) -> np.ndarray:
    g = np.array(genome, dtype=np.float64)
    return space.repair(g + scale * rng.standard_cauchy(len(g)), rng)


@declare(arity=1, n_children=1, kind="mutation")
def numpy_global(space: Any, genome: Any, rng: np.random.Generator) -> np.ndarray:
    return space.repair(np.array(genome) + 0.1 * np.random.standard_normal(len(genome)), rng)


@declare(arity=1, n_children=1, kind="mutation")
def unrepaired(space: Any, genome: Any, rng: np.random.Generator) -> np.ndarray:
    return np.array(genome) + 0.5 * rng.standard_normal(len(genome))


_SEEN = [0]


@declare(arity=1, n_children=1, kind="mutation")
def sometimes_in_place(space: Any, genome: Any, rng: np.random.Generator) -> Any:
    _SEEN[0] += 1
    child = space.repair(np.array(genome) + 0.1 * rng.standard_normal(len(genome)), rng)
    if _SEEN[0] > 2:  # passes the probe when the algorithm is built, then starts writing into its parent
        genome[:] = child
        return genome
    return child


@declare(arity=1, n_children=1, kind="mutation")
def identity(space: Any, genome: Any, rng: np.random.Generator) -> np.ndarray:
    return np.array(genome, dtype=np.float64)


@declare(arity=2, n_children=2, kind="crossover")
def one_child_only(space: Any, a: Any, b: Any, rng: np.random.Generator) -> np.ndarray:
    return space.repair(np.where(rng.random(len(a)) < 0.5, a, b), rng)


@declare(arity=0, n_children=0, kind="selection")
def global_choice(objectives: Any, k: int, rng: np.random.Generator) -> np.ndarray:
    return np.random.randint(0, len(objectives), size=k)


def test_good_operators_pass() -> None:
    assert "5 checks passed" in str(check_operator(cauchy, params={"scale": 0.1}))
    assert check_operator(uniform_crossover).n_children == 2
    assert check_operator(tournament, params={"size": 2}).kind == "selection"
    assert check_operator("polynomial", kind="mutation").arity == 1


def test_deap_operators_pass_through_the_adapter() -> None:
    from deap import tools

    report = check_operator(tools.mutGaussian, kind="mutation", params={"mu": 0.0, "sigma": 0.2, "indpb": 0.5})
    assert report.style == "deap" and "called on copies" in str(report)
    assert check_operator(tools.cxTwoPoint, kind="crossover").n_children == 2
    assert check_operator(tools.selTournament, kind="selection", params={"tournsize": 3}).style == "deap"


@pytest.mark.parametrize(("op", "check", "message"), [
    (numpy_global, "determinism", "different children for the same rng state"),
    (unrepaired, "children", "outside [0, 1]"),
    (sometimes_in_place, "pure", "modified its parents"),
    (identity, "varies", "never changed its parents"),
    (one_child_only, "declared", "returned 1 child(ren) on sampled parents, but declares 2"),
    (global_choice, "determinism", "chose differently"),
])
def test_each_operator_check_catches_its_bug(op: Any, check: str, message: str) -> None:
    _SEEN[0] = 0
    with pytest.raises(ContractViolation, match=check) as err:
        check_operator(op)
    assert message in str(err.value)


def test_check_operator_refuses_lambdas_and_needs_a_kind() -> None:
    with pytest.raises(ContractViolation, match="cannot be pickled"):
        check_operator(lambda space, genome, rng: genome, kind="mutation")
    with pytest.raises(ValueError, match="give kind="):
        check_operator(np.sin)
