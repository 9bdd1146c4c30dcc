"""One source of truth for each check of a search space definition.

Every way of building a space (the declarative form of TOML and Python
dicts, ConfigSpace JSON files, ConfigSpace objects) calls these functions, so
a problem reads the same whichever way the space came in, and names the
hyperparameter::

    numeric_range       finite bounds, lower < upper, log scale needs lower > 0,
                        an integer range holds at least two integers
    default_in_range    a numeric default inside the bounds
    levels              categorical choices / ordinal sequence: non-empty, strings, numbers or
                        booleans (no lists or tables), no duplicates, a default among them
    category_weights    one non-negative weight per choice, not all zero
    legal_value         a value a (serialized) hyperparameter can take
    condition_cycle     conditions form no cycle (graphlib's topological sort)
"""

from __future__ import annotations

import graphlib
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from evoautodl.errors import SpaceError

__all__ = ["category_weights", "condition_cycle", "default_in_range", "legal_value", "levels", "numeric_range"]


def _error(name: Any, problem: str) -> SpaceError:
    return SpaceError(f"hyperparameter {name!r}: {problem}")


def _hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def _finite(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)


def numeric_range(name: str, lower: Any, upper: Any, *, log: bool = False, integer: bool = False) -> tuple[Any, Any]:
    """Checked bounds of a float or int hyperparameter (ints: the integers inside them)."""
    for key, v in (("lower", lower), ("upper", upper)):
        if not _finite(v):
            raise _error(name, f"{key!r} must be a finite number, got {v!r}")
    if lower >= upper:
        raise _error(name, f"empty or inverted range [{lower}, {upper}] (lower must be < upper; use type "
                           "'constant' for a fixed value)")
    if log and lower <= 0:
        raise _error(name, f"log scale needs lower > 0, got lower={lower}")
    if not integer:
        return lower, upper
    lo, hi = math.ceil(lower), math.floor(upper)
    if lo >= hi:
        raise _error(name, f"no two integers in range [{lower}, {upper}]")
    return lo, hi


def default_in_range(name: str, default: Any, lower: Any, upper: Any) -> None:
    """A numeric default (None: none given) inside [lower, upper]."""
    if default is None:
        return
    if not _finite(default) or not lower <= default <= upper:
        raise _error(name, f"default {default!r} outside [{lower}, {upper}]")


def levels(name: str, kind: str, items: Any, default: Any = None) -> list[Any]:
    """The choices of a categorical (``kind="categorical"``) or the sequence of an ordinal, checked."""
    key, what = ("choices", "choices") if kind == "categorical" else ("sequence", "levels")
    if not isinstance(items, Sequence) or isinstance(items, str) or len(items) == 0:
        raise _error(name, f"{kind} with no {what} (needs a non-empty list {key!r}, got {items!r})")
    for x in items:
        if isinstance(x, list | tuple | dict | set) or not _hashable(x):
            raise _error(name, f"{key!r} entry {x!r} is a {type(x).__name__}; entries must be strings, numbers or "
                               "booleans")
    if len({repr(x) for x in items}) != len(items):
        raise _error(name, f"duplicate entries in {key!r}: {list(items)!r}")
    if default is not None and not any(type(default) is type(x) and default == x for x in items):
        raise _error(name, f"default {default!r} is not one of {list(items)!r}")
    return list(items)


def category_weights(name: str, weights: Any, n_choices: int) -> list[float] | None:
    """Sampling weights of a categorical (None: uniform): ``n_choices`` non-negative numbers, not all 0."""
    if weights is None:
        return None
    if (not isinstance(weights, Sequence) or isinstance(weights, str) or len(weights) != n_choices
            or not all(_finite(w) and w >= 0 for w in weights) or sum(weights) <= 0):
        raise _error(name, f"'weights' must be {n_choices} non-negative numbers, not all 0, got {weights!r}")
    return [float(w) for w in weights]


def legal_value(hp: Mapping[str, Any], value: Any) -> bool:
    """Can a hyperparameter in serialized form (``{"type": "uniform_int", ...}``) take ``value``?"""
    kind = hp.get("type", "")
    if kind in ("categorical", "ordinal"):
        items = hp.get("choices" if kind == "categorical" else "sequence") or []
        return any(type(value) is type(x) and value == x for x in items)
    if kind == "constant":
        return type(value) is type(hp.get("value")) and value == hp.get("value")
    if not _finite(value):
        return False
    if kind.endswith("_int") and not float(value).is_integer():
        return False
    lo, hi = hp.get("lower"), hp.get("upper")
    return lo is None or hi is None or lo <= value <= hi


def condition_cycle(parents: Mapping[str, Iterable[str]], order: Sequence[str] = ()) -> list[str] | None:
    """A cycle of conditions as ``[child, parent, ..., child]``, or None (topological sort by graphlib).

    ``parents`` maps a child to the hyperparameters its condition refers to;
    the cycle starts at its first member in ``order`` (declaration order).
    """
    try:
        graphlib.TopologicalSorter({c: list(p) for c, p in parents.items()}).prepare()
    except graphlib.CycleError as exc:
        found = list(exc.args[1])[:-1]  # each node precedes (is a parent of) the next; first == last
        cycle = found[::-1]  # child -> parent
        rank = {n: i for i, n in enumerate(order)}
        start = min(range(len(cycle)), key=lambda i: (rank.get(cycle[i], len(rank)), cycle[i]))
        cycle = cycle[start:] + cycle[:start]
        return [*cycle, cycle[0]]
    return None
