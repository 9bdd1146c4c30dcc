"""Resolve and check an operator option when the algorithm is built (see :mod:`evoautodl.operators.values`).

::

    resolve_operator(value, kind=, owner=, option=, arity=, n_children=, params=, space=) -> Operator

A problem is one ``ConfigError`` naming the algorithm (``owner``), the
option and the operator: an unknown name, a failed import, a wrong kind,
arity or child count, params the operator does not take, a value pickle
cannot store, an operator that fails or misbehaves when probed once on
sampled parents.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evoautodl.errors import ConfigError
from evoautodl.operators.base import KINDS, STYLES
from evoautodl.operators.individual import Individual
from evoautodl.operators.values import (
    BUILTINS,
    Operator,
    _describe,
    _with_rng,
    as_children,
    operator_name,
    python_random_from,
)
from evoautodl.space import SearchSpace

__all__ = ["resolve_operator"]


class _Problem(Exception):
    """Raised inside resolution; turned into a ConfigError naming the algorithm, option and operator."""


def _import(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise _Problem("a user operator is written 'module:function'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise _Problem(f"cannot import module {module_name!r} ({exc}); it must be importable (on PYTHONPATH)") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise _Problem(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj


def _signature(fn: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _style_of(fn: Any, kind: str, sig: inspect.Signature | None) -> str:
    style = getattr(fn, "style", None)
    if style is not None:
        if style not in STYLES:
            raise _Problem(f"declared style {style!r} is not one of {', '.join(STYLES)}")
        return str(style)
    if sig is None:
        raise _Problem("its signature cannot be read; declare it with evoautodl.operators.declare(...)")
    positional = [p.name for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    first = positional[0] if positional else None
    return "native" if first == ("objectives" if kind == "selection" else "space") else "deap"


def _required_positional(sig: inspect.Signature | None, params: Mapping[str, Any]) -> list[str] | None:
    """Names of the positional parameters without a default that ``params`` does not give (None: unknown)."""
    if sig is None:
        return None
    ps = list(sig.parameters.values())
    if any(p.kind is p.VAR_POSITIONAL for p in ps):
        return None
    return [p.name for p in ps if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            and p.default is p.empty and p.name not in params]


def _inferred_arity(sig: inspect.Signature | None, style: str, params: Mapping[str, Any],
                    arity: int | None, params_option: str) -> int | None:
    """Parents a variation operator takes, from its signature (None: cannot tell)."""
    required = _required_positional(sig, params)
    if required is None:
        return None
    parents = required[1:-1] if style == "native" else required  # native: space, parents..., rng
    if style == "native" and (len(required) < 2 or required[-1] != "rng"):
        return None
    if arity is not None and len(parents) != arity:
        raise _Problem(f"it takes {len(parents)} positional argument(s) ({', '.join(parents)}), but {arity} "
                       f"parent(s) are passed here (parameters go in {params_option})")
    return len(parents)


def _check_call(sig: inspect.Signature | None, style: str, kind: str, arity: int, params: Mapping[str, Any]) -> None:
    """The operator accepts the call the algorithm will make (parents, rng, params)."""
    if sig is None:
        return
    if kind == "selection":
        args: tuple[Any, ...] = (None, 1, None) if style == "native" else (None, 1)
    else:
        args = (None, *([None] * arity), None) if style == "native" else tuple([None] * arity)
    try:
        sig.bind(*args, **params)
    except TypeError as exc:
        raise _Problem(f"cannot be called as the algorithm calls it ({exc})") from None


def _check_picklable(fn: Any, params: Mapping[str, Any]) -> None:
    try:
        pickle.dumps((fn, dict(params)))
    except Exception as exc:  # pickle raises PicklingError, AttributeError, TypeError...
        raise _Problem(
            f"cannot be pickled ({type(exc).__name__}: {exc}); the run's state (state.pkl) and MPI need it: define "
            "the operator with def at module level (not a lambda or a nested function) or name it 'module:function'"
        ) from None


def _probe(op: Operator, space: SearchSpace) -> int:
    """Call a user operator once on sampled parents; return the number of children."""
    rng = np.random.default_rng(12345)
    try:
        if op.kind == "selection":
            op.select(rng.random(6), 4, rng)
            return 0
        parents = [space.sample(rng) for _ in range(op.arity)]
        kept = [p.copy() for p in parents]
        out = op.fn(space, *parents, rng, **op.params) if op.style == "native" else None
        if op.style == "native":
            children = as_children(out, space.dim, op.label)
            if any(not np.array_equal(p, k) for p, k in zip(parents, kept)):
                raise _Problem("it modified its parents (an operator must leave its inputs untouched)")
        else:
            individuals = [Individual(p) for p in parents]
            with python_random_from(rng):
                out = _with_rng(op.fn, rng)(*individuals, **op.params)
            children = as_children(out, space.dim, op.label)
    except _Problem:
        raise
    except Exception as exc:
        raise _Problem(f"failed on sampled parents: {type(exc).__name__}: {exc}") from exc
    return len(children)


def resolve_operator(
    value: Any,
    *,
    kind: str,
    owner: str,
    option: str,
    arity: int | None = None,
    n_children: Sequence[int] | None = None,
    params: Mapping[str, Any] | None = None,
    space: SearchSpace | None = None,
    params_option: str | None = None,
) -> Operator:
    """Resolve and check an operator option (see the module docstring).

    Args:
        value: a built-in name, a callable, ``"module:function"`` or an :class:`Operator`.
        kind: ``"mutation"``, ``"crossover"`` or ``"selection"``.
        owner: the algorithm's name (for messages).
        option: the option's name (for messages).
        arity: the parents the algorithm passes (None: any; not checked for selection).
        n_children: child counts the algorithm can use (None: any).
        params: keyword parameters for every call (a built-in's defaults are updated with them).
        space: the search space; a user operator is probed once on it (None: no probe).
        params_option: the option that holds ``params`` (for messages; default ``option + "_params"``).

    Raises:
        ConfigError: naming ``owner``, ``option`` and the operator, for an unknown
            name, a failed import, a wrong kind, arity or child count, params
            the operator does not take, an operator that cannot be pickled,
            or one that fails or misbehaves on sampled parents.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    params = dict(params or {})
    what = _describe(value)
    try:
        op = _resolve(value, kind, arity, n_children, params, space, params_option or f"{option}_params")
    except _Problem as exc:
        raise ConfigError(f"{owner}: {option}={what}: {exc}") from None
    return op


def _resolve(value: Any, kind: str, arity: int | None, n_children: Sequence[int] | None,
             params: dict[str, Any], space: SearchSpace | None, params_option: str) -> Operator:
    if isinstance(value, Operator):
        return value
    if isinstance(value, str) and ":" not in value:
        builtin = BUILTINS[kind].get(value)
        if builtin is None:
            raise _Problem(f"unknown {kind} (built-in: {', '.join(map(repr, BUILTINS[kind]))}; "
                           "or a callable, or 'module:function')")
        merged = {**builtin.params, **params}
        _check_call(_signature(builtin.fn), "native", kind, int(getattr(builtin.fn, "arity", 0)), merged)
        return Operator(builtin.fn, kind, int(getattr(builtin.fn, "arity", 0)),
                        int(getattr(builtin.fn, "n_children", 0)), "native", builtin.label, merged, builtin=True)
    fn = _import(value) if isinstance(value, str) else value
    if not callable(fn):
        raise _Problem(f"expected a {kind} name, a callable or 'module:function', got {type(fn).__name__}")
    declared_kind = getattr(fn, "kind", None)
    if declared_kind is not None and declared_kind != kind:
        raise _Problem(f"it is declared as a {declared_kind}, but {kind} is needed here")
    sig = _signature(fn)
    style = _style_of(fn, kind, sig)
    if kind == "selection":
        got_arity, got_children = 0, 0
    else:
        declared = getattr(fn, "arity", None)
        got_arity = (int(declared) if declared is not None
                     else _inferred_arity(sig, style, params, arity, params_option))
        if got_arity is None:
            raise _Problem("its number of parents cannot be read from its signature; declare it with "
                           "evoautodl.operators.declare(arity=..., n_children=..., kind=...)")
        if arity is not None and got_arity != arity:
            raise _Problem(f"it takes {got_arity} parent(s), but {arity} are passed here")
        declared_children = getattr(fn, "n_children", None)
        got_children = (int(declared_children) if declared_children is not None
                        else 1 if kind == "mutation" or style == "native" else got_arity)
    _check_call(sig, style, kind, got_arity, params)
    _check_picklable(fn, params)
    op = Operator(fn, kind, got_arity, got_children, style, operator_name(fn), params)
    if space is not None:
        probed = _probe(op, space)
        if kind != "selection" and probed != got_children:
            if getattr(fn, "n_children", None) is not None or style == "deap":
                raise _Problem(f"it returned {probed} child(ren) on sampled parents, but declares {got_children}")
            op = Operator(fn, kind, got_arity, probed, style, op.label, params)
    if n_children is not None and kind != "selection" and op.n_children not in n_children:
        allowed = " or ".join(str(c) for c in n_children)
        raise _Problem(f"it returns {op.n_children} child(ren), but {allowed} can be used here")
    return op
