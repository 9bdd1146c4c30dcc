"""adaptive_mf's schedule: which bracket a new configuration starts in, and the log of why.

Holds the brackets of the ladder, the current agreement estimates and the
decisions made so far; the statistics and the value model are in
:mod:`evoautodl.algorithms.fidelity_trust`. The algorithm tells it when an
unbiased configuration reached the full budget (:meth:`BracketSchedule.update`)
and asks it for a bracket per new configuration (:meth:`BracketSchedule.choose`).
No file I/O, no global state; randomness from the caller's generator.
"""

from __future__ import annotations

import copy
import math
from bisect import bisect_left
from collections.abc import Mapping, Sequence

import numpy as np

from evoautodl.algorithms.adaptive_model import ConfigRecord
from evoautodl.algorithms.fidelity_trust import (
    Agreement,
    Bracket,
    ScheduleDecision,
    agreement,
    bracket_constants,
    bracket_values,
    make_brackets,
    max_normal_moments,
)
from evoautodl.errors import ConfigError

__all__ = ["BracketSchedule"]

_DRAWS = 128  # Thompson draws behind each logged decision's bracket probabilities


class BracketSchedule:
    """Brackets, agreement posteriors and the decisions log of adaptive_mf.

    Args:
        algorithm: the algorithm's name (for error messages).
        budgets: the ladder's rung budgets.
        keep_fractions: keep fractions the brackets may use.
        start_rungs: rungs new configurations may start at (None: all).
        prior_rho, prior_sd: prior of each rung's agreement (``atanh`` scale for the sd).
        max_pairs: the latest unbiased configurations behind the estimates.
        winner_fraction: share of them that count as winners in the recall diagnostic.
        horizon_epochs: the value model's horizon (None: epochs told, at least 10 full budgets).
    """

    def __init__(self, algorithm: str, budgets: Sequence[float], keep_fractions: Sequence[float],
                 start_rungs: Sequence[int] | None, prior_rho: float, prior_sd: float, max_pairs: int,
                 winner_fraction: float, horizon_epochs: float | None):
        self.budgets = tuple(float(b) for b in budgets)
        self.r = len(self.budgets) - 1
        brackets = make_brackets(self.budgets, keep_fractions)
        if start_rungs is not None:
            allowed = {int(k) for k in start_rungs}
            if not allowed or not allowed <= set(range(self.r + 1)):
                raise ConfigError(f"{algorithm}: start_rungs must be rung indices in 0..{self.r}, got {start_rungs!r}")
            brackets = tuple(b for b in brackets if b.start_rung in allowed)
        self.brackets: tuple[Bracket, ...] = brackets
        self.moments = tuple(max_normal_moments(b.screened_per_final) for b in brackets)
        self.prior_rho, self.prior_sd = float(prior_rho), float(prior_sd)
        self.max_pairs, self.winner_fraction = int(max_pairs), float(winner_fraction)
        self.horizon_epochs = horizon_epochs
        self.agreements: tuple[Agreement, ...] = self._estimate({}, [])
        self.decisions: list[ScheduleDecision] = []
        self.n_popped = 0

    def copy(self) -> BracketSchedule:
        """A copy for a state snapshot (the records are immutable and shared; the decisions list is copied)."""
        out = copy.copy(self)
        out.decisions = list(self.decisions)
        return out

    @property
    def full(self) -> Bracket | None:
        """The full-budget bracket, if allowed."""
        return next((b for b in self.brackets if b.start_rung == self.r), None)

    def horizon(self, epochs_told: float) -> float:
        if self.horizon_epochs is not None:
            return self.horizon_epochs
        return max(epochs_told, 10.0 * self.budgets[-1])

    def values(self, eps: np.ndarray, epochs_told: float) -> np.ndarray:
        """Bracket values (d, n_brackets) at agreements ``tanh(z_mean + z_sd * eps)`` for draws ``eps`` (d,)."""
        cached = self.__dict__.get("_arrays")  # (agreements, z_mean, z_sd, bracket constants) of the latest update
        if cached is None or cached[0] is not self.agreements:
            cached = self._arrays = (self.agreements, np.array([a.z_mean for a in self.agreements]),
                                     np.array([a.z_sd for a in self.agreements]),
                                     bracket_constants(self.brackets, self.moments, len(self.agreements)))
        _, z_mean, z_sd, constants = cached
        rho = np.tanh(z_mean[None, :] + z_sd[None, :] * np.asarray(eps, dtype=np.float64)[:, None])
        return bracket_values(rho, self.brackets, self.moments, self.horizon(epochs_told), constants)

    def choose(self, rng: np.random.Generator, epochs_told: float) -> Bracket:
        """Thompson sampling: one normal draw sets every rung's agreement (one scenario); the best bracket wins."""
        if len(self.brackets) == 1:
            return self.brackets[0]
        return self.brackets[int(np.argmax(self.values(np.array([float(rng.standard_normal())]), epochs_told)[0]))]

    def update(self, cfgs: Mapping[int, ConfigRecord], free: Sequence[int]) -> None:
        """Re-estimate the agreements from the unbiased configurations ``free`` (latest ``max_pairs``)."""
        self.agreements = self._estimate(cfgs, free)

    def _estimate(self, cfgs: Mapping[int, ConfigRecord], free: Sequence[int]) -> tuple[Agreement, ...]:
        out = []
        recent = [cfgs[i] for i in free[-self.max_pairs:]]
        for k in range(self.r):
            pairs = [(c.values[k], c.values[self.r]) for c in recent if c.free_from is not None and c.free_from <= k]
            out.append(agreement(k, self.budgets[k], [p[0] for p in pairs], [p[1] for p in pairs],
                                 prior_rho=self.prior_rho, prior_sd=self.prior_sd))
        return tuple(out)

    def recall(self, cfgs: Mapping[int, ConfigRecord], free: Sequence[int],
               rank: Sequence[Sequence[tuple[float, int]]]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(winners, survivors) per bracket: the diagnostic of the decisions log.

        The winners of a bracket starting at rung s are the best
        ``winner_fraction`` (by full-budget value) of the latest ``max_pairs``
        configurations whose path from rung s on did not depend on their own
        values; a winner survives if at every rung s..R-1 its value ranks
        within the bracket's keep fraction of all values known at that rung.
        """
        recent = list(free[-self.max_pairs:])
        winners, survivors = [], []
        for b in self.brackets:
            if b.keep_fraction >= 1.0:
                winners.append(0)
                survivors.append(0)
                continue
            pool = sorted((i for i in recent if cfgs[i].free_from is not None and cfgs[i].free_from <= b.start_rung),
                          key=lambda i: (cfgs[i].values[self.r], i))
            top = pool[: max(1, int(math.ceil(self.winner_fraction * len(pool))))] if pool else []
            kept = sum(all(bisect_left(rank[j], (cfgs[i].values[j], i)) < int(b.keep_fraction * len(rank[j]))
                           for j in range(b.start_rung, self.r)) for i in top)
            winners.append(len(top))
            survivors.append(int(kept))
        return tuple(winners), tuple(survivors)

    def log(self, *, n_told: int, epochs_told: float, seed: int, winners: tuple[int, ...],
            survivors: tuple[int, ...], gp_correlation: tuple[float, ...]) -> None:
        """Append the current schedule to the decisions log (Thompson probabilities from a seeded draw)."""
        eps = np.random.default_rng([seed, n_told, 7]).standard_normal(_DRAWS)
        chosen = np.argmax(self.values(eps, epochs_told), axis=1)
        probs = np.bincount(chosen, minlength=len(self.brackets)) / _DRAWS
        values = self.values(np.zeros(1), epochs_told)[0]
        self.decisions.append(ScheduleDecision(
            n_told=n_told, epochs=epochs_told, agreements=self.agreements, brackets=self.brackets,
            horizon_epochs=self.horizon(epochs_told), n_winners=winners, survivors=survivors,
            values=tuple(float(v) for v in values), probabilities=tuple(float(p) for p in probs),
            gp_budget_correlation=gp_correlation))

    def pop(self) -> list[ScheduleDecision]:
        """Decisions since the last call."""
        out = self.decisions[self.n_popped:]
        self.n_popped = len(self.decisions)
        return out
