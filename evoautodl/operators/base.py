"""Shared pieces of the operators: arity declaration and per-space gene groups.

Every operator is a pure function ``op(space, *parents, rng, **params)``; the
:func:`declare` decorator records how many parents it takes (``arity``) and
how many children it returns (``n_children``), so algorithms and composition
helpers can check them (Propulate's arity-checked composition).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from evoautodl.errors import GenomeError
from evoautodl.space import GeneKind, SearchSpace

__all__ = ["declare", "arity", "GeneGroups", "gene_groups", "as_genome"]

F = TypeVar("F", bound=Callable[..., Any])


def declare(*, arity: int, n_children: int, kind: str) -> Callable[[F], F]:
    """Declare an operator's arity (parents in), children out and kind.

    ``kind`` is ``"mutation"``, ``"crossover"`` or ``"selection"``.
    """

    def mark(fn: F) -> F:
        fn.arity = arity  # type: ignore[attr-defined]
        fn.n_children = n_children  # type: ignore[attr-defined]
        fn.kind = kind  # type: ignore[attr-defined]
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


_CACHE: weakref.WeakKeyDictionary[SearchSpace, GeneGroups] = weakref.WeakKeyDictionary()


def gene_groups(space: SearchSpace) -> GeneGroups:
    """The (cached) :class:`GeneGroups` of ``space``."""
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
        )
        _CACHE[space] = groups
    return groups


def as_genome(space: SearchSpace, genome: Any, what: str = "genome") -> np.ndarray:
    """A float64 copy of ``genome`` (never a view of the caller's data); checks the length."""
    g = np.array(genome, dtype=np.float64)
    if g.shape != (space.dim,):
        raise GenomeError(f"{what} has shape {g.shape}, expected ({space.dim},)")
    return g
