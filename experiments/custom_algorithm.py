"""A user-written algorithm: a (1 + lambda) evolution strategy in ask/tell form.

It subclasses `evoautodl.algorithms.base.Algorithm` (ids, seeds, state_dict and
checkpoint bookkeeping come for free) and uses the project's pure operators, so
the same class runs serially, on the simulated clock and under MPI, and resumes
exactly after a kill. Run it directly::

    python experiments/custom_algorithm.py

or from an experiment file, with this folder on PYTHONPATH::

    [algorithm]
    name = "custom_algorithm:OnePlusLambda"
    offspring = 4
"""

from __future__ import annotations

import math

from evoautodl.algorithms.base import Algorithm
from evoautodl.operators import mutate
from evoautodl.records import Result, Trial


class OnePlusLambda(Algorithm):
    """(1 + lambda)-ES: mutate the parent ``offspring`` times; the best child replaces it if not worse.

    Pseudocode::

        parent <- a random genome; evaluate
        loop: children <- offspring mutations of parent; evaluate all   # generation barrier
              parent <- best of (parent, children)
    """

    name = "one_plus_lambda"

    def __init__(self, space, *, seed=0, n_objectives=1, max_budget=1.0, offspring=4, mutation_sigma=0.2):
        super().__init__(space, seed=seed, n_objectives=n_objectives, max_budget=max_budget)
        self.offspring = int(offspring)
        self.mutation_sigma = float(mutation_sigma)
        self.parent: tuple[tuple[float, ...], float, int] | None = None  # genome, fitness, individual id
        self.generation = 0
        self._children: list[Result] = []

    def ask(self, n: int) -> list[Trial]:
        if self.n_pending:  # generation barrier: wait for the previous batch
            return []
        if self.parent is None:
            return [self.make_trial(self.space.sample(self.rng), operator="sample")]
        genome, _, pid = self.parent
        return [
            self.make_trial(mutate(self.space, genome, self.rng, sigma=self.mutation_sigma), parent_ids=(pid,),
                            operator="mutate", generation=self.generation)
            for _ in range(self.offspring)
        ]

    def on_result(self, result: Result) -> None:
        self._children.append(result)
        if self.n_pending:
            return
        best = min(self._children, key=lambda r: (r.objective, r.trial.trial_id))
        if self.parent is None or best.objective <= self.parent[1]:
            self.parent = (best.trial.genome, best.objective, best.trial.individual_id)
        self._children = []
        self.generation += 1


if __name__ == "__main__":
    from evoautodl.backends.serial import SerialBackend
    from evoautodl.runner import Runner, StopCriteria
    from evoautodl.workloads.synthetic import MixedRastrigin

    workload = MixedRastrigin()
    algo = OnePlusLambda(workload.search_space(), seed=0, max_budget=workload.max_budget, offspring=6)
    summary = Runner(algo, SerialBackend(workload), stop=StopCriteria(max_evaluations=121)).run()
    assert algo.parent is not None and math.isfinite(algo.parent[1])
    print(f"{summary.n_evaluations} evaluations, {algo.generation} generations, best {summary.best.objective:.4f}")
    print("parent config:", algo.space.to_config(algo.parent[0]))
