"""Crossover and differential-evolution variation in the unit-cube genome.

All functions are pure: parents in (left untouched), new repaired children out,
randomness only from the explicit ``rng``.

Condition-aware uniform crossover::

    swap_i ~ Bernoulli(swap_prob) for every gene i
    for i in topological order (parents before children):
        if gene i has descendants and its value (or activity) differs in a, b:
            swap_d <- swap_i for every descendant d of i
    child1 <- a with the swapped genes of b;  child2 <- the complement

so a child that takes a branching gene from parent A takes its whole subtree
from A (when both parents agree on the branching value, the subtree genes mix
freely: they are valid under either parent).

Differential evolution (Storn & Price, 1997) in the unit cube, as DEHB does
(Awad et al., IJCAI 2021)::

    rand/1:           v = r1 + F (r2 - r3)
    current-to-best/1: v = x + F (best - x) + F (r1 - r2)
    binomial:         u_j = v_j if U_j < CR or j == j_rand else x_j
    boundary:         clip | reflect | random (resample out-of-range genes)
    return repair(u)

SBX: Deb & Agrawal, "Simulated binary crossover for continuous search space",
1995 (bounded version as in DEAP's cxSimulatedBinaryBounded).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from evoautodl.operators.base import as_gene_list, as_genome, declare, gene_groups
from evoautodl.space import SearchSpace

__all__ = [
    "uniform_crossover",
    "one_point_crossover",
    "sbx_crossover",
    "de_rand_1_bin",
    "de_current_to_best_1_bin",
]

Boundary = Literal["clip", "reflect", "random"]


@declare(arity=2, n_children=2, kind="crossover")
def uniform_crossover(
    space: SearchSpace, a: Any, b: Any, rng: np.random.Generator, *, swap_prob: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Condition-aware uniform crossover (see the module docstring); two repaired children."""
    la, lb = as_gene_list(space, a, "parent a"), as_gene_list(space, b, "parent b")
    swap = (rng.random(space.dim) < swap_prob).tolist()
    groups = gene_groups(space)
    if groups.has_conditions:
        va, vb = space.activity(la), space.activity(lb)  # the values of the genes with descendants
        for i, desc in groups.branch_descendants:
            if va[i] != vb[i]:
                s = swap[i]
                for d in desc:
                    swap[d] = s
    c1 = [y if s else x for s, x, y in zip(swap, la, lb)]
    c2 = [x if s else y for s, x, y in zip(swap, la, lb)]
    return space.repair_genes(c1, rng), space.repair_genes(c2, rng)


@declare(arity=2, n_children=2, kind="crossover")
def one_point_crossover(
    space: SearchSpace, a: Any, b: Any, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Swap the tails after a random cut (genes are in topological order); two repaired children."""
    ga, gb = as_genome(space, a, "parent a"), as_genome(space, b, "parent b")
    if space.dim < 2:
        return space.repair(ga, rng), space.repair(gb, rng)
    cut = 1 + int(rng.random() * (space.dim - 1))
    c1 = np.concatenate([ga[:cut], gb[cut:]])
    c2 = np.concatenate([gb[:cut], ga[cut:]])
    return space.repair(c1, rng), space.repair(c2, rng)


def _sbx_betaq(rand: float, beta: float, eta: float) -> float:
    alpha = 2.0 - beta ** -(eta + 1.0)
    if rand <= 1.0 / alpha:
        return (rand * alpha) ** (1.0 / (eta + 1.0))
    return (1.0 / (2.0 - rand * alpha)) ** (1.0 / (eta + 1.0))


@declare(arity=2, n_children=2, kind="crossover")
def sbx_crossover(
    space: SearchSpace,
    a: Any,
    b: Any,
    rng: np.random.Generator,
    *,
    eta: float = 15.0,
    gene_prob: float = 0.5,
    discrete_swap_prob: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulated binary crossover on numeric (float and int) genes, bounded to [0, 1].

    Each numeric gene undergoes SBX with probability ``gene_prob``; categorical
    and ordinal genes are swapped with probability ``discrete_swap_prob``.
    Integer genes are snapped back to integers by the repair.
    """
    ga = space.snap_genes(as_gene_list(space, a, "parent a"))
    gb = space.snap_genes(as_gene_list(space, b, "parent b"))
    c1, c2 = ga[:], gb[:]
    numeric = gene_groups(space).numeric_list
    u_gene, u_rand, u_swap = rng.random((3, space.dim)).tolist()
    for i, is_num in enumerate(numeric):
        if not is_num:
            if u_swap[i] < discrete_swap_prob:
                c1[i], c2[i] = gb[i], ga[i]
            continue
        x1, x2 = ga[i], gb[i]
        if u_gene[i] >= gene_prob or abs(x1 - x2) <= 1e-14:
            continue
        if x1 > x2:
            x1, x2 = x2, x1
        span = x2 - x1
        y1 = 0.5 * (x1 + x2 - _sbx_betaq(u_rand[i], 1.0 + 2.0 * x1 / span, eta) * span)
        y2 = 0.5 * (x1 + x2 + _sbx_betaq(u_rand[i], 1.0 + 2.0 * (1.0 - x2) / span, eta) * span)
        y1, y2 = min(1.0, max(0.0, y1)), min(1.0, max(0.0, y2))
        if u_swap[i] < 0.5:
            y1, y2 = y2, y1
        c1[i], c2[i] = y1, y2
    return space.repair_genes(c1, rng), space.repair_genes(c2, rng)


def _check_de(F: float, CR: float) -> None:
    if not 0.0 < F <= 2.0:
        raise ValueError(f"DE scale factor F must be in (0, 2], got {F}")
    if not 0.0 <= CR <= 1.0:
        raise ValueError(f"DE crossover rate CR must be in [0, 1], got {CR}")


def _clip(v: float) -> float:
    """``np.clip(v, 0.0, 1.0)`` to the bit (-0.0 becomes 0.0, NaN stays NaN)."""
    if v != v:
        return v
    v = v if v > 0.0 else 0.0
    return v if v < 1.0 else 1.0


def _reflect(v: float) -> float:
    """Reflection into [0, 1] at the faces of the cube (period 2)."""
    m = abs(v) % 2.0
    return 2.0 - m if m > 1.0 else m


def _binomial(
    space: SearchSpace, target: list[float], mutant: list[float], rng: np.random.Generator,
    CR: float, boundary: Boundary,
) -> np.ndarray:
    # genomes as lists of Python floats: the same arithmetic, draws and results as on numpy arrays, without
    # numpy's per-call overhead on vectors of a few genes
    dim = space.dim
    cross = [u < CR for u in rng.random(dim).tolist()]
    cross[int(rng.random() * dim)] = True
    out = [i for i, v in enumerate(mutant) if v < 0.0 or v > 1.0]
    if out:
        if boundary == "clip":
            mutant = [_clip(v) for v in mutant]
        elif boundary == "reflect":
            mutant = [_reflect(v) for v in mutant]
        elif boundary == "random":
            for i, u in zip(out, rng.random(len(out)).tolist()):
                mutant[i] = u
        else:
            raise ValueError(f"boundary must be 'clip', 'reflect' or 'random', got {boundary!r}")
    return space.repair_genes([v if c else x for c, v, x in zip(cross, mutant, target)], rng)


@declare(arity=4, n_children=1, kind="crossover")
def de_rand_1_bin(
    space: SearchSpace,
    target: Any,
    r1: Any,
    r2: Any,
    r3: Any,
    rng: np.random.Generator,
    *,
    F: float = 0.5,
    CR: float = 0.9,
    boundary: Boundary = "clip",
) -> np.ndarray:
    """DE/rand/1/bin trial vector: ``r1 + F (r2 - r3)`` crossed binomially with ``target``."""
    _check_de(F, CR)
    x = as_gene_list(space, target, "target")
    v = [a + F * (b - c) for a, b, c in zip(as_gene_list(space, r1, "r1"), as_gene_list(space, r2, "r2"),
                                            as_gene_list(space, r3, "r3"))]
    return _binomial(space, x, v, rng, CR, boundary)


@declare(arity=4, n_children=1, kind="crossover")
def de_current_to_best_1_bin(
    space: SearchSpace,
    target: Any,
    best: Any,
    r1: Any,
    r2: Any,
    rng: np.random.Generator,
    *,
    F: float = 0.5,
    CR: float = 0.9,
    boundary: Boundary = "clip",
) -> np.ndarray:
    """DE/current-to-best/1/bin: ``x + F (best - x) + F (r1 - r2)`` crossed binomially with ``x``."""
    _check_de(F, CR)
    x = as_gene_list(space, target, "target")
    v = [xi + F * (b - xi) + F * (a - c) for xi, b, a, c in zip(x, as_gene_list(space, best, "best"),
                                                                as_gene_list(space, r1, "r1"),
                                                                as_gene_list(space, r2, "r2"))]
    return _binomial(space, x, v, rng, CR, boundary)
