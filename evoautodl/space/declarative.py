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
``any``. Every problem raises :class:`SpaceError` naming the hyperparameter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import ConfigSpace as CS

from evoautodl.errors import SpaceError

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


def _check_value(hp: Any, value: Any, where: str) -> None:
    try:
        ok = hp.legal_value(value)
    except Exception:
        ok = False
    if not ok:
        raise SpaceError(f"{where}: {value!r} is not a legal value of {hp.name!r}")


def _build_condition(child_name: str, spec: Any, hps: Mapping[str, Any]) -> Any:
    child = hps[child_name]
    where = f"condition of {child_name!r}"
    if not isinstance(spec, Mapping):
        raise SpaceError(f"{where}: expected a dict, got {spec!r}")
    for junction, cls in (("all", CS.AndConjunction), ("any", CS.OrConjunction)):
        if junction in spec:
            parts = spec[junction]
            if set(spec) != {junction} or not isinstance(parts, Sequence) or len(parts) < 1:
                raise SpaceError(f"{where}: {junction!r} takes a non-empty list and nothing else")
            built = [_build_condition(child_name, p, hps) for p in parts]
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
    cls = {
        "equals": CS.EqualsCondition,
        "not_equals": CS.NotEqualsCondition,
        "gt": CS.GreaterThanCondition,
        "lt": CS.LessThanCondition,
    }[op]
    return cls(child, parent, value)


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
    from evoautodl.space.compile import condition_parents

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
    hps = {str(name): _build_hp(str(name), s) for name, s in spec.items()}
    conds = {}
    for name, s in spec.items():
        if "condition" in s:
            conds[name] = _build_condition(name, s["condition"], hps)
    edges = {c: condition_parents(cond) for c, cond in conds.items()}
    cycle = _find_cycle(edges)
    if cycle:
        raise SpaceError(f"hyperparameter {cycle[0]!r}: cyclic conditions {' -> '.join(cycle)}")
    cs = CS.ConfigurationSpace()
    cs.add(list(hps.values()))
    for name, cond in conds.items():
        try:
            cs.add(cond)
        except Exception as exc:
            raise SpaceError(f"condition of {name!r}: {exc}") from exc
    for f in forbidden:
        clause = _build_forbidden(f, hps)
        try:
            cs.add(clause)
        except Exception as exc:
            raise SpaceError(f"forbidden clause {f!r}: {exc}") from exc
    return cs
