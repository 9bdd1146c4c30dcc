"""Operators as values: what the ``mutation=``, ``crossover=`` and ``selection=`` options accept.

Every algorithm option that takes an operator accepts

* a built-in name (``"gaussian"``, ``"uniform"``, ``"tournament"``, ... see :data:`BUILTINS`);
* a callable: an evoautodl operator ``op(space, *parents, rng, **params)``
  (selection: ``op(objectives, k, rng, **params) -> indices``), or a
  DEAP-style one (``deap.tools.mutGaussian``, ``cxTwoPoint``, ``selTournament``,
  a ``deap.base.Toolbox``'s registered ``toolbox.mutate`` / ``mate`` /
  ``select``) that modifies individuals in place and returns them;
* a string ``"module:function"`` (how an experiment file names a user's operator).

:func:`resolve_operator` turns the value into an :class:`Operator` when the
algorithm is built, and checks it there, so that a mistake is one
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
import importlib
import inspect
import numbers
import pickle
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evoautodl.errors import ConfigError, GenomeError
from evoautodl.operators.base import KINDS, STYLES
from evoautodl.operators.crossover import one_point_crossover, sbx_crossover, uniform_crossover
from evoautodl.operators.individual import Individual, minimise
from evoautodl.operators.mutation import mutate
from evoautodl.operators.selection import tournament, truncation
from evoautodl.space import SearchSpace

__all__ = ["BUILTINS", "Operator", "operator_name", "resolve_operator"]


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
        children = _as_children(out, space.dim, self.label)
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


def _as_children(out: Any, dim: int, label: str) -> list[np.ndarray]:
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


# ---------------------------------------------------------------------------------------------- resolution
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
            children = _as_children(out, space.dim, op.label)
            if any(not np.array_equal(p, k) for p, k in zip(parents, kept)):
                raise _Problem("it modified its parents (an operator must leave its inputs untouched)")
        else:
            individuals = [Individual(p) for p in parents]
            with python_random_from(rng):
                out = _with_rng(op.fn, rng)(*individuals, **op.params)
            children = _as_children(out, space.dim, op.label)
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
