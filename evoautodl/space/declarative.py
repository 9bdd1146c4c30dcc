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
``lt``, ``le``, ``gt``, ``ge``) forbid e.g. ``a < b``.

This module only reads the declarative syntax (keys, operators, the shape of
each table) and writes ConfigSpace's serialized (JSON) form; every semantic
check (ranges, log bounds, defaults, choices, unknown or cyclic parents,
legal values), the ConfigSpace workarounds and the repair of forbidden
defaults happen once, in :func:`evoautodl.space.jsonio.space_from_serialized`,
for declarative spaces and JSON files alike. Every problem raises
:class:`SpaceError` naming the hyperparameter; forbidden clauses that exclude
everything raise :class:`InfeasibleSpaceError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ConfigSpace as CS

from evoautodl.errors import SpaceError
from evoautodl.space.jsonio import space_from_serialized

__all__ = ["configspace_from_dict", "serialized_from_dict"]

_HP_KEYS = {
    "float": {"type", "lower", "upper", "log", "default", "condition"},
    "int": {"type", "lower", "upper", "log", "default", "condition"},
    "categorical": {"type", "choices", "default", "weights", "condition"},
    "ordinal": {"type", "sequence", "default", "condition"},
    "constant": {"type", "value", "condition"},
}
_HP_TYPES = {"float": "uniform_float", "int": "uniform_int", "categorical": "categorical", "ordinal": "ordinal",
             "constant": "constant"}
_COND_OPS = {"equals": "EQ", "not_equals": "NEQ", "in": "IN", "gt": "GT", "lt": "LT"}
_FORB_OPS = {"equals": "EQUALS", "in": "IN", "gt": "CLAUSE_GT", "ge": "CLAUSE_GE", "lt": "CLAUSE_LT",
             "le": "CLAUSE_LE"}
_RELATIONS = {"eq": "RELATION_EQ", "lt": "RELATION_LT", "le": "RELATION_LE", "gt": "RELATION_GT",
              "ge": "RELATION_GE"}


def _hp(name: str, spec: Any) -> dict[str, Any]:
    """One hyperparameter table -> its serialized form (syntax checked here, values in jsonio)."""
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
    out: dict[str, Any] = {"name": name, "type": _HP_TYPES[kind]}
    if kind in ("float", "int"):
        for key in ("lower", "upper"):
            if key not in spec:
                raise SpaceError(f"hyperparameter {name!r}: missing {key!r}")
            out[key] = spec[key]
        if kind == "int" and all(isinstance(spec[k], int | float) and not isinstance(spec[k], bool)
                                 for k in ("lower", "upper")) \
                and not all(float(spec[k]).is_integer() for k in ("lower", "upper")):
            raise SpaceError(f"hyperparameter {name!r}: int bounds must be whole numbers, got "
                             f"[{spec['lower']}, {spec['upper']}]")
        out["log"] = bool(spec.get("log", False))
    elif kind == "constant":
        if "value" not in spec:
            raise SpaceError(f"hyperparameter {name!r}: constant needs 'value'")
        out["value"] = spec["value"]
    else:
        key = "choices" if kind == "categorical" else "sequence"
        items = spec.get(key)
        out[key] = list(items) if isinstance(items, Sequence) and not isinstance(items, str) else items
        if kind == "categorical" and spec.get("weights") is not None:
            out["weights"] = spec["weights"]
    if spec.get("default") is not None:
        out["default_value"] = spec["default"]
    return out


def _condition(child: str, spec: Any) -> dict[str, Any]:
    where = f"condition of {child!r}"
    if not isinstance(spec, Mapping):
        raise SpaceError(f"{where}: expected a dict, got {spec!r}")
    for junction, kind in (("all", "AND"), ("any", "OR")):
        if junction in spec:
            parts = spec[junction]
            if set(spec) != {junction} or not isinstance(parts, Sequence) or isinstance(parts, str) or not parts:
                raise SpaceError(f"{where}: {junction!r} takes a non-empty list and nothing else")
            built = [_condition(child, p) for p in parts]
            return built[0] if len(built) == 1 else {"type": kind, "child": child, "conditions": built}
    ops = set(spec) - {"parent"}
    if len(ops) != 1 or not ops <= set(_COND_OPS):
        raise SpaceError(f"{where}: need 'parent' and exactly one of {sorted(_COND_OPS)}, got {sorted(ops)}")
    op = ops.pop()
    out: dict[str, Any] = {"type": _COND_OPS[op], "child": child, "parent": spec.get("parent")}
    if op == "in":
        values = spec[op]
        if not isinstance(values, Sequence) or isinstance(values, str) or not values:
            raise SpaceError(f"{where}: 'in' takes a non-empty list")
        out["values"] = list(values)
    else:
        out["value"] = spec[op]
    return out


def _forbidden(spec: Any) -> dict[str, Any]:
    where = "forbidden clause"
    if not isinstance(spec, Mapping):
        raise SpaceError(f"{where}: expected a dict, got {spec!r}")
    for junction, kind in (("all", "AND"), ("any", "OR")):
        if junction in spec:
            parts = spec[junction]
            if set(spec) != {junction} or not isinstance(parts, Sequence) or isinstance(parts, str) or not parts:
                raise SpaceError(f"{where}: {junction!r} takes a non-empty list and nothing else")
            built = [_forbidden(p) for p in parts]
            return built[0] if len(built) == 1 else {"type": kind, "clauses": built}
    if "relation" in spec:
        if set(spec) != {"left", "relation", "right"}:
            raise SpaceError(f"forbidden relation {dict(spec)!r}: needs exactly 'left', 'relation' and 'right'")
        if spec["relation"] not in _RELATIONS:
            raise SpaceError(f"forbidden relation {dict(spec)!r}: relation must be one of {sorted(_RELATIONS)}")
        if spec["left"] == spec["right"]:
            raise SpaceError(f"forbidden relation on {spec['left']!r}: left and right must differ")
        return {"type": _RELATIONS[spec["relation"]], "left": spec["left"], "right": spec["right"]}
    name = spec.get("name")
    ops = set(spec) - {"name"}
    if len(ops) != 1 or not ops <= set(_FORB_OPS):
        raise SpaceError(f"{where} on {name!r}: need 'name' and exactly one of {sorted(_FORB_OPS)}, "
                         f"got {sorted(ops)}")
    op = ops.pop()
    if op == "in":
        values = spec[op]
        if not isinstance(values, Sequence) or isinstance(values, str) or not values:
            raise SpaceError(f"{where} on {name!r}: 'in' takes a non-empty list")
        return {"type": "IN", "name": name, "values": list(values)}
    return {"type": _FORB_OPS[op], "name": name, "value": spec[op]}


def serialized_from_dict(spec: Mapping[str, Any], forbidden: Sequence[Any] = ()) -> dict[str, Any]:
    """The declarative form (see the module docstring) as ConfigSpace's serialized dict.

    ``spec`` is either a mapping name -> hyperparameter table, or a mapping with
    keys ``hyperparameters`` (that mapping, or a list of tables with ``name``)
    and optionally ``forbidden``.
    """
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
    if isinstance(forbidden, Mapping | str) or not isinstance(forbidden, Sequence):
        raise SpaceError(f"forbidden clauses: expected a list of tables, got {forbidden!r}")
    return {
        "hyperparameters": [_hp(str(name), s) for name, s in spec.items()],
        "conditions": [_condition(str(name), s["condition"]) for name, s in spec.items()
                       if isinstance(s, Mapping) and "condition" in s],
        "forbiddens": [_forbidden(f) for f in forbidden],
    }


def configspace_from_dict(spec: Mapping[str, Any], forbidden: Sequence[Any] = ()) -> CS.ConfigurationSpace:
    """Build a ConfigurationSpace from the declarative form (see the module docstring)."""
    return space_from_serialized(serialized_from_dict(spec, forbidden))
