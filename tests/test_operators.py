"""Unit tests of the pure operators: per-type behaviour, purity, arity, selection."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helper_spaces import CONDITIONAL

from evoautodl.errors import GenomeError
from evoautodl.operators import (
    arity,
    as_objectives,
    branch_flip,
    crowding_distance,
    de_current_to_best_1_bin,
    de_rand_1_bin,
    mutate,
    nsga2_select,
    objectives_of,
    one_point_crossover,
    pareto_ranks,
    polynomial_step,
    sbx_crossover,
    tournament,
    truncation,
    uniform_crossover,
)
from evoautodl.operators.individual import Individual
from evoautodl.space import SearchSpace


@pytest.fixture(scope="module")
def space() -> SearchSpace:
    """A conditional space: model -> {tree subtree, net subtree -> optimizer subtree}."""
    return SearchSpace.from_dict(CONDITIONAL)


@pytest.fixture(scope="module")
def flat() -> SearchSpace:
    return SearchSpace.from_dict({
        "x": {"type": "float", "lower": -5.0, "upper": 5.0},
        "n": {"type": "int", "lower": 0, "upper": 10},
        "level": {"type": "ordinal", "sequence": ["a", "b", "c", "d", "e"]},
        "colour": {"type": "categorical", "choices": ["r", "g", "b", "y"]},
    })


def genome_with(space: SearchSpace, rng: np.random.Generator, **values: Any) -> np.ndarray:
    g = space.sample(rng)
    for name, v in values.items():
        g[space.index[name]] = space.encode_gene(space.index[name], v)
    return space.repair(g)


def test_arity_declarations() -> None:
    assert arity(mutate) == 1 and mutate.n_children == 1  # type: ignore[attr-defined]
    assert arity(branch_flip) == 1
    for op in (uniform_crossover, one_point_crossover, sbx_crossover):
        assert arity(op) == 2 and op.n_children == 2  # type: ignore[attr-defined]
    for op in (de_rand_1_bin, de_current_to_best_1_bin):
        assert arity(op) == 4 and op.n_children == 1  # type: ignore[attr-defined]
    assert tournament.kind == "selection"  # type: ignore[attr-defined]


def test_mutation_is_pure_and_changes_something(space: SearchSpace) -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        g = space.sample(rng)
        before = g.copy()
        child = mutate(space, g, rng)
        assert child is not g and np.array_equal(g, before)
        assert not np.array_equal(child, g)
        assert space.is_valid(space.to_config(child))


def test_mutation_without_change(space: SearchSpace) -> None:
    rng = np.random.default_rng(0)
    g = space.sample(rng)
    assert np.array_equal(mutate(space, g, rng, rate=0.0, ensure_change=False), g)


def test_mutation_leaves_inactive_genes_alone(space: SearchSpace) -> None:
    rng = np.random.default_rng(1)
    g = genome_with(space, rng, model="linear")
    inactive = ~space.active_mask(g)
    for _ in range(30):
        child = mutate(space, g, rng, rate=1.0)
        assert np.array_equal(child[inactive], g[inactive])


def test_ordinal_neighbour_and_integer_steps(flat: SearchSpace) -> None:
    rng = np.random.default_rng(2)
    levels = ["a", "b", "c", "d", "e"]
    for _ in range(200):
        g = flat.sample(rng)
        cfg = flat.to_config(g)
        child = flat.to_config(mutate(flat, g, rng, rate=1.0, sigma=0.01))
        assert abs(levels.index(child["level"]) - levels.index(cfg["level"])) == 1
        assert child["n"] != cfg["n"], "an integer gene always moves by at least one step"
        assert abs(child["n"] - cfg["n"]) <= 2
        assert child["colour"] != cfg["colour"], "categorical resampling picks another choice"


def test_ordinal_resample_and_polynomial(flat: SearchSpace) -> None:
    rng = np.random.default_rng(3)
    jumps = set()
    levels = ["a", "b", "c", "d", "e"]
    for _ in range(200):
        g = flat.sample(rng)
        child = flat.to_config(mutate(flat, g, rng, rate=1.0, ordinal="resample", float_op="polynomial"))
        jumps.add(abs(levels.index(child["level"]) - levels.index(flat.to_config(g)["level"])))
        assert -5.0 <= child["x"] <= 5.0
    assert max(jumps) > 1 and 0 not in jumps
    for x in (0.0, 0.3, 1.0):
        assert 0.0 <= polynomial_step(x, rng, 20.0) <= 1.0


def test_bad_mutation_arguments(space: SearchSpace) -> None:
    rng = np.random.default_rng(0)
    g = space.sample(rng)
    with pytest.raises(ValueError, match="float_op"):
        mutate(space, g, rng, float_op="cauchy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ordinal"):
        mutate(space, g, rng, ordinal="jump")  # type: ignore[arg-type]
    with pytest.raises(GenomeError, match="shape"):
        mutate(space, g[:3], rng)


def test_mutation_repairs_bad_input(space: SearchSpace) -> None:
    rng = np.random.default_rng(0)
    raw = np.array([np.nan, 2.0, -1.0, np.inf, 0.5, 0.5, 0.5, 0.5, 0.5])
    assert space.is_valid(space.to_config(mutate(space, raw, rng)))


def test_branch_flip_changes_activity(space: SearchSpace) -> None:
    rng = np.random.default_rng(4)
    changed = 0
    for _ in range(50):
        g = space.sample(rng)
        child = branch_flip(space, g, rng)
        changed += not np.array_equal(space.active_mask(child), space.active_mask(g))
    assert changed == 50


def test_uniform_crossover_inherits_whole_subtrees(space: SearchSpace) -> None:
    rng = np.random.default_rng(5)
    model = space.index["model"]
    subtree = list(space.descendants[model])
    for _ in range(100):
        a = genome_with(space, rng, model="tree")
        b = genome_with(space, rng, model="net")
        before = (a.copy(), b.copy())
        c1, c2 = uniform_crossover(space, a, b, rng)
        assert np.array_equal(a, before[0]) and np.array_equal(b, before[1])
        for child in (c1, c2):
            src = a if child[model] == a[model] else b
            assert np.array_equal(child[subtree], src[subtree])
        # complementary children
        assert np.array_equal(np.sort(np.stack([c1, c2]), axis=0), np.sort(np.stack([a, b]), axis=0))


def test_uniform_crossover_mixes_subtree_when_parents_agree(space: SearchSpace) -> None:
    rng = np.random.default_rng(6)
    a = genome_with(space, rng, model="net", optimizer="adam")
    b = genome_with(space, rng, model="net", optimizer="adam")
    mixed = False
    for _ in range(50):
        c1, _ = uniform_crossover(space, a, b, rng)
        genes = list(space.descendants[space.index["model"]])
        mixed |= not (np.array_equal(c1[genes], a[genes]) or np.array_equal(c1[genes], b[genes]))
    assert mixed


def test_one_point_crossover(flat: SearchSpace) -> None:
    rng = np.random.default_rng(7)
    a, b = flat.sample(rng), flat.sample(rng)
    c1, c2 = one_point_crossover(flat, a, b, rng)
    cut = next(i for i in range(flat.dim) if c1[i] != a[i] or i == flat.dim - 1)
    assert np.array_equal(c1[:cut], a[:cut]) and np.array_equal(c2[:cut], b[:cut])


def test_sbx(flat: SearchSpace) -> None:
    rng = np.random.default_rng(8)
    a, b = flat.sample(rng), flat.sample(rng)
    c1, c2 = sbx_crossover(flat, a, b, rng, gene_prob=1.0)
    x = flat.index["x"]
    assert 0.0 <= c1[x] <= 1.0 and 0.0 <= c2[x] <= 1.0
    pairs = [zip(sbx_crossover(flat, a, b, rng, gene_prob=1.0), (a, b)) for _ in range(50)]
    spread = [abs(c[x] - p[x]) for pair in pairs for c, p in pair]
    assert max(spread) > 0.0 and np.median(spread) < abs(a[x] - b[x]) + 0.05, "SBX children stay near the parents"
    for name in ("level", "colour"):
        i = flat.index[name]
        assert {c1[i], c2[i]} == {a[i], b[i]}
    same = sbx_crossover(flat, a, a, rng)
    assert np.array_equal(same[0], a) and np.array_equal(same[1], a)


def test_de_operators(flat: SearchSpace) -> None:
    rng = np.random.default_rng(9)
    x, r1, r2, r3 = (flat.sample(rng) for _ in range(4))
    child = de_rand_1_bin(flat, x, r1, r2, r3, rng, F=0.5, CR=0.0)
    assert (child != x).sum() <= 1, "CR = 0 takes exactly one gene (j_rand) from the mutant"
    full = de_rand_1_bin(flat, x, r1, r2, r1, rng, F=0.5, CR=1.0)
    i = flat.index["x"]
    assert full[i] == pytest.approx(r1[i] + 0.5 * (r2[i] - r1[i]))
    best = de_current_to_best_1_bin(flat, x, r1, r2, r2, rng, F=1.0, CR=1.0)
    assert best[flat.index["x"]] == pytest.approx(r1[flat.index["x"]])
    for boundary in ("clip", "reflect", "random"):
        out = de_rand_1_bin(flat, x, r1, r2, r3, rng, F=2.0, CR=1.0, boundary=boundary)  # type: ignore[arg-type]
        assert flat.is_valid(flat.to_config(out))
    with pytest.raises(ValueError, match="F must be"):
        de_rand_1_bin(flat, x, r1, r2, r3, rng, F=0.0)
    with pytest.raises(ValueError, match="CR must be"):
        de_rand_1_bin(flat, x, r1, r2, r3, rng, CR=1.5)
    with pytest.raises(ValueError, match="boundary"):
        de_rand_1_bin(flat, x, r1, r2, r3, rng, F=2.0, boundary="wrap")  # type: ignore[arg-type]


def test_operators_accept_individuals_and_lists(space: SearchSpace) -> None:
    rng = np.random.default_rng(10)
    a, b = Individual(space.sample(rng)), list(space.sample(rng))
    c1, c2 = uniform_crossover(space, a, b, rng)
    assert isinstance(c1, np.ndarray) and space.is_valid(space.to_config(c2))
    assert isinstance(mutate(space, a, rng), np.ndarray)


def test_same_seed_same_children(space: SearchSpace) -> None:
    def run(seed: int) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        a, b, c, d = (space.sample(rng) for _ in range(4))
        return [mutate(space, a, rng, branch_rate=0.5), *uniform_crossover(space, a, b, rng),
                *sbx_crossover(space, c, d, rng), de_current_to_best_1_bin(space, a, b, c, d, rng)]

    assert all(np.array_equal(x, y) for x, y in zip(run(3), run(3)))
    assert not all(np.array_equal(x, y) for x, y in zip(run(3), run(4)))


# ---------------------------------------------------------------------------- selection
def test_tournament_and_truncation() -> None:
    rng = np.random.default_rng(0)
    f = np.array([5.0, 1.0, np.nan, 3.0, 1.0])
    idx = tournament(f, 1000, rng, size=3)
    counts = np.bincount(idx, minlength=5)
    assert counts[1] > counts[3] > counts[0] > counts[2]
    assert tournament(f, 5, rng, size=1).shape == (5,)
    assert truncation(f, 3).tolist() == [1, 4, 3]
    assert truncation(f, 5)[-1] == 2, "NaN (failed) is worst"
    assert np.array_equal(tournament(f, 7, np.random.default_rng(1)), tournament(f, 7, np.random.default_rng(1)))
    with pytest.raises(ValueError):
        truncation(f, 6)
    with pytest.raises(ValueError):
        tournament([], 2, rng)


def test_pareto_ranks_crowding_and_nsga2() -> None:
    f = np.array([[1, 5], [2, 2], [5, 1], [3, 3], [4, 4], [6, 6], [2, 2]], dtype=float)
    ranks = pareto_ranks(f)
    assert ranks.tolist() == [0, 0, 0, 1, 2, 3, 0]
    cd = crowding_distance(f[[0, 1, 2]])
    assert np.isinf(cd[0]) and np.isinf(cd[2]) and np.isfinite(cd[1])
    sel = nsga2_select(f, 4)
    assert set(sel.tolist()) == {0, 1, 2, 6}
    sel5 = nsga2_select(f, 5)
    assert 3 in sel5.tolist()
    failed = np.vstack([f, [np.nan, np.inf]])
    assert 7 not in nsga2_select(failed, 7).tolist()
    # multi-objective tournament / truncation use the crowded comparison
    assert set(truncation(f, 4).tolist()) == {0, 1, 2, 6}
    assert tournament(f, 50, np.random.default_rng(0), size=7).tolist().count(5) == 0


def test_objectives_of_deap_individuals() -> None:
    a, b, c = Individual([0.1], weights=(-1.0, 1.0)), Individual([0.2], weights=(-1.0, 1.0)), Individual([0.3])
    a.fitness.values = (2.0, 0.5)
    b.fitness.values = (1.0, 0.25)
    f = objectives_of([a, b, c])
    assert f.tolist() == [[2.0, -0.5], [1.0, -0.25], [np.inf, np.inf]]
    assert as_objectives([1.0, np.nan]).tolist() == [[1.0], [np.inf]]


def test_small_tournaments_in_plain_python_agree_with_the_numpy_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from evoautodl.operators import selection

    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(1, 30))
        f = rng.integers(0, 5, size=n).astype(float)  # many ties
        f[rng.random(n) < 0.2] = np.nan
        f[rng.random(n) < 0.1] = np.inf  # failed members: ties among them go to the lower index too
        k, size, seed = int(rng.integers(0, 10)), int(rng.integers(1, 8)), int(rng.integers(1 << 30))
        fast = tournament(f, k, np.random.default_rng(seed), size=size)
        with monkeypatch.context() as m:
            m.setattr(selection, "_SMALL_TOURNAMENT", -1)
            slow = tournament(f, k, np.random.default_rng(seed), size=size)
        assert fast.tolist() == slow.tolist() and fast.dtype == np.int64
        assert tournament(f.tolist(), k, np.random.default_rng(seed), size=size).tolist() == slow.tolist()


def _de_reference(space: SearchSpace, x: Any, v: np.ndarray, rng: np.random.Generator, CR: float,
                  boundary: str) -> np.ndarray:
    """Binomial crossover and boundary handling written on numpy arrays (the definition the operators follow)."""
    cross = rng.random(space.dim) < CR
    cross[int(rng.random() * space.dim)] = True
    out = np.flatnonzero((v < 0.0) | (v > 1.0))
    if out.size:
        if boundary == "clip":
            v = np.clip(v, 0.0, 1.0)
        elif boundary == "reflect":
            m = np.abs(v) % 2.0
            v = np.where(m > 1.0, 2.0 - m, m)
        else:
            v = v.copy()
            v[out] = rng.random(out.size)
    return space.repair(np.where(cross, v, np.asarray(x, dtype=np.float64)), rng)


def test_de_trial_vectors_agree_with_the_numpy_formulation(space: SearchSpace, flat: SearchSpace) -> None:
    rng = np.random.default_rng(11)
    for sp in (space, flat):
        for case in range(60):
            x, a, b, c = (sp.sample(rng) for _ in range(4))
            if case % 5 == 0:
                a, b = np.zeros(sp.dim), np.ones(sp.dim)  # far outside the cube after F (b - c)
            if case % 7 == 0:
                x, c = tuple(x.tolist()), list(c)  # tuples and lists as well as arrays
            F, CR = float(rng.uniform(0.1, 2.0)), float(rng.random())
            for boundary in ("clip", "reflect", "random"):
                seed = int(rng.integers(1 << 30))
                got = de_rand_1_bin(sp, x, a, b, c, np.random.default_rng(seed), F=F, CR=CR,
                                    boundary=boundary)  # type: ignore[arg-type]
                ref_rng = np.random.default_rng(seed)
                v = np.asarray(a, dtype=float) + F * (np.asarray(b, dtype=float) - np.asarray(c, dtype=float))
                want = _de_reference(sp, x, v, ref_rng, CR, boundary)
                assert got.tolist() == want.tolist() and np.array_equal(np.signbit(got), np.signbit(want))
                got = de_current_to_best_1_bin(sp, x, a, b, c, np.random.default_rng(seed), F=F, CR=CR,
                                               boundary=boundary)  # type: ignore[arg-type]
                xa = np.asarray(x, dtype=float)
                v = xa + F * (np.asarray(a, dtype=float) - xa) + F * (np.asarray(b, dtype=float) - np.asarray(c))
                want = _de_reference(sp, x, v, np.random.default_rng(seed), CR, boundary)
                assert got.tolist() == want.tolist()
    # a mutant gene of -0.0 beside one outside the cube: clipping makes it +0.0, as np.clip does
    i = flat.index["x"]
    a, b, c = np.ones(flat.dim), np.ones(flat.dim), np.zeros(flat.dim)
    a[i] = b[i] = -0.0
    got = de_rand_1_bin(flat, flat.sample(rng), a, b, c, np.random.default_rng(0), F=0.5, CR=1.0)
    assert got[i] == 0.0 and not np.signbit(got[i])


def test_pareto_ranks_agree_with_the_pairwise_definition() -> None:
    from evoautodl.operators.pareto import non_dominated

    rng = np.random.default_rng(12)
    for _ in range(300):
        n, m = int(rng.integers(0, 40)), int(rng.integers(1, 5))
        f = rng.integers(0, 4, size=(n, m)).astype(float)  # many ties
        f[rng.random((n, m)) < 0.1] = np.inf
        f[rng.random((n, m)) < 0.05] = np.nan
        g = as_objectives(f)
        # d[i, j]: i is no worse than j in every objective and better in one
        d = (g[:, None, :] <= g[None, :, :]).all(axis=2) & (g[:, None, :] < g[None, :, :]).any(axis=2)
        if m == 1:
            continue  # one objective: ranks of the sorted values (no domination matrix)
        ranks = pareto_ranks(f).tolist()
        for i in range(n):  # a point's rank is one more than the highest rank of the points dominating it
            assert ranks[i] == max((ranks[j] + 1 for j in range(n) if d[j, i]), default=0)
        if n:
            assert non_dominated(f).tolist() == (~d.any(axis=0)).tolist()
