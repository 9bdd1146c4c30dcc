"""Checks of algorithm options: one clear ConfigError naming the algorithm and the option.

Every algorithm validates its constructor options with these, so a bad value in
an experiment's ``[algorithm]`` table reads ``ga: population_size must be >= 2,
got 1`` however the algorithm was built.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from evoautodl.errors import ConfigError

__all__ = ["at_least", "builtin_only", "mutation", "one_of", "params_table", "positive", "probability"]


def at_least(algorithm: str, option: str, value: Any, minimum: int) -> int:
    """``value`` as an int, at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value or value < minimum:
        raise ConfigError(f"{algorithm}: {option} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def probability(algorithm: str, option: str, value: Any, *, optional: bool = False) -> float | None:
    """``value`` in [0, 1] (None allowed when ``optional``)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{algorithm}: {option} must be in [0, 1], got {value!r}")
    return float(value)


def positive(algorithm: str, option: str, value: Any) -> float:
    """``value`` > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{algorithm}: {option} must be > 0, got {value!r}")
    return float(value)


def one_of(algorithm: str, option: str, value: Any, choices: Iterable[str]) -> str:
    """``value`` among ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise ConfigError(f"{algorithm}: {option} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def mutation(algorithm: str, rate: Any, sigma: Any) -> tuple[float | None, float]:
    """The usual (mutation_rate, mutation_sigma) pair: rate in [0, 1] or None, sigma > 0."""
    return probability(algorithm, "mutation_rate", rate, optional=True), positive(algorithm, "mutation_sigma", sigma)


def params_table(algorithm: str, option: str, value: Any) -> dict[str, Any]:
    """An operator's keyword parameters (``mutation_params = {scale = 0.1}``): a table, or None for none."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ConfigError(f"{algorithm}: {option} must be a table of keyword parameters, got {value!r}")
    return dict(value)


def builtin_only(algorithm: str, operator: Any, option: str, **settings: tuple[Any, Any]) -> None:
    """Refuse settings of a built-in operator (``name=(value, default)``) when ``operator`` is a user's.

    ``mutation_sigma = 0.3`` with ``mutation = "mymodule:cauchy"`` would be
    silently ignored: it is an error instead, pointing at ``<option>_params``.
    """
    if getattr(operator, "builtin", True):
        return
    for name, (value, default) in settings.items():
        if value != default:
            raise ConfigError(
                f"{algorithm}: {name} sets the built-in {option}, but {option} is {operator.label!r}; "
                f"give its parameters in {option}_params"
            )
