"""The DEHB reference implementation (``dehb`` package, automl/DEHB; Awad et al., IJCAI 2021) as a baseline.

Which release: DEHB 0.1.2 declares ``numpy<2`` and cannot install beside evoautodl's
numpy 2; 0.1.1 (the same ask/tell optimizer, without that pin) installs and runs with
numpy 2 and ConfigSpace 1.x, so the ``baselines`` extra asks for ``dehb==0.1.1``.

Mapping::

    ask:       job = dehb.ask(); config = job["config"] (a ConfigSpace Configuration
               of our space) -> our genome; budget = job["fidelity"] rounded to whole epochs
               (DEHB's fidelities max * eta**-k are evoautodl's ladder rungs); a config DEHB
               promotes (same config_id, higher fidelity) continues from the checkpoint of
               its best lower fidelity (same individual id, ``resume_from``), as
               evoautodl's own multi-fidelity algorithms do
    on_result: dehb.tell(job, {"fitness": objective (inf if failed), "cost": epochs trained})

Mismatches: DEHB's own ``run`` loop retrains each fidelity from scratch unless the user's
objective continues; here continuation is used for every algorithm alike. DEHB samples
ConfigSpace configurations (conditions respected); spaces with forbidden clauses are
refused, because DEHB 0.1.1 raises inside ``ask`` when a mutant violates one. DEHB's loguru
messages are silenced and its log file is not kept (the optimizer is built in a
temporary folder that is removed at once); DEHB's own state files are never written
(``save_freq`` "end" only saves in ``run``, which is not used).
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import warnings
from typing import Any

from evoautodl.baselines.base import LibraryAlgorithm, config_to_genome
from evoautodl.errors import ConfigError
from evoautodl.fidelity import BudgetLadder
from evoautodl.records import Result, Trial, checkpoint_key
from evoautodl.space import SearchSpace

__all__ = ["DEHBLibrary"]


class DEHBLibrary(LibraryAlgorithm):
    """automl/DEHB's ask/tell optimizer on evoautodl's ladder.

    Args:
        mutation_factor, crossover_prob, strategy: DE settings (DEHB's defaults 0.5, 0.5, "rand1_bin").
    """

    name = "dehb_lib"
    multi_fidelity = True

    def __init__(self, space: SearchSpace, *, seed: int = 0, n_objectives: int = 1, max_budget: float = 1.0,
                 ladder: BudgetLadder | None = None, mutation_factor: float = 0.5, crossover_prob: float = 0.5,
                 strategy: str = "rand1_bin"):
        super().__init__(space, seed=seed, n_objectives=n_objectives, max_budget=max_budget, ladder=ladder)
        if space.to_configspace().forbidden_clauses:
            raise ConfigError(f"algorithm {self.name!r}: DEHB 0.1.1 cannot sample spaces with forbidden clauses (its "
                              "mutants that violate one raise ForbiddenValueError inside dehb.ask); drop them or use "
                              "evoautodl's own 'dehb'")
        self.mutation_factor, self.crossover_prob = float(mutation_factor), float(crossover_prob)
        self.strategy = strategy
        self._jobs: dict[int, tuple[int, int]] = {}  # evoautodl trial id -> (job number, DEHB config id)
        self._config_ids: dict[int, dict[str, Any]] = {}  # DEHB config id -> individual, best budget evaluated

    def _build(self) -> Any:
        from dehb import DEHB
        from loguru import logger

        logger.disable("dehb")  # DEHB logs every step at INFO through loguru
        assert self.ladder is not None
        cs = copy.deepcopy(self.space.to_configspace())
        cs.seed(self.seed)
        before = set(logger._core.handlers)  # DEHB adds a file sink per optimizer; it is removed below
        tmp = tempfile.mkdtemp(prefix="evoautodl-dehb-")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                dehb = DEHB(cs=cs, min_fidelity=self.ladder.budgets[0], max_fidelity=self.ladder.max_budget,
                            eta=self.ladder.eta, n_workers=1, seed=self.seed, output_path=tmp, save_freq="end",
                            mutation_factor=self.mutation_factor, crossover_prob=self.crossover_prob,
                            strategy=self.strategy)
        finally:
            for handler in set(logger._core.handlers) - before:
                logger.remove(handler)
            shutil.rmtree(tmp, ignore_errors=True)
        return dehb

    def _apply(self, op: str, args: tuple[Any, ...]) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # DEHB 0.1.1 calls ConfigSpace 0.x names
            return self._apply_quietly(op, args)

    def _apply_quietly(self, op: str, args: tuple[Any, ...]) -> Any:
        dehb = self.lib
        if op == "ask":
            job = dehb.ask()
            self._handles[args[0]] = job
            return [int(job["config_id"]), float(job["fidelity"]), dict(job["config"])]
        if op == "tell":
            dehb.tell(self._handles.pop(args[0]), {"fitness": args[1], "cost": args[2]})
            return None
        raise ValueError(f"unknown library call {op!r}")

    def _budget(self, fidelity: float) -> float:
        assert self.ladder is not None
        return float(max(1, round(fidelity))) if self.ladder.integer else fidelity

    def ask(self, n: int) -> list[Trial]:
        out = []
        for _ in range(n):
            number = len(self._calls)
            config_id, fidelity, config = self._call("ask", number)
            budget = self._budget(fidelity)
            seen = self._config_ids.get(config_id)
            genome = config_to_genome(self.space, config, self.rng)
            if seen is not None and seen["budget"] is not None and seen["budget"] < budget:
                trial = self.make_trial(genome, budget=budget, individual_id=seen["individual"], operator="promote",
                                        resume_from=checkpoint_key(seen["individual"], seen["budget"]),
                                        resume_budget=seen["budget"],
                                        rung=self.ladder.rung_of(budget) if self.ladder else 0)
            else:
                trial = self.make_trial(genome, budget=budget, operator="dehb",
                                        individual_id=None if seen is None else seen["individual"],
                                        rung=self.ladder.rung_of(budget) if self.ladder else 0)
                if seen is None:
                    self._config_ids[config_id] = {"individual": trial.individual_id, "budget": None}
            self._jobs[trial.trial_id] = (number, config_id)
            out.append(trial)
        return out

    def on_result(self, result: Result) -> None:
        number, config_id = self._jobs.pop(result.trial_id)
        seen = self._config_ids[config_id]
        if result.ok and (seen["budget"] is None or result.trial.budget_epochs > seen["budget"]):
            seen["budget"] = result.trial.budget_epochs
            self.discard_checkpoint(result.trial.resume_from)  # continued: the lower checkpoint is not needed
        fitness = result.objective if result.ok else float("inf")
        self._call("tell", number, fitness, float(result.epochs_trained))
