"""SMAC3 as a baseline (Lindauer et al., JMLR 2022): random-forest BO, and its Hyperband intensifier.

Which release: ``smac`` 2.x installs beside numpy 2; its random forest is scikit-learn's
(``pyrfr``, which needs SWIG to build, is optional and not used), so no compiler is needed.

``smac_bo`` (HyperparameterOptimizationFacade: random forest + log EI, SMAC's intensifier)::

    ask:       info = smac.ask(); trial at the full budget with info.config
    on_result: smac.tell(info, TrialValue(cost=objective))   (status CRASHED if failed)

``smac_hyperband`` (MultiFidelityFacade: random forest + Hyperband over
``[min_budget, max_budget]`` with eta = the ladder's). SMAC's budgets are
``max * eta**-k``, evoautodl's rungs, rounded to whole epochs; a configuration SMAC
evaluates again at a higher budget continues from its best lower checkpoint (same
individual, ``resume_from``), as evoautodl's own multi-fidelity algorithms do.

The configuration SMAC samples satisfies the space's conditions and forbidden clauses
(ConfigSpace's sampler and local search). ``deterministic=True``: each configuration is
evaluated once per budget with the trial's seed. SMAC writes its run files to a temporary
folder removed right after the optimizer is built, and ``tell(save=False)`` keeps it from
writing again; its loggers are set to WARNING and its logging configuration is left alone.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import tempfile
import warnings
from typing import Any

from evoautodl.baselines.base import LibraryAlgorithm, config_to_genome
from evoautodl.fidelity import BudgetLadder
from evoautodl.records import Result, Trial, checkpoint_key
from evoautodl.space import SearchSpace

__all__ = ["SMACBO", "SMACHyperband"]


def _key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


class SMACBO(LibraryAlgorithm):
    """SMAC3's HPO facade (random-forest Bayesian optimisation) at the full budget.

    Args:
        n_initial_configs: configurations of the initial (Sobol) design (None: SMAC's default).
    """

    name = "smac_bo"

    def __init__(self, space: SearchSpace, *, seed: int = 0, n_objectives: int = 1, max_budget: float = 1.0,
                 ladder: BudgetLadder | None = None, n_initial_configs: int | None = None):
        super().__init__(space, seed=seed, n_objectives=n_objectives, max_budget=max_budget, ladder=ladder)
        self.n_initial_configs = n_initial_configs
        self._jobs: dict[int, tuple[int, str]] = {}  # evoautodl trial id -> (ask number, config key)
        self._configs: dict[str, dict[str, Any]] = {}  # config key -> individual, best budget evaluated

    def _scenario_options(self) -> dict[str, Any]:
        return {}

    def _facade(self) -> Any:
        from smac import HyperparameterOptimizationFacade

        return HyperparameterOptimizationFacade

    def _build(self) -> Any:
        logging.getLogger("smac").setLevel(logging.WARNING)
        from smac import Scenario

        cs = copy.deepcopy(self.space.to_configspace())
        tmp = tempfile.mkdtemp(prefix="evoautodl-smac-")
        try:
            scenario = Scenario(cs, deterministic=True, n_trials=2**31 - 1, seed=self.seed, output_directory=tmp,
                                **self._scenario_options())
            facade = self._facade()
            extra: dict[str, Any] = {}
            if self.n_initial_configs is not None:
                extra["initial_design"] = facade.get_initial_design(scenario, n_configs=int(self.n_initial_configs))
            extra.update(self._facade_options(scenario))
            target = _never_called_mf if self.multi_fidelity else _never_called
            smac = facade(scenario, target_function=target, overwrite=True, logging_level=False, **extra)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return smac

    def _facade_options(self, scenario: Any) -> dict[str, Any]:
        return {}

    def _apply(self, op: str, args: tuple[Any, ...]) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # numpy means of empty slices inside SMAC's models
            return self._apply_quietly(op, args)

    def _apply_quietly(self, op: str, args: tuple[Any, ...]) -> Any:
        smac = self.lib
        if op == "ask":
            info = smac.ask()
            self._handles[args[0]] = info
            return [dict(info.config), None if info.budget is None else float(info.budget)]
        if op == "tell":
            from smac.runhistory.dataclasses import TrialValue
            from smac.runhistory.enumerations import StatusType

            value = TrialValue(cost=args[1], time=args[2]) if args[1] is not None else \
                TrialValue(cost=float("inf"), time=args[2], status=StatusType.CRASHED)
            smac.tell(self._handles.pop(args[0]), value, save=False)
            return None
        raise ValueError(f"unknown library call {op!r}")

    def _budget(self, budget: float | None) -> float:
        if budget is None:
            return self.max_budget
        return float(max(1, round(budget))) if self.ladder is None or self.ladder.integer else budget

    def ask(self, n: int) -> list[Trial]:
        out = []
        for _ in range(n):
            number = len(self._calls)
            config, budget = self._call("ask", number)
            budget = self._budget(budget)
            genome = config_to_genome(self.space, config, self.rng)
            seen = self._configs.get(_key(config))
            rung = self.ladder.rung_of(budget) if self.ladder is not None else 0
            if seen is not None and seen["budget"] is not None and seen["budget"] < budget:
                trial = self.make_trial(genome, budget=budget, individual_id=seen["individual"], operator="promote",
                                        resume_from=checkpoint_key(seen["individual"], seen["budget"]),
                                        resume_budget=seen["budget"], rung=rung)
            else:
                trial = self.make_trial(genome, budget=budget, operator=self.name, rung=rung,
                                        individual_id=None if seen is None else seen["individual"])
                if seen is None:
                    self._configs[_key(config)] = {"individual": trial.individual_id, "budget": None}
            self._jobs[trial.trial_id] = (number, _key(config))
            out.append(trial)
        return out

    def on_result(self, result: Result) -> None:
        number, key = self._jobs.pop(result.trial_id)
        seen = self._configs[key]
        if result.ok and (seen["budget"] is None or result.trial.budget_epochs > seen["budget"]):
            seen["budget"] = result.trial.budget_epochs
            self.discard_checkpoint(result.trial.resume_from)
        self._call("tell", number, result.objective if result.ok else None, float(result.cost_s))


class SMACHyperband(SMACBO):
    """SMAC3's multi-fidelity facade (random forest + Hyperband) on evoautodl's ladder."""

    name = "smac_hyperband"
    multi_fidelity = True

    def _scenario_options(self) -> dict[str, Any]:
        assert self.ladder is not None
        return {"min_budget": float(self.ladder.budgets[0]), "max_budget": float(self.ladder.max_budget)}

    def _facade(self) -> Any:
        from smac import MultiFidelityFacade

        return MultiFidelityFacade

    def _facade_options(self, scenario: Any) -> dict[str, Any]:
        assert self.ladder is not None
        return {"intensifier": self._facade().get_intensifier(scenario, eta=int(round(self.ladder.eta)))}


def _never_called(config: Any, seed: int = 0) -> float:
    """SMAC's facades require a target function; evoautodl evaluates through ask/tell instead."""
    raise RuntimeError("SMAC's target function is not used: evoautodl evaluates trials through ask/tell")


def _never_called_mf(config: Any, seed: int = 0, budget: float = 0.0) -> float:
    """The multi-fidelity facade's target function (never called either)."""
    raise RuntimeError("SMAC's target function is not used: evoautodl evaluates trials through ask/tell")
