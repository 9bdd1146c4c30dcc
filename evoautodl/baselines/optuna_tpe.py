"""Optuna's TPE, at the full budget or with Optuna's Hyperband pruner (Akiba et al., KDD 2019).

Search space (define-by-run, faithful to the conditions): hyperparameters are suggested in
the space's order (parents before children); a hyperparameter is suggested only when its
condition holds for the values suggested before it, so TPE sees exactly the active ones.
Floats -> ``suggest_float`` (``log`` kept), integers -> ``suggest_int`` (``log`` kept),
categoricals -> ``suggest_categorical``, ordinals -> ``suggest_int`` over the level index
(TPE keeps their order), constants are set, not suggested. A suggestion that violates a
forbidden clause is never evaluated: it is told to Optuna as COMPLETE with the worst
objective seen so far (FAIL before any result), which steers TPE away from the forbidden
region (TPE ignores FAIL trials and would suggest it again), and TPE asks again (up to
100 times). These penalty trials live in Optuna's study only; they cost no budget.

``optuna_tpe`` (Bergstra et al., NeurIPS 2011)::

    ask:       t = study.ask(); config = suggest(t); trial at the full budget
    on_result: study.tell(t, objective)   (FAIL for failed trials)

``optuna_hyperband`` (Li et al., JMLR 2018, as Optuna's HyperbandPruner: ASHA-style
successive halving per bracket). In plain Optuna a trial trains epoch by epoch, reports
each epoch and asks ``should_prune``. Here a trial is trained in segments ending at the
pruner's rung steps ``min_resource * eta**k`` (and the maximum budget), each segment an
evoautodl trial that continues from the previous segment's checkpoint (the same
individual id, ``resume_from``), so no epoch is trained twice::

    ask:       a trial that passed its last check continues to its next step (first),
               else a new Optuna trial starts its first segment
    on_result: report the objective of every epoch of the segment (from the learning
               curve; the last value only when the workload reports no curve), then
               should_prune(): prune (tell PRUNED, drop its checkpoint), continue, or,
               at the maximum budget, tell COMPLETE

Mismatch with a per-epoch training loop: the pruner sees every epoch's value but is
only asked at the segment ends (its own rung steps, where its decisions change), so a
trial is never stopped between two rung steps, which is also when Optuna would stop it.
Rung steps use the ladder's ``min_budget`` and ``eta`` (``min_resource`` and
``reduction_factor`` may be given), rounded to whole epochs: 2, 6, 18, 52 for LCBench's
2..52 with eta 3, where evoautodl's own ladder has 2, 6, 17, 52.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import deque
from typing import Any

from evoautodl.baselines.base import LibraryAlgorithm, rung_steps
from evoautodl.errors import ConfigError
from evoautodl.fidelity import BudgetLadder
from evoautodl.records import Result, Trial, checkpoint_key
from evoautodl.space import GeneKind, SearchSpace

__all__ = ["OptunaHyperband", "OptunaTPE"]

_MAX_RESAMPLES = 100


class OptunaTPE(LibraryAlgorithm):
    """Optuna's TPESampler at the full budget.

    Args:
        n_startup_trials: random trials before TPE models (Optuna's default 10).
        multivariate: multivariate TPE (Falkner et al. 2018's kernel density estimator).
        constant_liar: avoid suggesting the same point to parallel workers.
    """

    name = "optuna_tpe"

    def __init__(self, space: SearchSpace, *, seed: int = 0, n_objectives: int = 1, max_budget: float = 1.0,
                 ladder: BudgetLadder | None = None, n_startup_trials: int = 10, multivariate: bool = False,
                 constant_liar: bool = False):
        super().__init__(space, seed=seed, n_objectives=n_objectives, max_budget=max_budget, ladder=ladder)
        if isinstance(n_startup_trials, bool) or not isinstance(n_startup_trials, int) or n_startup_trials < 0:
            raise ConfigError(f"algorithm {self.name!r}: n_startup_trials must be an integer >= 0, "
                              f"got {n_startup_trials!r}")
        self.n_startup_trials = n_startup_trials
        self.multivariate = bool(multivariate)
        self.constant_liar = bool(constant_liar)
        self._study_trial: dict[int, int] = {}  # evoautodl trial id -> Optuna trial number
        self._worst = -math.inf  # worst objective told so far (the forbidden-region penalty)

    # ------------------------------------------------------------------ library
    def _pruner(self) -> Any:
        import optuna

        return optuna.pruners.NopPruner()

    def _build(self) -> Any:
        import optuna

        logging.getLogger("optuna").setLevel(logging.WARNING)  # no INFO line per trial on stderr
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(seed=self.seed, n_startup_trials=self.n_startup_trials,
                                                 multivariate=self.multivariate, constant_liar=self.constant_liar)
        # a fixed study name: the Hyperband pruner assigns brackets from crc32(study name, trial number)
        return optuna.create_study(study_name=f"evoautodl-{self.name}-{self.seed}", direction="minimize",
                                   sampler=sampler, pruner=self._pruner())

    def _suggest(self, t: Any) -> dict[str, Any] | None:
        """Define-by-run suggestion of the active hyperparameters; None when a forbidden clause is violated."""
        space = self.space
        genome = space.default_genome.copy()
        for i, h in enumerate(space.hyperparameters):
            if not space.active_mask(genome)[i]:
                continue
            if h.kind is GeneKind.FLOAT:
                value: Any = t.suggest_float(h.name, h.lower, h.upper, log=h.log)
            elif h.kind is GeneKind.INT:
                value = t.suggest_int(h.name, int(h.lower), int(h.upper), log=h.log)
            elif h.kind is GeneKind.CATEGORICAL:
                value = t.suggest_categorical(h.name, list(h.levels))
            elif h.kind is GeneKind.ORDINAL:
                value = h.levels[t.suggest_int(h.name, 0, len(h.levels) - 1)]
            else:
                value = h.default
            genome[i] = space.encode_gene(i, value)
        config = {n: v for n, v, a in zip(space.names, space.values(genome), space.active_mask(genome)) if a}
        return config if space.is_valid(config) else None

    def _apply(self, op: str, args: tuple[Any, ...]) -> Any:
        import optuna

        study = self.lib
        if op == "ask":
            t = study.ask()
            self._handles[t.number] = t
            return [t.number, self._suggest(t)]
        t = self._handles[args[0]]
        if op == "tell":
            value, state = args[1], args[2]
            study.tell(t, value if state == "COMPLETE" else None, state=optuna.trial.TrialState[state])
            self._handles.pop(args[0])
            return None
        if op == "report":
            t.report(args[1], int(args[2]))
            return None
        if op == "should_prune":
            return bool(t.should_prune())
        raise ValueError(f"unknown library call {op!r}")

    def _new_config(self) -> tuple[int, dict[str, Any]]:
        for _ in range(_MAX_RESAMPLES):
            number, config = self._call("ask")
            if config is not None:
                return number, config
            if math.isfinite(self._worst):
                self._call("tell", number, self._worst, "COMPLETE")  # a penalty, not an evaluation
            else:
                self._call("tell", number, None, "FAIL")
        raise ConfigError(f"algorithm {self.name!r}: {_MAX_RESAMPLES} suggestions in a row violated the space's "
                          "forbidden clauses")

    # ------------------------------------------------------------------ ask / tell
    def ask(self, n: int) -> list[Trial]:
        out = []
        for _ in range(n):
            number, config = self._new_config()
            trial = self.make_trial(self.space.from_config(config), operator="tpe")
            self._study_trial[trial.trial_id] = number
            out.append(trial)
        return out

    def on_result(self, result: Result) -> None:
        number = self._study_trial.pop(result.trial_id)
        if result.ok:
            self._worst = max(self._worst, result.objective)
            self._call("tell", number, result.objective, "COMPLETE")
        else:
            self._call("tell", number, None, "FAIL")


class OptunaHyperband(OptunaTPE):
    """TPE + Optuna's HyperbandPruner, segment by segment with checkpoint continuation.

    Args:
        min_resource: first rung step in epochs (default: the ladder's smallest budget).
        reduction_factor: eta of the pruner (default: the ladder's eta).
        bootstrap_count: trials a rung needs before it prunes (Optuna's default 0).
        n_startup_trials, multivariate, constant_liar: as :class:`OptunaTPE`.
    """

    name = "optuna_hyperband"
    multi_fidelity = True

    def __init__(self, space: SearchSpace, *, seed: int = 0, n_objectives: int = 1, max_budget: float = 1.0,
                 ladder: BudgetLadder | None = None, n_startup_trials: int = 10, multivariate: bool = False,
                 constant_liar: bool = False, min_resource: float | None = None,
                 reduction_factor: float | None = None, bootstrap_count: int = 0):
        super().__init__(space, seed=seed, n_objectives=n_objectives, max_budget=max_budget, ladder=ladder,
                         n_startup_trials=n_startup_trials, multivariate=multivariate, constant_liar=constant_liar)
        assert self.ladder is not None
        eta = self.ladder.eta if reduction_factor is None else reduction_factor
        lo = self.ladder.budgets[0] if min_resource is None else min_resource
        if not (isinstance(eta, int | float) and eta > 1) or not (isinstance(lo, int | float) and lo > 0):
            raise ConfigError(f"algorithm {self.name!r}: reduction_factor must be > 1 and min_resource > 0, "
                              f"got {reduction_factor!r}, {min_resource!r}")
        self.min_resource, self.reduction_factor = lo, eta
        self.bootstrap_count = int(bootstrap_count)
        self.steps = rung_steps(self.ladder, lo, eta)
        self._members: dict[int, dict[str, Any]] = {}  # Optuna trial number -> genome, individual, step index
        self._continue: deque[int] = deque()  # numbers that passed their last check
        self._segment: dict[int, int] = {}  # evoautodl trial id -> Optuna trial number

    def _pruner(self) -> Any:
        import optuna

        return optuna.pruners.HyperbandPruner(min_resource=max(1, round(self.min_resource)),
                                              max_resource=int(round(self.ladder.max_budget)),
                                              reduction_factor=int(round(self.reduction_factor)),
                                              bootstrap_count=self.bootstrap_count)

    def ask(self, n: int) -> list[Trial]:
        out = []
        for _ in range(n):
            if self._continue:
                number = self._continue.popleft()
                m = self._members[number]
                prev = self.steps[m["step"]]
                m["step"] += 1
                trial = self.make_trial(m["genome"], budget=self.steps[m["step"]], individual_id=m["individual"],
                                        operator="continue", resume_from=checkpoint_key(m["individual"], prev),
                                        resume_budget=prev, rung=m["step"])
            else:
                number, config = self._new_config()
                genome = tuple(float(x) for x in self.space.from_config(config))
                trial = self.make_trial(genome, budget=self.steps[0], operator="tpe", rung=0)
                self._members[number] = {"genome": genome, "individual": trial.individual_id, "step": 0}
            self._segment[trial.trial_id] = number
            out.append(trial)
        return out

    def _segment_values(self, result: Result, step: int) -> list[float]:
        """The objective at each epoch of the segment (after the checkpoint it resumed from).

        The learning curve series is the one whose value at the budget is the trial's
        objective (any workload; no name to guess); without one, only the last epoch's value.
        """
        b = int(round(result.trial.budget_epochs))
        b0 = int(round(self.steps[step - 1])) if step > 0 else 0
        for series in result.curve.values():
            if len(series) >= b and series[b - 1] == result.objective:
                return [float(v) for v in series[b0:b]]
        return [result.objective]

    def on_result(self, result: Result) -> None:
        number = self._segment.pop(result.trial_id)
        m = self._members[number]
        if not result.ok:
            self._call("tell", number, None, "FAIL")
            self.discard_checkpoint(result.trial.resume_from)
            self.discard_checkpoint(result.checkpoint)
            del self._members[number]
            return
        self._worst = max(self._worst, result.objective)
        b = int(round(result.trial.budget_epochs))
        values = self._segment_values(result, m["step"])
        for e, v in zip(range(b - len(values) + 1, b + 1), values):
            if math.isfinite(v):
                self._call("report", number, float(v), e)
        self.discard_checkpoint(result.trial.resume_from)  # the segment continued it: never needed again
        if m["step"] == len(self.steps) - 1:
            self._call("tell", number, result.objective, "COMPLETE")
            del self._members[number]
        elif self._call("should_prune", number):
            self._call("tell", number, None, "PRUNED")
            self.discard_checkpoint(result.checkpoint)
            del self._members[number]
        else:
            self._continue.append(number)
