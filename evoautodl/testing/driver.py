"""A scripted backend for the contract checks: asks, tells in a random order, failures, checkpoints.

:class:`Script` drives an algorithm the way the runner and its backends do,
but from a seeded script, without files or processes:

    repeat until enough results are told (or the algorithm is finished):
        ask(n) for n in 0..4 (0 while 8 trials run), checking every new trial
        with probability 0.7 (always when the ask returned nothing): tell one
            running trial chosen at random: FAILED, TIMEOUT, an OK result with a
            NaN objective, or the workload's real result
        pop the discarded checkpoints (as the runner does after each batch)

Every operation is recorded (:attr:`Script.ops`), so another instance of the
algorithm can replay it exactly: that is how the runner resumes a killed run
(restore a snapshot, replay the journal of asks and the log of results).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evoautodl.algorithms.base import Algorithm
from evoautodl.backends.base import execute_trial
from evoautodl.records import Result, Status, Trial, derive_seed
from evoautodl.workloads.base import WorkerContext

__all__ = ["ContractViolation", "Op", "Script", "canonical", "replay"]


class ContractViolation(AssertionError):
    """An algorithm or operator breaks the contract; the message names the check and what went wrong."""


@dataclass(frozen=True)
class Op:
    """One recorded step: ``ask(n)`` and the trials it returned, or ``tell(result)`` and the keys it discarded."""

    kind: str  # "ask" | "tell"
    n: int = 0
    trials: tuple[Trial, ...] = ()
    result: Result | None = None
    discarded: tuple[str, ...] = ()


#: empty asks per script whose state is compared before and after
_STATE_CHECKS = 12


def canonical(obj: Any, _depth: int = 0) -> Any:
    """A plain, comparable form of an algorithm state: equal states give equal forms.

    Pickled bytes are no good for this: they depend on which objects are
    shared. Containers become lists (sorted for dicts and sets), arrays and
    generators their contents, objects their class and attributes, NaN the
    string "nan".
    """
    if _depth > 60:
        raise ContractViolation("state_dict is nested more than 60 levels deep (a cycle?)")
    d = _depth + 1
    if obj is None or isinstance(obj, bool | int | str | bytes):
        return obj
    if isinstance(obj, float):
        return "nan" if obj != obj else obj
    if isinstance(obj, np.generic):
        return canonical(obj.item(), d)
    if isinstance(obj, np.ndarray):
        return ("ndarray", str(obj.dtype), obj.shape, [canonical(x, d) for x in obj.ravel().tolist()])
    if isinstance(obj, np.random.Generator):
        return ("Generator", canonical(obj.bit_generator.state, d))
    if isinstance(obj, dict):
        return ("dict", sorted(((repr(canonical(k, d)), canonical(v, d)) for k, v in obj.items()),
                               key=lambda kv: kv[0]))
    if isinstance(obj, set | frozenset):
        return ("set", sorted(repr(canonical(x, d)) for x in obj))
    if isinstance(obj, list | tuple | deque):
        return (type(obj).__name__, [canonical(x, d) for x in obj])
    if callable(obj) and hasattr(obj, "__qualname__"):
        return ("callable", getattr(obj, "__module__", None), obj.__qualname__)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return (type(obj).__qualname__, [(f.name, canonical(getattr(obj, f.name), d))
                                         for f in dataclasses.fields(obj)])
    if isinstance(obj, functools.partial):
        return ("partial", canonical(obj.func, d), canonical(obj.args, d), canonical(obj.keywords, d),
                canonical(obj.__dict__, d))
    if type(obj).__getstate__ is not object.__getstate__:  # its own idea of its state (a SearchSpace: its JSON)
        return (type(obj).__qualname__, canonical(obj.__getstate__(), d))
    state = getattr(obj, "__dict__", None)
    if state is not None:
        return (type(obj).__qualname__, canonical(state, d))
    slots = [n for k in type(obj).__mro__ for n in getattr(k, "__slots__", ())]
    if slots:
        return (type(obj).__qualname__, [(n, canonical(getattr(obj, n, None), d)) for n in slots])
    return (type(obj).__qualname__, repr(obj))


def _state(algo: Algorithm) -> Any:
    return canonical(algo.state_dict())


@dataclass
class Script:
    """Drive ``algo`` on ``workload`` (see the module docstring); violations raise :class:`ContractViolation`.

    Args:
        algo: the algorithm under test.
        workload: evaluates the OK trials (a synthetic one: fast).
        seed: seed of the script (batch sizes, tell order, failures).
        fail_rate: share of results that fail (a third each FAILED, TIMEOUT, NaN).
        capacity: at most this many trials run at once.
        check: name of the check, for messages.
    """

    algo: Algorithm
    workload: Any
    seed: int = 0
    fail_rate: float = 0.25
    capacity: int = 8
    check: str = "contract"
    ops: list[Op] = field(default_factory=list)
    running: list[Trial] = field(default_factory=list)
    asked: list[Trial] = field(default_factory=list)
    told: list[Result] = field(default_factory=list)
    discarded: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.context = WorkerContext.local()
        self._last_short = False
        self._state_checks = 0  # empty asks whose state was compared (capped: it costs a deep copy)

    def fail(self, message: str) -> ContractViolation:
        return ContractViolation(f"{self.check}: {self.algo.name} (step {len(self.ops)}): {message}")

    # ------------------------------------------------------------------ results
    def result(self, trial: Trial) -> Result:
        u = self.rng.random()
        if u < self.fail_rate / 3:
            return Result(trial=trial, status=Status.FAILED, error="injected failure")
        if u < 2 * self.fail_rate / 3:
            return Result(trial=trial, status=Status.TIMEOUT, error="injected timeout")
        r = execute_trial(self.workload, trial, self.context)
        if u < self.fail_rate and r.ok:  # a NaN loss reported as OK must count as failed too
            r = Result(trial=trial, status=Status.OK, objectives=(math.nan,) * len(r.objectives))
        return r

    # ------------------------------------------------------------------ steps
    def ask(self, n: int) -> list[Trial]:
        algo = self.algo
        check = (n == 0 or self._last_short) and self._state_checks < _STATE_CHECKS
        before = _state(algo) if check else None
        try:
            new = algo.ask(n)
        except Exception as exc:
            raise self.fail(f"ask({n}) raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(new, list) or len(new) > n:
            raise self.fail(f"ask({n}) must return a list of at most {n} trials, got {new!r}"[:400])
        self._last_short = len(new) < n
        if not new and before is not None:
            self._state_checks += 1
            if _state(algo) != before:
                raise self.fail(f"ask({n}) returned no trial but changed the algorithm's state (an empty ask "
                                "must not)")
        for t in new:
            self.check_trial(t)
        self.running += new
        self.asked += new
        self.ops.append(Op("ask", n=n, trials=tuple(new)))
        return new

    def tell(self, trial: Trial, result: Result | None = None) -> Result:
        algo = self.algo
        self.running.remove(trial)
        r = self.result(trial) if result is None else result
        try:
            algo.tell(r)
            keys = algo.pop_discarded_checkpoints()
        except Exception as exc:
            raise self.fail(f"tell({r.status.value} result of trial {trial.trial_id}) raised "
                            f"{type(exc).__name__}: {exc}") from exc
        if not all(isinstance(k, str) for k in keys):
            raise self.fail(f"discarded checkpoint keys must be strings, got {keys!r}")
        self.told.append(r)
        self.discarded += keys
        self.ops.append(Op("tell", result=r, discarded=tuple(keys)))
        return r

    def step(self) -> None:
        if not self.running:
            n = self.rng.randint(1, 4)
        else:
            n = self.rng.randint(0, 4) if len(self.running) < self.capacity else 0
        n = min(n, self.capacity - len(self.running))
        new = self.ask(n)
        if not new and not self.running and n > 0 and not self.algo.is_finished():
            raise self.fail(f"ask({n}) returned nothing while no trial is running and is_finished() is False "
                            "(the run would stop here)")
        if self.running and (not new or self.rng.random() < 0.7):
            self.tell(self.running[self.rng.randrange(len(self.running))])

    def run(self, n_told: int, max_steps: int = 20_000) -> Script:
        """Step until ``n_told`` results are told, or the algorithm is finished with nothing running."""
        for _ in range(max_steps):
            if len(self.told) >= n_told or (self.algo.is_finished() and not self.running):
                return self
            self.step()
        raise self.fail(f"only {len(self.told)} results told in {max_steps} steps")

    # ------------------------------------------------------------------ checks of every trial
    def check_trial(self, t: Trial) -> None:
        algo, space = self.algo, self.algo.space
        if not isinstance(t, Trial):
            raise self.fail(f"ask returned {type(t).__name__}, not a Trial (build trials with make_trial)")
        if self.asked and t.trial_id <= self.asked[-1].trial_id:
            raise self.fail(f"trial ids must increase: {t.trial_id} after {self.asked[-1].trial_id}")
        if t.seed != derive_seed(algo.seed, t.trial_id):
            raise self.fail(f"trial {t.trial_id}: seed {t.seed} is not derive_seed(seed, trial_id) "
                            "(build trials with make_trial)")
        if len(t.genome) != space.dim or not all(0.0 <= g <= 1.0 for g in t.genome):
            raise self.fail(f"trial {t.trial_id}: genome {t.genome} is not {space.dim} genes in [0, 1]")
        problem = space.explain_invalid(t.config)
        if problem is not None:
            raise self.fail(f"trial {t.trial_id}: invalid config {dict(t.config)}: {problem}")
        if dict(t.config) != space.to_config(t.genome):
            raise self.fail(f"trial {t.trial_id}: config {dict(t.config)} is not the genome's")
        if hasattr(self.workload, "check_config"):
            self.workload.check_config(t.config)
        if not algo.is_pending(t.trial_id):
            raise self.fail(f"trial {t.trial_id} is not pending after ask (build trials with make_trial)")
        if not (isinstance(t.budget_epochs, float) and 0.0 < t.budget_epochs <= algo.max_budget):
            raise self.fail(f"trial {t.trial_id}: budget {t.budget_epochs!r} outside (0, max_budget={algo.max_budget}]")
        if not isinstance(t.operator, str) or not t.operator:
            raise self.fail(f"trial {t.trial_id}: operator must name how it was made, got {t.operator!r}")
        if t.resume_from is not None and not isinstance(t.resume_from, str):
            raise self.fail(f"trial {t.trial_id}: resume_from must be a checkpoint key or None, got {t.resume_from!r}")


def replay(algo: Algorithm, ops: list[Op], check: str, what: str) -> None:
    """Replay recorded operations on ``algo``; every ask must return the recorded trials, every tell discard the
    recorded keys (raises :class:`ContractViolation` naming the first difference)."""
    for i, op in enumerate(ops):
        if op.kind == "ask":
            got = algo.ask(op.n)
            if tuple(got) != op.trials:
                diff = next((f"trial {a.trial_id}: {a} != {b}" for a, b in zip(got, op.trials) if a != b),
                            f"{len(got)} trials instead of {len(op.trials)}")
                raise ContractViolation(f"{check}: {algo.name}: {what}, step {i} ask({op.n}) differs: {diff}"[:1200])
        else:
            assert op.result is not None
            algo.tell(op.result)
            keys = tuple(algo.pop_discarded_checkpoints())
            if keys != op.discarded:
                raise ContractViolation(f"{check}: {algo.name}: {what}, step {i} tell discarded {keys} instead of "
                                        f"{op.discarded}")
