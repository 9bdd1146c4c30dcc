"""Small picklable workloads for runner/CLI tests (importable by subprocesses)."""

from __future__ import annotations

import math
import time

from evoautodl.records import Evaluation, Trial
from evoautodl.workloads.base import WorkerContext

SPACE = {
    "x": {"type": "float", "lower": -2.0, "upper": 2.0},
    "n": {"type": "int", "lower": 1, "upper": 8, "log": True},
    "kind": {"type": "categorical", "choices": ["a", "b"]},
    "y": {"type": "float", "lower": 0.001, "upper": 1.0, "log": True, "condition": {"parent": "kind", "equals": "b"}},
}


class SleepySphere:
    """f = x^2 + (n-3)^2/10 (+ log10(y)^2/10 when kind == 'b'); sleeps ``sleep_s`` per trial."""

    objective_names = ("f",)
    max_budget = 9

    def __init__(self, sleep_s: float = 0.0, fail_every: int = 0):
        self.sleep_s = sleep_s
        self.fail_every = fail_every

    def search_space(self):
        from evoautodl.space import SearchSpace

        return SearchSpace.from_dict(SPACE)

    def setup(self, context: WorkerContext) -> None:
        pass

    def evaluate(self, trial: Trial, context: WorkerContext) -> Evaluation:
        if self.sleep_s:
            time.sleep(self.sleep_s)
        if self.fail_every and trial.trial_id % self.fail_every == self.fail_every - 1:
            raise RuntimeError(f"injected failure in trial {trial.trial_id}")
        c = trial.config
        f = c["x"] ** 2 + (c["n"] - 3) ** 2 / 10
        if c["kind"] == "b":
            f += math.log10(c["y"]) ** 2 / 10
        f += 1.0 / trial.budget_epochs
        return Evaluation(objectives=(f,), epochs_trained=trial.budget_epochs, cost_s=float(trial.budget_epochs),
                          curve={"f": [f + 1.0 / (e + 1) for e in range(int(trial.budget_epochs))]})
