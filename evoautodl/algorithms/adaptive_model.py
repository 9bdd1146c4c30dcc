"""adaptive_mf's records and the bookkeeping of its surrogate (which results the GP holds, when it updates).

Used by :mod:`evoautodl.algorithms.adaptive`; the GP itself is
:mod:`evoautodl.algorithms.budget_gp`. No file I/O, no global state.

Data. Every result gives the GP one point per rung whose value it reveals (a
trial to ``b_k`` reveals rungs 0..k through its learning curve), with the
budget as an input. The GP holds at most ``max_points`` of them: the value at
the highest rung of the most recent configurations (a quarter of the cap),
then of the best configurations at the highest rungs, then, if room is left,
the lower-rung values of those configurations. Targets are the normal scores
of the values (failed trials: +inf, the worst score).

Updates. New points are appended with a block update of the Cholesky factor
(O(n^2) per point) once ``n / 16`` of them are waiting (at every new point
while the GP holds fewer than 32); the data are re-selected and the factor
rebuilt when the GP holds 1.5 times its cap; the hyperparameters are re-fitted
(on the first 96 selected points) when the number of results told reaches
10, 15, 23, 35, ... (a factor 1.5). The cost of an update is therefore
bounded by the cap, not by the number of evaluations.
"""

from __future__ import annotations

import copy
import heapq
import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

import numpy as np

from evoautodl.algorithms.budget_gp import BudgetGP, expected_improvement, normal_scores

__all__ = ["ConfigRecord", "ScreeningModel"]

_FIT_POINTS = 96  # hyperparameters are fitted on the first (most relevant) selected points
_REFIT_GROWTH = 1.5  # results told between hyperparameter fits grow geometrically
_UPDATE_SHARE = 16  # new points are added once n / _UPDATE_SHARE of them wait (n: the points held)


@dataclass(slots=True)
class ConfigRecord:
    """What adaptive_mf knows about one configuration (individual).

    Attributes:
        genome: its repaired genome.
        features: its GP input row (budget excluded).
        start: the rung it was first trained to.
        keep: the keep fraction of its bracket (1.0: full-budget bracket).
        values: its objective at each rung (NaN: unknown; +inf: failed).
        reached: the highest rung with a result (-1: none yet).
        free_from: pairs (rung >= free_from, full budget) were not selected
            on its own values (None: every pair was).
        failed: a trial of it failed.
        told: its position in the order of results (recency).
    """

    genome: tuple[float, ...]
    features: np.ndarray
    start: int
    keep: float
    values: list[float]
    reached: int = -1
    free_from: int | None = None
    failed: bool = False
    told: int = 0


class ScreeningModel:
    """The GP of adaptive_mf and the data it holds (see the module docstring).

    Args:
        columns: the feature groups (``FeatureMap.columns``).
        rung_z: the GP's budget input of each rung.
        max_points: cap on the points the GP holds.
        first_fit: results told before the first hyperparameter fit.
    """

    #: changes whenever the posterior does (class defaults: a state saved before these existed still loads)
    version: int = 0
    _reference_version: int = -1

    def __init__(self, columns: tuple[tuple[int, ...], ...], rung_z: tuple[float, ...], max_points: int,
                 first_fit: int):
        self.gp = BudgetGP(columns)
        self.rung_z = rung_z
        self.max_points = int(max_points)
        self.points: list[tuple[int, int]] = []  # (individual, rung) the posterior holds, in order
        self.new: list[tuple[int, int]] = []  # points told since the last update
        self.next_fit = int(first_fit)
        self._reference: dict[Hashable, float | None] = {}  # parent pool -> EI reference (at _reference_version)

    def copy(self) -> ScreeningModel:
        """A copy for a state snapshot (the GP's arrays are replaced, never written into, so they are shared)."""
        out = copy.copy(self)
        out.gp = copy.copy(self.gp)
        out.points, out.new = list(self.points), list(self.new)
        out._reference = dict(self.__dict__.get("_reference", {}))
        return out

    @property
    def ready(self) -> bool:
        return self.gp.ready

    def add(self, individual: int, rung: int) -> None:
        """A value of ``individual`` at ``rung`` became known."""
        self.new.append((individual, rung))

    def select(self, cfgs: Mapping[int, ConfigRecord]) -> list[tuple[int, int]]:
        """The points to hold: recent configurations, then the best at the highest rungs; top values first."""
        told = [(ind, c) for ind, c in cfgs.items() if c.reached >= 0]
        cap = self.max_points
        # heapq.nsmallest(k, ...) is sorted(...)[:k]; the first cap of the ranking fill the cap (and when fewer
        # than cap configurations are known, all of them are taken, so the lower-rung values below see them all)
        recent = heapq.nsmallest(cap // 4, told, key=lambda t: -t[1].told)
        ranked = heapq.nsmallest(cap, told, key=lambda t: (-t[1].reached, t[1].values[t[1].reached], t[0]))
        order, seen = [], set()
        for ind, c in recent + ranked:
            if ind not in seen:
                seen.add(ind)
                order.append((ind, c))
        points = [(ind, c.reached) for ind, c in order[:cap]]
        room = cap - len(points)
        if room > 0:
            extra = [(ind, k) for ind, c in order for k in range(c.reached) if not math.isnan(c.values[k])]
            points += extra[:room]
        return points

    @staticmethod
    def targets(cfgs: Mapping[int, ConfigRecord], points: list[tuple[int, int]]) -> np.ndarray:
        y = np.array([cfgs[ind].values[k] for ind, k in points])
        return normal_scores(np.where(np.isfinite(y), y, np.inf))

    def refresh(self, cfgs: Mapping[int, ConfigRecord], n_told: int) -> None:
        """Bring the GP up to date with the points told since the last call (see the module docstring)."""
        n_points = len(self.points) + len(self.new)
        if n_points == 0:
            return
        refit = n_told >= self.next_fit
        if not refit and self.gp.ready and (not self.new or len(self.new) < len(self.points) // _UPDATE_SHARE):
            return
        if refit or not self.gp.n_points or n_points > int(1.5 * self.max_points):
            points = self.select(cfgs)
            x = np.array([cfgs[ind].features for ind, _ in points])
            z = np.array([self.rung_z[k] for _, k in points])
            if refit:
                self.gp.optimise(x[:_FIT_POINTS], z[:_FIT_POINTS], self.targets(cfgs, points[:_FIT_POINTS]))
                self.next_fit = max(n_told + 1, int(math.ceil(_REFIT_GROWTH * n_told)))
            self.gp.condition(x, z)
            self.points = points
        else:
            self.gp.append(np.array([cfgs[ind].features for ind, _ in self.new]),
                           np.array([self.rung_z[k] for _, k in self.new]))
            self.points = self.points + self.new
        self.new = []
        self.gp.set_targets(self.targets(cfgs, self.points))
        self.version += 1

    def screen(self, candidates: np.ndarray, parents: np.ndarray | Callable[[], np.ndarray],
               key: Hashable = None) -> int:
        """Index of the candidate (feature rows) with the largest expected improvement at the full budget
        (see :meth:`rank`)."""
        return int(self.rank(candidates, parents, key)[0])

    def rank(self, candidates: np.ndarray, parents: np.ndarray | Callable[[], np.ndarray],
             key: Hashable = None) -> np.ndarray:
        """Indices of the candidates (feature rows), largest expected improvement at the full budget first.

        EI's reference is the lowest posterior mean among the ``parents``
        (feature rows, or a function that returns them; none: among the
        candidates). With a ``key`` naming the parents, the reference is
        remembered until the posterior changes (the parent pool changes far
        less often than a configuration is bred).
        """
        mu, sd = self.gp.predict(candidates, 1.0)
        best = self._reference.get(key) if key is not None and self._reference_version == self.version else None
        if best is None:
            rows = parents() if callable(parents) else parents
            best = float(np.min(self.gp.predict_mean(rows, 1.0))) if len(rows) else None
            if key is not None:
                if self._reference_version != self.version:
                    self._reference, self._reference_version = {}, self.version
                self._reference[key] = best
        if best is None:
            best = float(np.min(mu))
        return np.argsort(-expected_improvement(mu, sd, best), kind="stable")

    def budget_correlation(self, z: float) -> float:
        """The GP's implied correlation between budget input ``z`` and the full budget (NaN before a fit)."""
        return self.gp.budget_correlation(z, 1.0) if self.gp.n_fits else math.nan
