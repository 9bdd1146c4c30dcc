"""ASHA with evolution: asynchronous successive halving whose new configs are bred.

References: L. Li, K. Jamieson, A. Rostamizadeh, E. Gonina, J. Ben-Tzur,
M. Hardt, B. Recht, A. Talwalkar, "A System for Massively Parallel
Hyperparameter Tuning", MLSys 2020 (ASHA); the breeding step follows
regularized/steady-state evolution on the configs seen so far.

Rungs are the budgets ``b_0 < ... < b_R`` of the ladder. Pseudocode::

    ask(n): repeat n times
        for rung k = R-1 .. 0 (highest first):
            c = best config of rung k not promoted yet
            if rank of c among all results of rung k < floor(|rung k| / eta):
                promote c to rung k+1: same individual, resume_from =
                checkpoint_key(individual, b_k); stop looking
        nothing promotable: a new config at b_0:
            fewer than n_initial configs ranked, or with probability
            random_fraction: uniform random sample
            else: parents by tournament among the population_size best
                  configs seen so far (ordered by highest rung reached, then
                  fitness at that rung); with probability crossover_prob
                  crossover of two parents (condition-aware uniform by
                  default); mutation (operators as values: a user's
                  crossover, mutation or selection plugs in here)
    tell(result): insert it in its rung (sorted by fitness, failed = +inf);
        update the individual's place in the ranking of configs seen so far

Only the best unpromoted config of a rung needs checking: if it is not in the
top ``floor(n/eta)``, no other unpromoted config is. Each ask and tell costs
O(R log n) comparisons plus list insertions.

Why parents come from the highest rung: breeding from the best configs at the
lowest budget (or from a ranking dominated by them) concentrates the new
configs around early fast learners; on LCBench tasks whose 2-epoch ranking is
misleading this made the evolved ASHA worse than plain ASHA and random
search, while parents from the highest well-filled rung (with a random
fraction of 0.3 and mutations of about 30% of the genes) beat both (see
experiments/bench/lcbench.py).

Checkpoint hygiene (disk use): a config at rung k with rank r among n_k
results becomes promotable once r < floor(n_k / eta). Ranks never improve but
n_k grows without limit, so in exact ASHA every unpromoted checkpoint could
still be promoted one day and none could ever be deleted: disk use would grow
with the number of trials. We keep the checkpoints of the
``keep_checkpoints_per_rung`` best unpromoted configs of every rung (before
one of the others is promoted, all of these must be promoted first, which
needs ``eta`` new results per promotion). A config pushed out of that set has
its checkpoint discarded; if it is promoted later it trains from scratch at
the higher budget (resume_from None). A promoted config's lower checkpoint is
discarded when the promoted trial is told, and at the maximum budget only the
incumbent's checkpoint is kept. Checkpoints on disk are therefore bounded by
``R * keep_checkpoints_per_rung`` + running trials + 1.

Failed trials have fitness +inf: they take part in their rung's size but are
never promoted nor chosen as parents. With several objectives the first is
optimised.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from typing import Any

import numpy as np

from evoautodl.algorithms import options as opt
from evoautodl.algorithms.base import Algorithm
from evoautodl.records import Result, Trial, checkpoint_key
from evoautodl.space import SearchSpace

__all__ = ["ASHAEvolution"]

# a result of a rung: (fitness, trial id, individual id, genome)
_Entry = tuple[float, int, int, tuple[float, ...]]
# candidate (unpromoted config) of a rung: (fitness, trial id, individual id, genome, checkpoint kept)
_Cand = tuple[float, int, int, tuple[float, ...], bool]


class ASHAEvolution(Algorithm):
    """Asynchronous successive halving with evolved new configs (see the module docstring).

    Args:
        space: the search space.
        population_size: how many of the best configs of the parent rung are parents.
        tournament_size: entrants per tournament of the built-in selection.
        random_fraction: probability that a new config is sampled uniformly.
        crossover_prob: probability that a child comes from crossover of two
            parents (then mutation) rather than mutation of one.
        n_initial: finished trials before breeding starts (random samples until then).
        min_parents: finished configs a rung needs to be the parent rung.
        mutation_rate: per-gene probability of the built-in mutation (None: 1 / number of genes).
        mutation_sigma: Gaussian step (unit cube) of the built-in mutation.
        keep_checkpoints_per_rung: checkpoints of unpromoted configs kept per rung.
        crossover: ``"uniform"`` (condition-aware), ``"one_point"``, ``"sbx"`` or a two-parent
            operator (its first child is used); see :mod:`evoautodl.operators.values`.
        crossover_params: keyword parameters of the crossover.
        mutation: ``"gaussian"``, ``"polynomial"`` or a one-parent, one-child operator.
        mutation_params: keyword parameters of the mutation.
        selection: ``"tournament"``, ``"truncation"`` or a selection operator; it compares
            the parents' positions in their rung (0 = best).
        selection_params: keyword parameters of the selection.
        **common: seed, n_objectives, max_budget (ignored: the ladder's), ladder (required).
    """

    name = "asha_ea"
    multi_fidelity = True
    requires_ladder = True
    asynchronous = True
    manages_checkpoints = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        population_size: int = 50,
        tournament_size: int = 3,
        random_fraction: float = 0.3,
        crossover_prob: float = 0.5,
        n_initial: int = 10,
        min_parents: int = 5,
        mutation_rate: float | None = 0.3,
        mutation_sigma: float = 0.2,
        keep_checkpoints_per_rung: int = 10,
        crossover: Any = "uniform",
        crossover_params: dict[str, Any] | None = None,
        mutation: Any = "gaussian",
        mutation_params: dict[str, Any] | None = None,
        selection: Any = "tournament",
        selection_params: dict[str, Any] | None = None,
        **common: Any,
    ):
        super().__init__(space, **common)
        ladder = self.ladder
        assert ladder is not None  # requires_ladder
        random_fraction = opt.probability(self.name, "random_fraction", random_fraction)
        crossover_prob = opt.probability(self.name, "crossover_prob", crossover_prob)
        mutation_rate, mutation_sigma = opt.mutation(self.name, mutation_rate, mutation_sigma)
        for name, ivalue in (("population_size", population_size), ("tournament_size", tournament_size),
                             ("n_initial", n_initial), ("min_parents", min_parents),
                             ("keep_checkpoints_per_rung", keep_checkpoints_per_rung)):
            opt.at_least(self.name, name, ivalue, 1)
        self.crossover_op = self.resolve_operator(crossover, kind="crossover", option="crossover", arity=2,
                                                  params=crossover_params)
        self.mutation_op = self.resolve_mutation(mutation, mutation_params, mutation_rate, mutation_sigma,
            default_rate=0.3, default_sigma=0.2)
        self.selection_op = self.resolve_selection(selection, selection_params, tournament_size)
        self.budgets: tuple[float, ...] = ladder.budgets
        self.eta = float(ladder.eta)
        self.population_size = int(population_size)
        self.tournament_size = int(tournament_size)
        self.random_fraction = float(random_fraction)
        self.crossover_prob = float(crossover_prob)
        self.n_initial = int(n_initial)
        self.min_parents = int(min_parents)
        self.mutation_rate = mutation_rate
        self.mutation_sigma = float(mutation_sigma)
        self.keep_checkpoints_per_rung = int(keep_checkpoints_per_rung)
        n_rungs = len(self.budgets)
        self._rungs: list[list[_Entry]] = [[] for _ in range(n_rungs)]  # every result of a rung, sorted
        self._n_ok = [0] * n_rungs
        self._cands: list[list[_Cand]] = [[] for _ in range(n_rungs)]  # unpromoted, sorted

    # ------------------------------------------------------------------ ask
    def ask(self, n: int) -> list[Trial]:
        out: list[Trial] = []
        for _ in range(max(0, n)):
            trial = self._promotion()
            out.append(trial if trial is not None else self._new_config())
        return out

    def _promotion(self) -> Trial | None:
        for k in range(len(self.budgets) - 2, -1, -1):
            cands = self._cands[k]
            if not cands:
                continue
            f, tid, ind, genome, kept = cands[0]
            rung = self._rungs[k]
            if bisect_left(rung, (f, tid)) < int(len(rung) // self.eta):
                del cands[0]
                resume = checkpoint_key(ind, self.budgets[k]) if kept else None
                return self.make_trial(genome, budget=self.budgets[k + 1], individual_id=ind, parent_ids=(ind,),
                                       operator="promote", resume_from=resume,
                                       resume_budget=self.budgets[k] if kept else None, rung=k + 1)
        return None

    def _parents(self) -> list[_Entry]:
        """The population_size best configs of the highest rung with >= min_parents finished ones."""
        k = next((k for k in range(len(self.budgets) - 1, 0, -1) if self._n_ok[k] >= self.min_parents), 0)
        return self._rungs[k][: min(self._n_ok[k], self.population_size)]

    def _new_config(self) -> Trial:
        rng = self.rng
        pool = self._parents() if sum(self._n_ok) >= self.n_initial else []
        if len(pool) < 2 or rng.random() < self.random_fraction:
            return self.make_trial(self.space.sample(rng), budget=self.budgets[0], operator="sample")
        positions = np.arange(len(pool), dtype=np.float64)  # the rung is sorted: position = quality
        mut, select = self.mutation_op, self.selection_op
        if rng.random() < self.crossover_prob:
            i, j = (int(x) for x in select.select(positions, 2, rng))
            child = self.crossover_op.vary(self.space, (pool[i][3], pool[j][3]), rng)[0]
            parents, op = (pool[i][2], pool[j][2]), f"{self.crossover_op.label}+{mut.label}"
        else:
            i = int(select.select(positions, 1, rng)[0])
            child, parents, op = pool[i][3], (pool[i][2],), mut.label
        child = mut.vary(self.space, (child,), rng)[0]
        return self.make_trial(child, budget=self.budgets[0], parent_ids=parents, operator=op)

    # ------------------------------------------------------------------ tell
    def on_result(self, result: Result) -> None:
        t = result.trial
        k = t.rung
        if not 0 <= k < len(self.budgets):
            return
        f = self.fitness_of(result)
        if t.resume_from is not None:
            self.discard_checkpoint(t.resume_from)  # only this promotion resumed from it
        insort(self._rungs[k], (f, t.trial_id, t.individual_id, t.genome))
        ok = math.isfinite(f)
        self._n_ok[k] += ok
        if k == self.top_rung:
            self.keep_if_incumbent(result)
        elif not ok:
            self.discard_checkpoint(t.checkpoint_key)
        else:
            self._add_candidate(k, (f, t.trial_id, t.individual_id, t.genome, result.checkpoint is not None))

    def _add_candidate(self, k: int, cand: _Cand) -> None:
        cands = self._cands[k]
        keep = self.keep_checkpoints_per_rung
        pos = bisect_left(cands, cand[:2])
        cands.insert(pos, cand)
        if pos >= keep:
            if cand[4]:
                self.discard_checkpoint(checkpoint_key(cand[2], self.budgets[k]))
                cands[pos] = (*cand[:4], False)
        elif len(cands) > keep and cands[keep][4]:
            out = cands[keep]
            self.discard_checkpoint(checkpoint_key(out[2], self.budgets[k]))
            cands[keep] = (*out[:4], False)

    # ------------------------------------------------------------------ introspection
    def rung_sizes(self) -> list[int]:
        """Results per rung so far."""
        return [len(r) for r in self._rungs]

    def best_configs(self, n: int = 1) -> list[dict[str, Any]]:
        """Configs of the ``n`` best of the highest rung that has finished configs."""
        k = next((k for k in range(len(self.budgets) - 1, -1, -1) if self._n_ok[k]), 0)
        return [self.space.to_config(e[3]) for e in self._rungs[k][: min(n, self._n_ok[k])]]
