"""A user-written algorithm: a (1 + lambda) evolution strategy in ask/tell form ((1+1)-ES by default).

It subclasses `evoautodl.Algorithm`: ids, seeds, pending trials, state_dict
(exact resume), failed trials and checkpoint clean-up come from the base
class; the class only says how to breed (`ask`) and how to learn from its
results (`on_result`). `evoautodl.testing.check_algorithm` checks it in one
call. Run it directly::

    python examples/custom_algorithm.py            # the contract checks, then a short run

or from an experiment file, with this folder on PYTHONPATH::

    [algorithm]
    name = "custom_algorithm:OnePlusLambda"
    offspring = 4
"""

from __future__ import annotations

import math
from typing import Any

from evoautodl import Algorithm
from evoautodl.operators import mutate
from evoautodl.records import Result, Trial


class OnePlusLambda(Algorithm):
    """(1 + lambda)-ES: mutate the parent ``offspring`` times; the best child replaces it if not worse.

    Pseudocode::

        parent <- a random genome; evaluate
        loop: children <- offspring mutations of parent; evaluate all   # generation barrier
              parent <- best of (parent, children)                       # failed children: +inf

    Args:
        space: the search space.
        offspring: lambda (1: the (1+1)-ES).
        mutation_sigma: Gaussian step of the mutation (unit-cube units).
        **common: seed, n_objectives, max_budget, ladder (see evoautodl.Algorithm).
    """

    name = "one_plus_lambda"

    def __init__(self, space: Any, *, offspring: int = 1, mutation_sigma: float = 0.2, **common: Any):
        super().__init__(space, **common)
        self.offspring = int(offspring)
        self.mutation_sigma = float(mutation_sigma)
        self.parent: tuple[tuple[float, ...], float, int] | None = None  # genome, fitness, individual id
        self.generation = 0
        self._children: list[Result] = []

    def ask(self, n: int) -> list[Trial]:
        if n < 1 or self.n_pending:  # generation barrier: wait for the previous batch
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
    from evoautodl import Runner, SerialBackend, StopCriteria
    from evoautodl.testing import check_algorithm
    from evoautodl.workloads.synthetic import MixedRastrigin

    print(check_algorithm(OnePlusLambda))
    workload = MixedRastrigin()
    algo = OnePlusLambda(workload.search_space(), seed=0, max_budget=workload.max_budget, offspring=6)
    summary = Runner(algo, SerialBackend(workload), stop=StopCriteria(max_evaluations=121)).run()
    assert algo.parent is not None and math.isfinite(algo.parent[1])
    print(f"{summary.n_evaluations} evaluations, {algo.generation} generations, best {summary.best.objective:.4f}")
    print("parent config:", algo.space.to_config(algo.parent[0]))
