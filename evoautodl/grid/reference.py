"""Reference objectives (the oracle of normalized regret) for problems that can afford one.

Oracle: the best objective at the problem's maximum budget among ``samples`` configurations
drawn uniformly from the search space (genomes uniform in the unit cube, repaired;
``numpy.random.default_rng(seed)``), evaluated without noise:

- ``lcbench``: one batched surrogate prediction at epoch 52 of the problem's objective
  (20,000 configs take about a second per task);
- ``synthetic`` (single objective): the noise-free full-budget error ``f(x)`` of
  :class:`~evoautodl.workloads.synthetic.MixedRastrigin` (the learning curve ends in it).

Other problems get None unless the grid file gives ``reference_objective``.
``evoautodl compare`` takes the minimum of this value and everything any run found, so
the oracle is the best known value. Results are cached in ``grid.json`` under the
problem's workload table, the sample count and the seed, so reruns reuse them.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

__all__ = ["reference_objective", "REFERENCE_METHOD"]

logger = logging.getLogger(__name__)

REFERENCE_METHOD = "best of {samples} uniform random configurations at the maximum budget (rng seed {seed})"


def _configs(space: Any, n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [space.to_config(space.sample(rng)) for _ in range(n)]


def reference_objective(workload: Any, space: Any, samples: int, seed: int) -> float | None:
    """The sampled oracle of a built workload (None when its type has none)."""
    from evoautodl.workloads.lcbench import LCBenchSurrogate
    from evoautodl.workloads.synthetic import MixedRastrigin

    if isinstance(workload, LCBenchSurrogate):
        configs = _configs(space, samples, seed)
        out = workload.predict(configs, workload.max_budget).astype(np.float64)
        values = workload.objective_values(out)  # the objective the workload minimises, per row
        return float(np.min(values))
    if isinstance(workload, MixedRastrigin) and not workload.multi_objective:
        configs = _configs(space, samples, seed)
        return float(min(workload.landscape(c)[0] for c in configs))
    return None
