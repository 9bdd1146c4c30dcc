"""Regularized (aging) evolution, asynchronous.

Pseudocode (Real et al. 2019, Algorithm 1, one child per free worker)::

    population <- empty queue                       # oldest on the left
    ask():  if fewer than P random genomes were asked, or population is empty:
                return a random genome
            sample <- S members drawn uniformly, with replacement, from population
            parent <- the best member of sample     # lowest objective
            return mutate(parent)                   # per-type, repaired; at least one gene changes
    tell(child, f(child)):
            push child on the right of population   # failed trials enter with f = +inf
            if |population| > P: pop the oldest member on the left (aging)

Removing the oldest rather than the worst member regularises the search: a
member survives only through its descendants, so a lucky evaluation cannot
dominate forever. "Oldest" means the first told (the order results arrived).

Reference: E. Real, A. Aggarwal, Y. Huang & Q. V. Le, "Regularized Evolution
for Image Classifier Architecture Search", AAAI 2019.
"""

from __future__ import annotations

from collections import deque

from evoautodl.algorithms import options as opt
from evoautodl.algorithms.base import Algorithm, Member
from evoautodl.fidelity import BudgetLadder
from evoautodl.operators import mutate
from evoautodl.records import Result, Trial
from evoautodl.space import SearchSpace

__all__ = ["RegularizedEvolution"]


class RegularizedEvolution(Algorithm):
    """Aging evolution: sample S, mutate the best of the sample, remove the oldest.

    Args:
        space: the search space.
        seed: root seed.
        n_objectives: objectives the workload reports (the first is minimised).
        max_budget: budget of every trial (without a ladder).
        ladder: fidelity ladder; every trial runs at its max_budget.
        population_size: P, the length of the population queue (and of the random start).
        sample_size: S, members compared to choose a parent (1 <= S).
        mutation_rate: per-gene mutation probability (default 1 / active mutable genes,
            with at least one gene changed, close to the paper's one-edit mutation).
        mutation_sigma: std of the Gaussian step on numeric genes (unit-cube units).
    """

    name = "regularized"
    asynchronous = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        n_objectives: int = 1,
        max_budget: float = 1.0,
        ladder: BudgetLadder | None = None,
        population_size: int = 20,
        sample_size: int = 5,
        mutation_rate: float | None = None,
        mutation_sigma: float = 0.1,
    ):
        super().__init__(space, seed=seed, n_objectives=n_objectives, max_budget=max_budget, ladder=ladder)
        population_size = opt.at_least(self.name, "population_size", population_size, 1)
        sample_size = opt.at_least(self.name, "sample_size", sample_size, 1)
        mutation_rate, mutation_sigma = opt.mutation(self.name, mutation_rate, mutation_sigma)
        self.population_size = int(population_size)
        self.sample_size = int(sample_size)
        self.mutation_rate = mutation_rate
        self.mutation_sigma = float(mutation_sigma)
        self.n_sampled = 0
        #: the population queue, oldest on the left
        self.population: deque[Member] = deque()

    def ask(self, n: int) -> list[Trial]:
        out: list[Trial] = []
        rung = self.ladder.n_rungs - 1 if self.ladder is not None else 0
        for _ in range(max(0, n)):
            if self.n_sampled < self.population_size or not self.population:
                self.n_sampled += 1
                out.append(self.make_trial(self.space.sample(self.rng), operator="sample", rung=rung))
                continue
            picks = self.rng.integers(0, len(self.population), size=self.sample_size)
            # best of the sample; ties go to the earliest draw
            parent = min((self.population[int(i)] for i in picks), key=lambda m: m.fitness)
            child = mutate(self.space, parent.genome, self.rng, rate=self.mutation_rate, sigma=self.mutation_sigma)
            out.append(self.make_trial(child, parent_ids=(parent.individual_id,), operator="mutate", rung=rung))
        return out

    def on_result(self, result: Result) -> None:
        self.population.append(Member.from_result(result, birth=self.n_told))
        while len(self.population) > self.population_size:
            oldest = self.population.popleft()
            self.discard_checkpoint(oldest.checkpoint)
