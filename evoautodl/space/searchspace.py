"""SearchSpace: a ConfigSpace space seen as a fixed-length unit-cube genome.

Gene layout: one gene in [0, 1] per hyperparameter, in ConfigSpace's
topological order (parents before children). Inactive genes are kept, so a
branch that becomes active again remembers its value. The gene <-> value
mapping of each type is described in :mod:`evoautodl.space.codec`.

``repair`` clips, replaces NaN by the default's gene, snaps discrete genes to
the centre of their bin (so ``from_config(to_config(g)) == g`` on active
genes), and resolves forbidden clauses: first by resampling the genes a
violated clause involves (bounded), then by setting them to the default's
genes, then by resampling the whole genome (bounded), and finally by returning
the default genome (ConfigSpace guarantees the default configuration is valid).
It therefore never loops forever and only raises :class:`InfeasibleSpaceError`
for a space whose default itself is forbidden.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ConfigSpace as CS
import numpy as np

from evoautodl.errors import GenomeError, InfeasibleSpaceError, SpaceError
from evoautodl.space.codec import Codec, GeneKind, Hyperparameter, describe
from evoautodl.space.compile import Compiler, Pred, condition_parents, conjunction_quirks, without
from evoautodl.space.jsonio import quiet_configspace, space_from_serialized

__all__ = ["GeneKind", "Hyperparameter", "SearchSpace"]

_REPAIR_GENE_TRIES = 64
_REPAIR_FULL_TRIES = 256
_FEASIBILITY_SAMPLES = 2000
_FLOAT = frozenset((float,))
_CACHE_SIZE = 4096  # decoded genomes (and snapped genes, per gene) remembered; cleared when full


class SearchSpace:
    """A mixed, conditional search space with a unit-cube genome.

    Build it with :meth:`from_configspace`, :meth:`from_json` or
    :meth:`from_dict`. Genomes are float64 numpy arrays of length :attr:`dim`.

    Attributes:
        names, index, dim, kinds, n_levels, hyperparameters: the genes.
        parents: per gene, the genes its condition refers to.
        descendants: per gene, all genes whose activity (transitively) depends on it.
        default_genome: the genome of ConfigSpace's default configuration.
    """

    def __init__(self, cs: CS.ConfigurationSpace):
        if conjunction_quirks(cs):  # an AND and an OR ConfigSpace confuses: rebuild with the workaround
            cs = space_from_serialized(cs.to_serialized_dict())
        self._cs = cs
        names = list(cs.keys())
        if not names:
            raise SpaceError("search space: no hyperparameters")
        self.hyperparameters: tuple[Hyperparameter, ...] = tuple(describe(cs[n]) for n in names)
        self.names: tuple[str, ...] = tuple(names)
        self.index: dict[str, int] = {n: i for i, n in enumerate(names)}
        self.dim = len(names)
        self.kinds = tuple(h.kind for h in self.hyperparameters)
        self.n_levels = np.array([h.n_levels for h in self.hyperparameters], dtype=np.int64)
        self._codecs = [Codec(h) for h in self.hyperparameters]
        self._decoders = [c.decode for c in self._codecs]
        ordinal_rank = {
            h.name: {v: i for i, v in enumerate(h.levels)}
            for h in self.hyperparameters if h.kind is GeneKind.ORDINAL
        }
        self._compiler = Compiler(self.index, ordinal_rank)
        conds: list[Any] = [None] * self.dim
        parents: list[tuple[int, ...]] = [()] * self.dim
        for cond in cs.conditions:
            child = self.index[cond.child.name]
            pidx = tuple(sorted({self.index[p] for p in condition_parents(cond)}))
            if any(p >= child for p in pidx):  # ConfigSpace keeps parents first; guard anyway
                raise SpaceError(f"hyperparameter {cond.child.name!r}: parent listed after child")
            conds[child] = self._compiler.condition(cond)
            parents[child] = pidx
        self._conditions = [(i, c) for i, c in enumerate(conds) if c is not None]
        self._gene_conditions: list[Pred | None] = conds
        self.parents: tuple[tuple[int, ...], ...] = tuple(parents)
        children: list[set[int]] = [set() for _ in range(self.dim)]
        for i in range(self.dim - 1, -1, -1):
            for p in parents[i]:
                children[p].add(i)
                children[p] |= children[i]
        self.descendants: tuple[tuple[int, ...], ...] = tuple(tuple(sorted(c)) for c in children)
        # activity only needs the genes conditions read (and any whose decoded value can be None)
        read = {p for ps in parents for p in ps}
        read |= {i for i, h in enumerate(self.hyperparameters) if any(v is None for v in h.levels)}
        self._activity_plan = [(i, conds[i], self._decoders[i] if i in read else None)
                               for i in range(self.dim) if conds[i] is not None or i in read]
        self._read = sorted(read)  # the genes activity depends on
        self._masks: dict[tuple[float, ...], np.ndarray] = {}  # those genes -> activity mask (active_masks)
        self._forbidden = [self._compiler.forbidden(f) for f in cs.forbidden_clauses]
        self._forbidden_text = [str(f) for f in cs.forbidden_clauses]
        self.default_genome = np.array([c.encode(h.default) for c, h in zip(self._codecs, self.hyperparameters)])
        self._discrete = [i for i, c in enumerate(self._codecs) if c.snap is not None]
        self._snaps = [(i, self._codecs[i].snap, {}) for i in self._discrete]  # (gene, snap, its cache)
        self._decoded: dict[tuple[float, ...], tuple[Any, ...]] = {}  # genome -> decoded values (_values)
        self._default_list: list[float] = self.default_genome.tolist()
        if self._forbidden:
            self._check_feasible()

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_configspace(cls, cs: CS.ConfigurationSpace, drop: Iterable[str] = ()) -> SearchSpace:
        """Wrap a ConfigSpace space; ``drop`` removes hyperparameters (e.g. a fidelity)."""
        drop = list(drop)
        if drop:
            cs = without(cs, drop)
        return cls(cs)

    @classmethod
    def from_json(cls, path: str | Path, drop: Iterable[str] = ()) -> SearchSpace:
        """Read a ConfigSpace JSON file (any ConfigSpace version, benchmark libraries).

        Raises SpaceError (InfeasibleSpaceError) naming the file, the
        hyperparameter and the problem.
        """
        p = Path(path)
        if not p.is_file():
            raise SpaceError(f"search space file {str(p)!r} does not exist")
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError) as exc:
            raise SpaceError(f"search space file {str(p)!r} is not valid JSON: {exc}") from exc
        try:
            cs = space_from_serialized(data)
            return cls.from_configspace(cs, drop=drop)
        except SpaceError as exc:
            raise type(exc)(f"search space file {str(p)!r}: {exc}") from exc

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
        self.__init__(space_from_serialized(state["cs"]))  # type: ignore[misc]

    def __repr__(self) -> str:
        return (
            f"SearchSpace({self.dim} hyperparameters, {len(self._conditions)} conditions, "
            f"{len(self._forbidden)} forbidden)"
        )

    def __len__(self) -> int:
        return self.dim

    # ------------------------------------------------------------------ genes
    def decode_gene(self, i: int, gene: float) -> Any:
        """Native value of gene ``i`` (``gene`` in [0, 1])."""
        return self._codecs[i].decode(gene)

    def decode_int_genes(self, i: int, genes: np.ndarray) -> np.ndarray:
        """Integer values of an array of genes of integer hyperparameter ``i`` (in [0, 1]; as :meth:`decode_gene`)."""
        decode = self._codecs[i].decode_ints
        if decode is None:
            raise GenomeError(f"hyperparameter {self.names[i]!r} is not an integer")
        return decode(np.asarray(genes, dtype=np.float64))

    def encode_int_genes(self, i: int, values: np.ndarray) -> np.ndarray:
        """Genes (bin centres) of an array of legal integer values of hyperparameter ``i`` (as :meth:`encode_gene`)."""
        encode = self._codecs[i].encode_ints
        if encode is None:
            raise GenomeError(f"hyperparameter {self.names[i]!r} is not an integer")
        return encode(values)

    def encode_gene(self, i: int, value: Any) -> float:
        """Gene of a legal value of hyperparameter ``i`` (bin centre for discrete kinds)."""
        return self._codecs[i].encode(value)

    def _compile_forbidden(self, clause: Any) -> Pred:
        """Predicate over decoded values for a ConfigSpace forbidden clause."""
        return self._compiler.forbidden(clause)[0]

    # ------------------------------------------------------------------ decode
    def _values(self, genome: Sequence[float]) -> list[Any]:
        """Decoded values, None where inactive (genome assumed in range).

        Genes are in topological order, so one pass decodes each active gene
        after its parents and never decodes an inactive one. The same genome
        is decoded many times (a parent by every operator that reads it, a
        child by its repair, the algorithm and ``to_config``): the values of
        the last few thousand genomes are remembered (a pure function of the
        genes, so the result is the same either way).
        """
        key = tuple(genome.tolist() if isinstance(genome, np.ndarray) else genome)
        hit = self._decoded.get(key)
        if hit is not None:
            return list(hit)
        if not self._conditions:
            vals = [dec(g) for dec, g in zip(self._decoders, key)]
        else:
            vals = [None] * self.dim
            for i, (dec, cond, g) in enumerate(zip(self._decoders, self._gene_conditions, key)):
                if cond is None or cond(vals):
                    vals[i] = dec(g)
        if len(self._decoded) >= _CACHE_SIZE:
            self._decoded.clear()
        self._decoded[key] = tuple(vals)
        return vals

    def decode_valid(self, genome: Sequence[float]) -> list[Any]:
        """Decoded values (None where inactive) of a genome known to be in range: no checks, fast."""
        return self._values(genome)

    def values(self, genome: Sequence[float]) -> list[Any]:
        """Decoded value of every gene (None where inactive); no forbidden check.

        Out-of-range genes are clipped and NaN genes read as the default's gene.
        """
        g = self._check_genome(genome).tolist()
        return self._values(
            [d if x != x else 0.0 if x < 0.0 else 1.0 if x > 1.0 else x for x, d in zip(g, self._default_list)]
        )

    def activity(self, genome: Sequence[float]) -> list[Any]:
        """What conditions see: :meth:`values` where a gene is inactive (None) or read by a condition.

        Other active genes read True instead of their value (they are not
        decoded), so ``activity(g)[i] is not None`` is ``values(g)[i] is not
        None`` and the genes some condition depends on (``descendants``) carry
        their values, at the cost of decoding only those. Out-of-range genes
        are clipped and NaN genes read as the default's gene, as in :meth:`values`.
        """
        g = self._check_genome(genome).tolist()
        return self.decode_activity([d if x != x else 0.0 if x < 0.0 else 1.0 if x > 1.0 else x
                                     for x, d in zip(g, self._default_list)])

    def decode_activity(self, genome: Sequence[float]) -> list[Any]:
        """:meth:`activity` of a genome known to be in range: no checks, fast."""
        key = tuple(genome.tolist() if isinstance(genome, np.ndarray) else genome)
        hit = self._decoded.get(key)
        if hit is not None:
            return list(hit)
        vals: list[Any] = [True] * self.dim
        for i, cond, dec in self._activity_plan:
            if cond is not None and not cond(vals):
                vals[i] = None
            elif dec is not None:
                vals[i] = dec(key[i])
        return vals

    def active_masks(self, genomes: np.ndarray) -> np.ndarray:
        """(n, dim) booleans: the active genes of each row of ``genomes`` (in range, e.g. repaired).

        A row's activity depends only on the genes some condition reads, so rows
        that share those genes share one evaluation (cached). The same as
        ``decode_activity(row)[i] is not None`` for every gene.
        """
        g = np.asarray(genomes, dtype=np.float64).reshape(-1, self.dim)
        if not self._conditions:
            return np.ones(g.shape, dtype=bool)
        out = np.empty(g.shape, dtype=bool)
        cache = self._masks
        for r, key in enumerate(map(tuple, g[:, self._read].tolist())):
            mask = cache.get(key)
            if mask is None:
                mask = np.array([v is not None for v in self.decode_activity(g[r])], dtype=bool)
                if len(cache) >= _CACHE_SIZE:
                    cache.clear()
                cache[key] = mask
            out[r] = mask
        return out

    def _violated(self, vals: Sequence[Any]) -> int:
        """Index of the first violated forbidden clause, or -1."""
        for k, (pred, _) in enumerate(self._forbidden):
            if pred(vals):
                return k
        return -1

    def _check_genome(self, genome: Any) -> np.ndarray:
        try:
            g = np.asarray(genome, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise GenomeError(f"genome is not a vector of numbers: {exc}") from exc
        if g.shape != (self.dim,):
            raise GenomeError(f"genome has shape {g.shape}, expected ({self.dim},) for {self!r}")
        return g

    def _check_gene_list(self, genes: list[float]) -> None:
        """An operator's working copy of a genome (a list of floats) has ``dim`` genes (as :meth:`_check_genome`)."""
        if len(genes) != self.dim:
            raise GenomeError(f"genome has shape ({len(genes)},), expected ({self.dim},) for {self!r}")

    def active_mask(self, genome: Sequence[float]) -> np.ndarray:
        """Boolean mask of active genes."""
        return np.array([v is not None for v in self.values(genome)], dtype=bool)

    def to_config(self, genome: Sequence[float]) -> dict[str, Any]:
        """Active hyperparameters as native Python values.

        Raises GenomeError for a wrong length, NaN, or a genome that violates a
        forbidden clause (call :meth:`repair` first).
        """
        if len(genome) != self.dim:
            raise GenomeError(f"genome has length {len(genome)}, expected {self.dim}")
        g = genome  # a tuple of floats in [0, 1] (what make_trial passes) is used as it is
        if not (type(g) is tuple and _FLOAT.issuperset(map(type, g)) and min(g) >= 0.0 and max(g) <= 1.0):
            g = [0.0 if x < 0.0 else 1.0 if x > 1.0 else float(x) for x in genome]
        if any(map(math.isnan, g)):
            raise GenomeError("genome contains NaN: call repair() first")
        vals = self._values(g)
        if self._forbidden:
            k = self._violated(vals)
            if k >= 0:
                raise GenomeError(f"genome violates forbidden clause {self._forbidden_text[k]}: call repair()")
        if None not in vals:  # every hyperparameter active
            return dict(zip(self.names, vals))
        return {n: v for n, v in zip(self.names, vals) if v is not None}

    # ------------------------------------------------------------------ encode
    def from_config(self, config: Mapping[str, Any]) -> np.ndarray:
        """Genome of a valid config; inactive genes take the default's gene."""
        problem = self.explain_invalid(config)
        if problem:
            raise GenomeError(f"invalid configuration: {problem}")
        out = self.default_genome.copy()
        for n, v in config.items():
            i = self.index[n]
            out[i] = self._codecs[i].encode(v)
        return out

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
                return f"{self.names[i]!r} is inactive but present"
        for i, n in enumerate(self.names):
            if active[i] and vals[i] is None:
                return f"{n!r} is active but missing"
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
        # a random vector's genes are new: snap them without the per-gene caches (same result as repair)
        return self._repair_snapped(self._snap_genes(rng.random(self.dim).tolist(), cached=False), rng)

    def sample_batch(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` random valid genomes as rows, snapped in one pass per gene.

        The same genomes as ``n`` calls of :meth:`sample` with the same ``rng``
        when the space has no forbidden clauses (the uniform draws come row by
        row); with forbidden clauses, the rows that violate one are repaired
        after all rows are drawn (same distribution, another random stream).
        """
        g = rng.random((n, self.dim))
        for i in self._discrete:
            g[:, i] = self._codecs[i].snap_array(g[:, i])
        if not self._forbidden:
            return g
        return np.array([self._repair_snapped(row, rng) for row in g.tolist()]).reshape(n, self.dim)

    def _snap_list(self, genome: np.ndarray) -> list[float]:
        """Clipped, snapped genes as a list; NaN takes the default's gene (fast path of repair)."""
        return self._snap_genes(genome.tolist())

    def _snap_genes(self, genes: list[float], cached: bool = True) -> list[float]:
        """:meth:`_snap_list` of genes given as a list of ``dim`` floats (``cached``: use the per-gene caches)."""
        out = [
            d if x != x else 0.0 if x < 0.0 else 1.0 if x > 1.0 else x
            for x, d in zip(genes, self._default_list)
        ]
        if not cached:
            for i, snap, _ in self._snaps:
                out[i] = snap(out[i])
            return out
        for i, snap, cache in self._snaps:  # most genes of a child are its parents' (already seen) genes
            x = out[i]
            y = cache.get(x)
            if y is None:
                y = snap(x)
                if len(cache) >= _CACHE_SIZE:
                    cache.clear()
                cache[x] = y
            out[i] = y
        return out

    def snap(self, genome: np.ndarray) -> np.ndarray:
        """Clip to [0, 1] and snap discrete genes to their bin centres (no forbidden handling).

        NaN genes take the default's gene.
        """
        return np.array(self._snap_list(self._check_genome(genome)))

    def snap_genes(self, genes: list[float]) -> list[float]:
        """:meth:`snap` of a genome given as a list of ``dim`` Python floats (an operator's working copy), as a
        new list."""
        self._check_gene_list(genes)
        return self._snap_genes(genes)

    def repair(self, genome: Sequence[float], rng: np.random.Generator | None = None) -> np.ndarray:
        """Any vector of the right length -> a new genome whose config is valid.

        NaN genes take the default's gene; out-of-range genes (and +-inf) are
        clipped; discrete genes snap to their bin centres; forbidden clauses
        are resolved as described in the module docstring. ``rng`` defaults
        to one seeded from the genome itself, so repair is deterministic.
        Raises GenomeError for a wrong length.
        """
        return self._repair_snapped(self._snap_list(self._check_genome(genome)), rng)

    def repair_genes(self, genes: list[float], rng: np.random.Generator | None = None) -> np.ndarray:
        """:meth:`repair` of a genome given as a list of ``dim`` Python floats (an operator's working copy).

        The same result and the same ``rng`` draws as ``repair(np.array(genes), rng)``, without the
        conversions.
        """
        self._check_gene_list(genes)
        return self._repair_snapped(self._snap_genes(genes), rng)

    @property
    def forbidden_clauses(self) -> tuple[str, ...]:
        """The forbidden clauses, as text (empty: every combination of values is allowed)."""
        return tuple(self._forbidden_text)

    def repair_snapped(self, genes: list[float], rng: np.random.Generator | None = None) -> np.ndarray:
        """:meth:`repair` of genes already in [0, 1] and snapped (e.g. built from repaired parents' genes and
        bin centres): only the forbidden clauses are resolved (the same ``rng`` draws as :meth:`repair`)."""
        self._check_gene_list(genes)
        return self._repair_snapped(genes, rng)

    def _repair_snapped(self, lst: list[float], rng: np.random.Generator | None) -> np.ndarray:
        """The forbidden-clause part of :meth:`repair`, on clipped and snapped genes."""
        if not self._forbidden:
            return np.array(lst)
        k = self._violated(self._values(lst))
        g = np.array(lst)
        if k < 0:
            return g
        if rng is None:
            rng = np.random.default_rng(int.from_bytes(hashlib.blake2b(g.tobytes(), digest_size=8).digest(), "little"))
        return self._resolve_forbidden(g, k, rng)

    def _resolve_forbidden(self, g: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        codecs = self._codecs
        for _ in range(_REPAIR_GENE_TRIES):
            genes = self._forbidden[k][1]
            i = genes[int(rng.integers(len(genes)))]
            snap = codecs[i].snap
            g[i] = rng.random() if snap is None else snap(rng.random())
            k = self._violated(self._values(g))
            if k < 0:
                return g
        for _ in range(len(self._forbidden)):
            for i in self._forbidden[k][1]:
                g[i] = self.default_genome[i]
            k = self._violated(self._values(g))
            if k < 0:
                return g
        for _ in range(_REPAIR_FULL_TRIES):
            g = self.snap(rng.random(self.dim))
            if self._violated(self._values(g)) < 0:
                return g
        g = self.snap(self.default_genome.copy())
        if self._violated(self._values(g)) < 0:
            return g
        raise InfeasibleSpaceError(
            f"could not repair a genome in {_REPAIR_GENE_TRIES + _REPAIR_FULL_TRIES} tries and the default "
            f"configuration is forbidden: the forbidden clauses exclude (nearly) everything: {self._forbidden_text}"
        )

    def _check_feasible(self) -> None:
        if self._violated(self._values(self.snap(self.default_genome))) < 0:
            return
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
        va, vb = self.values(a), self.values(b)
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
                f = math.log if h.log else float
                total += abs(f(va[i]) - f(vb[i])) / (f(h.upper) - f(h.lower))
        return total / count if count else 0.0

    def to_configuration(self, config: Mapping[str, Any]) -> CS.Configuration:
        """A ConfigSpace Configuration (ConfigSpace checks it)."""
        with quiet_configspace():
            return CS.Configuration(self._cs, values=dict(config))
