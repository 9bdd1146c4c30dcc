"""Bridge to DEAP: a toolbox whose variation operators always end in repair.

``make_toolbox(space, rng)`` returns a :class:`RepairingToolbox` with
``individual``, ``population``, ``mutate``, ``mate`` and ``select`` registered
(``evaluate`` is left to the user), so ``deap.algorithms.eaSimple`` and
``varAnd`` run unchanged::

    toolbox = make_toolbox(space, np.random.default_rng(0))
    toolbox.register("evaluate", lambda ind: (loss(space.to_config(ind)),))
    pop, log = algorithms.eaSimple(toolbox.population(n=20), toolbox, 0.7, 0.3, ngen=10)

DEAP convention: ``toolbox.mutate(ind) -> (ind,)`` and ``toolbox.mate(a, b)
-> (a, b)`` modify their arguments in place; the underlying operators of
:mod:`evoautodl.operators` stay pure (the adapters copy their result into the
individual). Whatever function a user registers as ``mutate`` or ``mate`` (a
``deap.tools`` operator such as ``mutGaussian`` or ``cxTwoPoint``, or their
own), its outputs are repaired in place and their fitness is invalidated.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
from deap import base, tools

from evoautodl.operators.base import declare
from evoautodl.operators.crossover import uniform_crossover
from evoautodl.operators.individual import Individual, minimise
from evoautodl.operators.mutation import mutate
from evoautodl.operators.selection import nsga2_select, objectives_of, tournament, truncation
from evoautodl.space import SearchSpace

__all__ = [
    "RepairingToolbox",
    "make_toolbox",
    "new_individual",
    "deap_mutate",
    "deap_mate",
    "deap_select",
    "REPAIRED_ALIASES",
]

REPAIRED_ALIASES = frozenset({"mutate", "mate"})
"""Toolbox aliases whose outputs are repaired whatever function is registered."""

_REPAIRS = "_evoautodl_repairs"


def _marks_repair(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an adapter of this module: its outputs are repaired, and its ``op`` keyword names the operator."""
    setattr(fn, _REPAIRS, True)
    fn._evoautodl_adapter = True  # type: ignore[attr-defined]
    return fn


def new_individual(space: SearchSpace, rng: np.random.Generator, weights: Sequence[float] = (-1.0,)) -> Individual:
    """A random valid :class:`Individual` of ``space``."""
    return Individual(space.sample(rng), weights=weights)


def _store(space: SearchSpace, ind: Any, genome: np.ndarray, rng: np.random.Generator | None) -> None:
    """Write a (repaired) genome into ``ind`` in place and invalidate its fitness."""
    g = space.repair(genome, rng) if rng is not None else genome
    if isinstance(ind, np.ndarray):
        ind[:] = g
    else:
        ind[:] = g.tolist()
    fitness = getattr(ind, "fitness", None)
    if fitness is not None and getattr(fitness, "valid", False):
        del fitness.values


@_marks_repair
@declare(arity=1, n_children=1, kind="mutation", style="deap")
def deap_mutate(
    individual: Any, *, space: SearchSpace, rng: np.random.Generator, op: Callable[..., np.ndarray] = mutate,
    **params: Any,
) -> tuple[Any]:
    """DEAP-style mutation: ``individual`` becomes ``op(space, individual, rng, **params)``.

    Returns ``(individual,)`` (modified in place, fitness invalidated).
    """
    _store(space, individual, op(space, individual, rng, **params), None)
    return (individual,)


@_marks_repair
@declare(arity=2, n_children=2, kind="crossover", style="deap")
def deap_mate(
    ind1: Any, ind2: Any, *, space: SearchSpace, rng: np.random.Generator,
    op: Callable[..., tuple[np.ndarray, np.ndarray]] = uniform_crossover, **params: Any,
) -> tuple[Any, Any]:
    """DEAP-style crossover with a two-child operator; both arguments are overwritten in place."""
    c1, c2 = op(space, ind1, ind2, rng, **params)
    _store(space, ind1, c1, None)
    _store(space, ind2, c2, None)
    return ind1, ind2


@declare(arity=0, n_children=0, kind="selection", style="deap")
def deap_select(
    individuals: Sequence[Any], k: int, *, rng: np.random.Generator,
    method: Literal["tournament", "truncation", "nsga2"] = "tournament", size: int = 3,
) -> list[Any]:
    """Select ``k`` individuals (references, DEAP convention) by their minimised fitness."""
    f = objectives_of(individuals)
    if method == "tournament":
        idx = tournament(f, k, rng, size=size)
    elif method == "truncation":
        idx = truncation(f, k)
    elif method == "nsga2":
        idx = nsga2_select(f, k)
    else:
        raise ValueError(f"unknown selection method {method!r} (tournament, truncation, nsga2)")
    return [individuals[int(i)] for i in idx]


class RepairingToolbox(base.Toolbox):
    """A ``deap.base.Toolbox`` whose ``mutate`` / ``mate`` outputs always go through repair.

    ``register("mutate", f, ...)`` registers a wrapper: it calls ``f`` (which
    may modify individuals in place, DEAP style, and returns them as a tuple),
    then repairs every returned individual in place with ``space.repair`` and
    invalidates its fitness. Functions of this module, which already repair,
    are registered as they are.
    """

    def __init__(self, space: SearchSpace, rng: np.random.Generator):
        super().__init__()
        self.space = space
        self.rng = rng

    def register(self, alias: str, function: Callable[..., Any], *args: Any, **kargs: Any) -> None:
        if alias in REPAIRED_ALIASES and not getattr(function, _REPAIRS, False):
            function = self._repairing(function)
        super().register(alias, function, *args, **kargs)

    def _repairing(self, function: Callable[..., Any]) -> Callable[..., Any]:
        return _Repairing(function, self.space, self.rng)


class _Repairing:
    """A function registered as ``mutate`` / ``mate``, whose outputs are repaired in place.

    A module-level class (not a closure), so a toolbox's registered operators
    pickle and can be handed to an algorithm (``mutation=toolbox.mutate``).
    It exposes the wrapped function's signature through a class property and
    keeps no ``__wrapped__`` in its ``__dict__``: DEAP copies that dict into
    the registered partial, which would hide the partial's bound arguments.
    """

    def __init__(self, function: Callable[..., Any], space: SearchSpace, rng: np.random.Generator):
        self._evoautodl_wrapped = function
        self.space = space
        self.rng = rng
        self.__name__ = getattr(function, "__name__", type(function).__name__)
        self.__doc__ = function.__doc__
        setattr(self, _REPAIRS, True)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self._evoautodl_wrapped)

    def __call__(self, *individuals: Any, **kw: Any) -> Any:
        out = self._evoautodl_wrapped(*individuals, **kw)
        children = out if isinstance(out, tuple | list) and not _is_genome(out, self.space) else (out,)
        for child in children:
            _store(self.space, child, np.asarray(child, dtype=np.float64), self.rng)
        return out


def _is_genome(obj: Any, space: SearchSpace) -> bool:
    """True when ``obj`` looks like one individual (not a tuple of individuals)."""
    return hasattr(obj, "fitness") or (len(obj) == space.dim and all(isinstance(x, int | float) for x in obj))


def make_toolbox(
    space: SearchSpace,
    rng: np.random.Generator,
    *,
    n_objectives: int = 1,
    weights: Sequence[float] | None = None,
    mutation: Callable[..., np.ndarray] = mutate,
    mutation_params: dict[str, Any] | None = None,
    crossover: Callable[..., tuple[np.ndarray, np.ndarray]] = uniform_crossover,
    crossover_params: dict[str, Any] | None = None,
    selection: Literal["tournament", "truncation", "nsga2"] | None = None,
    tournament_size: int = 3,
) -> RepairingToolbox:
    """A toolbox with ``individual``, ``population``, ``mutate``, ``mate``, ``select`` registered.

    Args:
        space: the search space.
        rng: the Generator all registered operators draw from.
        n_objectives: number of objectives (all minimised) when ``weights`` is None.
        weights: explicit DEAP fitness weights (negative = minimise).
        mutation, mutation_params: the pure mutation operator and its keyword parameters.
        crossover, crossover_params: a pure two-parent, two-child crossover and its parameters.
        selection: ``"tournament"`` (default for one objective), ``"truncation"`` or
            ``"nsga2"`` (default for several objectives).
        tournament_size: tournament size.
    """
    w = tuple(weights) if weights is not None else minimise(n_objectives)
    toolbox = RepairingToolbox(space, rng)
    toolbox.register("individual", new_individual, space, rng, w)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("mutate", deap_mutate, space=space, rng=rng, op=mutation, **(mutation_params or {}))
    toolbox.register("mate", deap_mate, space=space, rng=rng, op=crossover, **(crossover_params or {}))
    method = selection or ("tournament" if len(w) == 1 else "nsga2")
    toolbox.register("select", deap_select, rng=rng, method=method, size=tournament_size)
    return toolbox
