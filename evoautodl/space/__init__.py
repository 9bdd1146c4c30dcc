"""Mixed + conditional search spaces on ConfigSpace, with a unit-cube genome."""

from evoautodl.space.searchspace import GeneKind, Hyperparameter, SearchSpace

__all__ = ["GeneKind", "Hyperparameter", "SearchSpace"]
