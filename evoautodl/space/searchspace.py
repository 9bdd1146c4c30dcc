"""SearchSpace: a ConfigSpace space seen as a fixed-length unit-cube genome.

Gene layout: one gene in [0, 1] per hyperparameter, in ConfigSpace's
topological order (parents before children). Inactive genes are kept, so a
branch that becomes active again remembers its value.

Decoding a gene ``g``:

* float: ``lower + g (upper - lower)``, in log space when ``log``.
* int: ``t = (lower - 0.5) + g (upper - lower + 1)`` (log space between
  ``lower - 0.5`` and ``upper + 0.5`` when ``log``), value ``round(t)``: every
  integer owns an equal-width bin, so uniform genes sample integers uniformly
  (in log space for log ints).
* categorical / ordinal with k levels: level ``min(floor(g k), k - 1)``.
* constant: the value; the gene is unused.

``repair`` clips, snaps discrete genes to the centre of their bin (so
``from_config(to_config(g)) == g`` on active genes), and resolves forbidden
clauses by resampling the genes a violated clause involves (bounded retries,
then whole-genome resampling, then :class:`InfeasibleSpaceError`).
Prior distributions (normal, beta) and categorical weights are ignored when
sampling: genes are sampled uniformly.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ConfigSpace as CS
import numpy as np

from evoautodl.errors import GenomeError, InfeasibleSpaceError, SpaceError
from evoautodl.space.compile import Compiler, condition_parents

__all__ = ["GeneKind", "Hyperparameter", "SearchSpace"]

_REPAIR_GENE_TRIES = 64
_REPAIR_FULL_TRIES = 256
_FEASIBILITY_SAMPLES = 2000


class GeneKind(enum.IntEnum):
    FLOAT = 0
    INT = 1
    CATEGORICAL = 2
    ORDINAL = 3
    CONSTANT = 4


@dataclass(frozen=True, slots=True)
class Hyperparameter:
    """What the genome layer knows about one hyperparameter."""

    name: str
    kind: GeneKind
    lower: float = 0.0
    upper: float = 1.0
    log: bool = False
    levels: tuple[Any, ...] = ()
    default: Any = None

    @property
    def n_levels(self) -> int:
        """Number of distinct values (0 for continuous floats)."""
        if self.kind is GeneKind.FLOAT:
            return 0
        if self.kind is GeneKind.INT:
            return int(self.upper - self.lower + 1)
        if self.kind is GeneKind.CONSTANT:
            return 1
        return len(self.levels)


def _native(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _describe(hp: Any) -> Hyperparameter:
    name = hp.name
    if isinstance(hp, CS.Constant):
        return Hyperparameter(name, GeneKind.CONSTANT, default=_native(hp.value), levels=(_native(hp.value),))
    if isinstance(hp, CS.CategoricalHyperparameter):
        levels = tuple(_native(c) for c in hp.choices)
        if not levels:
            raise SpaceError(f"hyperparameter {name!r}: categorical with no choices")
        return Hyperparameter(name, GeneKind.CATEGORICAL, levels=levels, default=_native(hp.default_value))
    if isinstance(hp, CS.OrdinalHyperparameter):
        levels = tuple(_native(c) for c in hp.sequence)
        if not levels:
            raise SpaceError(f"hyperparameter {name!r}: ordinal with an empty sequence")
        return Hyperparameter(name, GeneKind.ORDINAL, levels=levels, default=_native(hp.default_value))
    lower, upper = getattr(hp, "lower", None), getattr(hp, "upper", None)
    if lower is None or upper is None:
        raise SpaceError(f"hyperparameter {name!r}: unsupported type {type(hp).__name__} (needs bounds)")
    int_types = (CS.UniformIntegerHyperparameter, CS.NormalIntegerHyperparameter, CS.BetaIntegerHyperparameter)
    is_int = isinstance(hp, int_types)
    log = bool(getattr(hp, "log", False))
    if not lower < upper:
        raise SpaceError(f"hyperparameter {name!r}: empty or inverted range [{lower}, {upper}]")
    if log and lower <= 0:
        raise SpaceError(f"hyperparameter {name!r}: log scale needs lower > 0, got lower={lower}")
    kind = GeneKind.INT if is_int else GeneKind.FLOAT
    return Hyperparameter(name, kind, float(lower), float(upper), log, default=_native(hp.default_value))


class _Codec:
    """Decode/encode one gene (closures keep the hot path free of branches)."""

    __slots__ = ("decode", "encode", "legal", "snap")

    def __init__(self, hp: Hyperparameter):
        kind = hp.kind
        if kind is GeneKind.FLOAT or kind is GeneKind.INT:
            lo, hi = hp.lower, hp.upper
            if kind is GeneKind.INT:
                a, b = lo - 0.5, hi + 0.5
            else:
                a, b = lo, hi
            if hp.log:
                a, b = math.log(a), math.log(b)
            width = b - a
            log = hp.log
            ilo, ihi = int(lo), int(hi)

            if kind is GeneKind.FLOAT:
                def decode(g: float) -> float:
                    t = a + g * width
                    v = math.exp(t) if log else t
                    return lo if v < lo else hi if v > hi else v

                def encode(v: float) -> float:
                    t = math.log(v) if log else v
                    return min(1.0, max(0.0, (t - a) / width))

                def legal(v: Any) -> bool:
                    return isinstance(v, int | float) and not isinstance(v, bool) and lo <= v <= hi

                self.snap = None
            else:
                def decode(g: float) -> int:  # type: ignore[misc]
                    t = a + g * width
                    v = math.floor((math.exp(t) if log else t) + 0.5)
                    return ilo if v < ilo else ihi if v > ihi else int(v)

                def encode(v: float) -> float:
                    t = math.log(v) if log else v
                    return min(1.0, max(0.0, (t - a) / width))

                def legal(v: Any) -> bool:
                    return (
                        isinstance(v, int | float | np.integer) and not isinstance(v, bool)
                        and float(v).is_integer() and ilo <= v <= ihi
                    )

                self.snap = lambda g: encode(decode(g))
        elif kind is GeneKind.CONSTANT:
            value = hp.levels[0]
            decode = lambda g: value  # noqa: E731
            encode = lambda v: 0.5  # noqa: E731
            legal = lambda v: v == value and type(v) is type(value)  # noqa: E731
            self.snap = lambda g: 0.5
        else:
            levels = hp.levels
            k = len(levels)
            index = {(type(v), v): i for i, v in enumerate(levels)}

            def decode(g: float) -> Any:
                i = int(g * k)
                return levels[k - 1 if i >= k else i]

            def encode(v: Any) -> float:
                return (index[(type(v), v)] + 0.5) / k

            def legal(v: Any) -> bool:
                try:
                    return (type(v), v) in index
                except TypeError:
                    return False

            self.snap = lambda g: (min(int(g * k), k - 1) + 0.5) / k
        self.decode, self.encode, self.legal = decode, encode, legal


class SearchSpace:
    """A mixed, conditional search space with a unit-cube genome.

    Build it with :meth:`from_configspace`, :meth:`from_json` or
    :meth:`from_dict`. Genomes are float64 numpy arrays of length :attr:`dim`.
    """

    def __init__(self, cs: CS.ConfigurationSpace):
        self._cs = cs
        names = list(cs.keys())
        if not names:
            raise SpaceError("search space: no hyperparameters")
        self.hyperparameters: tuple[Hyperparameter, ...] = tuple(_describe(cs[n]) for n in names)
        self.names: tuple[str, ...] = tuple(names)
        self.index: dict[str, int] = {n: i for i, n in enumerate(names)}
        self.dim = len(names)
        self.kinds = tuple(h.kind for h in self.hyperparameters)
        self.n_levels = np.array([h.n_levels for h in self.hyperparameters], dtype=np.int64)
        self._codecs = [_Codec(h) for h in self.hyperparameters]
        self._decoders = [c.decode for c in self._codecs]
        ordinal_rank = {
            h.name: {v: i for i, v in enumerate(h.levels)}
            for h in self.hyperparameters if h.kind is GeneKind.ORDINAL
        }
        comp = Compiler(self.index, ordinal_rank)
        conds: list[Any] = [None] * self.dim
        parents: list[tuple[int, ...]] = [()] * self.dim
        for cond in cs.conditions:
            child = self.index[cond.child.name]
            pidx = tuple(sorted({self.index[p] for p in condition_parents(cond)}))
            if any(p >= child for p in pidx):  # ConfigSpace keeps parents first; guard anyway
                raise SpaceError(f"hyperparameter {cond.child.name!r}: parent listed after child")
            conds[child] = comp.condition(cond)
            parents[child] = pidx
        self._conditions = [(i, c) for i, c in enumerate(conds) if c is not None]
        self.parents: tuple[tuple[int, ...], ...] = tuple(parents)
        children: list[set[int]] = [set() for _ in range(self.dim)]
        for i in range(self.dim - 1, -1, -1):
            for p in parents[i]:
                children[p].add(i)
                children[p] |= children[i]
        self.descendants: tuple[tuple[int, ...], ...] = tuple(tuple(sorted(c)) for c in children)
        self._forbidden = [comp.forbidden(f) for f in cs.forbidden_clauses]
        self._forbidden_text = [str(f) for f in cs.forbidden_clauses]
        self.default_genome = self._encode_values(
            [h.default for h in self.hyperparameters], active=[True] * self.dim
        )
        self._discrete = [i for i, c in enumerate(self._codecs) if c.snap is not None]
        if self._forbidden:
            self._check_feasible()

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_configspace(cls, cs: CS.ConfigurationSpace, drop: Iterable[str] = ()) -> SearchSpace:
        """Wrap a ConfigSpace space; ``drop`` removes hyperparameters (e.g. a fidelity)."""
        drop = list(drop)
        if drop:
            cs = _without(cs, drop)
        return cls(cs)

    @classmethod
    def from_json(cls, path: str | Path, drop: Iterable[str] = ()) -> SearchSpace:
        """Read a ConfigSpace JSON file (as written by ConfigSpace or benchmark libraries)."""
        p = Path(path)
        if not p.is_file():
            raise SpaceError(f"search space file {str(p)!r} does not exist")
        try:
            text = p.read_text()
            json.loads(text)
        except (OSError, ValueError) as exc:
            raise SpaceError(f"search space file {str(p)!r} is not valid JSON: {exc}") from exc
        from ConfigSpace.read_and_write import json as cs_json

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cs = cs_json.read(text)
        except Exception as exc:
            raise SpaceError(f"search space file {str(p)!r}: ConfigSpace cannot read it: {exc}") from exc
        return cls.from_configspace(cs, drop=drop)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], forbidden: Sequence[Any] = ()) -> SearchSpace:
        """Build from the compact declarative form (see :mod:`evoautodl.space.declarative`)."""
        from evoautodl.space.declarative import configspace_from_dict

        return cls(configspace_from_dict(spec, forbidden))

    def to_configspace(self) -> CS.ConfigurationSpace:
        """The underlying ConfigSpace object."""
        return self._cs

    def to_json(self, path: str | Path) -> None:
        """Write the space as ConfigSpace JSON."""
        self._cs.to_json(Path(path))

    def __getstate__(self) -> dict[str, Any]:
        return {"cs": self._cs.to_serialized_dict()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(CS.ConfigurationSpace.from_serialized_dict(state["cs"]))  # type: ignore[misc]

    def __repr__(self) -> str:
        n_cond = sum(1 for _ in self._conditions)
        return f"SearchSpace({self.dim} hyperparameters, {n_cond} conditions, {len(self._forbidden)} forbidden)"

    def __len__(self) -> int:
        return self.dim

    # ------------------------------------------------------------------ decode
    def _values(self, genome: Sequence[float]) -> list[Any]:
        """Decoded values, None where inactive (genome assumed in range)."""
        vals = [dec(g) for dec, g in zip(self._decoders, genome)]
        for i, cond in self._conditions:
            if not cond(vals):
                vals[i] = None
        return vals

    def _violated(self, vals: Sequence[Any]) -> int:
        """Index of the first violated forbidden clause, or -1."""
        for k, (pred, _) in enumerate(self._forbidden):
            if pred(vals):
                return k
        return -1

    def _check_genome(self, genome: Any) -> np.ndarray:
        g = np.asarray(genome, dtype=np.float64)
        if g.shape != (self.dim,):
            raise GenomeError(f"genome has shape {g.shape}, expected ({self.dim},) for {self!r}")
        return g

    def active_mask(self, genome: Sequence[float]) -> np.ndarray:
        """Boolean mask of active genes."""
        g = np.clip(self._check_genome(genome), 0.0, 1.0)
        return np.array([v is not None for v in self._values(g)], dtype=bool)

    def to_config(self, genome: Sequence[float]) -> dict[str, Any]:
        """Active hyperparameters as native Python values.

        Raises GenomeError for a wrong length, NaN, or a genome that violates a
        forbidden clause (call :meth:`repair` first).
        """
        if len(genome) != self.dim:
            raise GenomeError(f"genome has length {len(genome)}, expected {self.dim}")
        g = [0.0 if x < 0.0 else 1.0 if x > 1.0 else float(x) for x in genome]
        if any(x != x for x in g):
            raise GenomeError("genome contains NaN: call repair() first")
        vals = self._values(g)
        if self._forbidden:
            k = self._violated(vals)
            if k >= 0:
                raise GenomeError(f"genome violates forbidden clause {self._forbidden_text[k]}: call repair()")
        return {n: v for n, v in zip(self.names, vals) if v is not None}

    # ------------------------------------------------------------------ encode
    def _encode_values(self, values: Sequence[Any], active: Sequence[bool]) -> np.ndarray:
        out = np.empty(self.dim)
        for i, (codec, v) in enumerate(zip(self._codecs, values)):
            out[i] = codec.encode(v) if active[i] else self.default_genome[i]
        return out

    def from_config(self, config: Mapping[str, Any]) -> np.ndarray:
        """Genome of a valid config; inactive genes take the default's gene."""
        problem = self.explain_invalid(config)
        if problem:
            raise GenomeError(f"invalid configuration: {problem}")
        values = [config.get(n) for n in self.names]
        return self._encode_values(values, [n in config for n in self.names])

    # ------------------------------------------------------------------ validity
    def explain_invalid(self, config: Mapping[str, Any]) -> str | None:
        """None when ``config`` is valid, else the first problem found."""
        unknown = [k for k in config if k not in self.index]
        if unknown:
            return f"unknown hyperparameter(s) {unknown}"
        vals: list[Any] = [None] * self.dim
        for i, (n, codec) in enumerate(zip(self.names, self._codecs)):
            if n in config:
                if not codec.legal(config[n]):
                    return f"{config[n]!r} is not a legal value of {n!r}"
                vals[i] = config[n]
        active = [True] * self.dim
        for i, cond in self._conditions:
            active[i] = cond(vals)
            if not active[i] and vals[i] is not None:
                return f"{self.names[i]!r} is set but inactive"
        for i, n in enumerate(self.names):
            if active[i] and vals[i] is None:
                return f"active hyperparameter {n!r} is missing"
        k = self._violated(vals)
        if k >= 0:
            return f"violates forbidden clause {self._forbidden_text[k]}"
        return None

    def is_valid(self, config: Mapping[str, Any]) -> bool:
        """True when the config has exactly the active hyperparameters, legal values, no forbidden."""
        return self.explain_invalid(config) is None

    # ------------------------------------------------------------------ sample / repair
    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """A random valid genome (uniform in the unit cube, then repaired)."""
        return self.repair(rng.random(self.dim), rng)

    def snap(self, genome: np.ndarray) -> np.ndarray:
        """Clip to [0, 1] and snap discrete genes to their bin centres (no forbidden handling)."""
        g = np.clip(genome, 0.0, 1.0)
        codecs = self._codecs
        for i in self._discrete:
            g[i] = codecs[i].snap(g[i])
        return g

    def repair(self, genome: Sequence[float], rng: np.random.Generator | None = None) -> np.ndarray:
        """Any vector of the right length -> a genome whose config is valid.

        NaN genes take the default's gene; out-of-range genes are clipped;
        discrete genes snap to their bin centres; forbidden clauses are resolved
        by resampling the genes of a violated clause (bounded), then the whole
        genome. ``rng`` defaults to one seeded from the genome itself, so
        repair is a pure, deterministic function.
        """
        g = self._check_genome(genome).copy()
        nan = np.isnan(g)
        if nan.any():
            g[nan] = self.default_genome[nan]
        g = self.snap(g)
        if not self._forbidden:
            return g
        vals = self._values(g)
        k = self._violated(vals)
        if k < 0:
            return g
        if rng is None:
            rng = np.random.default_rng(int.from_bytes(hashlib.blake2b(g.tobytes(), digest_size=8).digest(), "little"))
        for _ in range(_REPAIR_GENE_TRIES):
            genes = self._forbidden[k][1]
            i = genes[int(rng.integers(len(genes)))]
            g[i] = rng.random()
            g = self.snap(g)
            k = self._violated(self._values(g))
            if k < 0:
                return g
        for _ in range(_REPAIR_FULL_TRIES):
            g = self.snap(rng.random(self.dim))
            if self._violated(self._values(g)) < 0:
                return g
        raise InfeasibleSpaceError(
            f"could not repair a genome in {_REPAIR_GENE_TRIES + _REPAIR_FULL_TRIES} tries: the forbidden "
            f"clauses exclude (nearly) all configurations: {self._forbidden_text}"
        )

    def _check_feasible(self) -> None:
        rng = np.random.default_rng(0)
        for _ in range(_FEASIBILITY_SAMPLES):
            if self._violated(self._values(self.snap(rng.random(self.dim)))) < 0:
                return
        raise InfeasibleSpaceError(
            f"search space: no valid configuration in {_FEASIBILITY_SAMPLES} random samples; the forbidden "
            f"clauses exclude (nearly) everything: {self._forbidden_text}"
        )

    # ------------------------------------------------------------------ distance
    def distance(self, a: Sequence[float], b: Sequence[float]) -> float:
        """Normalised mixed-type (Gower-style) distance in [0, 1].

        Averaged over hyperparameters active in either genome: 1 when active in
        only one; categorical 0/1; float/int/ordinal the absolute difference on
        the unit (log) scale of the decoded value.
        """
        ga = self.snap(self._check_genome(a))
        gb = self.snap(self._check_genome(b))
        va, vb = self._values(ga), self._values(gb)
        total, count = 0.0, 0
        for i, h in enumerate(self.hyperparameters):
            ia, ib = va[i] is not None, vb[i] is not None
            if not (ia or ib):
                continue
            count += 1
            if ia != ib:
                total += 1.0
            elif h.kind is GeneKind.CATEGORICAL:
                total += 0.0 if va[i] == vb[i] else 1.0
            elif h.kind is GeneKind.ORDINAL:
                total += abs(h.levels.index(va[i]) - h.levels.index(vb[i])) / max(1, len(h.levels) - 1)
            elif h.kind is GeneKind.CONSTANT:
                pass
            else:
                f = (lambda v: math.log(v)) if h.log else (lambda v: v)
                total += abs(f(va[i]) - f(vb[i])) / (f(h.upper) - f(h.lower))
        return total / count if count else 0.0

    def to_configuration(self, config: Mapping[str, Any]) -> CS.Configuration:
        """A ConfigSpace Configuration (ConfigSpace checks it)."""
        return CS.Configuration(self._cs, values=dict(config))


def _without(cs: CS.ConfigurationSpace, drop: list[str]) -> CS.ConfigurationSpace:
    """A copy of ``cs`` without the named hyperparameters."""
    missing = [d for d in drop if d not in cs]
    if missing:
        raise SpaceError(f"cannot drop unknown hyperparameter(s) {missing}")
    for cond in cs.conditions:
        names = [cond.child.name, *condition_parents(cond)]
        hit = [n for n in names if n in drop]
        if hit and cond.child.name not in drop:
            raise SpaceError(f"cannot drop {hit}: the condition of {cond.child.name!r} depends on it")
    new = CS.ConfigurationSpace()
    new.add([cs[n] for n in cs if n not in drop])
    for cond in cs.conditions:
        if cond.child.name not in drop:
            new.add(cond)
    for f in cs.forbidden_clauses:
        if not any(n in str(f) for n in drop):
            new.add(f)
    return new
