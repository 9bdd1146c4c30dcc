"""How far to trust cheap budgets: agreement estimates and the choice of bracket.

Used by :mod:`evoautodl.algorithms.adaptive`. Pure functions and frozen
records, no state.

Agreement. For a rung ``k`` of the ladder, the agreement with the full budget
is the correlation of normal scores (the Gaussian rank correlation) between
the objective after ``b_k`` epochs and after ``b_max`` epochs, over
configurations whose path from rung ``k`` to the full budget did not depend
on their own values (configurations trained straight to the full budget, and
exploratory promotions): survivors of a promotion are a range-restricted
sample whose correlation is biased towards zero, so they do not count. The
learning curves the workloads return give every full-budget trial its value at
every lower rung for free. Uncertainty: Fisher's z, ``atanh(r) ~ N(atanh(rho),
1 / (n - 3))``, combined with a normal prior on ``atanh(rho)`` (a conjugate
update), so a rung with few pairs stays near the prior.

Bracket value model. A bracket starts new configurations at rung ``s`` and
keeps the best fraction ``q`` of every rung it passes (asynchronous
successive halving with continuation); the full-budget bracket trains them
straight to ``b_max``. Under a Gaussian copula with correlation ``rho_s``
between the rung-``s`` score and the full-budget score, each configuration
that reaches the full budget is the best (by its rung-``s`` score) of
``G = q^-(R - s)`` candidates, so its full-budget normal score has mean
``rho_s m_G`` and variance ``rho_s^2 v_G + 1 - rho_s^2`` (``m_G``, ``v_G``:
mean and variance of the maximum of ``G`` standard normals). A horizon of
``H`` epochs buys ``F = H / C`` of them (``C``: epochs per full-budget
configuration, lower rungs included), and the expected best of ``F`` draws is
about ``mean + sd * e_F`` (``e_F``: expected maximum of ``F`` standard
normals, Blom's approximation). The value of a bracket is that expected best
(larger is better)::

    value(s, q) = rho_s m_G + sqrt(rho_s^2 v_G + 1 - rho_s^2) e_{H / C(s, q)}

The full-budget bracket has ``G = 1``: value ``e_{H / b_max}``. With ``rho_s``
near 1 the cheap brackets win by a wide margin; near 0 they only pay their
lower rungs' cost. Selection through several rungs is modelled as one
selection at the start rung with that rung's correlation (conservative: the
higher rungs agree better). The algorithm samples ``atanh(rho_k) = z_mean_k +
z_sd_k * eps`` with one standard normal ``eps`` for all rungs (an optimistic
or a pessimistic scenario for the whole ladder; Thompson sampling) and starts
the configuration in the bracket of largest value, so the full-budget bracket
keeps a share while the agreements are uncertain.

Winner recall (a diagnostic the decisions log carries): of the best
configurations at the full budget among the unbiased ones, how many would a
bracket have kept (their value ranks within the keep fraction at every rung
the bracket filters)? It looks only at the configurations that matter; on
several LCBench tasks rank correlations between 2 and 52 epochs are high over
random configurations and near zero among the good ones.

References: H. Cramer, "Mathematical Methods of Statistics", 1946 (Fisher's
z); W. R. Thompson, "On the likelihood that one unknown probability exceeds
another", Biometrika 1933 (Thompson sampling); G. Blom, "Statistical Estimates and Transformed
Beta-Variables", 1958 (expected normal order statistics); Y. Li et al., "Hyper-Tune:
Towards Efficient Hyper-parameter Tuning at Scale", VLDB 2022 (choosing
brackets from the measured consistency of low and high fidelities); O.
Bohdal et al., "PASHA: Efficient HPO and NAS with Progressive Resource
Allocation", ICLR 2023 (judging a rung by the ranking of the top
configurations).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import integrate
from scipy.special import ndtr, ndtri
from scipy.stats import kendalltau

from evoautodl.algorithms.budget_gp import normal_scores

__all__ = ["Agreement", "Bracket", "ScheduleDecision", "agreement", "bracket_constants", "bracket_values",
           "expected_max_normal", "make_brackets", "max_normal_moments"]


@dataclass(frozen=True, slots=True)
class Agreement:
    """Measured agreement of one rung with the full budget.

    Attributes:
        rung: ladder index of the rung.
        budget_epochs: its budget.
        n_pairs: configurations with an unbiased (rung, full budget) pair.
        kendall_tau: Kendall's tau of those pairs (NaN with fewer than 3).
        rho_hat: correlation of their normal scores (NaN with fewer than 3).
        rho_mean: posterior mean of the correlation (tanh of the posterior mean of atanh(rho)).
        rho_low, rho_high: central 80% posterior interval.
        z_mean, z_sd: the posterior of atanh(rho) (what the schedule samples from).
    """

    rung: int
    budget_epochs: float
    n_pairs: int
    kendall_tau: float
    rho_hat: float
    rho_mean: float
    rho_low: float
    rho_high: float
    z_mean: float
    z_sd: float


@dataclass(frozen=True, slots=True)
class Bracket:
    """A way to start new configurations: start rung and the fraction kept at each rung after it.

    Attributes:
        start_rung: rung new configurations are trained to first.
        keep_fraction: fraction of each rung promoted to the next (1.0 for the full-budget bracket).
        cost_per_start: expected epochs per started configuration (lower rungs included).
        screened_per_final: configurations started per configuration that reaches the full budget.
    """

    start_rung: int
    keep_fraction: float
    cost_per_start: float
    screened_per_final: float

    @property
    def cost_per_final(self) -> float:
        """Epochs per configuration that reaches the full budget."""
        return self.cost_per_start * self.screened_per_final

    @property
    def label(self) -> str:
        """``s<start rung>q<keep fraction>``, e.g. ``s0q0.33`` (``full`` for the full-budget bracket)."""
        return "full" if self.keep_fraction >= 1.0 else f"s{self.start_rung}q{self.keep_fraction:.2f}"


@dataclass(frozen=True, slots=True)
class ScheduleDecision:
    """One update of the schedule, as logged for the user.

    Attributes:
        n_told: results the algorithm had received.
        epochs: epochs trained by those results.
        agreements: one :class:`Agreement` per rung below the full budget.
        brackets: the brackets considered.
        horizon_epochs: the horizon of the value model.
        n_winners: per bracket, the winners behind its recall (diagnostic).
        survivors: per bracket, how many of those winners it would have kept.
        values: per bracket, the value at the posterior mean of the agreements.
        probabilities: per bracket, how often Thompson sampling chooses it.
        gp_budget_correlation: the GP's model-implied correlation between each
            rung and the full budget (NaN before the first fit).
    """

    n_told: int
    epochs: float
    agreements: tuple[Agreement, ...]
    brackets: tuple[Bracket, ...]
    horizon_epochs: float
    n_winners: tuple[int, ...]
    survivors: tuple[int, ...]
    values: tuple[float, ...]
    probabilities: tuple[float, ...]
    gp_budget_correlation: tuple[float, ...]

    def as_dict(self) -> dict[str, object]:
        """A flat JSON-friendly dict (one row of a decisions log)."""
        out: dict[str, object] = {"n_told": self.n_told, "epochs": self.epochs, "horizon_epochs": self.horizon_epochs}
        for a, gc in zip(self.agreements, self.gp_budget_correlation):
            p = f"rung{a.rung}_"
            out.update({p + "budget": a.budget_epochs, p + "n_pairs": a.n_pairs, p + "kendall_tau": a.kendall_tau,
                        p + "rho_hat": a.rho_hat, p + "rho_mean": a.rho_mean, p + "rho_low": a.rho_low,
                        p + "rho_high": a.rho_high, p + "gp_rho": gc})
        for b, m, k, v, pr in zip(self.brackets, self.n_winners, self.survivors, self.values, self.probabilities):
            p = f"bracket_{b.label}_"
            out.update({p + "winners": m, p + "survivors": k, p + "value": v, p + "probability": pr})
        return out


def agreement(rung: int, budget: float, low: Sequence[float], high: Sequence[float], *, prior_rho: float,
              prior_sd: float) -> Agreement:
    """Posterior of the agreement between paired values ``low`` (rung) and ``high`` (full budget)."""
    lo = np.asarray(low, dtype=np.float64)
    hi = np.asarray(high, dtype=np.float64)
    ok = np.isfinite(lo) & np.isfinite(hi)
    lo, hi = lo[ok], hi[ok]
    n = int(lo.size)
    z0, v0 = math.atanh(prior_rho), prior_sd**2
    tau = rho = math.nan
    z_mean, z_var = z0, v0
    if n >= 3:
        a, b = normal_scores(lo), normal_scores(hi)
        if a.std() > 0 and b.std() > 0:
            rho = float(np.clip(np.corrcoef(a, b)[0, 1], -0.999, 0.999))
            tau = float(kendalltau(lo, hi)[0])
            if n > 3:
                w = n - 3.0
                z_var = 1.0 / (1.0 / v0 + w)
                z_mean = z_var * (z0 / v0 + w * math.atanh(rho))
    sd = math.sqrt(z_var)
    return Agreement(rung=rung, budget_epochs=float(budget), n_pairs=n, kendall_tau=tau, rho_hat=rho,
                     rho_mean=math.tanh(z_mean), rho_low=math.tanh(z_mean - 1.2816 * sd),
                     rho_high=math.tanh(z_mean + 1.2816 * sd), z_mean=z_mean, z_sd=sd)




def make_brackets(budgets: Sequence[float], keep_fractions: Sequence[float]) -> tuple[Bracket, ...]:
    """Every (start rung, keep fraction) bracket of a ladder, then the full-budget bracket."""
    out: list[Bracket] = []
    r = len(budgets) - 1
    for s in range(r):
        for q in keep_fractions:
            cost = budgets[s] + sum(q ** (j - s) * (budgets[j] - budgets[j - 1]) for j in range(s + 1, r + 1))
            out.append(Bracket(start_rung=s, keep_fraction=float(q), cost_per_start=float(cost),
                               screened_per_final=float(q ** -(r - s))))
    out.append(Bracket(start_rung=r, keep_fraction=1.0, cost_per_start=float(budgets[r]), screened_per_final=1.0))
    return tuple(out)


def max_normal_moments(g: float) -> tuple[float, float]:
    """Mean and variance of the maximum of ``g`` iid standard normals (``g >= 1``, real ``g`` allowed)."""
    if g <= 1.0:
        return 0.0, 1.0

    def dens(x: float, p: int) -> float:
        return x**p * g * ndtr(x) ** (g - 1.0) * math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)

    m = integrate.quad(dens, -12.0, 12.0, args=(1,), limit=200)[0]
    s2 = integrate.quad(dens, -12.0, 12.0, args=(2,), limit=200)[0]
    return m, max(s2 - m * m, 1e-9)


def expected_max_normal(f: float | np.ndarray) -> np.ndarray:
    """Expected maximum of ``f`` standard normals (Blom's approximation; 0 for ``f <= 1``)."""
    f = np.maximum(np.asarray(f, dtype=np.float64), 1.0)
    return np.where(f <= 1.0, 0.0, ndtri((f - 0.375) / (f + 0.25)))


def bracket_values(rho: np.ndarray, brackets: Sequence[Bracket], moments: Sequence[tuple[float, float]],
                   horizon: float, constants: BracketConstants | None = None) -> np.ndarray:
    """Values of ``brackets`` (see the module docstring) for agreements ``rho`` (..., n_rungs - 1).

    ``rho`` may carry leading dimensions (draws); the result has shape
    ``rho.shape[:-1] + (len(brackets),)``. ``moments`` are the
    :func:`max_normal_moments` of each bracket's ``screened_per_final``;
    ``constants``: :func:`bracket_constants` of the same brackets (a caller
    that evaluates them often keeps them).
    """
    rho = np.clip(np.asarray(rho, dtype=np.float64), 0.0, 1.0)
    start, m, v, cost, full = constants or bracket_constants(brackets, moments, rho.shape[-1])
    e = expected_max_normal(horizon / cost)
    r = rho[..., start] if rho.shape[-1] else np.zeros((*rho.shape[:-1], len(brackets)))
    return np.where(full, e, r * m + np.sqrt(r * r * v + 1.0 - r * r) * e)


#: per bracket: start rung (clipped to the rungs with agreements), moments' mean and variance, cost, full-budget
BracketConstants = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def bracket_constants(brackets: Sequence[Bracket], moments: Sequence[tuple[float, float]],
                      n_agreements: int) -> BracketConstants:
    """The arrays :func:`bracket_values` reads from the brackets (``n_agreements``: rungs below the full budget)."""
    start = np.array([min(b.start_rung, n_agreements - 1) if n_agreements else 0 for b in brackets])
    m = np.array([mv[0] for mv in moments])
    v = np.array([mv[1] for mv in moments])
    cost = np.array([b.cost_per_final for b in brackets])
    full = np.array([b.screened_per_final <= 1.0 for b in brackets])
    return start, m, v, cost, full
