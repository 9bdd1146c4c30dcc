"""The one builder of ConfigSpace objects: serialized (JSON) form in, checked space out.

Every space goes through :func:`space_from_serialized`: ConfigSpace JSON
files from many ConfigSpace versions (json_format_version 0.2 / 0.4 with
``default``, ``q`` and ``probabilities`` fields; 1.x with ``default_value``)
and benchmark libraries (YAHPO Gym, HPOBench, ...), the declarative form
(:mod:`evoautodl.space.declarative` writes this form), and ConfigSpace objects
whose conditions need a workaround. It

1. lints the dict with the checks of :mod:`evoautodl.space.checks` (duplicate
   names, ranges, log bounds, defaults, choices, weights, unknown or cyclic
   condition parents, order comparisons on categoricals, illegal condition
   and forbidden values, unknown names in forbidden clauses), so that the
   error names the hyperparameter;
2. applies the ConfigSpace 1.2 workarounds, here and nowhere else:
   ``parent != v`` on a conditional discrete parent becomes ``parent in
   (the other values)``; an OR whose components equal an AND's gets a
   repeated component (ConfigSpace confuses the two); ConfigSpace's debug
   print of ``>=`` forbidden clauses is kept off stdout;
3. lets ConfigSpace build the space with its warnings silenced and wraps
   whatever it still raises in a :class:`SpaceError` with our message on top.

ConfigSpace insists that the default configuration is valid. When forbidden
clauses exclude the declared defaults, the defaults are replaced by a valid
configuration found by sampling (logged as a warning); when no valid
configuration can be found, :class:`InfeasibleSpaceError` is raised.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import math
import warnings
from collections.abc import Mapping
from typing import Any

import ConfigSpace as CS
import numpy as np
from ConfigSpace.exceptions import ForbiddenValueError

from evoautodl.errors import InfeasibleSpaceError, SpaceError
from evoautodl.space import checks

__all__ = ["space_from_serialized", "serialize_forbidden", "lint_serialized", "quiet_configspace"]

logger = logging.getLogger(__name__)

_NUMERIC = {"uniform_float", "uniform_int", "normal_float", "normal_int", "beta_float", "beta_int"}
_COMMON = {"name", "default_value", "meta"}
_KEYS: dict[str, set[str]] = {
    "uniform_float": _COMMON | {"lower", "upper", "log"},
    "uniform_int": _COMMON | {"lower", "upper", "log"},
    "normal_float": _COMMON | {"lower", "upper", "log", "mu", "sigma"},
    "normal_int": _COMMON | {"lower", "upper", "log", "mu", "sigma"},
    "beta_float": _COMMON | {"lower", "upper", "log", "alpha", "beta"},
    "beta_int": _COMMON | {"lower", "upper", "log", "alpha", "beta"},
    "categorical": _COMMON | {"choices", "weights"},
    "ordinal": _COMMON | {"sequence"},
    "constant": {"name", "value", "meta"},
}
_DEFAULT_SEARCH_SAMPLES = 4000


def _hp_error(name: Any, problem: str) -> SpaceError:
    return SpaceError(f"hyperparameter {name!r}: {problem}")


def _normalise_hp(item: Any, seen: set[str]) -> dict[str, Any]:
    """Lint one serialized hyperparameter and return a cleaned copy."""
    if not isinstance(item, Mapping):
        raise SpaceError(f"hyperparameter entry {item!r} is not a JSON object")
    name, kind = item.get("name"), item.get("type")
    if not isinstance(name, str) or not name:
        raise SpaceError(f"hyperparameter entry {dict(item)!r} has no 'name'")
    if name in seen:
        raise _hp_error(name, "duplicate name")
    seen.add(name)
    if kind not in _KEYS:
        raise _hp_error(name, f"unknown type {kind!r} (known: {', '.join(sorted(_KEYS))})")
    out = {k: v for k, v in item.items() if k in _KEYS[kind]}
    out["type"] = kind
    if out.get("default_value") is None and item.get("default") is not None:
        out["default_value"] = item["default"]
    if out.get("default_value") is None:
        out.pop("default_value", None)
    if kind == "categorical" and out.get("weights") is None:
        out.pop("weights", None)
        probs = item.get("probabilities")
        if isinstance(probs, list) and probs and all(isinstance(p, int | float) and p >= 0 for p in probs):
            out["weights"] = probs
    if kind in _NUMERIC:
        _lint_numeric(name, kind, out)
    elif kind in ("categorical", "ordinal"):
        key = "choices" if kind == "categorical" else "sequence"
        out[key] = checks.levels(name, kind, out.get(key), out.get("default_value"))
        if kind == "categorical" and out.get("weights") is not None:
            out["weights"] = checks.category_weights(name, out["weights"], len(out[key]))
    elif "value" not in out:
        raise _hp_error(name, "constant without 'value'")
    return out


def _lint_numeric(name: str, kind: str, out: dict[str, Any]) -> None:
    log = bool(out.get("log", False))
    if kind.startswith("normal") and (out.get("lower") is None or out.get("upper") is None):
        # ConfigSpace < 0.5 wrote unbounded normals: bound them at mu +- 3 sigma
        mu, sigma = float(out.get("mu", 0.0)), abs(float(out.get("sigma", 1.0))) or 1.0
        lo, hi = mu - 3 * sigma, mu + 3 * sigma
        if log:
            lo, hi, out["mu"], out["sigma"] = math.exp(lo), math.exp(hi), math.exp(mu), math.exp(mu) * sigma
        if kind == "normal_int":
            lo, hi = math.floor(lo), math.ceil(hi)
            lo = max(lo, 1) if log else lo
        out["lower"], out["upper"] = lo, hi
        if "default_value" in out:
            out["default_value"] = min(hi, max(lo, out["default_value"]))
    lo, hi = checks.numeric_range(name, out.get("lower"), out.get("upper"), log=log, integer=kind.endswith("_int"))
    if kind.endswith("_int"):
        out["lower"], out["upper"] = lo, hi
        d = out.get("default_value")
        if isinstance(d, int | float) and not isinstance(d, bool) and math.isfinite(d):
            out["default_value"] = round(d)
    checks.default_in_range(name, out.get("default_value"), lo, hi)


_ORDERED = {"uniform_float", "uniform_int", "normal_float", "normal_int", "beta_float", "beta_int", "ordinal"}


def _condition_edges(cond: Any, hps: Mapping[str, dict[str, Any]], edges: dict[str, list[str]],
                     child: str | None = None) -> None:
    """Lint one serialized condition; record child -> parent edges."""
    if not isinstance(cond, Mapping):
        raise SpaceError(f"condition entry {cond!r} is not a JSON object")
    child = cond.get("child", child)
    if child not in hps:
        raise SpaceError(f"condition on unknown hyperparameter {child!r}")
    where = f"condition of {child!r}"
    kind = cond.get("type")
    if kind in ("AND", "OR"):
        parts = cond.get("conditions")
        if not isinstance(parts, list) or not parts:
            raise SpaceError(f"{where}: {kind} conjunction without 'conditions'")
        for part in parts:
            _condition_edges(part, hps, edges, child)
        return
    parent = cond.get("parent")
    if parent not in hps:
        raise SpaceError(f"{where}: unknown parent {parent!r}")
    if parent == child:
        raise SpaceError(f"{where}: a hyperparameter cannot be conditioned on itself")
    if kind in ("LT", "GT") and hps[parent]["type"] not in _ORDERED:
        raise SpaceError(f"{where}: {'<' if kind == 'LT' else '>'} needs an ordered parent (numeric or ordinal); "
                         f"{parent!r} is {hps[parent]['type']}")
    values = cond.get("values") if kind == "IN" else [cond.get("value")]
    if not isinstance(values, list | tuple) or not values:
        raise SpaceError(f"{where}: {kind} needs a non-empty list of values")
    for v in values:
        if not checks.legal_value(hps[parent], v):
            raise SpaceError(f"{where}: {v!r} is not a legal value of {parent!r}")
    edges.setdefault(child, []).append(parent)


def _rewrite_not_equals(cond: dict[str, Any], hps: Mapping[str, dict[str, Any]], conditional: set[str]) -> Any:
    """``parent != v`` on a conditional discrete parent -> ``parent in (other values)``.

    ConfigSpace 1.2 is inconsistent about a not-equals condition whose parent
    is inactive (its default configuration says "inactive", its validity
    check "active"), so it cannot build such spaces; an in-condition means
    the same (parent active and different) without the ambiguity. A
    continuous parent (or an int with more than 256 values) is left as it is.
    """
    if cond.get("type") in ("AND", "OR"):
        for part in cond["conditions"]:
            if isinstance(part, dict) and "child" in cond:
                part.setdefault("child", cond["child"])  # some writers leave it out of the components
        cond["conditions"] = [_rewrite_not_equals(c, hps, conditional) for c in cond["conditions"]]
        return cond
    if cond.get("type") != "NEQ" or cond.get("parent") not in conditional:
        return cond
    hp = hps[cond["parent"]]
    if hp["type"] in ("categorical", "ordinal"):
        levels = hp["choices"] if hp["type"] == "categorical" else hp["sequence"]
    elif hp["type"] == "uniform_int" and hp["upper"] - hp["lower"] <= 256:
        levels = list(range(hp["lower"], hp["upper"] + 1))
    else:
        return cond
    others = [v for v in levels if v != cond.get("value")]
    if not others:
        raise SpaceError(
            f"condition of {cond.get('child')!r}: {cond['parent']!r} != {cond.get('value')!r} can never hold"
        )
    return {"type": "IN", "child": cond.get("child"), "parent": cond["parent"], "values": others}


def _signature(cond: Mapping[str, Any]) -> tuple[int, frozenset[str]]:
    parts = cond.get("conditions") or []
    keys = [repr((p.get("type"), p.get("parent"), p.get("value"), p.get("values"))) for p in parts]
    return len(keys), frozenset(keys)


def _pad_or_conjunctions(conditions: list[Any]) -> list[Any]:
    """Repeat a component of every OR whose components equal an AND's (its meaning is unchanged).

    ConfigSpace 1.2 groups conditions with "equivalent" components without
    comparing the conjunction type, and then checks (and samples) both
    children with one conjunction; the repeated component makes the two
    conditions differ for ConfigSpace.
    """
    ands = {_signature(c) for c in conditions if isinstance(c, Mapping) and c.get("type") == "AND"}
    for c in conditions:
        while isinstance(c, Mapping) and c.get("type") == "OR" and _signature(c) in ands:
            c["conditions"].append(copy.deepcopy(c["conditions"][0]))
    return conditions


_CLAUSE_ORDER = {"CLAUSE_LT", "CLAUSE_LE", "CLAUSE_GT", "CLAUSE_GE"}


def _lint_forbidden(clause: Any, hps: Mapping[str, dict[str, Any]]) -> None:
    """Lint one serialized forbidden clause: known names, legal values, order comparisons on ordered ones."""
    if not isinstance(clause, Mapping):
        raise SpaceError(f"forbidden clause {clause!r} is not a JSON object")
    for sub in clause.get("clauses") or ():
        _lint_forbidden(sub, hps)
    for ref in (str(clause[k]) for k in ("name", "left", "right") if k in clause):
        if ref not in hps:
            raise SpaceError(f"forbidden clause: unknown hyperparameter {ref!r}")
    if "name" not in clause:
        return
    hp = hps[str(clause["name"])]
    where = f"forbidden clause on {hp['name']!r}"
    kind = clause.get("type")
    if kind in _CLAUSE_ORDER and hp["type"] not in _ORDERED:
        raise SpaceError(f"{where}: an order comparison needs an ordered hyperparameter (numeric or ordinal), "
                         f"not {hp['type']}")
    values = clause.get("values") if kind == "IN" else [clause.get("value")]
    for v in values if isinstance(values, list | tuple) else [values]:
        if not checks.legal_value(hp, v):
            raise SpaceError(f"{where}: {v!r} is not a legal value of {hp['name']!r}")


def lint_serialized(d: Any) -> dict[str, Any]:
    """Lint a serialized ConfigSpace dict; return a normalised deep copy with the workarounds applied."""
    if not isinstance(d, Mapping):
        raise SpaceError(f"expected a JSON object with 'hyperparameters', got {type(d).__name__}")
    hps = d.get("hyperparameters")
    if not isinstance(hps, list) or not hps:
        raise SpaceError("no hyperparameters (expected a non-empty 'hyperparameters' list)")
    seen: set[str] = set()
    out: dict[str, Any] = {"name": d.get("name"), "hyperparameters": [_normalise_hp(h, seen) for h in hps]}
    by_name = {h["name"]: h for h in out["hyperparameters"]}
    edges: dict[str, list[str]] = {}
    conditions = list(d.get("conditions") or [])
    for cond in conditions:
        _condition_edges(cond, by_name, edges)
    cycle = checks.condition_cycle(edges, order=[h["name"] for h in out["hyperparameters"]])
    if cycle:
        raise _hp_error(cycle[0], f"cyclic conditions {' -> '.join(cycle)}")
    forbiddens = list(d.get("forbiddens") or [])
    for clause in forbiddens:
        _lint_forbidden(clause, by_name)
    conditional = set(edges)
    out["conditions"] = _pad_or_conjunctions(
        [_rewrite_not_equals(copy.deepcopy(c), by_name, conditional) for c in conditions]
    )
    out["forbiddens"] = copy.deepcopy(forbiddens)
    return out


@contextlib.contextmanager
def quiet_configspace() -> Any:
    """ConfigSpace without its warnings and without the debug print of ``>=`` forbidden clauses (1.2.0)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _build(d: dict[str, Any]) -> CS.ConfigurationSpace:
    with quiet_configspace():
        return CS.ConfigurationSpace.from_serialized_dict(copy.deepcopy(d))


def space_from_serialized(d: Any) -> CS.ConfigurationSpace:
    """A ConfigurationSpace from a serialized dict (lint, normalise, build, wrap errors)."""
    clean = lint_serialized(d)
    try:
        return _build(clean)
    except ForbiddenValueError:
        pass
    except SpaceError:
        raise
    except Exception as exc:
        raise SpaceError(f"ConfigSpace rejects the space: {type(exc).__name__}: {exc}") from exc
    return _with_valid_defaults(clean)


def _with_valid_defaults(clean: dict[str, Any]) -> CS.ConfigurationSpace:
    """Rebuild with defaults taken from a configuration no forbidden clause excludes."""
    from evoautodl.space.searchspace import SearchSpace

    base = {**clean, "forbiddens": []}
    try:
        cs0 = _build(base)
    except Exception as exc:
        raise SpaceError(f"ConfigSpace rejects the space: {type(exc).__name__}: {exc}") from exc
    clauses = [_decode_forbidden(f, cs0) for f in clean["forbiddens"]]
    space = SearchSpace(cs0)
    preds = [space._compile_forbidden(c) for c in clauses]
    rng = np.random.default_rng(0)
    for _ in range(_DEFAULT_SEARCH_SAMPLES):
        vals = space._values(space.snap(rng.random(space.dim)))
        if not any(p(vals) for p in preds):
            break
    else:
        raise InfeasibleSpaceError(
            f"the forbidden clauses exclude every configuration (none valid in {_DEFAULT_SEARCH_SAMPLES} samples): "
            + "; ".join(str(c) for c in clauses)
        )
    fixed = copy.deepcopy(clean)
    found = dict(zip(space.names, vals))  # the space's (topological) order, not the file's
    for hp in fixed["hyperparameters"]:
        v = found.get(hp["name"])
        if v is not None and hp["type"] != "constant":
            hp["default_value"] = v
    logger.warning("forbidden clauses exclude the declared defaults; using a valid configuration as default")
    try:
        return _build(fixed)
    except Exception as exc:  # pragma: no cover - the found configuration is valid by construction
        raise SpaceError(f"ConfigSpace rejects the space: {type(exc).__name__}: {exc}") from exc


def _decode_forbidden(item: dict[str, Any], cs: CS.ConfigurationSpace) -> Any:
    from ConfigSpace.read_and_write.dictionary import FORBIDDEN_DECODERS

    def dec(it: dict[str, Any], space: CS.ConfigurationSpace, _d: Any) -> Any:
        it = dict(it)
        kind = it.pop("type", None)
        if kind not in FORBIDDEN_DECODERS:
            raise SpaceError(f"forbidden clause {item!r}: unknown type {kind!r}")
        return FORBIDDEN_DECODERS[kind](it, space, dec)

    try:
        return dec(item, cs, dec)
    except SpaceError:
        raise
    except Exception as exc:
        raise SpaceError(f"forbidden clause {item!r}: {type(exc).__name__}: {exc}") from exc


def serialize_forbidden(clause: Any) -> dict[str, Any]:
    """The serialized (JSON) form of a ConfigSpace forbidden clause."""
    from ConfigSpace.read_and_write.dictionary import FORBIDDEN_ENCODERS

    def enc(item: Any, _e: Any) -> dict[str, Any]:
        type_name, encoder = FORBIDDEN_ENCODERS[type(item)]
        return {"type": type_name, **encoder(item, enc)}

    return enc(clause, enc)
