"""Budget ladders for multi-fidelity optimisation.

A geometric ladder of epoch budgets between ``min_budget`` and ``max_budget``
with ratio ``eta``, as in successive halving / Hyperband (Li et al. 2018) and
DEHB (Awad et al. 2021)::

    rungs = [max_budget * eta**-k for k = s_max .. 0],  s_max = floor(log_eta(max/min))

Budgets are rounded to whole epochs (never below 1) when ``integer=True``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from evoautodl.errors import ConfigError

__all__ = ["BudgetLadder"]


@dataclass(frozen=True, slots=True)
class BudgetLadder:
    """Geometric ladder of budgets (epochs).

    Attributes:
        min_budget: smallest budget (> 0).
        max_budget: largest budget (>= min_budget).
        eta: ratio between consecutive rungs (> 1).
        integer: round budgets to whole epochs.
    """

    min_budget: float
    max_budget: float
    eta: float = 3.0
    integer: bool = True

    def __post_init__(self) -> None:
        if not (isinstance(self.min_budget, int | float) and self.min_budget > 0):
            raise ConfigError(f"fidelity.min_budget: must be > 0, got {self.min_budget!r}")
        if not (isinstance(self.max_budget, int | float) and self.max_budget >= self.min_budget):
            raise ConfigError(
                f"fidelity.max_budget: must be >= min_budget ({self.min_budget}), got {self.max_budget!r}"
            )
        if not (isinstance(self.eta, int | float) and self.eta > 1):
            raise ConfigError(f"fidelity.eta: must be > 1, got {self.eta!r}")
        if self.integer and self.min_budget < 1:
            raise ConfigError(f"fidelity.min_budget: must be >= 1 epoch, got {self.min_budget!r}")

    @property
    def s_max(self) -> int:
        """Number of rungs minus one."""
        return _s_max(self.min_budget, self.max_budget, self.eta)

    @property
    def budgets(self) -> tuple[float, ...]:
        """Rung budgets, increasing; the last is ``max_budget`` (computed once per ladder: algorithms read it
        for every trial)."""
        return _budgets(self.min_budget, self.max_budget, self.eta, self.integer,
                        type(self.min_budget), type(self.max_budget), type(self.eta))

    @property
    def n_rungs(self) -> int:
        return len(self.budgets)

    def rung_of(self, budget: float) -> int:
        """Index of the rung with this budget (nearest; ties: the lower rung)."""
        return _nearest(self.budgets, budget)

    def bracket(self, s: int) -> list[tuple[int, float]]:
        """Hyperband bracket ``s`` (0 <= s <= s_max): [(n_configs, budget), ...] per rung.

        Bracket s starts ``n = ceil((s_max + 1) / (s + 1) * eta**s)`` configs at
        rung ``s_max - s`` and keeps ``1/eta`` of them at each promotion.
        """
        if not 0 <= s <= self.s_max:
            raise ValueError(f"bracket index {s} outside 0..{self.s_max}")
        bs = self.budgets
        n = int(math.ceil((self.s_max + 1) / (s + 1) * self.eta**s))
        out = []
        first = len(bs) - 1 - s
        for i in range(s + 1):
            out.append((max(1, int(n * self.eta ** (-i))), bs[first + i]))
        return out


def _s_max(min_budget: float, max_budget: float, eta: float) -> int:
    return int(math.floor(math.log(max_budget / min_budget) / math.log(eta) + 1e-9))


@functools.lru_cache(maxsize=64)
def _budgets(min_budget: float, max_budget: float, eta: float, integer: bool, *types: type) -> tuple[float, ...]:
    """`BudgetLadder.budgets`. The settings' ``types`` are part of the cache key: 52 and 52.0 are equal keys,
    but a ladder of ints that does not round keeps its ``max_budget`` an int."""
    out: list[float] = []
    for k in range(_s_max(min_budget, max_budget, eta), -1, -1):
        b = max_budget * eta ** (-k)
        b = float(max(1, round(b))) if integer else b
        if not out or b > out[-1]:
            out.append(b)
    return tuple(out)


@functools.lru_cache(maxsize=256)
def _nearest(budgets: tuple[float, ...], budget: float) -> int:
    """Index of the budget nearest to ``budget`` (ties: the first)."""
    return min(range(len(budgets)), key=lambda i: abs(budgets[i] - budget))
