"""Adaptive multi-fidelity evolution: measures online how far cheap budgets can be trusted.

Successive halving (Hyperband, ASHA) bets that a configuration's rank after a
few epochs predicts its rank after all of them. On some problems it does, on
others it does not, and a fixed ladder cannot be right for both. This
algorithm measures the agreement between each rung and the full budget while
it runs, chooses per new configuration where it starts and how much of each
rung is promoted from the expected payoff of each choice, and pre-screens its
offspring with a Gaussian-process model of every result (budget as an input).
It is asynchronous (no generation barrier), continues promoted configurations
from their checkpoints, and is a deterministic function of its seed and the
ask/tell sequence. Pseudocode::

    ask(n): repeat n times
        promotion due (ASHA rule, top rung first, per keep fraction q): the
            best configuration c waiting at rung k in q's group goes to rung
            k+1, resuming from its checkpoint, if its rank among all rung-k
            values is below floor(q * n_k)
        else an exploratory promotion, if one is queued (see tell): the
            configuration continues straight to the full budget
        else a new configuration:
            bracket (s, q) (start rung, keep fraction; "full" = start at the
                full budget): eps ~ N(0, 1), rho_k = tanh(z_mean_k + z_sd_k
                eps) for every rung (the agreements' posteriors, one scenario
                for the whole ladder), the bracket with the largest
                value(s, q | rho, horizon) wins (Thompson sampling over
                fidelity_trust's value model; horizon: epochs told so far,
                at least 10 full budgets); warm-start configurations: full
            genome: warm start first; fewer than n_initial results: uniform
                sample; else the next pick of the last screened batch, if
                one is left; else a screened batch: B * n_candidates
                candidates (B = 1 until max_model_points results are told,
                then screen_batch; a share of uniform samples, the
                rest children of parents chosen by the selection
                (tournament by default) among the best configurations of the
                highest rung with at least 5 results: with probability
                crossover_prob crossover (first child) then mutation, else
                mutation; the built-in operators breed all children in one
                vectorised pass, operators.batch.breed), the B
                with the largest expected improvement at the full budget
                under the GP are picked, best first (surrogate-assisted
                pre-screening; EI's reference: the parents' lowest
                posterior mean)
            trained to b_s from scratch
    tell(result of c at rung k):
        values at every rung <= k from the learning curve (rung j: the
            objective after b_j epochs), each inserted in its rung's ranking
            and added to the GP's data
        k < R: c waits at rung k for a promotion; while rung k has fewer
            than explore_pairs unbiased pairs, with probability
            explore_fraction c is queued for an exploratory promotion
            instead (chosen without looking at its value)
        k = R and c's path from some rung j was not selected on its values
            (full-budget start: j = 0, exploratory promotion from rung j):
            its pairs (value at rung i, value at R), i >= j, update the
            agreements (normal-score correlation, Fisher-z posterior; the
            latest max_pairs such configurations); the new schedule is
            logged (decisions(): agreements, bracket values and Thompson
            probabilities, the GP's implied correlations, and how many of the
            best unbiased configurations each bracket would have kept)

What it takes from which work:

- Hyperband (Li et al., JMLR 2018) and BOHB (Falkner et al., ICML 2018):
  brackets that start at different rungs, the full-budget bracket as the
  hedge against misleading low budgets; BOHB's model-based sampling of new
  configurations (here a GP with the budget as input rather than a KDE per
  budget).
- ASHA (Li et al., MLSys 2020): asynchronous promotions (top ``q`` fraction of
  each rung, no barrier), checkpoint continuation.
- DEHB (Awad et al., IJCAI 2021): evolutionary variation of the best
  configurations of the higher budgets as the proposal distribution.
- Hyper-Tune (Li et al., VLDB 2022): choose brackets from the measured
  consistency between low and high fidelities; here the consistency is a
  normal-score correlation with a posterior, the choice is Thompson sampling
  over a value model (expected best full-budget score per horizon), and
  unbiased pairs come from full-budget runs and exploratory promotions.
- PASHA (Bohdal et al., ICLR 2023): spend more only when the ranking says so;
  here the keep fraction (how many are promoted) is part of the choice.
- Learning-curve extrapolation and freeze-thaw BO (Domhan et al., IJCAI
  2015; Swersky et al., 2014): every trial's learning curve is used; its
  values at all lower rungs enter the agreement estimates and the GP.
- Surrogate-assisted evolutionary algorithms (Jin, "Surrogate-assisted
  evolutionary computation", Swarm Evol. Comput. 2011; pre-selection as in
  Loshchilov et al., GECCO 2010): many offspring, the model picks which one
  is evaluated; expected improvement (Jones et al., 1998) trades exploitation
  against the model's uncertainty.

Bounded cost: the GP keeps at most ``max_model_points`` points (the most
recent configurations, then the best at the highest rungs; each
configuration's value at its highest rung first, lower-rung values of the
same configurations if room is left), adds new points with a block update of
its Cholesky factor (waiting for ``n / 16`` new points once it holds ``n``),
rebuilds when it holds 1.5 times its cap, and re-fits its hyperparameters on
at most 96 points on a geometric schedule (n_told = 10, 15, 23, ...), so the
cost of ask + tell does not grow with the number of evaluations; offspring
are bred and screened in batches of ``screen_batch * n_candidates``
(experiments/bench/adaptive_overhead.py).

Checkpoint hygiene as in ``asha_ea``: the checkpoints of the
``keep_checkpoints_per_rung`` best waiting configurations of each rung and
keep fraction are kept (a configuration pushed out of that set is promoted from scratch, if
ever); a promoted trial's lower checkpoint is discarded when it is told; at
the full budget only the incumbent's checkpoint is kept.

Operators as values (:mod:`evoautodl.operators.values`), as in ``asha_ea``:
``mutation=``, ``crossover=`` and ``selection=`` take a built-in name, a
callable, ``"module:function"`` or a DEAP toolbox operator, checked when the
algorithm is built; the selection compares the parents' positions in the
parent pool (0 = best). The log's ``operator`` column names them
(``"<crossover>+<mutation>"`` or ``"<mutation>"``, then ``"+screened"`` when the
GP chose among the candidates). The built-in tournament draws the entrants of
all candidates' tournaments in one call; with the built-in uniform crossover and
Gaussian mutation the children of a batch are bred in one vectorised pass
(:func:`evoautodl.operators.batch.breed`, the same distribution as one call per
child), any other operator is called once per child.

Failed trials have fitness +inf: they rank last in their rung and in the GP
(so the model steers away from them) and are never promoted.
"""

from __future__ import annotations

import copy
import math
from bisect import bisect_left, insort
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from evoautodl.algorithms import options as opt
from evoautodl.algorithms.adaptive_model import ConfigRecord, ScreeningModel
from evoautodl.algorithms.adaptive_schedule import BracketSchedule
from evoautodl.algorithms.base import Algorithm
from evoautodl.algorithms.budget_gp import FeatureMap
from evoautodl.algorithms.fidelity_trust import Agreement, Bracket, ScheduleDecision
from evoautodl.errors import ConfigError
from evoautodl.operators.batch import breed
from evoautodl.operators.crossover import uniform_crossover
from evoautodl.operators.mutation import mutate
from evoautodl.operators.selection import tournament
from evoautodl.records import Result, Trial, checkpoint_key
from evoautodl.space import SearchSpace

__all__ = ["AdaptiveFidelityEA"]

#: settings of the built-in mutation that the batched breeding implements
_BATCH_MUTATION = frozenset({"rate", "sigma", "float_op", "ordinal", "branch_rate", "mutate_inactive", "ensure_change"})

#: attributes holding immutable records only: state_dict shares them instead of deep-copying
_SHARED = ("_features", "warm_start", "keep_fractions", "budgets", "crossover_op", "mutation_op", "selection_op")


class AdaptiveFidelityEA(Algorithm):
    """Adaptive multi-fidelity evolution with GP pre-screening (see the module docstring).

    Args:
        space: the search space.
        population_size: best configurations of the parent rung that can be parents.
        tournament_size: entrants per tournament of the built-in selection.
        crossover_prob: probability that a candidate is a crossover (then mutated).
        mutation_rate: per-gene probability of the built-in mutation (None: 1 / number of genes).
        mutation_sigma: Gaussian step (unit cube) of the built-in mutation.
        n_initial: results before the model screens offspring (uniform samples until then).
        n_candidates: offspring generated per new configuration (the model picks one).
        screen_batch: new configurations taken from one screened batch: ``screen_batch *
            n_candidates`` offspring are bred and screened at once, the ``screen_batch`` with the
            largest expected improvement are used by the next new configurations (the same
            candidates per configuration, bred and predicted in fewer, larger batches). Until
            ``max_model_points`` results are told, every batch gives one configuration: early on each
            result moves the posterior a lot and the model is small, so fresh picks are cheap and matter.
        random_candidates: share of the candidates that are uniform samples.
        random_fraction: probability that a new configuration is a uniform
            sample the model does not screen (interleaved random search).
        keep_fractions: keep fractions the schedule may choose per bracket
            (None: ``1/eta`` and ``1/sqrt(eta)``).
        start_rungs: rungs new configurations may start at (None: all; ``[R]``
            evaluates everything at the full budget, ``[0]`` is ASHA-like).
        prior_agreement: prior mean of the rung/full-budget correlation.
        prior_sd: prior standard deviation of ``atanh`` of that correlation.
        explore_fraction: probability that a result at a lower rung is queued
            for an exploratory promotion (while that rung lacks pairs).
        explore_pairs: unbiased pairs a rung needs before exploration there stops.
        winner_fraction: share of the unbiased configurations (the best by
            full-budget value) that count as winners in the recall diagnostic.
        max_pairs: unbiased configurations (the most recent) behind the estimates.
        horizon_epochs: epochs the value model plans for (None: the epochs
            told so far, at least ten full budgets).
        max_model_points: GP data points kept (bounded cost).
        keep_checkpoints_per_rung: checkpoints of waiting configurations kept per rung.
        warm_start: configurations (dicts) evaluated first, in order, at the full
            budget (a portfolio of configurations that did well on other problems).
        curve_metric: the learning-curve key holding the objective (None: the
            key ``"objective"``, else the first key whose last value equals it).
        crossover: ``"uniform"`` (condition-aware), ``"one_point"``, ``"sbx"`` or a two-parent
            operator (its first child is used); see :mod:`evoautodl.operators.values`.
        crossover_params: keyword parameters of the crossover.
        mutation: ``"gaussian"``, ``"polynomial"`` or a one-parent, one-child operator.
        mutation_params: keyword parameters of the mutation.
        selection: ``"tournament"``, ``"truncation"`` or a selection operator; it compares
            the parents' positions in the parent pool (0 = best).
        selection_params: keyword parameters of the selection.
        **common: seed, n_objectives (the first objective is optimised), max_budget (the
            ladder's is used), ladder (required).
    """

    name = "adaptive_mf"
    multi_fidelity = True
    requires_ladder = True
    asynchronous = True
    manages_checkpoints = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        population_size: int = 20,
        tournament_size: int = 3,
        crossover_prob: float = 0.5,
        mutation_rate: float | None = 0.3,
        mutation_sigma: float = 0.2,
        n_initial: int = 10,
        n_candidates: int = 24,
        screen_batch: int = 3,
        random_candidates: float = 0.25,
        random_fraction: float = 0.0,
        keep_fractions: Sequence[float] | None = None,
        start_rungs: Sequence[int] | None = None,
        prior_agreement: float = 0.5,
        prior_sd: float = 0.6,
        explore_fraction: float = 0.05,
        explore_pairs: int = 10,
        winner_fraction: float = 0.2,
        max_pairs: int = 100,
        horizon_epochs: float | None = None,
        max_model_points: int = 128,
        keep_checkpoints_per_rung: int = 10,
        warm_start: Sequence[Mapping[str, Any]] | None = None,
        curve_metric: str | None = None,
        crossover: Any = "uniform",
        crossover_params: dict[str, Any] | None = None,
        mutation: Any = "gaussian",
        mutation_params: dict[str, Any] | None = None,
        selection: Any = "tournament",
        selection_params: dict[str, Any] | None = None,
        **common: Any,
    ):
        super().__init__(space, **common)
        ladder = self.ladder
        assert ladder is not None  # requires_ladder
        a = self.name
        self.population_size = opt.at_least(a, "population_size", population_size, 2)
        self.tournament_size = opt.at_least(a, "tournament_size", tournament_size, 1)
        self.crossover_prob = opt.probability(a, "crossover_prob", crossover_prob)
        self.mutation_rate, self.mutation_sigma = opt.mutation(a, mutation_rate, mutation_sigma)
        self.crossover_op = self.resolve_operator(crossover, kind="crossover", option="crossover", arity=2,
                                                  params=crossover_params)
        self.mutation_op = self.resolve_mutation(mutation, mutation_params, self.mutation_rate, self.mutation_sigma,
            default_rate=0.3, default_sigma=0.2)
        self.selection_op = self.resolve_selection(selection, selection_params, self.tournament_size)
        self.n_initial = opt.at_least(a, "n_initial", n_initial, 2)
        self.n_candidates = opt.at_least(a, "n_candidates", n_candidates, 1)
        self.screen_batch = opt.at_least(a, "screen_batch", screen_batch, 1)
        self.random_candidates = opt.probability(a, "random_candidates", random_candidates)
        self.random_fraction = opt.probability(a, "random_fraction", random_fraction)
        self.explore_fraction = opt.probability(a, "explore_fraction", explore_fraction)
        self.explore_pairs = opt.at_least(a, "explore_pairs", explore_pairs, 0)
        self.winner_fraction = opt.probability(a, "winner_fraction", winner_fraction)
        self.max_pairs = opt.at_least(a, "max_pairs", max_pairs, 3)
        self.horizon_epochs = None if horizon_epochs is None else opt.positive(a, "horizon_epochs", horizon_epochs)
        self.max_model_points = opt.at_least(a, "max_model_points", max_model_points, 10)
        self.keep_checkpoints_per_rung = opt.at_least(a, "keep_checkpoints_per_rung", keep_checkpoints_per_rung, 1)
        if not -0.99 <= prior_agreement <= 0.99:
            raise ConfigError(f"{a}: prior_agreement must lie in [-0.99, 0.99], got {prior_agreement!r}")
        self.prior_agreement = float(prior_agreement)
        self.prior_sd = opt.positive(a, "prior_sd", prior_sd)
        self.budgets: tuple[float, ...] = ladder.budgets
        self.eta = float(ladder.eta)
        fractions = (1.0 / self.eta, 1.0 / math.sqrt(self.eta)) if keep_fractions is None else tuple(keep_fractions)
        if not fractions or not all(0.0 < float(q) < 1.0 for q in fractions):
            raise ConfigError(f"{a}: keep_fractions must be numbers in (0, 1), got {keep_fractions!r}")
        self.keep_fractions = tuple(sorted(float(q) for q in fractions))
        self.curve_metric = curve_metric
        self.warm_start = [space.from_config(c) for c in (warm_start or ())]
        n_rungs = len(self.budgets)
        self._r = n_rungs - 1
        span = math.log(self.budgets[-1] / self.budgets[0]) if n_rungs > 1 else 1.0
        self._z = tuple(math.log(b / self.budgets[0]) / span if n_rungs > 1 else 1.0 for b in self.budgets)
        self._schedule = BracketSchedule(a, self.budgets, self.keep_fractions, start_rungs, self.prior_agreement,
                                         self.prior_sd, self.max_pairs, self.winner_fraction, self.horizon_epochs)
        self._features = FeatureMap.from_space(space)
        self._model = ScreeningModel(self._features.columns, self._z, self.max_model_points, self.n_initial)
        self._cfgs: dict[int, ConfigRecord] = {}
        self._rank: list[list[tuple[float, int]]] = [[] for _ in range(n_rungs)]  # every known value per rung
        # waiting configurations per rung and keep fraction, sorted: (value, individual, checkpoint kept)
        self._cands: list[list[list[tuple[float, int, bool]]]] = [[[] for _ in self.keep_fractions]
                                                                   for _ in range(n_rungs)]
        self._free: list[int] = []  # configurations with unbiased pairs at the full budget
        self._explore: list[tuple[int, int]] = []  # (rung, individual) chosen for an exploratory promotion
        self._screened: list[tuple[np.ndarray, tuple[int, ...], str, np.ndarray]] = []  # picks left (screen_batch)
        self._batch = self._batch_params()  # the batched breeding's settings (None: one operator call per child)
        self._epochs_told = 0.0
        self._n_configs_told = 0
        self._log_decision()

    # ------------------------------------------------------------------ ask
    def ask(self, n: int) -> list[Trial]:
        out: list[Trial] = []
        for _ in range(max(0, n)):
            trial = self._promotion() or self._exploration() or self._new_config()
            out.append(trial)
        return out

    def _promotion(self) -> Trial | None:
        """ASHA's rule per (rung, keep fraction): only the best waiting configuration of a group can qualify."""
        for k in range(self._r - 1, -1, -1):
            rank, n_k = self._rank[k], len(self._rank[k])
            for q, cands in zip(self.keep_fractions, self._cands[k]):
                if cands and bisect_left(rank, cands[0][:2]) < int(q * n_k):
                    _, ind, kept = cands.pop(0)
                    return self._continue(ind, k, k + 1, kept, "promote")
        return None

    def _exploration(self) -> Trial | None:
        while self._explore:
            k, ind = self._explore.pop(0)
            cands = self._cands[k][self.keep_fractions.index(self._cfgs[ind].keep)]
            for pos, (_, i, kept) in enumerate(cands):
                if i == ind:
                    del cands[pos]
                    return self._continue(ind, k, self._r, kept, "explore")
        return None

    def _continue(self, ind: int, k: int, to: int, kept: bool, op: str) -> Trial:
        cfg = self._cfgs[ind]
        resume, resume_budget = (checkpoint_key(ind, self.budgets[k]), self.budgets[k]) if kept else (None, None)
        return self.make_trial(cfg.genome, budget=self.budgets[to], individual_id=ind, parent_ids=(ind,),
                               operator=op, resume_from=resume, resume_budget=resume_budget, rung=to)

    def _new_config(self) -> Trial:
        used = len(self._cfgs)
        full = self._schedule.full
        if used < len(self.warm_start) and full is not None:  # a portfolio configuration did well elsewhere
            bracket = full
        else:
            bracket = self._schedule.choose(self.rng, self._epochs_told)
        s = bracket.start_rung
        features = None  # the GP's input row, when screening computed it
        if used < len(self.warm_start):
            genome, parents, op = self.space.repair(self.warm_start[used], self.rng), (), "warm_start"
        elif self._n_configs_told < self.n_initial or (self.random_fraction > 0.0
                                                        and self.rng.random() < self.random_fraction):
            genome, parents, op = self.space.sample(self.rng), (), "sample"
        else:
            genome, parents, op, features = self._screened_offspring()
        trial = self.make_trial(genome, budget=self.budgets[s], parent_ids=parents, operator=op, rung=s)
        g = trial.genome
        if features is None:
            features = self._feature_rows(np.array([g]))[0]
        self._cfgs[trial.individual_id] = ConfigRecord(
            genome=g, features=features, start=s, keep=bracket.keep_fraction,
            values=[math.nan] * (self._r + 1), free_from=0 if s == self._r else None)
        return trial

    # ------------------------------------------------------------------ breeding
    def _feature_rows(self, genomes: np.ndarray) -> np.ndarray:
        return self._features.transform(genomes, self.space.active_masks(genomes) if self._features.conditional
                                        else None)

    def _parent_pool(self) -> list[int]:
        """The best configurations (up to population_size) of the highest rung with at least 5 finite values."""
        for k in range(self._r, -1, -1):
            finite = [ind for f, ind in self._rank[k][: self.population_size] if math.isfinite(f)]
            if len(finite) >= min(self.population_size, 5) or k == 0:
                return finite
        return []

    def _screened_offspring(self) -> tuple[np.ndarray, tuple[int, ...], str, np.ndarray | None]:
        """The next pick of a screened batch: ``screen_batch * n_candidates`` offspring (and uniform samples), of
        which the GP's expected improvement picks ``screen_batch`` (the first is returned, the others queued).

        Returns the genome, its parents, the operator label and its feature row (None when the
        model was not ready to screen).
        """
        queue = self._screened
        if queue:  # the next pick of the last screened batch
            return queue.pop(0)
        rng = self.rng
        pool = self._parent_pool()
        # early on each result moves the posterior a lot and the model is small (cheap): one pick per batch;
        # once max_model_points results are in, the later picks of a batch see a posterior that is nearly current
        batch_size = self.screen_batch if self.n_told >= self.max_model_points else 1
        n = self.n_candidates * batch_size
        n_random = int(round(self.random_candidates * n)) if len(pool) >= 2 else n
        wins = self._tournaments(n, len(pool))
        cross = (rng.random(n) < self.crossover_prob).tolist()
        mut, positions = self.mutation_op, np.arange(len(pool), dtype=np.float64)  # the pool is sorted
        cands: list[np.ndarray] = list(self.space.sample_batch(min(n_random, n), rng))
        origin: list[tuple[tuple[int, ...], str]] = [((), "sample")] * len(cands)
        parents: list[tuple[int, ...]] = []
        for i in range(n_random, n):
            w = wins[i] if wins is not None else self.selection_op.select(positions, 1 + cross[i], rng).tolist()
            parents.append((pool[w[0]], pool[w[1]]) if cross[i] else (pool[w[0]],))
        batch = self._batch
        if parents and batch is not None:  # the built-in operators: every child in one pass
            first = np.array([self._cfgs[p[0]].genome for p in parents])
            second = np.array([self._cfgs[p[-1]].genome for p in parents])
            cands.extend(breed(self.space, first, second, np.array(cross[n_random:]), rng, **batch))
        for p in parents:
            if len(p) == 2:
                op = f"{self.crossover_op.label}+{mut.label}"
                if batch is None:
                    child = self.crossover_op.vary(self.space, (self._cfgs[p[0]].genome, self._cfgs[p[1]].genome),
                                                   rng)[0]
            else:
                op, child = mut.label, self._cfgs[p[0]].genome
            if batch is None:
                cands.append(mut.vary(self.space, (child,), rng)[0])
            origin.append((p, op))
        self._model.refresh(self._cfgs, self.n_told)
        if not self._model.ready:
            return cands[0], origin[0][0], origin[0][1], None
        rows = self._feature_rows(np.array(cands))
        best = self._model.rank(rows, lambda: np.array([self._cfgs[i].features for i in pool]) if pool
                                else np.empty((0, self._features.n_features)), key=tuple(pool))
        picks = [(cands[j], origin[j][0], origin[j][1] + "+screened", rows[j])
                 for j in best[:batch_size].tolist()]
        queue.extend(picks[1:])
        return picks[0]

    def _batch_params(self) -> dict[str, Any] | None:
        """:func:`~evoautodl.operators.batch.breed`'s settings when crossover and mutation are the built-in
        uniform crossover and Gaussian mutation (with settings it implements), else None (per-child calls)."""
        c, m = self.crossover_op, self.mutation_op
        if not (c.builtin and c.fn is uniform_crossover and m.builtin and m.fn is mutate):
            return None
        cp, mp = dict(c.params), dict(m.params)
        if set(cp) - {"swap_prob"} or mp.get("float_op", "gaussian") != "gaussian" \
                or mp.get("branch_rate", 0.0) or mp.get("mutate_inactive", False) \
                or not mp.get("ensure_change", True) or set(mp) - _BATCH_MUTATION:
            return None
        return {"swap_prob": cp.get("swap_prob", 0.5), "rate": mp.get("rate"), "sigma": mp.get("sigma", 0.1),
                "ordinal": mp.get("ordinal", "neighbour")}

    def _tournaments(self, n: int, n_pool: int) -> list[list[int]] | None:
        """Two tournament winners (pool positions) per candidate, drawn at once, for the built-in tournament.

        The same rule as :func:`~evoautodl.operators.selection.tournament` on
        positions (the lowest position among ``size`` entrants wins), its entrants
        drawn for all ``n`` candidates in one call. None for any other selection
        (it is called per candidate).
        """
        op = self.selection_op
        if not (op.builtin and op.fn is tournament):
            return None
        size = int(op.params.get("size", self.tournament_size))
        return self.rng.integers(0, max(n_pool, 1), size=(n, 2, size)).min(axis=2).tolist()

    # ------------------------------------------------------------------ tell
    def on_result(self, result: Result) -> None:
        t = result.trial
        cfg = self._cfgs.get(t.individual_id)
        k = t.rung
        if cfg is None or not 0 <= k <= self._r:
            return
        if t.resume_from is not None:
            self.discard_checkpoint(t.resume_from)
        self._epochs_told += result.epochs_trained
        f = self.fitness_of(result)
        cfg.told = self.n_told
        new: list[int] = []
        if math.isfinite(f):
            curve = self._objective_curve(result)
            for j in range(k):
                if math.isnan(cfg.values[j]) and curve is not None and self.budgets[j] <= len(curve):
                    v = float(curve[int(round(self.budgets[j])) - 1])
                    if math.isfinite(v):
                        cfg.values[j] = v
                        new.append(j)
            cfg.values[k] = f
        else:
            cfg.failed = True
            cfg.values[k] = math.inf
        new.append(k)
        for j in new:
            insort(self._rank[j], (cfg.values[j], t.individual_id))
            self._model.add(t.individual_id, j)
        if cfg.reached < 0:
            self._n_configs_told += 1
        cfg.reached = max(cfg.reached, k)
        if k == self._r:
            self.keep_if_incumbent(result)
            if cfg.free_from is not None and math.isfinite(f):
                self._free.append(t.individual_id)
                self._schedule.update(self._cfgs, self._free)
                self._log_decision()
        elif not math.isfinite(f):
            self.discard_checkpoint(t.checkpoint_key)
        else:
            self._add_candidate(k, (f, t.individual_id, result.checkpoint is not None))
            if self._schedule.agreements[k].n_pairs + len(self._explore) < self.explore_pairs \
                    and self.rng.random() < self.explore_fraction:
                cfg.free_from = k  # an exploratory promotion: chosen without looking at its value
                self._explore.append((k, t.individual_id))

    def _objective_curve(self, result: Result) -> list[float] | None:
        curve = result.curve
        if not curve:
            return None
        f = result.objectives[0]
        keys = [self.curve_metric] if self.curve_metric is not None else ["objective", *sorted(curve)]
        for key in keys:
            c = curve.get(key)
            if c and len(c) == int(round(result.trial.budget_epochs)) and abs(c[-1] - f) <= 1e-9 * max(1.0, abs(f)):
                return list(c)
        return None

    def _add_candidate(self, k: int, cand: tuple[float, int, bool]) -> None:
        cands = self._cands[k][self.keep_fractions.index(self._cfgs[cand[1]].keep)]
        keep = self.keep_checkpoints_per_rung
        pos = bisect_left(cands, cand)
        cands.insert(pos, cand)
        if pos >= keep:
            if cand[2]:
                self.discard_checkpoint(checkpoint_key(cand[1], self.budgets[k]))
                cands[pos] = (cand[0], cand[1], False)
        elif len(cands) > keep and cands[keep][2]:
            out = cands[keep]
            self.discard_checkpoint(checkpoint_key(out[1], self.budgets[k]))
            cands[keep] = (out[0], out[1], False)

    # ------------------------------------------------------------------ decisions
    def _log_decision(self) -> None:
        winners, survivors = self._schedule.recall(self._cfgs, self._free, self._rank)
        self._schedule.log(n_told=self.n_told, epochs_told=self._epochs_told, seed=self.seed, winners=winners,
                           survivors=survivors,
                           gp_correlation=tuple(self._model.budget_correlation(self._z[k]) for k in range(self._r)))

    def decisions(self) -> list[ScheduleDecision]:
        """Every schedule update so far (agreements with uncertainty, bracket values and probabilities)."""
        return list(self._schedule.decisions)

    def pop_decisions(self) -> list[ScheduleDecision]:
        """Schedule updates since the last call (for a runner that logs them as they happen)."""
        return self._schedule.pop()

    @property
    def brackets(self) -> tuple[Bracket, ...]:
        """The brackets a new configuration can start in."""
        return self._schedule.brackets

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The base class's state, copied cheaply: shared immutable records, shallow copies of lists of tuples."""
        return {k: self._copy_attr(k, v) for k, v in self.__dict__.items() if k != "space"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update({k: self._copy_attr(k, v) for k, v in state.items()})

    @staticmethod
    def _copy_attr(name: str, value: Any) -> Any:
        if name in _SHARED:  # immutable records (frozen dataclasses, tuples) and arrays never written to
            return list(value) if isinstance(value, list) else value
        if name == "_rank":  # lists of lists of immutable tuples
            return [list(v) for v in value]
        if name == "_cands":  # per rung, per keep fraction, a list of immutable tuples
            return [[list(v) for v in r] for r in value]
        if name in ("_free", "_explore", "_discard", "_screened"):  # lists of immutable items (arrays never written)
            return list(value)
        if name == "_pending":  # trial id -> frozen Trial
            return dict(value)
        if name == "_cfgs":  # only the values list of a record is mutated in place
            return {i: replace(c, values=list(c.values)) for i, c in value.items()}
        if name in ("_model", "_schedule"):
            return value.copy()
        return copy.deepcopy(value)

    # ------------------------------------------------------------------ introspection
    def agreements(self) -> tuple[Agreement, ...]:
        """The current agreement estimate of every rung below the full budget."""
        return self._schedule.agreements

    def rung_sizes(self) -> list[int]:
        """Values known per rung (from results and learning curves)."""
        return [len(r) for r in self._rank]
