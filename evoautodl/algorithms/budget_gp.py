"""A small Gaussian-process surrogate over (configuration, budget) for pre-screening offspring.

The model behind :mod:`evoautodl.algorithms.adaptive`'s breeding: a GP
regression on every logged result (each at the budget it was measured at), so
that results at cheap budgets inform predictions at the full budget exactly as
much as the data say they should. Pure numpy/scipy, bounded cost, no global
state.

Inputs. A genome becomes a feature vector (:class:`FeatureMap`): a numeric,
integer or ordinal gene is its unit-cube value; a categorical gene with k
choices is a one-hot block scaled by 1/sqrt(2) (two different choices are at
distance 1); an inactive conditional gene reads -0.5 (numeric) or all zeros
(categorical), so configurations on the same branch are close. The budget is
``z = log(b / b_min) / log(b_max / b_min)`` in [0, 1].

Output. The objective values are replaced by their normal scores
(``Phi^-1((rank - 1/2) / n)``, ties averaged): the model only has to get the
order right, heavy tails (diverged trainings) do not dominate, and any
objective scale works (errors, cross-entropies, seconds).

Kernel (ARD Matern 5/2, one length scale per hyperparameter and one for the
budget, plus a budget-only trend)::

    r^2 = sum_g ||x_g - x'_g||^2 / l_g^2 + (z - z')^2 / l_z^2
    k((x, z), (x', z')) = s_f^2 M(r) + s_b^2 M(|z - z'| / l_b) + s_n^2 [same point]
    M(r) = (1 + sqrt(5) r + 5 r^2 / 3) exp(-sqrt(5) r)

The model-implied correlation between a configuration's (noise-free) scores at
two budgets is ``M(|z - z'| / l_z)``: a short budget length scale is the
model's way of saying "cheap budgets rank differently".

Fitting. Hyperparameters maximise the log marginal likelihood plus a weak
log-normal prior (MAP; Rasmussen & Williams 2006, ch. 5), by L-BFGS-B with the
analytic gradient, warm-started from the previous fit. Because promotions
depend only on observed values, the data are missing at random (Rubin 1976)
and a likelihood fit is not biased by the selection of which configurations
reached high budgets. Cost: O(n^3) per likelihood evaluation with ``n`` capped
by the caller (the adaptive algorithm keeps at most a few hundred points).

References: C. E. Rasmussen, C. K. I. Williams, "Gaussian Processes for
Machine Learning", MIT Press 2006; D. R. Jones, M. Schonlau, W. J. Welch,
"Efficient Global Optimization of Expensive Black-Box Functions", J. Global
Optim. 1998 (expected improvement); K. Swersky, J. Snoek, R. P. Adams,
"Freeze-Thaw Bayesian Optimization", arXiv 1406.3896, 2014, and A. Klein et
al., "Fast Bayesian Optimization of Machine Learning Hyperparameters on Large
Datasets" (FABOLAS), AISTATS 2017 (the budget as a GP input).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.linalg import LinAlgError, cho_solve
from scipy.linalg.lapack import dpotri, dpotrs, dtrtrs
from scipy.optimize import minimize
from scipy.special import ndtr, ndtri

from evoautodl.space import GeneKind, SearchSpace

__all__ = ["BudgetGP", "FeatureMap", "expected_improvement", "normal_scores"]

_SQRT5 = math.sqrt(5.0)
_INACTIVE = -0.5
_JITTER = 1e-6


@dataclass(frozen=True)
class FeatureMap:
    """How genomes become GP inputs (see the module docstring).

    Attributes:
        columns: per hyperparameter group, the feature columns it owns.
        source: per feature column, the gene it reads.
        level: per feature column, the categorical level it indicates (-1: numeric).
        conditional: True when some gene can be inactive.
    """

    columns: tuple[tuple[int, ...], ...]
    source: tuple[int, ...]
    level: tuple[int, ...]
    n_levels: tuple[int, ...]
    conditional: bool

    @classmethod
    def from_space(cls, space: SearchSpace) -> FeatureMap:
        columns: list[tuple[int, ...]] = []
        source: list[int] = []
        level: list[int] = []
        n_levels: list[int] = []
        for i, hp in enumerate(space.hyperparameters):
            if hp.kind is GeneKind.CONSTANT or (hp.kind is not GeneKind.FLOAT and hp.n_levels < 2):
                continue
            start = len(source)
            if hp.kind is GeneKind.CATEGORICAL:
                for j in range(hp.n_levels):
                    source.append(i)
                    level.append(j)
                    n_levels.append(hp.n_levels)
            else:
                source.append(i)
                level.append(-1)
                n_levels.append(0)
            columns.append(tuple(range(start, len(source))))
        return cls(tuple(columns), tuple(source), tuple(level), tuple(n_levels),
                   any(bool(p) for p in space.parents))

    @property
    def n_features(self) -> int:
        return len(self.source)

    @cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool, np.ndarray]:
        """source, categorical mask, levels and level counts of the categorical columns, any, inactive fill."""
        src = np.asarray(self.source, dtype=np.int64)
        lev = np.asarray(self.level, dtype=np.int64)
        k = np.asarray(self.n_levels, dtype=np.int64)
        cat = lev >= 0
        return src, cat, lev[cat], k[cat], bool(cat.any()), np.where(cat, 0.0, _INACTIVE)

    def transform(self, genomes: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
        """Feature rows of ``genomes`` (n, dim); ``active`` (n, dim) marks active genes (None: all)."""
        g = np.asarray(genomes, dtype=np.float64).reshape(len(genomes), -1)
        src, cat, lev_cat, k_cat, any_cat, fill = self._arrays
        vals = g[:, src]
        if any_cat:
            idx = np.minimum((vals[:, cat] * k_cat).astype(np.int64), k_cat - 1)
            vals[:, cat] = (idx == lev_cat) / math.sqrt(2.0)
        if active is not None:
            on = np.asarray(active, dtype=bool)[:, src]
            vals = np.where(on, vals, fill)
        return vals


def normal_scores(y: np.ndarray) -> np.ndarray:
    """``Phi^-1((rank - 1/2) / n)`` of each value (ties get their average rank)."""
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    if n == 0:
        return y
    order = np.argsort(y, kind="mergesort")
    ys = y[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(ys[1:], ys[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], n)
    ranks = np.empty(n)
    ranks[order] = ((starts + ends + 1) / 2.0)[np.cumsum(new) - 1]  # average 1-based rank of each tie group
    return ndtri((ranks - 0.5) / n)


def expected_improvement(mu: np.ndarray, sd: np.ndarray, best: float) -> np.ndarray:
    """EI of minimisation below ``best`` for Gaussian predictions (mu, sd)."""
    sd = np.maximum(sd, 1e-12)
    u = (best - mu) / sd
    return (best - mu) * ndtr(u) + sd * np.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)


def _solve_lower(chol: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``solve_triangular(chol, b, lower=True, check_finite=False)`` for float64 arrays: the same LAPACK call
    (``dtrtrs``), without scipy's argument handling (it runs for every screened configuration)."""
    if not len(b):
        return np.empty_like(b)
    if chol.flags.f_contiguous:
        x, info = dtrtrs(chol, b, overwrite_b=False, lower=True, trans=0, unitdiag=False)
    else:  # scipy solves the transposed upper system on a C-ordered factor
        x, info = dtrtrs(chol.T, b, overwrite_b=False, lower=False, trans=True, unitdiag=False)
    if info > 0:
        raise LinAlgError(f"singular matrix: resolution failed at diagonal {info - 1}")
    if info < 0:
        raise ValueError(f"illegal value in {-info}-th argument of internal trtrs")
    return x


def _cho_solve_lower(chol: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``cho_solve((chol, True), b, check_finite=False)`` for float64 arrays: the same LAPACK call (``dpotrs``)."""
    if not len(b):
        return np.empty_like(b)
    x, info = dpotrs(chol, b, lower=True, overwrite_b=False)
    if info != 0:
        raise ValueError(f"illegal value in {-info}th argument of internal potrs")
    return x


def _matern_value(r: np.ndarray) -> np.ndarray:
    """M(r) only (in place on a temporary)."""
    e = np.exp(-_SQRT5 * r)
    return (1.0 + _SQRT5 * r + (5.0 / 3.0) * r * r) * e


def _matern(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """M(r) and the factor (5/3)(1 + sqrt5 r) exp(-sqrt5 r) of its length-scale derivative."""
    e = np.exp(-_SQRT5 * r)
    return (1.0 + _SQRT5 * r + (5.0 / 3.0) * r * r) * e, (5.0 / 3.0) * (1.0 + _SQRT5 * r) * e


class BudgetGP:
    """GP regression on (features, budget z) with ARD Matern 5/2 (see the module docstring).

    Args:
        columns: the feature columns of each group (from :class:`FeatureMap`).
        max_iter: L-BFGS-B iterations per hyperparameter fit.
    """

    def __init__(self, columns: tuple[tuple[int, ...], ...], max_iter: int = 40):
        self.columns = columns
        self.max_iter = int(max_iter)
        g = len(columns)
        # theta = log [l_1..l_G, l_z, s_f^2, s_b^2, l_b, s_n^2]
        self._prior_mean = np.array([math.log(0.5)] * g + [math.log(0.5), 0.0, math.log(0.1), 0.0, math.log(0.05)])
        self._prior_sd = np.array([1.0] * g + [1.0, 1.0, 1.5, 1.0, 1.5])
        lo = [math.log(0.02)] * g + [math.log(0.02), math.log(0.05), math.log(1e-4), math.log(0.05), math.log(1e-4)]
        hi = [math.log(20.0)] * g + [math.log(20.0), math.log(20.0), math.log(10.0), math.log(20.0), math.log(2.0)]
        self._bounds = list(zip(lo, hi))
        self.theta = self._prior_mean.copy()
        self.n_fits = 0
        self._x: np.ndarray | None = None
        self._z: np.ndarray | None = None
        self._s: np.ndarray | None = None
        self._s_norm: np.ndarray | None = None  # squared norms of the rows of _s
        self._alpha: np.ndarray | None = None
        self._chol: np.ndarray | None = None
        self._scale: np.ndarray | None = None

    # ------------------------------------------------------------------ kernel
    def _group_sq(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(G, na, nb) squared distances per group."""
        out = np.empty((len(self.columns), len(a), len(b)))
        for i, cols in enumerate(self.columns):
            if len(cols) == 1:
                d = a[:, cols[0], None] - b[None, :, cols[0]]
                out[i] = d * d
            else:
                d = a[:, None, list(cols)] - b[None, :, list(cols)]
                out[i] = np.einsum("ijk,ijk->ij", d, d)
        return out

    def _neg_log_posterior(self, theta: np.ndarray, sq: np.ndarray, dz: np.ndarray,
                           y: np.ndarray) -> tuple[float, np.ndarray]:
        g = len(self.columns)
        n = len(y)
        ls2 = np.exp(2.0 * theta[: g + 1])
        r2 = np.tensordot(1.0 / ls2[:g], sq, axes=1) + dz * dz / ls2[g]
        r = np.sqrt(np.maximum(r2, 0.0))
        m, dm = _matern(r)
        sb = np.abs(dz) * math.exp(-theta[g + 3])
        mb, dmb = _matern(sb)
        sf2, sb2, sn2 = math.exp(theta[g + 1]), math.exp(theta[g + 2]), math.exp(theta[g + 4])
        k = sf2 * m + sb2 * mb
        k[np.diag_indices(n)] += sn2 + _JITTER
        try:
            chol = np.linalg.cholesky(k)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        alpha = cho_solve((chol, True), y)
        kinv, info = dpotri(chol, lower=1)
        if info != 0:
            return 1e10, np.zeros_like(theta)
        kinv = np.tril(kinv) + np.tril(kinv, -1).T
        w = np.outer(alpha, alpha) - kinv
        nll = 0.5 * float(y @ alpha) + float(np.log(np.diag(chol)).sum()) + 0.5 * n * math.log(2.0 * math.pi)
        grad = np.empty_like(theta)
        a = w * (sf2 * dm)
        grad[:g] = -0.5 * (sq.reshape(g, -1) @ a.ravel()) / ls2[:g]
        grad[g] = -0.5 * float(np.vdot(a, dz * dz)) / ls2[g]
        grad[g + 1] = -0.5 * sf2 * float(np.vdot(w, m))
        grad[g + 2] = -0.5 * sb2 * float(np.vdot(w, mb))
        grad[g + 3] = -0.5 * sb2 * float(np.vdot(w, dmb * sb * sb))
        grad[g + 4] = -0.5 * sn2 * float(np.trace(w))
        dev = (theta - self._prior_mean) / self._prior_sd
        return nll + 0.5 * float(dev @ dev), grad + dev / self._prior_sd

    # ------------------------------------------------------------------ hyperparameters
    def optimise(self, x: np.ndarray, z: np.ndarray, y: np.ndarray) -> None:
        """Fit the hyperparameters to (x, z, y) (MAP, L-BFGS-B, warm start); y already transformed."""
        x, z, y = (np.asarray(a, dtype=np.float64) for a in (x, z, y))
        if len(y) < 3:
            return
        sq = self._group_sq(x, x)
        dz = z[:, None] - z[None, :]
        t0 = np.clip(self.theta if self.n_fits else self._prior_mean, *zip(*self._bounds))
        res = minimize(self._neg_log_posterior, t0, args=(sq, dz, y), jac=True, method="L-BFGS-B",
                       bounds=self._bounds, options={"maxiter": self.max_iter})
        if np.isfinite(res.fun):
            self.theta = np.asarray(res.x, dtype=np.float64)
        self.n_fits += 1
        self._scale = None
        self._x = None  # the posterior must be rebuilt with the new hyperparameters

    # ------------------------------------------------------------------ posterior
    def _scaled(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Inputs divided by their length scales (the Matern part's distance is Euclidean on these)."""
        if self._scale is None or len(self._scale) != x.shape[1] + 1:
            g = len(self.columns)
            scale = np.empty(x.shape[1] + 1)
            for i, cols in enumerate(self.columns):
                scale[list(cols)] = math.exp(-self.theta[i])
            scale[-1] = math.exp(-self.theta[g])
            self._scale = scale
        out = np.empty((len(x), x.shape[1] + 1))
        out[:, :-1] = x
        out[:, -1] = z
        return out * self._scale

    def _kernel(self, a: np.ndarray, za: np.ndarray | float, b: np.ndarray, zb: np.ndarray,
                b_norm: np.ndarray | None = None) -> np.ndarray:
        """k between scaled inputs a (with raw budgets za) and b (zb), without the noise term.

        ``za`` may be one budget for every row of ``a`` (the budget term is then
        computed once, for one row); ``b_norm``: the squared norms of b's rows,
        when known (the data's are kept with them).
        """
        g = len(self.columns)
        if b_norm is None:
            b_norm = np.einsum("ij,ij->i", b, b)
        r2 = np.einsum("ij,ij->i", a, a)[:, None] + b_norm[None, :] - 2.0 * (a @ b.T)
        np.maximum(r2, 0.0, out=r2)
        m = _matern_value(np.sqrt(r2, out=r2))
        m *= math.exp(self.theta[g + 1])
        if isinstance(za, float):
            dz = np.abs(za - zb) * math.exp(-self.theta[g + 3])
        else:
            dz = np.abs(za[:, None] - zb[None, :]) * math.exp(-self.theta[g + 3])
        m += math.exp(self.theta[g + 2]) * _matern_value(dz)
        return m

    def condition(self, x: np.ndarray, z: np.ndarray) -> None:
        """Rebuild the posterior's Cholesky factor on inputs (x, z) (targets: :meth:`set_targets`)."""
        x = np.asarray(x, dtype=np.float64)
        z = np.asarray(z, dtype=np.float64)
        s = self._scaled(x, z)
        k = self._kernel(s, z, s, z)
        k[np.diag_indices(len(z))] += math.exp(self.theta[-1]) + _JITTER
        self._chol = np.linalg.cholesky(k)
        self._x, self._z, self._s = x, z, s
        self._s_norm = np.einsum("ij,ij->i", s, s)
        self._alpha = None

    def append(self, x: np.ndarray, z: np.ndarray) -> None:
        """Add input points (rows of ``x``, budgets ``z``): a block update of the Cholesky factor, O(n^2 m)."""
        zz = np.asarray(z, dtype=np.float64).reshape(-1)
        if len(zz) == 0:
            return
        x = np.asarray(x, dtype=np.float64).reshape(len(zz), -1)
        if self._x is None or self._z is None or len(self._z) == 0:
            self.condition(x, zz)
            return
        assert self._chol is not None and self._s is not None
        s = self._scaled(x, zz)
        s_norm = np.einsum("ij,ij->i", s, s)
        kx = self._kernel(s, zz, self._s, self._z, self._data_norm())  # (m, n)
        kxx = self._kernel(s, zz, s, zz, s_norm)
        kxx[np.diag_indices(len(zz))] += math.exp(self.theta[-1]) + _JITTER
        l21 = _solve_lower(self._chol, kx.T).T  # (m, n)
        l22 = np.linalg.cholesky(kxx - l21 @ l21.T)
        n, m = len(self._z), len(zz)
        chol = np.zeros((n + m, n + m))
        chol[:n, :n] = self._chol
        chol[n:, :n] = l21
        chol[n:, n:] = l22
        self._chol = chol
        self._x = np.vstack([self._x, x])
        self._z = np.concatenate([self._z, zz])
        self._s_norm = np.concatenate([self._data_norm(), s_norm])
        self._s = np.vstack([self._s, s])
        self._alpha = None

    def set_targets(self, y: np.ndarray) -> None:
        """Targets (transformed) of the conditioned inputs, in the same order."""
        assert self._chol is not None
        self._alpha = _cho_solve_lower(self._chol, np.asarray(y, dtype=np.float64))

    @property
    def n_points(self) -> int:
        return 0 if self._z is None else len(self._z)

    @property
    def ready(self) -> bool:
        """True when the posterior has inputs and targets."""
        return self._x is not None and self._alpha is not None

    def predict_mean(self, x: np.ndarray, z: float | np.ndarray) -> np.ndarray:
        """Posterior mean of the score at (x, z) (cheaper than :meth:`predict`)."""
        assert self._x is not None and self._alpha is not None
        return self._cross_kernel(x, z) @ self._alpha

    def _cross_kernel(self, x: np.ndarray, z: float | np.ndarray) -> np.ndarray:
        """k between inputs (x, z) and the conditioned data."""
        x = np.asarray(x, dtype=np.float64)
        zz = np.broadcast_to(np.asarray(z, dtype=np.float64), (len(x),)).copy()
        za = float(zz[0]) if np.ndim(z) == 0 and len(zz) else zz  # one budget: its term is one row
        return self._kernel(self._scaled(x, zz), za, self._s, self._z, self._data_norm())

    def _data_norm(self) -> np.ndarray:
        """Squared norms of the scaled data's rows (kept with them; computed for a state saved without them)."""
        assert self._s is not None
        norm = self.__dict__.get("_s_norm")
        if norm is None or len(norm) != len(self._s):
            norm = self._s_norm = np.einsum("ij,ij->i", self._s, self._s)
        return norm

    def predict(self, x: np.ndarray, z: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the noise-free score at (x, z)."""
        assert self._x is not None and self._alpha is not None and self._chol is not None
        ks = self._cross_kernel(x, z)
        mu = ks @ self._alpha
        v = _solve_lower(self._chol, ks.T)
        g = len(self.columns)
        prior = math.exp(self.theta[g + 1]) + math.exp(self.theta[g + 2])
        var = np.maximum(prior - np.einsum("ij,ij->j", v, v), 1e-12)
        return mu, np.sqrt(var)

    def budget_correlation(self, z1: float, z2: float) -> float:
        """Model-implied correlation of a configuration's noise-free scores at budgets z1 and z2."""
        g = len(self.columns)
        return float(_matern(np.array(abs(z1 - z2) * math.exp(-self.theta[g])))[0])

    def length_scales(self) -> np.ndarray:
        """Length scales of the hyperparameter groups, then of the budget."""
        g = len(self.columns)
        return np.exp(self.theta[: g + 1])
