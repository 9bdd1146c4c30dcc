"""Batched breeding (evoautodl.operators.batch.breed) against the per-genome operators it batches."""

from __future__ import annotations

import numpy as np
import pytest
from helper_spaces import CONDITIONAL

from evoautodl.operators import mutate, uniform_crossover
from evoautodl.operators.batch import breed
from evoautodl.space import SearchSpace

SPEC = {**CONDITIONAL, "units": {"type": "int", "lower": 16, "upper": 10000, "log": True}}


@pytest.fixture(scope="module")
def space() -> SearchSpace:
    return SearchSpace.from_dict(SPEC)


@pytest.fixture(scope="module")
def forbidden_space() -> SearchSpace:
    return SearchSpace.from_dict(SPEC, forbidden=[{"all": [{"name": "model", "equals": "net"},
                                                           {"name": "optimizer", "equals": "adam"}]}])


def _parents(space: SearchSpace, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pool = np.array([space.sample(rng) for _ in range(30)])
    return pool[rng.integers(0, 30, n)], pool[rng.integers(0, 30, n)], rng.random(n) < 0.5


@pytest.mark.parametrize("fixture", ["space", "forbidden_space"])
@pytest.mark.parametrize("rate", [0.3, None])
def test_children_are_repaired_genomes(fixture: str, rate: float | None, request: pytest.FixtureRequest) -> None:
    sp = request.getfixturevalue(fixture)
    a, b, cross = _parents(sp, 400)
    kids = breed(sp, a, b, cross, np.random.default_rng(1), rate=rate, sigma=0.2)
    assert kids.shape == a.shape
    for k in kids:
        np.testing.assert_array_equal(sp.repair(k), k)  # in range, snapped, no forbidden clause violated
        sp.to_config(k)


def test_same_seed_same_children_and_parents_untouched(space: SearchSpace) -> None:
    a, b, cross = _parents(space, 50)
    a0, b0 = a.copy(), b.copy()
    one = breed(space, a, b, cross, np.random.default_rng(7), rate=0.3, sigma=0.2)
    two = breed(space, a, b, cross, np.random.default_rng(7), rate=0.3, sigma=0.2)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


def test_mutated_children_change_only_active_mutable_genes(space: SearchSpace) -> None:
    a, b, _ = _parents(space, 300)
    kids = breed(space, a, b, np.zeros(len(a), dtype=bool), np.random.default_rng(2), rate=0.3, sigma=0.2)
    active = space.active_masks(a)
    changed = kids != a
    assert changed.any(axis=1).all()  # ensure_change: every child differs from its parent
    # a gene that changed was active in the parent (a branch change may activate others, which keep their genes)
    assert not (changed & ~active).any()
    assert not changed[:, space.index["seed_size"]].any()  # a constant never moves


def _stats(kids: np.ndarray, parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (kids != parent).mean(axis=0), kids.mean(axis=0)


@pytest.mark.parametrize("crossed", [True, False])
def test_same_distribution_as_the_per_genome_operators(space: SearchSpace, crossed: bool) -> None:
    """Per gene: how often the child differs from the first parent, and the mean gene, agree within noise."""
    rng = np.random.default_rng(3)
    tree = space.from_config({"model": "tree", "depth": 4, "min_leaf": 8, "lr": 0.01, "units": 100, "seed_size": 7})
    net = space.from_config({"model": "net", "layers": 3, "width": 128, "optimizer": "sgd", "momentum": 0.5,
                             "lr": 0.1, "units": 2000, "seed_size": 7})
    n = 6000
    first, second = np.tile(tree, (n, 1)), np.tile(net, (n, 1))
    batch = breed(space, first, second, np.full(n, crossed), rng, rate=0.3, sigma=0.2)
    single = []
    for _ in range(n):
        child = uniform_crossover(space, tree, net, rng)[0] if crossed else tree
        single.append(mutate(space, child, rng, rate=0.3, sigma=0.2))
    p_batch, m_batch = _stats(batch, tree)
    p_single, m_single = _stats(np.array(single), tree)
    np.testing.assert_allclose(p_batch, p_single, atol=0.03)
    np.testing.assert_allclose(m_batch, m_single, atol=0.03)


def test_integer_steps_match_the_codec(space: SearchSpace) -> None:
    """A mutated integer gene is a bin centre of the codec and, when chosen, moves by at least one integer."""
    i = space.index["units"]
    a, b, _ = _parents(space, 2000, seed=5)
    kids = breed(space, a, b, np.zeros(len(a), dtype=bool), np.random.default_rng(4), rate=1.0, sigma=0.05)
    for parent, kid in zip(a, kids):
        old, new = space.decode_gene(i, parent[i]), space.decode_gene(i, kid[i])
        assert new != old
        assert kid[i] == space.encode_gene(i, new)


def test_shapes_are_checked(space: SearchSpace) -> None:
    a, b, cross = _parents(space, 4)
    with pytest.raises(ValueError, match="do not match"):
        breed(space, a, b[:3], cross, np.random.default_rng(0))
    assert breed(space, a[:0], b[:0], cross[:0], np.random.default_rng(0)).shape == (0, space.dim)
