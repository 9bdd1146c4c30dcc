"""``check_operator(op, space)``: the operator contract, in one call.

::

    from evoautodl.testing import check_operator
    report = check_operator(cauchy_mutation, space, params={"scale": 0.05})  # str(report): one line per check

An operator passes when (``n_calls`` calls on sampled parents):

========== ================================================================
declared     it resolves as an algorithm option would: known kind, arity and
             child count (declared with ``declare`` or read from the
             signature), its params accepted, picklable, a probe call works
pure         parents left untouched and children sharing no memory with
             them (native operators; DEAP-style ones work on copies)
determinism  the same ``rng`` state gives the same children, whatever the
             state of Python's ``random`` and numpy's global generator
children     the declared number, each a genome of the space's length in
             [0, 1] that decodes to a valid configuration and that repair
             leaves as it is (native: the operator repairs; DEAP-style: the
             adapter does)
varies       a variation operator changes its parents at least once
========== ================================================================

Selection operators are called on random objective arrays (one and two
objectives) and must return ``k`` indices in range, deterministically,
leaving the array untouched.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evoautodl.errors import ConfigError
from evoautodl.operators.base import KINDS
from evoautodl.operators.resolve import resolve_operator
from evoautodl.operators.values import Operator, as_children
from evoautodl.space import SearchSpace
from evoautodl.testing.driver import ContractViolation

__all__ = ["OperatorReport", "check_operator"]


@dataclass
class OperatorReport:
    """What :func:`check_operator` checked."""

    operator: str
    kind: str
    arity: int
    n_children: int
    style: str
    passed: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        head = (f"{self.operator}: {self.kind}, {self.style} convention, arity {self.arity}, "
                f"{self.n_children} child(ren): {len(self.passed)} checks passed")
        return "\n".join([head, *(f"  ok  {name:<12} {note}" for name, note in self.passed)])


@contextmanager
def _scrambled_global_random(seed: int) -> Any:
    """Seed Python's and numpy's global generators differently for a block; restore them afterwards."""
    py, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(np_state)


def _default_space() -> SearchSpace:
    from evoautodl.workloads.synthetic import MixedRastrigin

    return MixedRastrigin(with_forbidden=True).search_space()


def _call(op: Operator, space: SearchSpace, parents: list[np.ndarray], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    if op.style == "native":
        return as_children(op.fn(space, *parents, rng, **op.params), space.dim, op.label)
    return op.vary(space, parents, rng)


def _check_variation(op: Operator, space: SearchSpace, n_calls: int, seed: int, report: OperatorReport) -> None:
    name = op.label
    sampler = np.random.default_rng(seed)
    changed = 0
    for call in range(n_calls):
        parents = [space.sample(sampler) for _ in range(op.arity)]
        kept = [p.copy() for p in parents]
        with _scrambled_global_random(1000 + call):
            first = _call(op, space, parents, seed + call)
        if any(not np.array_equal(p, k) for p, k in zip(parents, kept)):
            raise ContractViolation(f"pure: {name} modified its parents (call {call}); return new genomes instead")
        for child in first:
            if any(np.shares_memory(child, p) for p in parents):
                raise ContractViolation(f"pure: {name} returned a child that shares memory with a parent (call {call})")
        with _scrambled_global_random(2000 + call):
            second = _call(op, space, parents, seed + call)
        if len(first) != len(second) or any(not np.array_equal(a, b) for a, b in zip(first, second)):
            raise ContractViolation(
                f"determinism: {name} gave different children for the same rng state (call {call}): draw every "
                "random number from the rng argument, not from random or numpy.random")
        if len(first) != op.n_children:
            raise ContractViolation(f"children: {name} returned {len(first)} children, declared {op.n_children}")
        for child in first:
            if not (np.all(child >= 0.0) and np.all(child <= 1.0)):
                raise ContractViolation(f"children: {name} returned genes outside [0, 1]: {child} (call {call}); "
                                        "end with space.repair(child, rng)")
            if not np.array_equal(space.repair(child), child):
                raise ContractViolation(f"children: {name} returned a genome that repair changes: {child} "
                                        f"(call {call}); end with space.repair(child, rng)")
            problem = space.explain_invalid(space.to_config(child))
            if problem:
                raise ContractViolation(f"children: {name}: invalid configuration ({problem}) (call {call})")
        changed += any(not np.array_equal(c, p) for c in first for p in parents[:1])
    if changed == 0:
        raise ContractViolation(f"varies: {name} never changed its parents in {n_calls} calls")
    report.passed += [("pure", f"parents untouched in {n_calls} calls" if op.style == "native"
                       else "DEAP-style: called on copies"),
                      ("determinism", "same rng, same children; global random states ignored"),
                      ("children", f"{op.n_children} valid, repaired genome(s) per call"),
                      ("varies", f"changed its parents in {changed} of {n_calls} calls")]


def _check_selection(op: Operator, n_calls: int, seed: int, report: OperatorReport) -> None:
    name = op.label
    sampler = np.random.default_rng(seed)
    for call in range(n_calls):
        m = 1 + call % 2
        f = sampler.random((10, m)) if m > 1 else sampler.random(10)
        f[int(sampler.integers(10))] = np.inf  # a failed member
        kept = f.copy()
        with _scrambled_global_random(1000 + call):
            a = op.select(f, 5, np.random.default_rng(seed + call))
        with _scrambled_global_random(2000 + call):
            b = op.select(f, 5, np.random.default_rng(seed + call))
        if not np.array_equal(f, kept):
            raise ContractViolation(f"pure: {name} modified the objectives it was given (call {call})")
        if not np.array_equal(a, b):
            raise ContractViolation(f"determinism: {name} chose differently for the same rng state (call {call})")
    report.passed += [("pure", "objectives untouched"), ("determinism", "same rng, same choice"),
                      ("children", f"5 indices in range per call, {n_calls} calls, one and two objectives")]


def check_operator(op: Any, space: SearchSpace | None = None, *, kind: str | None = None,
                   params: Mapping[str, Any] | None = None, n_calls: int = 20, seed: int = 0) -> OperatorReport:
    """Check an operator (see the module docstring).

    Args:
        op: a callable, ``"module:function"`` or a built-in name (with ``kind``).
        space: the space to check on (default: the synthetic mixed, conditional space with
            forbidden clauses of :class:`~evoautodl.workloads.synthetic.MixedRastrigin`).
        kind: ``"mutation"``, ``"crossover"`` or ``"selection"`` (default: the declared kind).
        params: keyword parameters passed on every call.
        n_calls: calls on sampled parents.
        seed: seeds the parents and the rng of each call.

    Returns:
        An :class:`OperatorReport` of the passed checks.

    Raises:
        ContractViolation: (an AssertionError) naming the check and the problem.
    """
    space = _default_space() if space is None else space
    kind = kind or getattr(op, "kind", None)
    if kind not in KINDS:
        raise ValueError(f"give kind= (one of {', '.join(KINDS)}): the operator does not declare it")
    try:
        resolved = resolve_operator(op, kind=kind, owner="check_operator", option=kind, params=params, space=space)
    except ConfigError as exc:
        raise ContractViolation(f"declared: {exc}") from None
    report = OperatorReport(resolved.label, kind, resolved.arity, resolved.n_children, resolved.style)
    report.passed.append(("declared", "kind, arity, children, params and pickling check out; probe call works"))
    if kind == "selection":
        _check_selection(resolved, n_calls, seed, report)
    else:
        _check_variation(resolved, space, n_calls, seed, report)
    return report
