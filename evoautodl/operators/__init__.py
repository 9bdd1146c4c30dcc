"""Pure, type-aware evolutionary operators on unit-cube genomes, and the DEAP bridge.

Every variation operator is ``op(space, *parents, rng, **params)``: parents in
(left untouched), new repaired genomes out, randomness only from the explicit
numpy ``rng``; ``op.arity`` is its number of parents and ``op.n_children``
the number of children. Selection works on objective arrays (minimised) and
returns indices. See :mod:`evoautodl.operators.toolbox` for DEAP.
"""

from evoautodl.operators.base import arity, declare, gene_groups
from evoautodl.operators.crossover import (
    de_current_to_best_1_bin,
    de_rand_1_bin,
    one_point_crossover,
    sbx_crossover,
    uniform_crossover,
)
from evoautodl.operators.individual import Fitness, Individual, minimise
from evoautodl.operators.mutation import branch_flip, gaussian_step, mutate, polynomial_step
from evoautodl.operators.selection import (
    as_objectives,
    crowding_distance,
    nsga2_select,
    objectives_of,
    pareto_ranks,
    tournament,
    truncation,
)
from evoautodl.operators.toolbox import (
    RepairingToolbox,
    deap_mate,
    deap_mutate,
    deap_select,
    make_toolbox,
    new_individual,
)

__all__ = [
    "Fitness",
    "Individual",
    "RepairingToolbox",
    "arity",
    "as_objectives",
    "branch_flip",
    "crowding_distance",
    "declare",
    "de_current_to_best_1_bin",
    "de_rand_1_bin",
    "deap_mate",
    "deap_mutate",
    "deap_select",
    "gaussian_step",
    "gene_groups",
    "make_toolbox",
    "minimise",
    "mutate",
    "new_individual",
    "nsga2_select",
    "objectives_of",
    "one_point_crossover",
    "pareto_ranks",
    "polynomial_step",
    "sbx_crossover",
    "tournament",
    "truncation",
    "uniform_crossover",
]
