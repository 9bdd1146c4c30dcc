"""Pure, type-aware evolutionary operators on unit-cube genomes, and the DEAP bridge.

Every variation operator is ``op(space, *parents, rng, **params)``: parents in
(left untouched), new repaired genomes out, randomness only from the explicit
numpy ``rng``; ``op.arity`` is its number of parents and ``op.n_children``
the number of children (:func:`declare`). Selection works on objective arrays
(minimised) and returns indices. Algorithms take operators as values (a
built-in name, a callable, ``"module:function"`` or a DEAP toolbox's
registered operator): see :mod:`evoautodl.operators.values`. Pareto
dominance (the one non-dominated sort) is in :mod:`evoautodl.operators.pareto`;
DEAP in :mod:`evoautodl.operators.toolbox`.
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
from evoautodl.operators.pareto import (
    as_objectives,
    crowding_distance,
    dominates,
    non_dominated,
    nsga2_select,
    pareto_ranks,
)
from evoautodl.operators.resolve import resolve_operator
from evoautodl.operators.selection import objectives_of, tournament, truncation
from evoautodl.operators.toolbox import (
    RepairingToolbox,
    deap_mate,
    deap_mutate,
    deap_select,
    make_toolbox,
    new_individual,
)
from evoautodl.operators.values import BUILTINS, Operator, operator_name

__all__ = [
    "BUILTINS",
    "Fitness",
    "Individual",
    "Operator",
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
    "dominates",
    "gaussian_step",
    "gene_groups",
    "make_toolbox",
    "minimise",
    "mutate",
    "new_individual",
    "non_dominated",
    "nsga2_select",
    "objectives_of",
    "one_point_crossover",
    "operator_name",
    "pareto_ranks",
    "polynomial_step",
    "resolve_operator",
    "sbx_crossover",
    "tournament",
    "truncation",
    "uniform_crossover",
]
