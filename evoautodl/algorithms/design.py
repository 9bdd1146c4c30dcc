"""Space-filling design for landscape studies (LCBench-style data collection).

Pseudocode::

    points <- first N points of a scrambled Sobol' sequence (or a Latin hypercube)
              in the unit cube of the genome, seeded by the root seed
    genomes <- repair(point) for every point          (valid configurations)
    ask(n): the next min(n, N - asked) genomes, each trained to the maximum budget
    tell(result): nothing to learn (its checkpoint is never resumed: discarded)
    finished when all N results are in

The design depends on the seed and the space only, so the same seed gives
the same N configurations on every dataset: one run per dataset (each under
``mpiexec``) yields the configuration x dataset x epoch table that LCBench
is, because every trial logs its per-epoch learning curve (the workload's
``curve``), so one training to the maximum budget gives every epoch.

References: I. M. Sobol', "On the distribution of points in a cube and the
approximate evaluation of integrals", USSR Comp. Math. 1967; A. B. Owen,
"Scrambling Sobol' and Niederreiter-Xing points", J. Complexity 1998;
M. D. McKay, R. J. Beckman, W. J. Conover, "A comparison of three methods for
selecting values of input variables", Technometrics 1979 (Latin hypercube);
L. Zimmer, M. Lindauer, F. Hutter, "Auto-PyTorch Tabular", TPAMI 2021 (LCBench).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from evoautodl.algorithms.base import Algorithm
from evoautodl.errors import ConfigError
from evoautodl.records import Result, Trial
from evoautodl.space import SearchSpace

__all__ = ["SpaceFillingDesign"]

_METHODS = ("sobol", "lhs")


class SpaceFillingDesign(Algorithm):
    """N configurations from a scrambled Sobol' sequence or a Latin hypercube, each at the maximum budget.

    Args:
        space: the search space.
        seed: root seed; it alone (with the space) fixes the configurations.
        n_objectives: objectives the workload reports.
        max_budget: the budget every configuration is trained to (a ladder's maximum when one is given).
        ladder: optional; only its maximum budget is used.
        n_configs: N, the size of the design.
        method: "sobol" (scrambled Sobol', Owen 1998; the first N points of a
            2^m-point sequence) or "lhs" (Latin hypercube).
    """

    name = "design"
    manages_checkpoints = True  # on_result hands back every checkpoint: nothing is ever resumed

    def __init__(self, space: SearchSpace, *, n_configs: int = 128, method: str = "sobol", **common: Any):
        super().__init__(space, **common)
        if isinstance(n_configs, bool) or not isinstance(n_configs, int) or n_configs < 1:
            raise ConfigError(f"design: n_configs must be an integer >= 1, got {n_configs!r}")
        if method not in _METHODS:
            raise ConfigError(f"design: method must be one of {', '.join(_METHODS)}, got {method!r}")
        self.n_configs = int(n_configs)
        self.method = method
        self._next = 0
        self._genomes: np.ndarray | None = None  # computed on the first ask (constructors stay cheap)

    def points(self) -> np.ndarray:
        """The N repaired genomes of the design, in the order they are asked (pure function of seed and space)."""
        from scipy.stats import qmc

        d = self.space.dim
        if self.method == "sobol":
            m = max(0, math.ceil(math.log2(self.n_configs)))
            raw = qmc.Sobol(d, scramble=True, seed=self.seed).random_base2(m)[: self.n_configs]
        else:
            raw = qmc.LatinHypercube(d, seed=self.seed).random(self.n_configs)
        return np.array([self.space.repair(g) for g in raw])

    def ask(self, n: int) -> list[Trial]:
        k = min(max(0, n), self.n_configs - self._next)
        if k == 0:
            return []
        if self._genomes is None:
            self._genomes = self.points()
        genomes = self._genomes[self._next: self._next + k]
        self._next += k
        return [self.make_trial(g, operator=f"design:{self.method}") for g in genomes]

    def on_result(self, result: Result) -> None:
        self.discard_checkpoint(result.checkpoint)  # every configuration is trained once: nothing resumes

    def is_finished(self) -> bool:
        return self.n_told >= self.n_configs
