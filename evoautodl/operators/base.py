"""Shared pieces of the operators: arity declaration and per-space gene groups.

Every operator is a pure function ``op(space, *parents, rng, **params)``; the
:func:`declare` decorator records how many parents it takes (``arity``), how
many children it returns (``n_children``), its kind and its calling
convention, so algorithms check an operator when they are built
(Propulate's arity-checked composition; see :mod:`evoautodl.operators.values`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from evoautodl.errors import GenomeError
from evoautodl.space import GeneKind, SearchSpace

__all__ = ["KINDS", "STYLES", "declare", "arity", "GeneGroups", "gene_groups", "as_genome", "as_gene_list"]

F = TypeVar("F", bound=Callable[..., Any])

#: what an operator does: variation with one parent, with several, or choosing parents
KINDS = ("mutation", "crossover", "selection")
#: calling conventions: evoautodl's pure ``op(space, *parents, rng, **params)`` or DEAP's in-place one
STYLES = ("native", "deap")


def declare(*, arity: int, n_children: int, kind: str, style: str = "native") -> Callable[[F], F]:
    """Declare an operator's arity (parents in), children out, kind and calling convention.

    Args:
        arity: parent genomes the operator takes (0 for selection).
        n_children: child genomes it returns (0 for selection).
        kind: ``"mutation"``, ``"crossover"`` or ``"selection"``.
        style: ``"native"``: ``op(space, *parents, rng, **params)`` returns new
            genomes (selection: ``op(objectives, k, rng, **params)`` returns
            indices); ``"deap"``: DEAP's convention, ``op(*individuals,
            **params)`` modifies the individuals in place and returns them
            (selection: ``op(individuals, k, **params)``), drawing from
            Python's ``random``.

    Algorithms read these attributes when they are built and refuse an
    operator whose arity or child count does not fit the option it is given
    for (a ConfigError naming the algorithm, the option and the operator).
    """
    if kind not in KINDS:
        raise ValueError(f"declare: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if style not in STYLES:
        raise ValueError(f"declare: style must be one of {', '.join(STYLES)}, got {style!r}")
    for what, value in (("arity", arity), ("n_children", n_children)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"declare: {what} must be an integer >= 0, got {value!r}")
    if kind != "selection" and (arity < 1 or n_children < 1):
        raise ValueError(f"declare: a {kind} takes at least one parent and returns at least one child, "
                         f"got arity={arity}, n_children={n_children}")

    def mark(fn: F) -> F:
        fn.arity = arity  # type: ignore[attr-defined]
        fn.n_children = n_children  # type: ignore[attr-defined]
        fn.kind = kind  # type: ignore[attr-defined]
        fn.style = style  # type: ignore[attr-defined]
        return fn

    return mark


def arity(op: Callable[..., Any]) -> int:
    """Number of parent genomes an operator takes (1 when undeclared)."""
    return int(getattr(op, "arity", 1))


@dataclass(frozen=True)
class GeneGroups:
    """Static gene index sets of a space, computed once per space."""

    kinds: np.ndarray  # GeneKind per gene (int)
    mutable: np.ndarray  # genes with more than one value
    numeric: np.ndarray  # bool mask: float or int genes
    branch: np.ndarray  # genes some condition depends on (have descendants)
    n_levels: np.ndarray
    has_conditions: bool
    mutable_list: list[int]  # the same as plain Python lists (fast scalar access)
    kinds_list: list[int]
    n_levels_list: list[int]
    numeric_list: list[bool]
    branch_descendants: list[tuple[int, tuple[int, ...]]]  # (gene, its descendants) for every branching gene
    mutable_mask: np.ndarray  # bool mask of the mutable genes


_FLOAT = frozenset((float,))
_CACHE: weakref.WeakKeyDictionary[SearchSpace, GeneGroups] = weakref.WeakKeyDictionary()


#: (weak reference to the space of the last call, its groups): operators ask for the same space call after call
_LAST: list[Any] = [lambda: None, None]


def gene_groups(space: SearchSpace) -> GeneGroups:
    """The (cached) :class:`GeneGroups` of ``space``."""
    last_space, last_groups = _LAST
    if last_space() is space:
        return last_groups
    groups = _CACHE.get(space)
    if groups is None:
        kinds = np.array([int(k) for k in space.kinds], dtype=np.int64)
        n_levels = np.asarray(space.n_levels)
        mutable = np.array(
            [
                i for i, k in enumerate(space.kinds)
                if k is GeneKind.FLOAT or (k is not GeneKind.CONSTANT and n_levels[i] > 1)
            ],
            dtype=np.int64,
        )
        numeric = (kinds == GeneKind.FLOAT) | (kinds == GeneKind.INT)
        branch = np.array([i for i, d in enumerate(space.descendants) if d], dtype=np.int64)
        groups = GeneGroups(
            kinds, mutable, numeric, branch, n_levels, bool(branch.size),
            mutable.tolist(), kinds.tolist(), n_levels.tolist(), numeric.tolist(),
            [(i, d) for i, d in enumerate(space.descendants) if d],
            np.isin(np.arange(space.dim), mutable),
        )
        _CACHE[space] = groups
    _LAST[:] = (weakref.ref(space), groups)
    return groups


def as_genome(space: SearchSpace, genome: Any, what: str = "genome") -> np.ndarray:
    """A float64 copy of ``genome`` (never a view of the caller's data); checks the length."""
    g = np.array(genome, dtype=np.float64)
    if g.shape != (space.dim,):
        raise GenomeError(f"{what} has shape {g.shape}, expected ({space.dim},)")
    return g


def as_gene_list(space: SearchSpace, genome: Any, what: str = "genome") -> list[float]:
    """``genome`` as a new list of ``dim`` Python floats (an operator's working copy); checks the length."""
    if type(genome) is tuple and len(genome) == space.dim and _FLOAT.issuperset(map(type, genome)):
        return list(genome)  # a Trial's or Member's genome: Python floats already
    g = np.asarray(genome, dtype=np.float64)
    if g.shape != (space.dim,):
        raise GenomeError(f"{what} has shape {g.shape}, expected ({space.dim},)")
    return g.tolist()
