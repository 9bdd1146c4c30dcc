"""The compact declarative search-space form users write in TOML or Python dicts.

Example (Python)::

    {
        "lr": {"type": "float", "lower": 1e-4, "upper": 0.1, "log": True},
        "layers": {"type": "int", "lower": 1, "upper": 5},
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
        "size": {"type": "ordinal", "sequence": ["s", "m", "l"]},
        "momentum": {"type": "float", "lower": 0.0, "upper": 0.99,
                     "condition": {"parent": "optimizer", "equals": "sgd"}},
    }

Example (TOML)::

    [space.hyperparameters.lr]
    type = "float"
    lower = 1e-4
    upper = 0.1
    log = true

    [[space.forbidden]]
    all = [{name = "layers", equals = 5}, {name = "optimizer", equals = "adam"}]

Conditions: ``{"parent": p, OP: v}`` with OP one of ``equals``, ``not_equals``,
``in``, ``gt``, ``lt``; combine with ``{"all": [...]}`` (AND) and
``{"any": [...]}`` (OR). Forbidden clauses: ``{"name": h, OP: v}`` with OP one
of ``equals``, ``in``, ``gt``, ``ge``, ``lt``, ``le``, combined with ``all`` /
``any``; relations ``{"left": a, "relation": "lt", "right": b}`` (``eq``,
``lt``, ``le``, ``gt``, ``ge``) forbid e.g. ``a < b``. Every problem raises
:class:`SpaceError` naming the hyperparameter. When forbidden clauses exclude
the defaults, a valid configuration becomes the default; when they exclude
everything, :class:`InfeasibleSpaceError` is raised.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import ConfigSpace as CS
from ConfigSpace.exceptions import ForbiddenValueError

from evoautodl.errors import SpaceError
from evoautodl.space.jsonio import serialize_forbidden, space_from_serialized

_HP_KEYS = {
    "float": {"type", "lower", "upper", "log", "default", "condition"},
    "int": {"type", "lower", "upper", "log", "default", "condition"},
    "categorical": {"type", "choices", "default", "weights", "condition"},
    "ordinal": {"type", "sequence", "default", "condition"},
    "constant": {"type", "value", "condition"},
}
_COND_OPS = {"equals", "not_equals", "in", "gt", "lt"}
_FORB_OPS = {"equals", "in", "gt", "ge", "lt", "le"}


def _num(name: str, spec: Mapping[str, Any], key: str) -> float:
    if key not in spec:
        raise SpaceError(f"hyperparameter {name!r}: missing {key!r}")
    v = spec[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise SpaceError(f"hyperparameter {name!r}: {key!r} must be a finite number, got {v!r}")
    return v


def _build_hp(name: str, spec: Any) -> Any:
    if not isinstance(spec, Mapping):
        raise SpaceError(f"hyperparameter {name!r}: expected a table/dict, got {type(spec).__name__}")
    kind = spec.get("type")
    if kind not in _HP_KEYS:
        raise SpaceError(
            f"hyperparameter {name!r}: unknown type {kind!r} (use one of {', '.join(sorted(_HP_KEYS))})"
        )
    unknown = set(spec) - _HP_KEYS[kind]
    if unknown:
        raise SpaceError(f"hyperparameter {name!r}: unknown key(s) {sorted(unknown)} for type {kind!r}")
    default = spec.get("default")
    if kind in ("float", "int"):
        lo, hi = _num(name, spec, "lower"), _num(name, spec, "upper")
        log = bool(spec.get("log", False))
        if kind == "int" and (lo != int(lo) or hi != int(hi)):
            raise SpaceError(f"hyperparameter {name!r}: int bounds must be whole numbers, got [{lo}, {hi}]")
        if lo >= hi:
            raise SpaceError(
                f"hyperparameter {name!r}: empty or inverted range [{lo}, {hi}] (lower must be < upper;"
                " use type 'constant' for a fixed value)"
            )
        if log and lo <= 0:
            raise SpaceError(f"hyperparameter {name!r}: log scale needs lower > 0, got lower={lo}")
        if default is not None and not lo <= default <= hi:
            raise SpaceError(f"hyperparameter {name!r}: default {default!r} outside [{lo}, {hi}]")
        if kind == "float":
            return CS.UniformFloatHyperparameter(name, float(lo), float(hi), default_value=default, log=log)
        return CS.UniformIntegerHyperparameter(
            name, int(lo), int(hi), default_value=None if default is None else int(default), log=log
        )
    if kind == "constant":
        if "value" not in spec:
            raise SpaceError(f"hyperparameter {name!r}: constant needs 'value'")
        return CS.Constant(name, spec["value"])
    key = "choices" if kind == "categorical" else "sequence"
    items = spec.get(key)
    if not isinstance(items, Sequence) or isinstance(items, str) or len(items) == 0:
        raise SpaceError(f"hyperparameter {name!r}: {kind} needs a non-empty list {key!r}, got {items!r}")
    if len({repr(x) for x in items}) != len(items):
        raise SpaceError(f"hyperparameter {name!r}: duplicate entries in {key!r}: {list(items)!r}")
    if default is not None and default not in items:
        raise SpaceError(f"hyperparameter {name!r}: default {default!r} is not one of {list(items)!r}")
    kw: dict[str, Any] = {} if default is None else {"default_value": default}
    if kind == "categorical":
        weights = spec.get("weights")
        if weights is not None:
            if len(weights) != len(items) or any(w < 0 for w in weights) or sum(weights) <= 0:
                raise SpaceError(
                    f"hyperparameter {name!r}: 'weights' must be {len(items)} non-negative numbers, not all 0"
                )
            kw["weights"] = list(weights)
        return CS.CategoricalHyperparameter(name, list(items), **kw)
    return CS.OrdinalHyperparameter(name, list(items), **kw)


def _wrapped_hp(name: str, spec: Any) -> Any:
    """:func:`_build_hp`, with whatever ConfigSpace raises wrapped in a SpaceError naming the hyperparameter."""
    try:
        return _build_hp(name, spec)
    except SpaceError:
        raise
    except Exception as exc:
        raise SpaceError(f"hyperparameter {name!r}: ConfigSpace rejects it: {exc}") from exc


def _check_value(hp: Any, value: Any, where: str) -> None:
    try:
        ok = hp.legal_value(value)
    except Exception:
        ok = False
    if not ok:
        raise SpaceError(f"{where}: {value!r} is not a legal value of {hp.name!r}")


def _build_condition(
    child_name: str, spec: Any, hps: Mapping[str, Any], conditional: frozenset[str] = frozenset()
) -> Any:
    child = hps[child_name]
    where = f"condition of {child_name!r}"
    if not isinstance(spec, Mapping):
        raise SpaceError(f"{where}: expected a dict, got {spec!r}")
    for junction, cls in (("all", CS.AndConjunction), ("any", CS.OrConjunction)):
        if junction in spec:
            parts = spec[junction]
            if set(spec) != {junction} or not isinstance(parts, Sequence) or len(parts) < 1:
                raise SpaceError(f"{where}: {junction!r} takes a non-empty list and nothing else")
            built = [_build_condition(child_name, p, hps, conditional) for p in parts]
            return built[0] if len(built) == 1 else cls(*built)
    parent_name = spec.get("parent")
    if parent_name not in hps:
        raise SpaceError(f"{where}: unknown parent {parent_name!r}")
    if parent_name == child_name:
        raise SpaceError(f"{where}: a hyperparameter cannot be conditioned on itself")
    ops = set(spec) - {"parent"}
    if len(ops) != 1 or not ops <= _COND_OPS:
        raise SpaceError(f"{where}: need exactly one of {sorted(_COND_OPS)}, got {sorted(ops)}")
    op = ops.pop()
    parent = hps[parent_name]
    value = spec[op]
    if op == "in":
        if not isinstance(value, Sequence) or isinstance(value, str) or not value:
            raise SpaceError(f"{where}: 'in' takes a non-empty list")
        for v in value:
            _check_value(parent, v, where)
        return CS.InCondition(child, parent, list(value))
    _check_value(parent, value, where)
    if op == "not_equals" and parent_name in conditional:
        others = not_equals_as_in(parent, value)
        if others is not None:
            if not others:
                raise SpaceError(f"{where}: {parent_name!r} != {value!r} can never hold")
            return CS.InCondition(child, parent, others)
    cls = {
        "equals": CS.EqualsCondition,
        "not_equals": CS.NotEqualsCondition,
        "gt": CS.GreaterThanCondition,
        "lt": CS.LessThanCondition,
    }[op]
    return cls(child, parent, value)


def not_equals_as_in(parent: Any, value: Any) -> list[Any] | None:
    """The other values of a discrete parent, to write ``parent != value`` as ``parent in others``.

    ConfigSpace 1.2 is inconsistent about a not-equals condition whose parent is
    inactive (its default configuration says "inactive", its validity check
    "active"), so it cannot build such spaces; an in-condition means the same
    (parent active and different) without the ambiguity. None when the parent
    is continuous or has too many values.
    """
    if isinstance(parent, CS.CategoricalHyperparameter):
        return [c for c in parent.choices if c != value]
    if isinstance(parent, CS.OrdinalHyperparameter):
        return [c for c in parent.sequence if c != value]
    if isinstance(parent, CS.UniformIntegerHyperparameter) and parent.upper - parent.lower <= 256:
        return [v for v in range(int(parent.lower), int(parent.upper) + 1) if v != value]
    return None


def _build_forbidden(spec: Any, hps: Mapping[str, Any]) -> Any:
    where = "forbidden clause"
    if not isinstance(spec, Mapping):
        raise SpaceError(f"{where}: expected a dict, got {spec!r}")
    for junction, cls in (("all", CS.ForbiddenAndConjunction), ("any", CS.ForbiddenOrConjunction)):
        if junction in spec:
            parts = spec[junction]
            if set(spec) != {junction} or not isinstance(parts, Sequence) or len(parts) < 1:
                raise SpaceError(f"{where}: {junction!r} takes a non-empty list and nothing else")
            built = [_build_forbidden(p, hps) for p in parts]
            return built[0] if len(built) == 1 else cls(*built)
    if "relation" in spec:
        return _build_relation(spec, hps)
    name = spec.get("name")
    if name not in hps:
        raise SpaceError(f"{where}: unknown hyperparameter {name!r}")
    ops = set(spec) - {"name"}
    if len(ops) != 1 or not ops <= _FORB_OPS:
        raise SpaceError(f"{where} on {name!r}: need exactly one of {sorted(_FORB_OPS)}, got {sorted(ops)}")
    op = ops.pop()
    hp, value = hps[name], spec[op]
    if op == "in":
        for v in value:
            _check_value(hp, v, f"{where} on {name!r}")
        return CS.ForbiddenInClause(hp, list(value))
    _check_value(hp, value, f"{where} on {name!r}")
    cls = {
        "equals": CS.ForbiddenEqualsClause,
        "gt": CS.ForbiddenGreaterThanClause,
        "ge": CS.ForbiddenGreaterThanEqualsClause,
        "lt": CS.ForbiddenLessThanClause,
        "le": CS.ForbiddenLessThanEqualsClause,
    }[op]
    return cls(hp, value)


_RELATIONS = {
    "eq": CS.ForbiddenEqualsRelation,
    "lt": CS.ForbiddenLessThanRelation,
    "le": CS.ForbiddenLessThanEqualsRelation,
    "gt": CS.ForbiddenGreaterThanRelation,
    "ge": CS.ForbiddenGreaterThanEqualsRelation,
}


def _build_relation(spec: Mapping[str, Any], hps: Mapping[str, Any]) -> Any:
    """``{"left": a, "relation": "lt", "right": b}`` forbids ``a < b`` (both active)."""
    if set(spec) != {"left", "relation", "right"}:
        raise SpaceError(f"forbidden relation {dict(spec)!r}: needs exactly 'left', 'relation' and 'right'")
    rel = spec["relation"]
    if rel not in _RELATIONS:
        raise SpaceError(f"forbidden relation {dict(spec)!r}: relation must be one of {sorted(_RELATIONS)}")
    for key in ("left", "right"):
        if spec[key] not in hps:
            raise SpaceError(f"forbidden relation: unknown hyperparameter {spec[key]!r}")
    if spec["left"] == spec["right"]:
        raise SpaceError(f"forbidden relation on {spec['left']!r}: left and right must differ")
    return _RELATIONS[rel](hps[spec["left"]], hps[spec["right"]])


def _find_cycle(edges: Mapping[str, list[str]]) -> list[str] | None:
    """A cycle in child -> parents edges, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for p in edges.get(n, []):
            if state.get(p) == 1:
                return [*stack[stack.index(p):], p]
            if state.get(p) is None:
                found = visit(p)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in edges:
        if state.get(n) is None:
            found = visit(n)
            if found:
                return found
    return None


def configspace_from_dict(spec: Mapping[str, Any], forbidden: Sequence[Any] = ()) -> CS.ConfigurationSpace:
    """Build a ConfigurationSpace from the declarative form (see module docstring).

    ``spec`` is either a mapping name -> hyperparameter table, or a mapping with
    keys ``hyperparameters`` (that mapping, or a list of tables with ``name``)
    and optionally ``forbidden``.
    """
    from evoautodl.space.compile import condition_parents, disambiguate_conjunctions

    if not isinstance(spec, Mapping):
        raise SpaceError(f"search space: expected a table/dict, got {type(spec).__name__}")
    if "hyperparameters" in spec and set(spec) <= {"hyperparameters", "forbidden"}:
        forbidden = [*forbidden, *spec.get("forbidden", [])]
        spec = spec["hyperparameters"]
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        table: dict[str, Any] = {}
        for item in spec:
            if not isinstance(item, Mapping) or "name" not in item:
                raise SpaceError(f"search space: each hyperparameter in a list needs a 'name', got {item!r}")
            if item["name"] in table:
                raise SpaceError(f"hyperparameter {item['name']!r}: duplicate name")
            table[item["name"]] = {k: v for k, v in item.items() if k != "name"}
        spec = table
    if not spec:
        raise SpaceError("search space: no hyperparameters")
    hps = {str(name): _wrapped_hp(str(name), s) for name, s in spec.items()}
    conditional = frozenset(str(n) for n, s in spec.items() if "condition" in s)
    conds = {}
    for name, s in spec.items():
        if "condition" in s:
            conds[name] = _build_condition(name, s["condition"], hps, conditional)
    edges = {c: condition_parents(cond) for c, cond in conds.items()}
    cycle = _find_cycle(edges)
    if cycle:
        raise SpaceError(f"hyperparameter {cycle[0]!r}: cyclic conditions {' -> '.join(cycle)}")
    cs = CS.ConfigurationSpace()
    cs.add(list(hps.values()))
    conds = dict(zip(conds, disambiguate_conjunctions(list(conds.values()))))
    try:
        cs.add(list(conds.values()))
    except Exception as first:
        cs = CS.ConfigurationSpace()  # add one by one to name the culprit
        cs.add(list(hps.values()))
        for name, cond in conds.items():
            try:
                cs.add(cond)
            except Exception as exc:
                raise SpaceError(f"condition of {name!r}: {exc}") from exc
        raise SpaceError(f"conditions: {first}") from first
    clauses = [_build_forbidden(f, hps) for f in forbidden]
    if not clauses:
        return cs
    serialized = cs.to_serialized_dict()
    try:
        cs.add(clauses)
    except ForbiddenValueError:
        # the defaults are forbidden: let the JSON builder pick valid defaults (or raise Infeasible)
        serialized["forbiddens"] = [serialize_forbidden(c) for c in clauses]
        return space_from_serialized(serialized)
    except Exception as exc:
        raise SpaceError(f"forbidden clauses {list(forbidden)!r}: {exc}") from exc
    return cs
