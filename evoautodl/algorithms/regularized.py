"""Regularized (aging) evolution, asynchronous.

Pseudocode (Real et al. 2019, Algorithm 1, one child per free worker)::

    population <- empty queue                       # oldest on the left
    ask():  if fewer than P random genomes were asked, or population is empty:
                return a random genome
            sample <- S members drawn uniformly, with replacement, from population
            parent <- the best member of sample     # lowest objective; ties: the older member
            return mutation(parent)                 # per-type, repaired; at least one gene changes
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
from typing import Any

from evoautodl.algorithms import options as opt
from evoautodl.algorithms.base import Algorithm, Member
from evoautodl.records import Result, Trial
from evoautodl.space import SearchSpace

__all__ = ["RegularizedEvolution"]


class RegularizedEvolution(Algorithm):
    """Aging evolution: select from S random members, mutate the winner, remove the oldest.

    Args:
        space: the search space.
        population_size: P, the length of the population queue (and of the random start).
        sample_size: S, members compared to choose a parent (1 <= S): the size of the
            built-in tournament.
        mutation: ``"gaussian"``, ``"polynomial"`` or a one-parent, one-child operator
            (see :mod:`evoautodl.operators.values`).
        mutation_params: keyword parameters of the mutation.
        mutation_rate: per-gene mutation probability of the built-in mutation (default
            1 / active mutable genes, with at least one gene changed, close to the paper's
            one-edit mutation).
        mutation_sigma: std of the built-in Gaussian step on numeric genes (unit-cube units).
        selection: ``"tournament"`` (the paper's: best of S uniform draws with replacement,
            ties to the older member) or a selection operator choosing one parent.
        selection_params: keyword parameters of the selection.
        **common: seed, n_objectives, max_budget, ladder (see :class:`Algorithm`); every
            trial runs at the maximum budget.
    """

    name = "regularized"
    asynchronous = True
    manages_checkpoints = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        population_size: int = 20,
        sample_size: int = 5,
        mutation: Any = "gaussian",
        mutation_params: dict[str, Any] | None = None,
        mutation_rate: float | None = None,
        mutation_sigma: float = 0.1,
        selection: Any = "tournament",
        selection_params: dict[str, Any] | None = None,
        **common: Any,
    ):
        super().__init__(space, **common)
        population_size = opt.at_least(self.name, "population_size", population_size, 1)
        sample_size = opt.at_least(self.name, "sample_size", sample_size, 1)
        mutation_rate, mutation_sigma = opt.mutation(self.name, mutation_rate, mutation_sigma)
        self.mutation_op = self.resolve_mutation(mutation, mutation_params, mutation_rate, mutation_sigma,
            default_rate=None, default_sigma=0.1)
        self.selection_op = self.resolve_selection(selection, selection_params, sample_size, setting="sample_size",
                                                   default=5)
        self.population_size = int(population_size)
        self.sample_size = int(sample_size)
        self.mutation_rate = mutation_rate
        self.mutation_sigma = float(mutation_sigma)
        self.n_sampled = 0
        #: the population queue, oldest on the left
        self.population: deque[Member] = deque()
        self._fitness: deque[float] = deque()  # first objective of each member, in step with population

    def ask(self, n: int) -> list[Trial]:
        out: list[Trial] = []
        rung = self.top_rung
        mut = self.mutation_op
        for _ in range(max(0, n)):
            if self.n_sampled < self.population_size or not self.population:
                self.n_sampled += 1
                out.append(self.make_trial(self.space.sample(self.rng), operator="sample", rung=rung))
                continue
            parent = self.population[int(self.selection_op.select(list(self._fitness), 1, self.rng)[0])]
            child = mut.vary(self.space, (parent.genome,), self.rng)[0]
            out.append(self.make_trial(child, parent_ids=(parent.individual_id,), operator=mut.label, rung=rung))
        return out

    def on_result(self, result: Result) -> None:
        member = self.member(result)
        self.population.append(member)
        self._fitness.append(member.objectives[0])
        while len(self.population) > self.population_size:
            oldest = self.population.popleft()
            self._fitness.popleft()
            self.discard_checkpoint(oldest.checkpoint)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._fitness = deque(m.objectives[0] for m in self.population)  # derived (absent from older states)
