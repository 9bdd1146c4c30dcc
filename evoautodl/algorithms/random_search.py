"""Random search (baseline).

Pseudocode::

    loop: ask(n) -> n genomes sampled uniformly from the unit cube (repaired)
          tell(result) -> nothing to learn

Reference: Bergstra & Bengio, "Random Search for Hyper-Parameter Optimization",
JMLR 13, 2012. With a fidelity ladder every trial runs at the maximum budget.
"""

from __future__ import annotations

from evoautodl.algorithms.base import Algorithm
from evoautodl.records import Trial

__all__ = ["RandomSearch"]


class RandomSearch(Algorithm):
    """Uniform random sampling at the maximum budget."""

    name = "random"
    asynchronous = True

    def ask(self, n: int) -> list[Trial]:
        return [
            self.make_trial(self.space.sample(self.rng), operator="sample") for _ in range(max(0, n))
        ]
