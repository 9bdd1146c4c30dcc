"""Per-hyperparameter gene codecs: unit-interval gene <-> native value.

Gene layout: one gene in [0, 1] per hyperparameter. Decoding a gene ``g``:

* float: ``lower + g (upper - lower)``, in log space when ``log`` (rounded to
  15 significant digits). Encoding nudges the gene by a few ulps so that
  ``decode(encode(v)) == v`` (defaults and values from configs come back
  exactly: ConfigSpace compares a value sitting on a condition threshold
  exactly).
* int: ``t = (lower - 0.5) + g (upper - lower + 1)`` (log space between
  ``lower - 0.5`` and ``upper + 0.5`` when ``log``), value ``round(t)``: every
  integer owns an equal-width bin, so uniform genes sample integers uniformly
  (in log space for log ints).
* categorical / ordinal with k levels: level ``min(floor(g k), k - 1)``.
* constant: the value; the gene is unused (always 0.5).

Prior distributions (normal, beta) and categorical weights are ignored: genes
are uniform in the unit interval.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ConfigSpace as CS
import numpy as np

from evoautodl.errors import SpaceError
from evoautodl.space.checks import levels as levels_of
from evoautodl.space.checks import numeric_range

__all__ = ["GeneKind", "Hyperparameter", "describe", "native", "Codec"]

_NUDGE_ULPS = 16  # float encode searches this many ulps for a gene that decodes to the exact value
_LOG_DIGITS = 14  # log-scale floats decode to 15 significant digits


class GeneKind(enum.IntEnum):
    """Type of a gene (one per hyperparameter)."""

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


def native(v: Any) -> Any:
    """A numpy scalar as the equivalent Python value; anything else unchanged."""
    return v.item() if isinstance(v, np.generic) else v


def describe(hp: Any) -> Hyperparameter:
    """Our view of a ConfigSpace hyperparameter; SpaceError names it when unusable."""
    name = hp.name
    if isinstance(hp, CS.Constant):
        return Hyperparameter(name, GeneKind.CONSTANT, default=native(hp.value), levels=(native(hp.value),))
    if isinstance(hp, CS.CategoricalHyperparameter):
        levels = tuple(levels_of(name, "categorical", [native(c) for c in hp.choices]))
        return Hyperparameter(name, GeneKind.CATEGORICAL, levels=levels, default=native(hp.default_value))
    if isinstance(hp, CS.OrdinalHyperparameter):
        levels = tuple(levels_of(name, "ordinal", [native(c) for c in hp.sequence]))
        return Hyperparameter(name, GeneKind.ORDINAL, levels=levels, default=native(hp.default_value))
    lower, upper = getattr(hp, "lower", None), getattr(hp, "upper", None)
    if lower is None or upper is None:
        raise SpaceError(f"hyperparameter {name!r}: unsupported type {type(hp).__name__} (needs bounds)")
    int_types = (CS.UniformIntegerHyperparameter, CS.NormalIntegerHyperparameter, CS.BetaIntegerHyperparameter)
    is_int = isinstance(hp, int_types)
    log = bool(getattr(hp, "log", False))
    numeric_range(name, native(lower), native(upper), log=log, integer=is_int)
    kind = GeneKind.INT if is_int else GeneKind.FLOAT
    return Hyperparameter(name, kind, float(lower), float(upper), log, default=native(hp.default_value))


_CENTRE_TABLE = 4096  # an integer hyperparameter with fewer values keeps a table of its genes (snap_array)


class Codec:
    """Decode/encode one gene (closures keep the hot path free of branches).

    Attributes:
        decode: gene in [0, 1] -> native value.
        encode: legal value -> gene (bin centre for discrete kinds).
        legal: is a value legal for this hyperparameter?
        snap: gene -> the centre of its bin (None for floats, which need no snapping).
        snap_array: :attr:`snap` of an array of genes in [0, 1] (None for floats).
        decode_ints / encode_ints: an integer hyperparameter's arrays of genes -> integers and
            integers -> genes (bin centres); None for the other kinds.
    """

    __slots__ = ("decode", "decode_ints", "encode", "encode_ints", "legal", "snap", "snap_array")

    decode: Callable[[float], Any]
    encode: Callable[[Any], float]
    legal: Callable[[Any], bool]
    snap: Callable[[float], float] | None
    snap_array: Callable[[np.ndarray], np.ndarray] | None
    decode_ints: Callable[[np.ndarray], np.ndarray] | None
    encode_ints: Callable[[np.ndarray], np.ndarray] | None

    def __init__(self, hp: Hyperparameter):
        kind = hp.kind
        self.decode_ints = self.encode_ints = self.snap_array = None
        if kind is GeneKind.FLOAT or kind is GeneKind.INT:
            self._numeric(hp)
        elif kind is GeneKind.CONSTANT:
            value = hp.levels[0]
            self.decode = lambda g: value
            self.encode = lambda v: 0.5
            self.legal = lambda v: native(v) == value and type(native(v)) is type(value)
            self.snap = lambda g: 0.5
            self.snap_array = lambda g: np.full(np.shape(g), 0.5)
        else:
            levels = hp.levels
            k = len(levels)
            index = {(type(v), v): i for i, v in enumerate(levels)}

            def decode(g: float) -> Any:
                i = int(g * k)
                return levels[k - 1 if i >= k else i]

            def encode(v: Any) -> float:
                v = native(v)
                return (index[(type(v), v)] + 0.5) / k

            def legal(v: Any) -> bool:
                v = native(v)
                try:
                    return (type(v), v) in index
                except TypeError:
                    return False

            self.decode, self.encode, self.legal = decode, encode, legal
            self.snap = lambda g: (min(int(g * k), k - 1) + 0.5) / k
            # the same floating-point operations as snap, element by element (genes in [0, 1])
            self.snap_array = lambda g: (np.minimum(np.floor(np.asarray(g, dtype=np.float64) * k), k - 1) + 0.5) / k

    def _numeric(self, hp: Hyperparameter) -> None:
        lo, hi, log = hp.lower, hp.upper, hp.log
        a, b = (lo - 0.5, hi + 0.5) if hp.kind is GeneKind.INT else (lo, hi)
        if log:
            a, b = math.log(a), math.log(b)
        width = b - a

        def encode(v: float) -> float:
            t = math.log(v) if log else v
            return min(1.0, max(0.0, (t - a) / width))

        self.encode = encode
        if hp.kind is GeneKind.FLOAT:

            def decode(g: float) -> float:
                if log:  # exp(log(v)) is off by an ulp or two: 15 significant digits make round trips exact
                    v = math.exp(a + g * width)
                    v = round(v, _LOG_DIGITS - math.floor(math.log10(v)))
                else:
                    v = a + g * width
                return lo if v < lo else hi if v > hi else v

            def exact_encode(v: float) -> float:
                """The gene, nudged by a few ulps so that ``decode(gene) == v`` whenever possible."""
                g = encode(v)
                d = decode(g)
                if d == v:
                    return g
                up = d < v
                for _ in range(_NUDGE_ULPS):
                    g2 = math.nextafter(g, 1.0 if up else 0.0)
                    d2 = decode(g2)
                    if (d2 > v) if up else (d2 < v):
                        break
                    g, d = g2, d2
                    if d == v:
                        break
                return g

            def legal(v: Any) -> bool:
                return isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_) and lo <= v <= hi

            self.decode, self.encode, self.legal, self.snap = decode, exact_encode, legal, None
            return
        ilo, ihi = int(lo), int(hi)

        def idecode(g: float) -> int:
            t = a + g * width
            v = math.floor((math.exp(t) if log else t) + 0.5)
            return ilo if v < ilo else ihi if v > ihi else int(v)

        def ilegal(v: Any) -> bool:
            return (
                isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_)
                and float(v).is_integer() and ilo <= v <= ihi
            )

        def idecode_array(g: np.ndarray) -> np.ndarray:
            """:func:`idecode` of an array of genes (the same bins)."""
            t = a + g * width
            v = np.floor((np.exp(t) if log else t) + 0.5).astype(np.int64)
            return np.minimum(np.maximum(v, ilo), ihi)

        centres: list[np.ndarray] = []  # the genes of ilo..ihi, built on first use (ranges up to _CENTRE_TABLE)

        def iencode_array(v: np.ndarray) -> np.ndarray:
            """:func:`encode` of an array of integers in [ilo, ihi] (their bin centres, the genes a repair gives)."""
            if ihi - ilo >= _CENTRE_TABLE:
                return np.array([encode(x) for x in np.asarray(v).tolist()], dtype=np.float64)
            if not centres:
                centres.append(np.array([encode(x) for x in range(ilo, ihi + 1)], dtype=np.float64))
            return centres[0][np.asarray(v, dtype=np.int64) - ilo]

        self.decode, self.legal, self.decode_ints, self.encode_ints = idecode, ilegal, idecode_array, iencode_array
        self.snap = lambda g: encode(idecode(g))
        self.snap_array = lambda g: iencode_array(idecode_array(np.asarray(g, dtype=np.float64)))
