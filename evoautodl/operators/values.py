"""Operators as values: what the ``mutation=``, ``crossover=`` and ``selection=`` options accept.

Every algorithm option that takes an operator accepts

* a built-in name (``"gaussian"``, ``"uniform"``, ``"tournament"``, ... see :data:`BUILTINS`);
* a callable: an evoautodl operator ``op(space, *parents, rng, **params)``
  (selection: ``op(objectives, k, rng, **params) -> indices``), or a
  DEAP-style one (``deap.tools.mutGaussian``, ``cxTwoPoint``, ``selTournament``,
  a ``deap.base.Toolbox``'s registered ``toolbox.mutate`` / ``mate`` /
  ``select``) that modifies individuals in place and returns them;
* a string ``"module:function"`` (how an experiment file names a user's operator).

:func:`evoautodl.operators.resolve.resolve_operator` turns the value into an
:class:`Operator` when the algorithm is built, and checks it there, so that a mistake is one
``ConfigError`` naming the algorithm, the option and the operator instead of
a traceback hours into a run::

    resolve(value):
        name -> the built-in; "module:function" -> import it; callable -> itself
        convention <- declared style, else "native" when the first parameter is
                      ``space`` (``objectives`` for selection), else "deap"
        arity, n_children <- declare() metadata, else the signature (parents =
                      required positional parameters not given in params) and
                      DEAP's rule (a mutation returns one child, a crossover
                      as many as it takes parents)
        refuse: a kind, arity or child count the option cannot use; params
                the signature does not accept; a value pickle cannot store
                (a lambda or a nested function: state.pkl and MPI need it)
        probe a user operator once on sampled parents (throwaway rng): it
                must return genomes of the right length, as many as declared

Calling conventions (both produce repaired genomes for the algorithm):

* native: the parents are passed as they are (never modified by a pure
  operator); the operator's children are repaired again when it is not a
  built-in (cheap for valid genomes), so a user operator cannot leak an
  invalid configuration;
* deap: the parents are copied into :class:`~evoautodl.operators.Individual`
  lists, the operator runs with Python's ``random`` seeded from the
  algorithm's ``rng`` (and restored afterwards), a toolbox operator bound to
  the toolbox's numpy generator draws from the algorithm's ``rng`` instead,
  and its outputs are repaired. The algorithm therefore stays a
  deterministic function of its seed, which exact resume relies on.
"""

from __future__ import annotations

import contextlib
import functools
import numbers
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evoautodl.errors import GenomeError
from evoautodl.operators.crossover import one_point_crossover, sbx_crossover, uniform_crossover
from evoautodl.operators.individual import Individual, minimise
from evoautodl.operators.mutation import mutate
from evoautodl.operators.selection import tournament, truncation
from evoautodl.space import SearchSpace

__all__ = ["BUILTINS", "Operator", "as_children", "operator_name", "python_random_from"]


@dataclass(frozen=True)
class _Builtin:
    fn: Callable[..., Any]
    label: str
    params: Mapping[str, Any] = field(default_factory=dict)


#: built-in operator names per kind; ``label`` is what the log's ``operator`` column says
BUILTINS: dict[str, dict[str, _Builtin]] = {
    "mutation": {
        "gaussian": _Builtin(mutate, "mutate", {"float_op": "gaussian"}),
        "polynomial": _Builtin(mutate, "mutate", {"float_op": "polynomial"}),
    },
    "crossover": {
        "uniform": _Builtin(uniform_crossover, "crossover"),
        "one_point": _Builtin(one_point_crossover, "crossover"),
        "sbx": _Builtin(sbx_crossover, "crossover"),
    },
    "selection": {
        "tournament": _Builtin(tournament, "tournament"),
        "truncation": _Builtin(truncation, "truncation"),
    },
}


@dataclass(frozen=True)
class Operator:
    """A resolved operator, as an algorithm calls it (picklable; lives in the algorithm's state).

    Attributes:
        fn: the function (or callable object) itself.
        kind: ``"mutation"``, ``"crossover"`` or ``"selection"``.
        arity: parent genomes per call (0 for selection).
        n_children: child genomes per call (0 for selection).
        style: ``"native"`` or ``"deap"`` (see the module docstring).
        label: its name in the log's ``operator`` column.
        params: keyword parameters passed on every call.
        builtin: one of :data:`BUILTINS` (trusted to return repaired genomes).
    """

    fn: Callable[..., Any]
    kind: str
    arity: int
    n_children: int
    style: str
    label: str
    params: Mapping[str, Any] = field(default_factory=dict)
    builtin: bool = False

    def vary(self, space: SearchSpace, parents: Sequence[Any], rng: np.random.Generator) -> list[np.ndarray]:
        """Children of ``parents`` (``arity`` genomes), repaired; ``n_children`` of them."""
        if self.style == "native":
            out = self.fn(space, *parents, rng, **self.params)
            if self.builtin:
                return [out] if isinstance(out, np.ndarray) else list(out)
        else:
            individuals = [Individual(p) for p in parents]
            with python_random_from(rng):
                out = _with_rng(self.fn, rng)(*individuals, **self.params)
        children = as_children(out, space.dim, self.label)
        if len(children) != self.n_children:
            raise GenomeError(f"operator {self.label!r} returned {len(children)} children, "
                              f"declared {self.n_children}")
        return [space.repair(c, rng) for c in children]

    def select(self, objectives: Any, k: int, rng: np.random.Generator) -> np.ndarray:
        """Indices of ``k`` chosen rows of ``objectives`` (shape (n,) or (n, m), minimised)."""
        if self.builtin:
            return self.fn(objectives, k, rng, **self.params)
        if self.style == "native":
            idx = np.asarray(self.fn(objectives, k, rng, **self.params))
        else:
            f = np.array(objectives, dtype=np.float64)
            f = f[:, None] if f.ndim == 1 else f
            f[np.isnan(f)] = np.inf
            individuals = [Individual((), weights=minimise(f.shape[1])) for _ in range(len(f))]
            for ind, row in zip(individuals, f.tolist()):
                ind.fitness.values = tuple(row)
            where = {id(ind): i for i, ind in enumerate(individuals)}
            with python_random_from(rng):
                chosen = _with_rng(self.fn, rng)(individuals, k, **self.params)
            try:
                idx = np.array([where[id(ind)] for ind in chosen], dtype=np.int64)
            except KeyError:
                raise GenomeError(f"selection {self.label!r} returned individuals it was not given") from None
        n = len(objectives)
        if idx.shape != (k,) or not np.issubdtype(idx.dtype, np.integer) or (k and not 0 <= idx.min() <= idx.max() < n):
            raise GenomeError(f"selection {self.label!r} must return {k} indices in [0, {n}), got {idx!r}")
        return idx.astype(np.int64, copy=False)


def _with_rng(fn: Any, rng: np.random.Generator) -> Any:
    """A DEAP toolbox operator made to draw from the algorithm's ``rng``.

    A toolbox's registered operator carries the toolbox's own generator:
    evoautodl's adapters (``make_toolbox``: ``rng=`` keyword) get the
    algorithm's instead, and a function a ``RepairingToolbox`` wraps is called
    directly (the algorithm repairs its children with its own ``rng``). So the
    algorithm stays a function of its seed even when several instances share
    one toolbox.
    """
    if not isinstance(fn, functools.partial):
        return fn
    wrapped = getattr(fn.func, "_evoautodl_wrapped", None)
    if wrapped is not None:
        return functools.partial(wrapped, *fn.args, **fn.keywords)
    if isinstance(fn.keywords.get("rng"), np.random.Generator):
        return functools.partial(fn.func, *fn.args, **{**fn.keywords, "rng": rng})
    return fn


@contextlib.contextmanager
def python_random_from(rng: np.random.Generator) -> Iterator[None]:
    """Run a block with Python's global ``random`` seeded from ``rng``; restore its state afterwards."""
    state = random.getstate()
    random.seed(int(rng.integers(0, 2**63)))
    try:
        yield
    finally:
        random.setstate(state)


def as_children(out: Any, dim: int, label: str) -> list[np.ndarray]:
    """An operator's return value as a list of float genomes of length ``dim``."""
    if isinstance(out, np.ndarray):
        rows = [out] if out.ndim == 1 else list(out) if out.ndim == 2 else None
    elif isinstance(out, tuple | list):
        single = len(out) > 0 and all(isinstance(x, numbers.Real) for x in out)
        rows = [out] if single else list(out)
    else:
        rows = None
    if rows is None:
        raise GenomeError(f"operator {label!r} returned {type(out).__name__}; expected a genome or a tuple of genomes")
    children = []
    for row in rows:
        try:
            child = np.array(row, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise GenomeError(f"operator {label!r} returned something that is not a genome: {exc}") from None
        if child.shape != (dim,):
            raise GenomeError(f"operator {label!r} returned a genome of shape {child.shape}, expected ({dim},)")
        children.append(child)
    return children


# ---------------------------------------------------------------------------------------------- naming
def _unwrap(fn: Any) -> Any:
    """The function behind partials and evoautodl's toolbox adapters."""
    for _ in range(16):
        if getattr(fn, "_evoautodl_wrapped", None) is not None:  # a RepairingToolbox registration
            fn = fn._evoautodl_wrapped
        elif isinstance(fn, functools.partial):
            inner = fn.keywords.get("op") if getattr(fn.func, "_evoautodl_adapter", False) else None
            fn = inner if callable(inner) else fn.func
        elif getattr(fn, "__wrapped__", None) is not None:
            fn = fn.__wrapped__
        else:
            break
    return fn


def operator_name(fn: Any) -> str:
    """A short name for an operator (the function's name, looking through partials and toolbox adapters)."""
    inner = _unwrap(fn)
    return str(getattr(inner, "__name__", None) or type(inner).__name__)


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    inner = _unwrap(value)
    module = getattr(inner, "__module__", None)
    name = getattr(inner, "__qualname__", None) or operator_name(value)
    return f"{module}:{name}" if module else name
