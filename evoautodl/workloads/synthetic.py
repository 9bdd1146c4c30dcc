"""Synthetic multi-fidelity test functions over mixed, conditional spaces.

Cheap (tens of microseconds), deterministic given (config, budget, trial seed),
with a knob for how well low budgets rank like the full budget.

Construction (``MixedRastrigin``). Two functions of the config, both mapped to
error-like values in (0.05, 0.95):

- ``f``: the "true" landscape, a sphere with Rastrigin ripples around an
  optimum in the unit cube of the numeric hyperparameters (log scale for log
  ones, index for the ordinal), categorical penalties, a branch-dependent
  learning-rate optimum and a term for the branch's own conditional child;
- ``g``: a rank-scrambling function (a sum of sines over the same inputs,
  scaled to f's mean and spread), nearly independent of ``f``.

With ``w(b) = ((B - b) / (B - b_min)) ** p`` (1 at the minimum budget, 0 at
the maximum budget B) and ``c = fidelity_correlation``::

    v(x, b) = f(x) + w(b) * (1 - c) * (g(x) - f(x))
    y(x, b) = v(x, b) + w(b) * K * (1 - v(x, b))  (+ noise)      K = 0.5

``y`` is the error after b epochs (the learning curve is y at 1..b). The second
line lifts early epochs towards 1 without changing ranks (an increasing map of
v), so the ranking at budget b is that of ``(1 - w(1-c)) f + w(1-c) g``: at
c = 1 every budget ranks exactly as the full budget, at c = 0 the minimum
budget ranks as g, unrelated to f. Kendall tau between budget 1 and 27
(budget 9 and 27) over 2,000 random configs, noise 0: c=1: 1.00 (1.00),
c=0.9: 0.93 (0.97), c=0.7: 0.74 (0.89), c=0.5: 0.49 (0.80), c=0.3: 0.25 (0.70),
c=0: 0.00 (0.51); with noise_std=0.02: c=1: 0.73, c=0.5: 0.41, c=0: 0.00.
tau(1, B) does not depend on B (w(1) = 1, w(B) = 0 for any B).

Continuation: a trial resuming from checkpoint key ``..._bK`` trains only
epochs K+1..b (``epochs_trained = b - K``, cost accordingly).
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Mapping
from typing import Any

import numpy as np

from evoautodl.records import Evaluation, Trial
from evoautodl.workloads.base import WorkerContext, resolve_budget

__all__ = ["MixedRastrigin"]

def _unit(spec: Mapping[str, Any], value: Any) -> float:
    """Position of a numeric/ordinal value in [0, 1] (log scale where declared)."""
    if spec["type"] == "ordinal":
        return spec["sequence"].index(value) / (len(spec["sequence"]) - 1)
    lo, hi, v = float(spec["lower"]), float(spec["upper"]), float(value)
    if spec.get("log"):
        lo, hi, v = math.log(lo), math.log(hi), math.log(v)
    return (v - lo) / (hi - lo)


def _r(z: float) -> float:
    """Sphere plus Rastrigin ripples (z in [-1, 1])."""
    return z * z + 0.05 * (1.0 - math.cos(6.0 * math.pi * z))


_SPACE: dict[str, dict[str, Any]] = {
    "lr": {"type": "float", "lower": 1e-4, "upper": 1e-1, "log": True, "default": 1e-2},
    "batch_size": {"type": "int", "lower": 16, "upper": 512, "log": True, "default": 64},
    "layers": {"type": "int", "lower": 1, "upper": 6, "default": 2},
    "width": {"type": "int", "lower": 16, "upper": 1024, "log": True, "default": 128},
    "dropout": {"type": "float", "lower": 0.0, "upper": 0.8, "default": 0.2,
                "condition": {"parent": "layers", "gt": 1}},
    "activation": {"type": "categorical", "choices": ["relu", "tanh", "sigmoid"]},
    "augment": {"type": "ordinal", "sequence": ["none", "light", "medium", "heavy"]},
    "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
    "momentum": {"type": "float", "lower": 0.0, "upper": 0.99, "default": 0.9,
                 "condition": {"parent": "optimizer", "equals": "sgd"}},
    "beta1": {"type": "float", "lower": 0.5, "upper": 0.999, "default": 0.9,
              "condition": {"parent": "optimizer", "equals": "adam"}},
}
_K_EARLY = 0.5
_F_MEAN, _F_STD = 0.52, 0.10  # mean and std of f over random configs (g is scaled to them)
_ACT_PENALTY = {"relu": 0.0, "tanh": 0.08, "sigmoid": 0.25}
_ACT_PHASE = {"relu": 0.0, "tanh": 2.1, "sigmoid": 4.2}
_D_IN, _D_OUT = 64, 10


class MixedRastrigin:
    """Noisy mixed sphere/Rastrigin with conditional branches and a fidelity knob.

    Hyperparameters: ``lr`` (log float), ``batch_size`` (log int), ``layers``
    (int), ``width`` (log int), ``dropout`` (float, active when layers > 1),
    ``activation`` (categorical), ``augment`` (ordinal), ``optimizer``
    (categorical sgd/adam) with ``momentum`` (sgd only) and ``beta1`` (adam only).

    Args:
        max_budget: the full budget B in epochs (min budget 1).
        fidelity_correlation: c in [0, 1] (see the module docstring).
        curve_power: p, how fast the low-fidelity distortion fades.
        noise_std: std of Gaussian noise per epoch, seeded by the trial seed.
        epoch_cost_s: simulated seconds per epoch.
        cost_spread: in [0, 1): per-epoch cost varies by +-cost_spread with
            model size (0: every config costs the same).
        multi_objective: objectives ("error", "size") with size = parameters
            of the MLP in millions; else ("error",).
        with_forbidden: declare a forbidden clause (adam with sigmoid).
        fail_prob: probability (seeded by trial.seed) that evaluate raises RuntimeError.
        nan_prob: probability (seeded by trial.seed) that the error is NaN.
    """

    min_budget: int = 1
    #: what ``evaluate`` reads from a config
    hyperparameters: tuple[str, ...] = tuple(_SPACE)
    #: the landscape needs these in every config (dropout, momentum and beta1 are conditional)
    required_hyperparameters: tuple[str, ...] = ("lr", "batch_size", "layers", "width", "activation", "augment",
                                                 "optimizer")
    objective_descriptions: dict[str, str] = {
        "error": "synthetic error after the budget, in (0.05, 0.95)",
        "size": "parameters of the MLP the configuration describes, millions",
    }

    def __init__(
        self,
        max_budget: int = 27,
        fidelity_correlation: float = 1.0,
        curve_power: float = 2.0,
        noise_std: float = 0.0,
        epoch_cost_s: float = 1.0,
        cost_spread: float = 0.0,
        multi_objective: bool = False,
        with_forbidden: bool = False,
        fail_prob: float = 0.0,
        nan_prob: float = 0.0,
    ) -> None:
        if int(max_budget) < 1:
            raise ValueError(f"max_budget must be >= 1, got {max_budget!r}")
        for name, val, hi in (("fidelity_correlation", fidelity_correlation, 1.0),
                              ("cost_spread", cost_spread, 0.999), ("fail_prob", fail_prob, 1.0),
                              ("nan_prob", nan_prob, 1.0)):
            if not 0.0 <= float(val) <= hi:
                raise ValueError(f"{name} must lie in [0, {hi}], got {val!r}")
        if noise_std < 0 or epoch_cost_s < 0 or curve_power <= 0:
            raise ValueError("noise_std and epoch_cost_s must be >= 0 and curve_power > 0")
        self.max_budget = int(max_budget)
        self.fidelity_correlation = float(fidelity_correlation)
        self.curve_power = float(curve_power)
        self.noise_std = float(noise_std)
        self.epoch_cost_s = float(epoch_cost_s)
        self.cost_spread = float(cost_spread)
        self.multi_objective = bool(multi_objective)
        self.with_forbidden = bool(with_forbidden)
        self.fail_prob = float(fail_prob)
        self.nan_prob = float(nan_prob)
        self.objective_names: tuple[str, ...] = ("error", "size") if multi_objective else ("error",)
        self._search_space: Any = None

    def __repr__(self) -> str:
        return (f"MixedRastrigin(max_budget={self.max_budget}, fidelity_correlation={self.fidelity_correlation}, "
                f"noise_std={self.noise_std}, multi_objective={self.multi_objective})")

    # -- search space ---------------------------------------------------------------
    def space_dict(self) -> dict[str, dict[str, Any]]:
        """The declarative space (the format ``SearchSpace.from_dict`` reads); a fresh copy."""
        return copy.deepcopy(_SPACE)

    def forbidden(self) -> list[dict[str, Any]]:
        """Forbidden clauses (empty unless ``with_forbidden``)."""
        if not self.with_forbidden:
            return []
        return [{"all": [{"name": "optimizer", "equals": "adam"}, {"name": "activation", "equals": "sigmoid"}]}]

    def search_space(self) -> Any:
        """``evoautodl.space.SearchSpace`` of ``space_dict()`` and ``forbidden()``."""
        from evoautodl.space import SearchSpace

        return SearchSpace.from_dict(self.space_dict(), forbidden=self.forbidden())

    def _space(self) -> Any:
        """The search space, built once per process (not pickled)."""
        if self._search_space is None:
            self._search_space = self.search_space()
        return self._search_space

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_search_space": None}

    def sample_configs(self, n: int, seed: int = 0) -> list[dict[str, Any]]:
        """n random valid configs (inactive keys absent)."""
        space = self._space()
        rng = np.random.default_rng(seed)
        return [space.to_config(space.sample(rng)) for _ in range(n)]

    def check_space(self, space: Any, samples: int = 256) -> None:
        """``space`` only holds configurations this function can evaluate (its own space's values and conditions).

        Each hyperparameter's range or levels must lie inside its own; then ``samples``
        configurations drawn from ``space`` (seeded, so the check is repeatable) must pass
        `check_config` (this catches conditions the landscape does not follow).

        Raises:
            ConfigError: naming the hyperparameter (or the sampled configuration) and the problem.
        """
        from evoautodl.errors import ConfigError
        from evoautodl.space import GeneKind

        own = {h.name: h for h in self._space().hyperparameters}
        for h in space.hyperparameters:
            ref = own.get(h.name)
            if ref is None:
                continue
            numeric = (GeneKind.FLOAT, GeneKind.INT)
            if h.kind in numeric and ref.kind in numeric:
                ok = ref.lower <= h.lower and h.upper <= ref.upper and (ref.kind is GeneKind.FLOAT or
                                                                        h.kind is GeneKind.INT)
                allowed = f"{ref.kind.name.lower()} in [{ref.lower:g}, {ref.upper:g}]"
            else:
                values = h.levels if h.kind not in numeric else (h.lower, h.upper)
                ok = ref.kind not in numeric and all(v in ref.levels for v in values)
                allowed = (f"one of {list(ref.levels)}" if ref.kind not in numeric
                           else f"in [{ref.lower:g}, {ref.upper:g}]")
            if not ok:
                raise ConfigError(f"hyperparameter {h.name!r}: MixedRastrigin takes values {allowed}")
        rng = np.random.default_rng(0)
        for _ in range(samples):
            config = space.to_config(space.sample(rng))
            try:
                self.check_config(config)
            except ValueError as exc:
                raise ConfigError(f"the space holds configurations MixedRastrigin cannot evaluate ({exc}); its "
                                  "conditions must match the workload's own (MixedRastrigin().space_dict())") from None

    def check_config(self, config: Mapping[str, Any]) -> None:
        """Raise ValueError naming the key when a config is not a valid, active-only config."""
        unknown = [k for k in config if k not in _SPACE]
        if unknown:
            raise ValueError(f"MixedRastrigin: unknown hyperparameter {unknown[0]!r}")
        problem = self._space().explain_invalid(config)
        if problem:
            raise ValueError(f"MixedRastrigin: {problem} in {dict(config)!r}")

    # -- the landscape ------------------------------------------------------------------
    def _units(self, config: Mapping[str, Any]) -> dict[str, float]:
        return {k: _unit(_SPACE[k], config[k]) for k in
                ("lr", "batch_size", "layers", "width", "augment", "dropout", "momentum", "beta1")
                if k in config}

    def landscape(self, config: Mapping[str, Any]) -> tuple[float, float]:
        """(f, g): the full-budget error and the rank-scrambling function, both in (0.05, 0.95)."""
        u = self._units(config)
        sgd = config["optimizer"] == "sgd"
        lr_z = u["lr"] - (0.65 if sgd else 0.35) + 0.3 * (u["batch_size"] - 0.3)
        raw = (1.2 * _r(lr_z) + 0.3 * _r(u["batch_size"] - 0.3) + 0.4 * _r(u["layers"] - 0.6)
               + 0.5 * _r(u["width"] - 0.75) + 0.3 * _r(u["augment"] - 2 / 3)
               + _ACT_PENALTY[config["activation"]])
        raw += 0.3 * _r(u["dropout"] - 0.3) if "dropout" in u else 0.06
        raw += 0.05 + 0.4 * _r(u["momentum"] - 0.9) if sgd else 0.4 * _r(u["beta1"] - 0.8)
        f = 0.05 + 0.9 * (1.0 - math.exp(-raw))
        s = (math.sin(2 * math.pi * (3 * u["lr"] + 2 * u["width"]) + _ACT_PHASE[config["activation"]])
             + math.sin(2 * math.pi * (2 * u["batch_size"] - 3 * u["layers"] + u["augment"]) + (1.3 if sgd else 0))
             + math.sin(2 * math.pi * (5 * u.get("dropout", 0.5) + 2 * u.get("momentum", u.get("beta1", 0.5)))))
        g = min(max(_F_MEAN + _F_STD * s / 1.2247, 0.05), 0.95)  # sum of 3 sines has std ~ 1.2247
        return f, g

    def n_params(self, config: Mapping[str, Any]) -> int:
        """Parameters of the MLP the config describes (64 inputs, 10 outputs)."""
        w, depth = int(config["width"]), int(config["layers"])
        return _D_IN * w + w + (depth - 1) * (w * w + w) + w * _D_OUT + _D_OUT

    def _epoch_cost(self, config: Mapping[str, Any]) -> float:
        if self.cost_spread == 0.0:
            return self.epoch_cost_s
        lo, hi = math.log(_D_IN * 16 + 16 * 11 + 10), math.log(_D_IN * 1024 + 5 * 1024 * 1025 + 11 * 1024 + 10)
        s_u = (math.log(self.n_params(config)) - lo) / (hi - lo)
        return self.epoch_cost_s * (1.0 + self.cost_spread * (2.0 * s_u - 1.0))

    def curve(self, config: Mapping[str, Any], budget: int, seed: int = 0) -> list[float]:
        """Error after epochs 1..budget (noise, if any, seeded by ``seed``)."""
        f, g = self.landscape(config)
        span, c = self.max_budget - self.min_budget, self.fidelity_correlation
        rng = random.Random(f"{seed}:noise") if self.noise_std > 0 else None
        out = []
        for e in range(1, budget + 1):
            w = ((self.max_budget - e) / span) ** self.curve_power if span > 0 else 0.0
            v = f + w * (1.0 - c) * (g - f)
            y = v + w * _K_EARLY * (1.0 - v)
            out.append(y + rng.gauss(0.0, self.noise_std) if rng is not None else y)
        return out

    # -- workload protocol ----------------------------------------------------------------
    def setup(self, context: WorkerContext | None = None) -> None:
        """Nothing to prepare."""

    def evaluate(self, trial: Trial, context: WorkerContext | None = None) -> Evaluation:
        """Learning curve of ``trial.config`` up to ``trial.budget_epochs``."""
        b, b0 = resolve_budget(trial, self.max_budget, self.min_budget, what="MixedRastrigin")
        if self.fail_prob > 0 and random.Random(f"{trial.seed}:fail").random() < self.fail_prob:
            raise RuntimeError(f"MixedRastrigin: injected failure (fail_prob={self.fail_prob}) "
                               f"in trial {trial.trial_id}")
        self.check_config(trial.config)
        errors = self.curve(trial.config, b, trial.seed)
        if self.nan_prob > 0 and random.Random(f"{trial.seed}:nan").random() < self.nan_prob:
            errors[-1] = math.nan
        f, _ = self.landscape(trial.config)
        metrics = {"true_error": f, "n_params": float(self.n_params(trial.config))}
        objectives: tuple[float, ...] = (errors[-1],)
        if self.multi_objective:
            objectives += (self.n_params(trial.config) / 1e6,)
        return Evaluation(
            objectives=objectives,
            metrics=metrics,
            curve={"error": errors},
            epochs_trained=float(b - b0),
            cost_s=(b - b0) * self._epoch_cost(trial.config),
            checkpoint=trial.checkpoint_key,
        )
