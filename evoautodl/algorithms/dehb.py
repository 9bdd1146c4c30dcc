"""DEHB: Hyperband brackets whose rungs are bred by differential evolution.

Reference: N. Awad, N. Mallik, F. Hutter, "DEHB: Evolutionary Hyperband for
Scalable, Robust and Efficient Hyperparameter Optimization", IJCAI 2021.

A DE subpopulation lives at every budget of the geometric ladder
``b_0 < ... < b_R`` (size = the most configs any bracket runs at that budget).
Brackets cycle ``s = s_max, s_max - 1, ..., 0, s_max, ...`` as in Hyperband;
bracket ``s`` starts ``n_0`` configs at rung ``j0 = s_max - s`` and keeps the
top ``1/eta`` at each higher rung. Pseudocode::

    ask(n): repeat n times
        for each open bracket, oldest first:
            lowest rung still issuing: breed one config at b_j0 (see below)
            promoted rung with queued promotions: pop one (same individual,
                resume_from = checkpoint_key(individual, lower budget))
        none available: open the next bracket (no waiting: asynchronous
            across brackets, synchronous within a rung)
    breed at rung j0:
        first bracket, or an empty subpopulation: uniform random sample
        target = pop[j0][cyclic pointer]
        parents r1, r2, r3 (distinct) from the parent pool: pop[j0 - 1] (the
            lower budget's subpopulation, DEHB's global parent pool) for
            j0 > 0, pop[0] itself for j0 = 0; all subpopulations together
            when the pool has fewer than 3 members
        child = DE/rand/1/bin(target, r1, r2, r3)  (or current-to-best/1/bin)
    tell(result at rung j):
        DE selection in pop[j]: a bred child replaces its target when not
        worse; a promoted or sampled config replaces the worst when better;
        a subpopulation that is not full yet just grows
        rung of the bracket complete: promote the top n_{i+1} (finite
        fitness, ties by trial id) to the next rung of the bracket

Differences from the paper's implementation: promoted rungs continue the
same individuals from their checkpoints (successive halving with
continuation) instead of evaluating DE children of them, so the epochs of the
lower rung are not trained again; DE breeds the lowest rung of every bracket.

Checkpoint hygiene (disk use): when a rung of a bracket completes, the
checkpoints of its configs that were not promoted are discarded; a promoted
config's lower checkpoint is discarded when its promoted trial is told; at the
maximum budget only the incumbent's checkpoint is kept. Checkpoints on disk
are therefore bounded by the configs of the rungs still running in open
brackets plus one (with ``max_open_brackets`` = k, at most k times the largest
bracket's first rung, plus one).

Failed trials have fitness +inf: they never enter a subpopulation and are
never promoted (a rung with fewer finite results promotes fewer; a rung
without any ends its bracket). With several objectives the first is optimised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from evoautodl.algorithms.base import Algorithm
from evoautodl.algorithms.de import de_strategy
from evoautodl.errors import ConfigError
from evoautodl.records import Result, Trial, checkpoint_key
from evoautodl.space import SearchSpace

__all__ = ["DEHB"]


@dataclass(slots=True)
class _Member:
    """One member of a DE subpopulation."""

    genome: np.ndarray
    fitness: float
    individual_id: int


@dataclass(slots=True)
class _Job:
    """A promotion waiting to be asked."""

    genome: np.ndarray
    individual_id: int
    resume_from: str | None
    resume_budget: float | None = None


@dataclass(slots=True)
class _Bracket:
    """One successive-halving bracket: rungs [(n_configs, ladder rung index)]."""

    index: int
    rungs: list[tuple[int, int]]
    level: int = 0
    n_issued: int = 0
    n_expected: int = 0
    queue: list[_Job] = field(default_factory=list)
    results: list[tuple[float, int, int, np.ndarray, bool]] = field(default_factory=list)


class DEHB(Algorithm):
    """Differential evolution on Hyperband brackets (see the module docstring).

    Args:
        space: the search space.
        mutation_factor: DE scale factor F (built-in strategies).
        crossover_rate: DE binomial crossover rate CR (built-in strategies).
        strategy: "rand/1/bin" (DEHB's default), "current-to-best/1/bin", or a user's
            trial-vector operator taking ``(target, r1, r2, r3)`` and returning one child
            (a callable or ``"module:function"``; see :mod:`evoautodl.operators.values`).
        strategy_params: keyword parameters of a user's strategy.
        boundary: how DE treats genes leaving [0, 1]: "random" (resample, as
            DEHB), "clip" or "reflect" (built-in strategies).
        max_open_brackets: brackets that may run at the same time (None: no
            limit; a free worker then always gets a trial).
        **common: seed, n_objectives, max_budget (ignored: the ladder's), ladder (required).
    """

    name = "dehb"
    multi_fidelity = True
    requires_ladder = True
    asynchronous = True
    manages_checkpoints = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        mutation_factor: float = 0.5,
        crossover_rate: float = 0.5,
        strategy: Any = "rand/1/bin",
        strategy_params: dict[str, Any] | None = None,
        boundary: Literal["random", "clip", "reflect"] = "random",
        max_open_brackets: int | None = None,
        **common: Any,
    ):
        super().__init__(space, **common)
        ladder = self.ladder
        assert ladder is not None  # requires_ladder
        if boundary not in ("random", "clip", "reflect"):
            raise ConfigError(f"dehb: boundary must be 'random', 'clip' or 'reflect', got {boundary!r}")
        self.strategy_op = de_strategy(self, strategy, strategy_params, mutation_factor, crossover_rate, boundary,
                                       defaults=(0.5, 0.5, "random"))
        if max_open_brackets is not None and (isinstance(max_open_brackets, bool)
                                              or not isinstance(max_open_brackets, int) or max_open_brackets < 1):
            raise ConfigError(f"dehb: max_open_brackets must be an integer >= 1 or None, got {max_open_brackets!r}")
        if ladder.n_rungs != ladder.s_max + 1:
            raise ConfigError(f"dehb: the ladder {ladder} rounds two rungs to the same budget; use a larger eta, "
                              "a larger max_budget or integer=False")
        self.budgets: tuple[float, ...] = ladder.budgets
        self.mutation_factor = float(mutation_factor)
        self.crossover_rate = float(crossover_rate)
        self.strategy = strategy if isinstance(strategy, str) else self.strategy_op.label
        self.boundary = boundary
        self.max_open_brackets = max_open_brackets
        self.asynchronous = max_open_brackets is None  # a limit on open brackets can leave a worker idle
        s_max = ladder.s_max
        self._shapes: list[list[tuple[int, int]]] = []  # per s: [(n, rung index)]
        caps = [0] * len(self.budgets)
        for s in range(s_max + 1):
            shape = [(n, s_max - s + i) for i, (n, _) in enumerate(ladder.bracket(s))]
            self._shapes.append(shape)
            for n, j in shape:
                caps[j] = max(caps[j], n)
        self.population_sizes: tuple[int, ...] = tuple(caps)
        self._pops: list[list[_Member]] = [[] for _ in self.budgets]
        self._target_ptr = [0] * len(self.budgets)
        self._brackets: list[_Bracket] = []
        self._n_brackets = 0
        self._meta: dict[int, tuple[int, int]] = {}  # trial id -> (bracket index, target index or -1)

    # ------------------------------------------------------------------ ask
    def ask(self, n: int) -> list[Trial]:
        out: list[Trial] = []
        while len(out) < n:
            trial = self._next_from_open()
            if trial is None:
                if self.max_open_brackets is not None and len(self._brackets) >= self.max_open_brackets:
                    break
                self._open_bracket()
                continue
            out.append(trial)
        return out

    def _open_bracket(self) -> None:
        s_max = self.ladder.s_max
        s = s_max - self._n_brackets % (s_max + 1)
        shape = self._shapes[s]
        self._brackets.append(_Bracket(index=self._n_brackets, rungs=shape, n_expected=shape[0][0]))
        self._n_brackets += 1

    def _next_from_open(self) -> Trial | None:
        for br in self._brackets:
            n_rung, j = br.rungs[br.level]
            if br.level == 0 and br.n_issued < n_rung:
                br.n_issued += 1
                return self._breed(br, j)
            if br.queue:
                job = br.queue.pop(0)
                br.n_issued += 1
                trial = self.make_trial(job.genome, budget=self.budgets[j], individual_id=job.individual_id,
                                        parent_ids=(job.individual_id,), operator="promote",
                                        resume_from=job.resume_from, resume_budget=job.resume_budget,
                                        generation=br.index, rung=j)
                self._meta[trial.trial_id] = (br.index, -1)
                return trial
        return None

    def _breed(self, br: _Bracket, j: int) -> Trial:
        pop = self._pops[j]
        pool = self._pops[j - 1] if j > 0 else pop
        if len(pool) < 3:
            pool = [m for p in self._pops for m in p]
        if br.index == 0 or not pop or len(pool) < 3:
            genome = self.space.sample(self.rng)
            trial = self.make_trial(genome, budget=self.budgets[j], operator="sample", generation=br.index, rung=j)
            self._meta[trial.trial_id] = (br.index, -1)
            return trial
        k = self._target_ptr[j] % len(pop)
        self._target_ptr[j] += 1
        target = pop[k]
        picks = self.rng.choice(len(pool), size=3, replace=False)
        r1, r2, r3 = (pool[int(i)] for i in picks)
        donors = [target, r1, r2, r3]
        if self.strategy == "current-to-best/1/bin":
            donors = [target, min(pool, key=lambda m: m.fitness), r1, r2]
        genome = self.strategy_op.vary(self.space, [m.genome for m in donors], self.rng)[0]
        parents = tuple(m.individual_id for m in donors)
        op = self.strategy_op.label
        trial = self.make_trial(genome, budget=self.budgets[j], parent_ids=parents, operator=op,
                                generation=br.index, rung=j)
        self._meta[trial.trial_id] = (br.index, k)
        return trial

    # ------------------------------------------------------------------ tell
    def on_result(self, result: Result) -> None:
        t = result.trial
        meta = self._meta.pop(t.trial_id, None)
        if meta is None:
            return
        b_index, target = meta
        f = self.fitness_of(result)
        j = t.rung
        has_ckpt = result.ok and result.checkpoint is not None
        if t.resume_from is not None:
            self.discard_checkpoint(t.resume_from)  # the promoted trial consumed its lower checkpoint
        if math.isfinite(f):
            self._select(j, _Member(np.asarray(t.genome, dtype=np.float64), f, t.individual_id), target)
        if j == self.top_rung:
            self.keep_if_incumbent(result)
        br = next((b for b in self._brackets if b.index == b_index), None)
        if br is None:
            return
        br.results.append((f, t.trial_id, t.individual_id, np.asarray(t.genome, dtype=np.float64), has_ckpt))
        if len(br.results) >= br.n_expected and br.n_issued >= br.n_expected:
            self._advance(br)

    def _select(self, j: int, member: _Member, target: int) -> None:
        pop = self._pops[j]
        if len(pop) < self.population_sizes[j]:
            pop.append(member)
        elif 0 <= target < len(pop):
            if member.fitness <= pop[target].fitness:
                pop[target] = member
        else:
            worst = max(range(len(pop)), key=lambda i: pop[i].fitness)
            if member.fitness < pop[worst].fitness:
                pop[worst] = member

    def _advance(self, br: _Bracket) -> None:
        """The current rung of ``br`` is complete: promote its top 1/eta or close the bracket."""
        ranked = sorted(br.results, key=lambda r: (r[0], r[1]))
        br.results = []
        if br.level + 1 >= len(br.rungs):
            self._brackets.remove(br)
            return
        n_next, _ = br.rungs[br.level + 1]
        budget = self.budgets[br.rungs[br.level][1]]
        finite = [r for r in ranked if math.isfinite(r[0])]
        promoted, dropped = finite[:n_next], finite[n_next:] + [r for r in ranked if not math.isfinite(r[0])]
        for _, _, ind, _, _ in dropped:
            self.discard_checkpoint(checkpoint_key(ind, budget))
        if not promoted:
            self._brackets.remove(br)
            return
        br.level += 1
        br.n_issued = 0
        br.n_expected = len(promoted)
        br.queue = [_Job(g, ind, checkpoint_key(ind, budget), budget) if ok else _Job(g, ind, None)
                    for _, _, ind, g, ok in promoted]

    # ------------------------------------------------------------------ introspection
    def subpopulation(self, rung: int) -> list[tuple[int, float]]:
        """(individual id, fitness) of the DE subpopulation at ladder rung ``rung``."""
        return [(m.individual_id, m.fitness) for m in self._pops[rung]]

    @property
    def n_open_brackets(self) -> int:
        return len(self._brackets)
