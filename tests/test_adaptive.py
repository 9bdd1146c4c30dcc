"""adaptive_mf: agreement estimates, bracket value model, GP surrogate, schedule adaptation, logging.

The registry-wide contract (valid trials, failures, determinism, exact resume,
MPI-free asynchronous progress) is in test_algorithm_contract.py; these tests
check what is specific to the adaptive algorithm, on the synthetic function
whose budget correlation is known.
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from scipy.stats import kendalltau

from evoautodl.algorithms import get_algorithm
from evoautodl.algorithms.adaptive import AdaptiveFidelityEA
from evoautodl.algorithms.budget_gp import BudgetGP, FeatureMap, expected_improvement, normal_scores
from evoautodl.algorithms.fidelity_trust import (
    agreement,
    bracket_values,
    expected_max_normal,
    make_brackets,
    max_normal_moments,
)
from evoautodl.backends.base import execute_trial
from evoautodl.backends.serial import SerialBackend
from evoautodl.errors import ConfigError
from evoautodl.fidelity import BudgetLadder
from evoautodl.records import Evaluation, Result, Status, Trial, failed_result
from evoautodl.runner import Runner, StopCriteria
from evoautodl.workloads.base import WorkerContext
from evoautodl.workloads.synthetic import MixedRastrigin

LADDER = BudgetLadder(1, 27, 3)  # rungs 1, 3, 9, 27


def _run(c: float, seed: int = 0, max_epochs: float = 27 * 20, **options: Any) -> tuple[AdaptiveFidelityEA,
                                                                                         list[Result]]:
    wl = MixedRastrigin(max_budget=27, fidelity_correlation=c)
    options = {"n_candidates": 8, "max_model_points": 60, **options}  # a cheaper model: the tests run in seconds
    algo = get_algorithm("adaptive_mf", wl.search_space(), seed=seed, ladder=LADDER, **options)
    results: list[Result] = []
    Runner(algo, SerialBackend(wl), stop=StopCriteria(max_epochs=max_epochs), on_result=results.append,
           handle_signals=False).run()
    assert isinstance(algo, AdaptiveFidelityEA)
    return algo, results


# ---------------------------------------------------------------------- agreement and value model
def test_agreement_recovers_a_known_correlation_and_falls_back_to_the_prior() -> None:
    rng = np.random.default_rng(0)
    z = rng.standard_normal(400)
    low = 0.8 * z + 0.6 * rng.standard_normal(400)
    a = agreement(0, 2.0, np.exp(low), z, prior_rho=0.5, prior_sd=0.6)  # any monotone transform of low
    assert a.n_pairs == 400 and abs(a.rho_hat - 0.8) < 0.06 and a.rho_low < 0.8 < a.rho_high
    assert a.kendall_tau == pytest.approx(kendalltau(low, z)[0])
    empty = agreement(1, 6.0, [], [], prior_rho=0.5, prior_sd=0.6)
    assert empty.n_pairs == 0 and math.isnan(empty.rho_hat) and empty.rho_mean == pytest.approx(0.5)
    few = agreement(1, 6.0, [1.0, 2.0, 3.0, 4.0, math.inf], [1.0, 2.0, 3.0, 4.0, 5.0], prior_rho=0.5, prior_sd=0.6)
    assert few.n_pairs == 4 and few.rho_hat > 0.99 and 0.5 < few.rho_mean < few.rho_hat  # shrunk towards the prior


def test_normal_order_statistics() -> None:
    assert max_normal_moments(1) == (0.0, 1.0)
    m, v = max_normal_moments(2)
    assert m == pytest.approx(1 / math.sqrt(math.pi), abs=1e-6) and v == pytest.approx(1 - 1 / math.pi, abs=1e-6)
    sample = np.random.default_rng(1).standard_normal((200_000, 27)).max(axis=1)
    m27, v27 = max_normal_moments(27)
    assert m27 == pytest.approx(sample.mean(), abs=0.01) and v27 == pytest.approx(sample.var(), abs=0.01)
    assert float(expected_max_normal(1)) == 0.0 and float(expected_max_normal(27)) == pytest.approx(m27, abs=0.02)


def test_value_model_prefers_cheap_brackets_when_budgets_agree_and_full_budget_when_not() -> None:
    budgets = (2.0, 6.0, 17.0, 52.0)
    brackets = make_brackets(budgets, (1 / 3, 3**-0.5))
    assert [b.label for b in brackets] == ["s0q0.33", "s0q0.58", "s1q0.33", "s1q0.58", "s2q0.33", "s2q0.58",
                                           "full"]
    s0 = brackets[0]
    assert s0.screened_per_final == pytest.approx(27.0)
    assert s0.cost_per_start == pytest.approx(2 + 4 / 3 + 11 / 9 + 35 / 27)
    moments = [max_normal_moments(b.screened_per_final) for b in brackets]
    values = bracket_values(np.array([[0.97, 0.98, 0.99], [0.0, 0.0, 0.0]]), brackets, moments, horizon=2600)
    assert brackets[int(np.argmax(values[0]))].start_rung == 0
    assert brackets[int(np.argmax(values[1]))].label == "full"


# ---------------------------------------------------------------------- GP surrogate
def _toy(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 3))
    z = rng.choice([0.0, 0.5, 1.0], size=n)
    y = np.sin(3 * x[:, 0]) + (x[:, 1] - 0.5) ** 2 + 0.3 * (1 - z) + 0.05 * rng.standard_normal(n)
    return x, z, y


def test_gp_likelihood_gradient_matches_finite_differences() -> None:
    x, z, y = _toy(30, 0)
    gp = BudgetGP(((0,), (1,), (2,)))
    sq, dz = gp._group_sq(x, x), z[:, None] - z[None, :]
    theta = gp.theta + 0.3 * np.random.default_rng(2).standard_normal(len(gp.theta))
    _, grad = gp._neg_log_posterior(theta, sq, dz, normal_scores(y))
    num = approx_fprime(theta, lambda t: gp._neg_log_posterior(t, sq, dz, normal_scores(y))[0], 1e-6)
    assert np.max(np.abs(grad - num)) < 1e-4


def test_gp_learns_the_function_and_incremental_updates_equal_a_rebuild() -> None:
    x, z, y = _toy(80, 1)
    gp = BudgetGP(((0,), (1,), (2,)))
    gp.optimise(x, z, normal_scores(y))
    ls = gp.length_scales()
    assert ls[2] > ls[0]  # the irrelevant third input gets the longest length scale of the inputs
    gp.condition(x[:60], z[:60])
    for i in range(60, 80):
        gp.append(x[i], z[i])
    gp.set_targets(normal_scores(y))
    xt, _, _ = _toy(200, 3)
    mu, sd = gp.predict(xt, 1.0)
    truth = np.sin(3 * xt[:, 0]) + (xt[:, 1] - 0.5) ** 2
    assert kendalltau(mu, truth)[0] > 0.6 and np.all(sd > 0)
    ref = BudgetGP(((0,), (1,), (2,)))
    ref.theta = gp.theta.copy()
    ref.condition(x, z)
    ref.set_targets(normal_scores(y))
    mu2, sd2 = ref.predict(xt, 1.0)
    assert np.allclose(mu, mu2, atol=1e-8) and np.allclose(sd, sd2, atol=1e-8)
    assert 0.0 < gp.budget_correlation(0.0, 1.0) < gp.budget_correlation(0.5, 1.0) <= 1.0


def test_expected_improvement_and_normal_scores() -> None:
    ei = expected_improvement(np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.1, 1e-9]), best=0.0)
    assert ei[0] == pytest.approx(1 / math.sqrt(2 * math.pi)) and ei[0] > ei[1] > 0.0 and ei[2] == pytest.approx(0.0)
    s = normal_scores(np.array([3.0, 1.0, 2.0, math.inf]))
    assert list(np.argsort(s)) == [1, 2, 0, 3] and s.sum() == pytest.approx(0.0)


def test_feature_map_one_hot_categoricals_and_inactive_genes() -> None:
    space = MixedRastrigin().search_space()
    fm = FeatureMap.from_space(space)
    assert fm.conditional and len(fm.columns) == space.dim
    cat = next(i for i, h in enumerate(space.hyperparameters) if h.name == "activation")
    cols = next(c for c in fm.columns if fm.source[c[0]] == cat)
    assert len(cols) == 3
    rng = np.random.default_rng(0)
    g = np.array([space.sample(rng) for _ in range(20)])
    active = np.array([space.active_mask(x) for x in g])
    f = fm.transform(g, active)
    assert f.shape == (20, fm.n_features)
    assert np.allclose(np.sort(f[:, list(cols)], axis=1)[:, -1], 1 / math.sqrt(2))  # exactly one level is hot
    mom = space.index["momentum"]
    off = ~active[:, mom]
    assert off.any() and np.all(f[off, fm.source.index(mom)] == -0.5)


# ---------------------------------------------------------------------- the algorithm
def test_schedule_trusts_agreeing_budgets_and_distrusts_misleading_ones() -> None:
    agree, _ = _run(1.0)
    mislead, _ = _run(0.0)
    a1, a0 = agree.decisions()[-1], mislead.decisions()[-1]
    # c = 1: every rung ranks exactly as the full budget; c = 0: the lowest rung ranks as an unrelated function
    assert a1.agreements[0].n_pairs >= 3 and a1.agreements[0].rho_hat > 0.99
    assert a0.agreements[0].n_pairs >= 3 and a0.agreements[0].rho_hat < 0.6
    def low(d: Any) -> float:  # the probability of starting new configurations at the lowest rung
        return sum(p for b, p in zip(d.brackets, d.probabilities) if b.start_rung == 0)

    assert low(a1) > 0.5  # agreeing budgets: stay aggressive
    assert low(a0) < low(a1) - 0.2  # misleading lowest rung: start later (or at the full budget)


def test_learning_curves_fill_lower_rungs_and_offspring_are_screened() -> None:
    algo, results = _run(1.0, seed=3, max_epochs=27 * 12)
    full = [r for r in results if r.ok and r.trial.rung == 3 and r.trial.operator != "promote"]
    assert full, "some configurations start at the full budget"
    cfg = algo._cfgs[full[0].trial.individual_id]
    assert all(math.isfinite(v) for v in cfg.values)  # rungs 0..2 read from the curve
    assert cfg.values[0] == pytest.approx(full[0].curve["error"][0])
    assert sum(algo.rung_sizes()) > len(results)
    ops = [r.trial.operator for r in sorted(results, key=lambda r: r.trial.trial_id)
           if r.trial.operator not in ("promote", "explore")]
    assert ops[: algo.n_initial] == ["sample"] * algo.n_initial
    assert any(op.endswith("+screened") for op in ops)
    promoted = [r.trial for r in results if r.trial.operator == "promote"]
    assert promoted and all(t.resume_from is not None for t in promoted[:3])
    # a promotion resumes from the checkpoint of the rung below and says which budget it was trained to
    assert all(t.resume_budget == LADDER.budgets[t.rung - 1] for t in promoted if t.resume_from is not None)


class _NoCurve(MixedRastrigin):
    def evaluate(self, trial: Trial, context: WorkerContext | None = None) -> Evaluation:
        e = super().evaluate(trial, context)
        return Evaluation(objectives=e.objectives, metrics=e.metrics, curve={}, epochs_trained=e.epochs_trained,
                          cost_s=e.cost_s, checkpoint=e.checkpoint)


def test_without_learning_curves_only_the_final_value_is_known() -> None:
    wl = _NoCurve(max_budget=27)
    algo = AdaptiveFidelityEA(wl.search_space(), seed=0, ladder=LADDER, start_rungs=[3])
    ctx = WorkerContext.local()
    for t in algo.ask(3):
        algo.tell(execute_trial(wl, t, ctx))
    for cfg in algo._cfgs.values():
        assert math.isfinite(cfg.values[3]) and all(math.isnan(v) for v in cfg.values[:3])


def test_exploratory_promotion_continues_straight_to_the_full_budget() -> None:
    wl = MixedRastrigin(max_budget=27)
    algo = AdaptiveFidelityEA(wl.search_space(), seed=1, ladder=LADDER, start_rungs=[0], explore_fraction=1.0)
    ctx = WorkerContext.local()
    first = algo.ask(1)[0]
    assert first.rung == 0
    algo.tell(execute_trial(wl, first, ctx))
    nxt = algo.ask(1)[0]
    assert nxt.operator == "explore" and nxt.rung == 3 and nxt.individual_id == first.individual_id
    assert nxt.resume_from == first.checkpoint_key and nxt.resume_budget == first.budget_epochs == 1
    assert nxt.budget_epochs == 27
    algo.tell(execute_trial(wl, nxt, ctx))
    assert algo.agreements()[0].n_pairs == 1 and algo.decisions()[-1].n_told == 2


def test_failed_trials_rank_last_and_are_not_promoted() -> None:
    wl = MixedRastrigin(max_budget=27)
    algo = AdaptiveFidelityEA(wl.search_space(), seed=2, ladder=LADDER, start_rungs=[0], explore_fraction=0.0)
    trials = algo.ask(4)
    for t in trials:
        algo.tell(failed_result(t, Status.FAILED, "boom"))
    assert all(f == math.inf for f, _ in algo._rank[0])
    assert all(t.operator != "promote" for t in algo.ask(4))


def test_decisions_are_logged_and_json_serialisable() -> None:
    algo, _ = _run(0.5, seed=4, max_epochs=27 * 10)
    ds = algo.decisions()
    assert ds and ds[0].n_told == 0 and all(a.n_told <= b.n_told for a, b in itertools.pairwise(ds))
    row = json.loads(json.dumps(ds[-1].as_dict()))
    assert {"rung0_rho_mean", "rung0_n_pairs", "bracket_full_probability", "bracket_s0q0.33_value"} <= set(row)
    assert sum(ds[-1].probabilities) == pytest.approx(1.0)
    assert len(algo.pop_decisions()) == len(ds) and algo.pop_decisions() == []


def test_warm_start_configurations_are_evaluated_first() -> None:
    wl = MixedRastrigin(max_budget=27)
    space = wl.search_space()
    portfolio = wl.sample_configs(2, seed=11)
    algo = AdaptiveFidelityEA(space, seed=0, ladder=LADDER, warm_start=portfolio)
    trials = algo.ask(3)
    assert [t.operator for t in trials[:2]] == ["warm_start", "warm_start"]
    assert [dict(t.config) for t in trials[:2]] == portfolio
    assert trials[2].operator == "sample"
    assert [t.rung for t in trials[:2]] == [3, 3]  # portfolio configurations train to the full budget


def test_restricted_brackets_and_bad_options() -> None:
    wl = MixedRastrigin(max_budget=27)
    space = wl.search_space()
    full_only = AdaptiveFidelityEA(space, seed=0, ladder=LADDER, start_rungs=[3])
    assert [b.label for b in full_only.brackets] == ["full"] and {t.rung for t in full_only.ask(5)} == {3}
    for bad in ({"keep_fractions": [1.5]}, {"start_rungs": [7]}, {"prior_agreement": 1.0},
                {"n_candidates": 0}, {"explore_fraction": -0.1}, {"random_fraction": 2}):
        with pytest.raises(ConfigError, match="adaptive_mf"):
            get_algorithm("adaptive_mf", space, ladder=LADDER, **bad)
    with pytest.raises(ConfigError, match="needs a budget ladder"):
        get_algorithm("adaptive_mf", space)


def test_model_size_stays_bounded() -> None:
    algo, results = _run(0.7, seed=5, max_epochs=27 * 40, max_model_points=40)
    assert len(results) > 60
    assert algo._model.gp.n_points <= int(1.5 * 40)


def test_decisions_plot_from_a_run_directory(tmp_path: Path) -> None:
    """The README's route: run with a run directory, then experiments/adaptive/plot_decisions.py draws it."""
    wl = MixedRastrigin(max_budget=27, fidelity_correlation=0.5)
    algo = get_algorithm("adaptive_mf", wl.search_space(), seed=6, ladder=LADDER, n_candidates=8)
    Runner(algo, SerialBackend(wl), run_dir=tmp_path / "run", stop=StopCriteria(max_epochs=27 * 8),
           handle_signals=False).run()
    script = Path(__file__).resolve().parents[1] / "experiments" / "adaptive" / "plot_decisions.py"
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "run"), "--out", str(tmp_path / "d.png")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "d.png").stat().st_size > 10_000 and "decisions" in done.stdout
    from evoautodl.analysis.report import analyze_run

    report = analyze_run(tmp_path / "run", importance=False)
    names = {p.name for p in report.figures}
    assert {"schedule_agreement.png", "schedule_brackets.png"} <= names
    text = report.path.read_text()
    assert "## adaptive_mf's schedule" in text and "schedule decisions" in text



def _shift(space: Any, genome: Any, rng: np.random.Generator) -> np.ndarray:
    """A user's mutation: one Gaussian step on every gene (repaired)."""
    return space.repair(np.asarray(genome) + 0.05 * rng.standard_normal(space.dim), rng)


_shift.arity, _shift.n_children = 1, 1  # type: ignore[attr-defined]


def _ask_tell(algo: Any, workload: MixedRastrigin, n: int) -> list[Trial]:
    trials = []
    for _ in range(n):
        trial = algo.ask(1)[0]
        algo.tell(execute_trial(workload, trial, WorkerContext.local()))
        trials.append(trial)
    return trials


def test_screened_batches_and_user_operators() -> None:
    """Built-in operators breed screen_batch * n_candidates children at once (one pick per batch until
    max_model_points results are told) and the next new configurations take the batch's runners-up; a user's
    operator is called per candidate; the model picks in both cases."""
    wl = MixedRastrigin(max_budget=27)
    space = wl.search_space()
    opts = {"seed": 5, "ladder": LADDER, "n_initial": 4, "n_candidates": 6, "max_model_points": 20}
    built_in = get_algorithm("adaptive_mf", space, **opts)
    assert built_in._batch_params() == {"swap_prob": 0.5, "rate": 0.3, "sigma": 0.2, "ordinal": "neighbour"}
    user = get_algorithm("adaptive_mf", space, **opts, mutation=_shift)
    assert user._batch_params() is None
    for algo, label in ((built_in, "mutate"), (user, "_shift")):
        sizes: list[tuple[int, int]] = []  # (results told, candidates screened)
        rank = algo._model.rank
        algo._model.rank = lambda rows, *a, _r=rank, _s=sizes, _a=algo, **k: (
            _s.append((_a.n_told, len(rows))) or _r(rows, *a, **k))
        ops = [t.operator for t in _ask_tell(algo, wl, 80)]
        screened = [op for op in ops if op.endswith("+screened")]
        assert screened and {op.split("+")[-2] for op in screened} <= {label, "sample"}
        assert label in {op.split("+")[-2] for op in screened}
        early = [n for told, n in sizes if told < 20]
        late = [n for told, n in sizes if told >= 20]
        assert early and set(early) == {6}  # one pick per batch of 6 while the model is young
        assert late and set(late) == {18}  # then 3 x 6 candidates per screened batch
        assert len(screened) >= len(early) + 3 * len(late) - 2  # a late batch gives three configurations
    with pytest.raises(ConfigError, match="screen_batch"):
        get_algorithm("adaptive_mf", space, ladder=LADDER, screen_batch=0)
