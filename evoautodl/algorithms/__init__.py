"""Ask/tell optimisers and their registry.

The registry maps a short name (what an experiment's ``[algorithm] name``
says) to ``"module:Class"``; a module is only imported when its algorithm is
used, so ``import evoautodl.algorithms`` stays cheap and algorithms whose
module is not installed (yet) do not break the others::

    from evoautodl.algorithms import get_algorithm
    algo = get_algorithm("ga", space, seed=1, population_size=20, replacement="plus")

Every algorithm is built as ``Cls(space, *, **options, **common)`` where
``common`` are ``seed``, ``n_objectives``, ``max_budget`` and ``ladder``
(:data:`~evoautodl.algorithms.base.COMMON_ARGUMENTS`). Operator options
(``mutation=``, ``crossover=``, ``selection=``, DE's ``strategy=``) take a
built-in name, a callable or ``"module:function"`` and are checked when the
algorithm is built (:mod:`evoautodl.operators.values`).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
from collections.abc import Iterator, Mapping
from typing import Any

from evoautodl.algorithms.base import COMMON_ARGUMENTS, Algorithm, Member
from evoautodl.errors import ConfigError

__all__ = ["ALGORITHMS", "ALGORITHM_SPECS", "BASELINE_LIBRARIES", "COMMON_ARGUMENTS", "Algorithm", "Member",
           "algorithm_class", "algorithm_options", "available_algorithms", "get_algorithm"]


#: name -> "module:Class" of every known algorithm (resolved on demand)
ALGORITHM_SPECS: dict[str, str] = {
    "random": "evoautodl.algorithms.random_search:RandomSearch",
    "ga": "evoautodl.algorithms.ga:GeneticAlgorithm",
    "steady_state": "evoautodl.algorithms.steady_state:SteadyStateEA",
    "regularized": "evoautodl.algorithms.regularized:RegularizedEvolution",
    "de": "evoautodl.algorithms.de:DifferentialEvolution",
    "nsga2": "evoautodl.algorithms.nsga2:NSGA2",
    "dehb": "evoautodl.algorithms.dehb:DEHB",
    "asha_ea": "evoautodl.algorithms.asha:ASHAEvolution",
    "pbt": "evoautodl.algorithms.pbt:PBT",
    "design": "evoautodl.algorithms.design:SpaceFillingDesign",
    "adaptive_mf": "evoautodl.algorithms.adaptive:AdaptiveFidelityEA",
}

#: baselines from other libraries (evoautodl.baselines): name -> the library module each needs
#: (imported only when the baseline is built; ``pip install 'evoautodl[baselines]'``)
BASELINE_LIBRARIES: dict[str, str] = {
    "optuna_tpe": "optuna",
    "optuna_hyperband": "optuna",
    "dehb_lib": "dehb",
    "smac_bo": "smac",
    "smac_hyperband": "smac",
}
ALGORITHM_SPECS.update({
    "optuna_tpe": "evoautodl.baselines.optuna_tpe:OptunaTPE",
    "optuna_hyperband": "evoautodl.baselines.optuna_tpe:OptunaHyperband",
    "dehb_lib": "evoautodl.baselines.dehb_lib:DEHBLibrary",
    "smac_bo": "evoautodl.baselines.smac_lib:SMACBO",
    "smac_hyperband": "evoautodl.baselines.smac_lib:SMACHyperband",
})

_COMMON = COMMON_ARGUMENTS


def _module_exists(spec: str) -> bool:
    module = spec.split(":", 1)[0]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _resolve(name: str) -> type[Algorithm]:
    spec = ALGORITHM_SPECS.get(name, name)
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"algorithm {name!r}: cannot import {module_name!r} ({exc}); a user algorithm "
                          "'module:Class' must be importable (on PYTHONPATH)") from exc
    try:
        cls = getattr(module, attr)
    except AttributeError:
        # the module may name its class differently: take the one Algorithm subclass it defines
        found = [v for v in vars(module).values()
                 if isinstance(v, type) and issubclass(v, Algorithm) and v.__module__ == module_name
                 and not inspect.isabstract(v)]
        if len(found) != 1:
            raise ConfigError(f"algorithm {name!r}: {module_name} defines no class {attr!r}") from None
        cls = found[0]
    return cls


class _Registry(Mapping[str, type]):
    """``name -> class`` for the algorithms whose modules exist; classes are imported on access."""

    def __getitem__(self, name: str) -> type[Algorithm]:
        if name not in ALGORITHM_SPECS or not _module_exists(ALGORITHM_SPECS[name]):
            raise KeyError(name)
        return _resolve(name)

    def __iter__(self) -> Iterator[str]:
        return iter(available_algorithms())

    def __len__(self) -> int:
        return len(available_algorithms())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in available_algorithms()

    def __repr__(self) -> str:
        return f"ALGORITHMS({', '.join(available_algorithms())})"


#: the registry: ``ALGORITHMS["ga"]`` is the GA class (imported on first access)
ALGORITHMS: Mapping[str, type] = _Registry()


def available_algorithms() -> list[str]:
    """Names of the registered algorithms whose modules (and, for a baseline, its library) are present."""
    return [n for n, spec in ALGORITHM_SPECS.items()
            if _module_exists(spec) and (n not in BASELINE_LIBRARIES or _module_exists(BASELINE_LIBRARIES[n]))]


def algorithm_options(cls: type) -> dict[str, Any]:
    """Keyword options a class's constructor takes (name -> default; ``inspect.Parameter.empty`` if required).

    A constructor that ends in ``**common`` takes the common arguments
    (:data:`COMMON_ARGUMENTS`, with :class:`Algorithm`'s defaults) besides its own.
    """
    init = next((k.__dict__["__init__"] for k in cls.__mro__ if "__init__" in k.__dict__), None)
    out: dict[str, Any] = {}
    params = list(inspect.signature(init).parameters.values())[1:] if init is not None else []  # drop self
    more = False
    for p in params:
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            more = True
        elif p.kind is not inspect.Parameter.VAR_POSITIONAL and p.name != "space":
            out[p.name] = p.default
    if more and issubclass(cls, Algorithm):
        base = inspect.signature(Algorithm.__init__).parameters
        for name in COMMON_ARGUMENTS:
            out.setdefault(name, base[name].default)
    return out


def get_algorithm(name: str, space: Any, **options: Any) -> Algorithm:
    """Build the algorithm registered as ``name`` (or a user's ``"module:Class"``) on ``space``.

    Raises:
        ConfigError: for an unknown name (listing the known ones), a known name
            whose module is missing, or an option the class does not take
            (naming it and listing the valid ones).
    """
    return _build(name, algorithm_class(name), space, options)


def algorithm_class(name: str) -> type[Algorithm]:
    """The class registered as ``name``, or a user's ``"module:Class"`` (imported now).

    Raises:
        ConfigError: an unknown name (listing the known ones), a registered one whose
            module or library is missing, or a ``"module:Class"`` that is no Algorithm.
    """
    if not isinstance(name, str):
        raise ConfigError(f"algorithm name: expected a string, got {name!r}")
    if ":" in name and name not in ALGORITHM_SPECS:  # a user's own class, "module:Class"
        cls = _resolve(name)
        if not (isinstance(cls, type) and issubclass(cls, Algorithm)):
            raise ConfigError(f"algorithm {name!r} is not a subclass of evoautodl.algorithms.base.Algorithm")
        return cls
    if name not in ALGORITHM_SPECS:
        raise ConfigError(
            f"unknown algorithm {name!r}{_did_you_mean(name, ALGORITHM_SPECS)}; "
            f"known algorithms: {', '.join(available_algorithms())}"
        )
    if name in BASELINE_LIBRARIES and not _module_exists(BASELINE_LIBRARIES[name]):
        raise ConfigError(f"algorithm {name!r} needs the {BASELINE_LIBRARIES[name]!r} package, which is not "
                          "installed (pip install 'evoautodl[baselines]')")
    if not _module_exists(ALGORITHM_SPECS[name]):
        raise ConfigError(
            f"algorithm {name!r} is registered but its module {ALGORITHM_SPECS[name].split(':')[0]} is not "
            f"installed; available: {', '.join(available_algorithms())}"
        )
    return _resolve(name)


def _build(name: str, cls: type[Algorithm], space: Any, options: dict[str, Any]) -> Algorithm:
    valid = algorithm_options(cls)
    opts = dict(options)
    if "ladder" not in valid:
        ladder = opts.pop("ladder", None)
        if ladder is not None:
            opts["max_budget"] = ladder.max_budget
    unknown = [k for k in opts if k not in valid]
    if unknown:
        own = [k for k in valid if k not in _COMMON]
        raise ConfigError(
            f"algorithm {name!r}: unknown option {unknown[0]!r}{_did_you_mean(unknown[0], valid)}"
            + (f" (and {', '.join(repr(k) for k in unknown[1:])})" if len(unknown) > 1 else "")
            + f"; valid options: {', '.join(own) if own else '(none)'}"
            + f" (plus {', '.join(k for k in _COMMON if k in valid)})"
        )
    missing = [k for k, d in valid.items() if d is inspect.Parameter.empty and k not in opts]
    if missing:
        raise ConfigError(f"algorithm {name!r}: missing required option(s) {', '.join(missing)}")
    return cls(space, **opts)


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
