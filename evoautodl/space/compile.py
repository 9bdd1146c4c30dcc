"""Compile ConfigSpace conditions and forbidden clauses into fast closures.

The search space evaluates activity and forbidden clauses on a list of decoded
values (``None`` for an inactive hyperparameter), with the semantics
ConfigSpace 1.2 applies when it checks a configuration (on its vector form,
where an inactive hyperparameter is NaN):

* a condition whose parent is inactive is not satisfied, except a
  not-equals condition (NaN != v), which is;
* order comparisons on ordinals (conditions and forbidden clauses) compare
  ranks; forbidden *relations* compare actual values;
* a forbidden clause or relation on an inactive hyperparameter does not apply.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import ConfigSpace as CS

from evoautodl.errors import SpaceError

Values = Sequence[Any]
Pred = Callable[[Values], bool]

_BINARY_OPS: dict[type, Callable[[Any, Any], bool]] = {
    CS.EqualsCondition: operator.eq,
    CS.NotEqualsCondition: operator.ne,
    CS.LessThanCondition: operator.lt,
    CS.GreaterThanCondition: operator.gt,
}

_FORBIDDEN_CLAUSE_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "ForbiddenEqualsClause": operator.eq,
    "ForbiddenLessThanClause": operator.lt,
    "ForbiddenLessThanEqualsClause": operator.le,
    "ForbiddenGreaterThanClause": operator.gt,
    "ForbiddenGreaterThanEqualsClause": operator.ge,
}

_FORBIDDEN_RELATION_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "ForbiddenEqualsRelation": operator.eq,
    "ForbiddenLessThanRelation": operator.lt,
    "ForbiddenLessThanEqualsRelation": operator.le,
    "ForbiddenGreaterThanRelation": operator.gt,
    "ForbiddenGreaterThanEqualsRelation": operator.ge,
}


class Compiler:
    """Turns ConfigSpace objects into predicates over a value list.

    Args:
        index: hyperparameter name -> position in the value list.
        ordinal_rank: for ordinal hyperparameters, name -> {value: rank}; order
            comparisons on ordinals compare ranks, as ConfigSpace does.
    """

    def __init__(self, index: dict[str, int], ordinal_rank: dict[str, dict[Any, int]]):
        self.index = index
        self.ordinal_rank = ordinal_rank

    def _key(self, name: str) -> Callable[[Any], Any]:
        ranks = self.ordinal_rank.get(name)
        if ranks is None:
            return lambda v: v
        return lambda v: ranks.get(v, v)

    def condition(self, cond: Any) -> Pred:
        """Predicate: is the condition satisfied (parents active and matching)?"""
        if isinstance(cond, CS.AndConjunction):
            parts = [self.condition(c) for c in cond.components]
            return lambda vals: all(p(vals) for p in parts)
        if isinstance(cond, CS.OrConjunction):
            parts = [self.condition(c) for c in cond.components]
            return lambda vals: any(p(vals) for p in parts)
        parent = cond.parent.name
        i = self.index[parent]
        if isinstance(cond, CS.InCondition):
            allowed = list(cond.values)
            return lambda vals: vals[i] is not None and vals[i] in allowed
        op = _BINARY_OPS.get(type(cond))
        if op is None:
            raise SpaceError(f"condition on {cond.child.name!r}: unsupported condition type {type(cond).__name__}")
        key = self._key(parent)
        target = key(cond.value)
        if op is operator.eq:
            return lambda vals: vals[i] is not None and vals[i] == cond.value
        if op is operator.ne:
            # ConfigSpace 1.2 checks conditions on vectors, where an inactive parent is NaN and
            # NaN != v holds: a not-equals condition on an inactive parent IS satisfied.
            return lambda vals: vals[i] is None or vals[i] != cond.value
        return lambda vals: vals[i] is not None and op(key(vals[i]), target)

    def forbidden(self, clause: Any) -> tuple[Pred, tuple[int, ...]]:
        """Predicate: does the clause forbid these values? Plus the genes it involves."""
        kind = type(clause).__name__
        if kind == "ForbiddenAndConjunction":
            parts = [self.forbidden(c) for c in clause.components]
            preds = [p for p, _ in parts]
            genes = tuple(sorted({g for _, gs in parts for g in gs}))
            return (lambda vals: all(p(vals) for p in preds)), genes
        if kind == "ForbiddenOrConjunction":
            parts = [self.forbidden(c) for c in clause.components]
            preds = [p for p, _ in parts]
            genes = tuple(sorted({g for _, gs in parts for g in gs}))
            return (lambda vals: any(p(vals) for p in preds)), genes
        if kind in _FORBIDDEN_RELATION_OPS:
            op = _FORBIDDEN_RELATION_OPS[kind]
            li, ri = self.index[clause.left.name], self.index[clause.right.name]

            def rel(vals: Values) -> bool:
                # relations compare actual values, ordinals included (as ConfigSpace does)
                a, b = vals[li], vals[ri]
                return a is not None and b is not None and bool(op(a, b))

            return rel, (li, ri)
        name = clause.hyperparameter.name
        i = self.index[name]
        if kind == "ForbiddenInClause":
            values = list(clause.values)
            return (lambda vals: vals[i] is not None and vals[i] in values), (i,)
        op = _FORBIDDEN_CLAUSE_OPS.get(kind)
        if op is None:
            raise SpaceError(f"forbidden clause on {name!r}: unsupported clause type {kind}")
        key = self._key(name)
        target = key(clause.value)
        if op is operator.eq:
            return (lambda vals: vals[i] is not None and vals[i] == clause.value), (i,)
        return (lambda vals: vals[i] is not None and bool(op(key(vals[i]), target))), (i,)


def condition_parents(cond: Any) -> list[str]:
    """Names of all parents a (possibly conjunctive) condition refers to."""
    if isinstance(cond, CS.AndConjunction | CS.OrConjunction):
        out: list[str] = []
        for c in cond.components:
            out.extend(condition_parents(c))
        return out
    return [cond.parent.name]


def forbidden_names(clause: Any) -> set[str]:
    """Names of all hyperparameters a (possibly conjunctive) forbidden clause refers to."""
    names: set[str] = set()
    for comp in getattr(clause, "components", ()) or ():
        names |= forbidden_names(comp)
    for attr in ("hyperparameter", "left", "right"):
        hp = getattr(clause, attr, None)
        if hp is not None and hasattr(hp, "name"):
            names.add(hp.name)
    return names


def conjunction_quirks(cs: CS.ConfigurationSpace) -> list[tuple[str, str]]:
    """Pairs of children whose AND / OR conditions ConfigSpace 1.2 confuses.

    ConfigSpace 1.2 groups conditions with "equivalent" components without
    comparing the conjunction type, so ``c1 | a == 1 && b == 2`` and
    ``c2 | a == 1 || b == 2`` end up checked with the same conjunction by
    ``Configuration.check_valid_configuration`` (and its sampler). A space
    with such a pair is rebuilt through
    :func:`evoautodl.space.jsonio.space_from_serialized`, which applies the
    workaround.
    """
    conj = [c for c in cs.conditions if isinstance(c, CS.AndConjunction | CS.OrConjunction)]
    return [
        (a.child.name, b.child.name)
        for n, a in enumerate(conj) for b in conj[n + 1:]
        if type(a) is not type(b) and a.equivalent_condition_on_parent(b)
    ]


def without(cs: CS.ConfigurationSpace, drop: list[str]) -> CS.ConfigurationSpace:
    """A copy of ``cs`` without the named hyperparameters (and forbidden clauses that use them)."""
    missing = [d for d in drop if d not in cs]
    if missing:
        raise SpaceError(f"cannot drop unknown hyperparameter(s) {missing}")
    for cond in cs.conditions:
        names = [cond.child.name, *condition_parents(cond)]
        hit = [n for n in names if n in drop]
        if hit and cond.child.name not in drop:
            raise SpaceError(f"cannot drop {hit}: the condition of {cond.child.name!r} depends on it")
    new = CS.ConfigurationSpace()
    new.add([cs[n] for n in cs if n not in drop])
    new.add([cond for cond in cs.conditions if cond.child.name not in drop])
    new.add([f for f in cs.forbidden_clauses if not forbidden_names(f) & set(drop)])
    return new
