"""What every library adapter shares: a lazily built library object and exact resume by replay.

An adapter is an :class:`~evoautodl.algorithms.base.Algorithm`: ``ask`` turns the
library's suggestions into trials (``make_trial``), ``on_result`` tells the library. The
library object (an Optuna study, a DEHB or SMAC optimizer) is built on the first ``ask``
(constructors stay cheap and do no file I/O) and every call that changes it goes through
:meth:`LibraryAlgorithm._call`, which records it.

Exact resume. ``state_dict()`` holds the adapter's own bookkeeping plus the list of
recorded library calls, never the library object (its locks, threads and loggers do not
pickle). ``load_state_dict()`` builds a fresh library object with the same seed and
replays the calls in their original order; the libraries are deterministic functions of
their seed and call sequence, and the replay checks it: a suggestion that differs from
the recorded one raises :class:`~evoautodl.errors.RunDirError` instead of continuing a
different run. Replay costs what the calls cost (a few seconds for hundreds of trials).

Pseudocode::

    _call(op, *args):  out = _apply(op, args); calls.append((op, args, digest(out))); return out
    load_state_dict(s): restore bookkeeping; lib = build(); for op, args, d in calls:
                        assert digest(_apply(op, args)) == d
"""

from __future__ import annotations

import copy
import json
from abc import abstractmethod
from typing import Any

import numpy as np

from evoautodl.algorithms.base import Algorithm
from evoautodl.baselines import BASELINES, require_baseline
from evoautodl.errors import ConfigError, RunDirError, SpaceError
from evoautodl.fidelity import BudgetLadder
from evoautodl.space import SearchSpace

__all__ = ["LibraryAlgorithm", "config_to_genome", "rung_steps"]

_VOLATILE = ("space", "_lib", "_handles")


def _digest(out: Any) -> str:
    return json.dumps(out, sort_keys=True, default=str)


def config_to_genome(space: SearchSpace, config: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """Our genome of a library's configuration (active hyperparameters only).

    A configuration the library left invalid (one that violates a forbidden clause:
    DEHB and SMAC sample conditions but not every forbidden clause) is repaired as every
    evoautodl genome is, so no invalid configuration reaches the workload.
    """
    active = {k: v for k, v in config.items() if k in space.index and v is not None}
    if space.is_valid(active):
        return space.from_config(active)
    genome = space.default_genome.copy()
    for name, value in active.items():
        try:
            genome[space.index[name]] = space.encode_gene(space.index[name], value)
        except (SpaceError, ValueError, TypeError):
            continue
    return space.repair(genome, rng)


def rung_steps(ladder: BudgetLadder, min_budget: float | None = None, eta: float | None = None) -> tuple[float, ...]:
    """Budgets ``min * eta**k`` below the maximum, then the maximum (whole epochs for integer ladders)."""
    lo = float(min_budget if min_budget is not None else ladder.budgets[0])
    r = float(eta if eta is not None else ladder.eta)
    out: list[float] = []
    b = lo
    while b < ladder.max_budget - 1e-9:
        v = float(round(b)) if ladder.integer else b
        if not out or v > out[-1]:
            out.append(v)
        b *= r
    if not out or out[-1] < ladder.max_budget:
        out.append(float(ladder.max_budget))
    return tuple(out)


class LibraryAlgorithm(Algorithm):
    """Base class of the adapters (see the module docstring).

    Subclasses set ``name`` (a key of ``BASELINES``), implement :meth:`_build` (the library
    object) and :meth:`_apply` (one library call by name), and call :meth:`_call` for every
    call that changes the library's state.
    """

    name = "library"
    #: the library only learns from the trials it proposed: enqueued configurations are evaluated, not told to it
    learns_from_enqueued = False

    def __init__(self, space: SearchSpace, *, seed: int = 0, n_objectives: int = 1, max_budget: float = 1.0,
                 ladder: BudgetLadder | None = None):
        require_baseline(self.name, where=f"algorithm {self.name!r}")
        super().__init__(space, seed=seed, n_objectives=n_objectives, max_budget=max_budget, ladder=ladder)
        if n_objectives != 1:
            raise ConfigError(f"algorithm {self.name!r}: single objective only (the workload reports "
                              f"{n_objectives}); use nsga2 for several objectives")
        if self.multi_fidelity and ladder is None:
            raise ConfigError(f"algorithm {self.name!r}: needs a fidelity ladder ([fidelity] min_budget, eta)")
        self._lib: Any = None
        self._handles: dict[Any, Any] = {}
        self._calls: list[tuple[str, tuple[Any, ...], str]] = []

    # ------------------------------------------------------------------ library calls
    @abstractmethod
    def _build(self) -> Any:
        """A fresh library object seeded from ``self.seed`` (no files left behind)."""

    @abstractmethod
    def _apply(self, op: str, args: tuple[Any, ...]) -> Any:
        """Perform one library call; return a JSON-able value (checked on replay)."""

    @property
    def lib(self) -> Any:
        if self._lib is None:
            self._lib = self._build()
        return self._lib

    def _call(self, op: str, *args: Any) -> Any:
        out = self._apply(op, args)
        self._calls.append((op, copy.deepcopy(args), _digest(out)))
        return out

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return copy.deepcopy({k: v for k, v in self.__dict__.items() if k not in _VOLATILE})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(copy.deepcopy(state))
        self._lib, self._handles = None, {}
        for k, (op, args, digest) in enumerate(self._calls):
            got = _digest(self._apply(op, args))
            if got != digest:
                raise RunDirError(
                    f"algorithm {self.name!r}: replaying library call {k} ({op}) gave {got[:120]}, the run recorded "
                    f"{digest[:120]}: the installed {'/'.join(BASELINES[self.name].packages)} behaves differently "
                    "from the one that started the run"
                )
