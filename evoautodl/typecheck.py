"""Options from a TOML file checked against the annotations of the constructor they go to.

A workload or algorithm option given with the wrong type would often be
converted silently (``int("18")``) or fail deep inside a run. `check_options`
compares each value with the parameter's annotation before anything is
built, and names the key::

    workload.max_budget_epochs: expected an integer, got '18' (a string)

Understood annotations: ``int``, ``float`` (an integer is fine), ``bool``,
``str``, ``None``, unions (``int | None``), ``Literal[...]``, sequences
(``Sequence[float]``, ``list[int]``, ``tuple[int, ...]``), mappings
(``dict[str, Any]``: the values; TOML keys are always strings), ``os.PathLike`` (a string path is fine). Anything else
(``Any``, a class, a callable) is not checked. A constructor whose
annotations cannot be resolved is not checked either.
"""

from __future__ import annotations

import collections.abc as cabc
import inspect
import os
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from evoautodl.errors import ConfigError

__all__ = ["check_options", "describe_type", "matches"]

_UNCHECKED = object()


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    target = fn.__init__ if isinstance(fn, type) else fn
    try:
        return typing.get_type_hints(target)
    except Exception:  # names only importable under TYPE_CHECKING, a forward reference that does not resolve
        return {}


def matches(value: Any, annotation: Any) -> bool:
    """Whether a TOML value fits an annotation (unknown annotations always fit)."""
    if annotation is Any or annotation is _UNCHECKED or annotation is inspect.Parameter.empty:
        return True
    if annotation is None or annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if annotation is os.PathLike:
        return isinstance(value, str | os.PathLike)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a) for a in args)
    if origin is typing.Literal:
        return any(type(value) is type(a) and value == a for a in args)
    if origin in (list, tuple, cabc.Sequence, cabc.Iterable, cabc.Collection):
        if not isinstance(value, list | tuple):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(matches(v, a) for v, a in zip(value, args))
        return not args or all(matches(v, args[0]) for v in value)
    if origin in (dict, cabc.Mapping):
        if not isinstance(value, Mapping):
            return False
        # TOML keys are always strings (a constructor annotated dict[int, str] converts them): values only
        return len(args) != 2 or all(matches(v, args[1]) for v in value.values())
    return True  # a class, a callable, a type variable: not checked here


def describe_type(annotation: Any) -> str:
    """``"an integer"``, ``"a number or None"``: what an annotation asks for, in words."""
    if annotation is None or annotation is type(None):
        return "None"
    words = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
             os.PathLike: "a path"}
    if annotation in words:
        return words[annotation]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple, cabc.Sequence, cabc.Iterable, cabc.Collection):
        plural = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}
        return f"a list of {plural[args[0]]}" if args and args[0] in plural else "a list"
    if origin in (dict, cabc.Mapping):
        return "a table"
    return getattr(annotation, "__name__", str(annotation))


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
             dict: "a table"}
    return names.get(type(value), type(value).__name__)


def check_options(section: str, fn: Callable[..., Any], options: Mapping[str, Any],
                  skip: tuple[str, ...] = ()) -> None:
    """ConfigError naming ``section.key`` for the first option whose value does not fit its annotation.

    Unknown options are not this function's business (the callers report them with the valid names).
    """
    hints = _hints(fn)
    for key, value in options.items():
        if key in skip or key not in hints:
            continue
        annotation = hints[key]
        if not matches(value, annotation):
            raise ConfigError(f"{section}.{key}: expected {describe_type(annotation)}, got {value!r} "
                              f"({_kind(value)})")
