"""``check_algorithm(factory)``: the contract every evoautodl algorithm passes, in one call.

::

    from evoautodl.testing import check_algorithm
    report = check_algorithm(MyAlgorithm)          # a class or factory(space, **common) -> Algorithm
    str(report)                                    # the checks passed; a violation raises ContractViolation

The checks run the algorithm on a synthetic mixed, conditional space with
forbidden clauses (:class:`~evoautodl.workloads.synthetic.MixedRastrigin`,
cheap), with a fidelity ladder (1, 3, 9 epochs) and without one (skipped
when the algorithm requires one), through the scripted backend of
:mod:`evoautodl.testing.driver` (batches of 0-4 asks, up to 8 running trials,
tells in a random order, a quarter of the results failed):

========== ================================================================
construction the factory returns an Algorithm; ``ask(0)`` returns [] and
             leaves the state as it was; ``state_dict()`` pickles and loads
trials       every trial is valid (increasing ids, derived seeds, genome in
             [0, 1] decoding to a valid config, pending until told, budget
             in (0, max_budget], an operator name); counts of told and
             failed results; an ask that returns nothing changes nothing;
             never stuck (nothing running, not finished, nothing asked)
failures     every result failing (FAILED, TIMEOUT, NaN) is survivable
determinism  the same seed and script give the same trials, another seed others
resume       resume = snapshot + replay: replaying the recorded asks and
             tells on a fresh instance, or on one restored from a pickled
             snapshot taken a third or two thirds of the way, gives the same
             trials, the same discarded checkpoints and the same final state
budgets      with the ladder: budgets within [min, max] and rungs in range;
             without: the maximum budget (single-fidelity algorithms);
             a trial resumes only from a checkpoint an earlier OK trial
             wrote at a lower budget
checkpoints  discarded keys are checkpoints of told trials; no trial resumes
             from a discarded checkpoint, none is discarded while a running
             trial resumes from it; at most half of the checkpoints written
             are still kept at the end (no leak)
workers      an asynchronous algorithm (``asynchronous = True``) hands out a
             trial for every free worker of 8
========== ================================================================
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evoautodl.algorithms.base import Algorithm
from evoautodl.errors import ConfigError
from evoautodl.fidelity import BudgetLadder
from evoautodl.testing.driver import ContractViolation, Script, canonical, replay
from evoautodl.workloads.synthetic import MixedRastrigin

__all__ = ["ALGORITHM_CHECKS", "AlgorithmReport", "check_algorithm"]

MAX_BUDGET = 9
LADDER = BudgetLadder(1, MAX_BUDGET, 3)

Factory = Callable[..., Algorithm]


@dataclass(frozen=True)
class Setup:
    """What a check builds on: the factory, the problem and whether a ladder is given."""

    factory: Factory
    n_objectives: int
    ladder: BudgetLadder | None
    n_results: int
    seed: int

    def workload(self, **kw: Any) -> MixedRastrigin:
        return MixedRastrigin(max_budget=MAX_BUDGET, multi_objective=self.n_objectives > 1, with_forbidden=True, **kw)

    def build(self, seed: int | None = None) -> Algorithm:
        space = self.workload().search_space()
        algo = self.factory(space, seed=self.seed if seed is None else seed, n_objectives=self.n_objectives,
                            max_budget=MAX_BUDGET, ladder=self.ladder)
        if not isinstance(algo, Algorithm):
            raise ContractViolation(f"construction: the factory returned {type(algo).__name__}, not an "
                                    "evoautodl.algorithms.Algorithm")
        return algo

    def script(self, algo: Algorithm, check: str, seed: int = 1, **kw: Any) -> Script:
        return Script(algo, self.workload(), seed=seed, check=check, **kw)

    @property
    def variant(self) -> str:
        return "with ladder" if self.ladder is not None else "without ladder"


def _construction(s: Setup) -> str:
    algo = s.build()
    before = canonical(algo.state_dict())
    if algo.ask(0) != []:
        raise ContractViolation(f"construction: {algo.name}: ask(0) must return []")
    if canonical(algo.state_dict()) != before:
        raise ContractViolation(f"construction: {algo.name}: ask(0) changed the state")
    if algo.n_pending or algo.is_finished():
        raise ContractViolation(f"construction: {algo.name}: a new algorithm has pending trials or is finished")
    try:
        pickled = pickle.dumps(algo.state_dict())
    except Exception as exc:
        raise ContractViolation(f"construction: {algo.name}: state_dict() cannot be pickled ({exc}); the runner "
                                "writes it to state.pkl") from None
    clone = s.build()
    clone.load_state_dict(pickle.loads(pickled))
    if canonical(clone.state_dict()) != before:
        raise ContractViolation(f"construction: {algo.name}: load_state_dict(state_dict()) does not restore the state")
    return "built; ask(0) is [] and changes nothing; state_dict pickles and loads"


def _trials(s: Setup) -> str:
    algo = s.build(seed=3)
    run = s.script(algo, "trials").run(s.n_results)
    failed = sum(not r.ok for r in run.told)
    if algo.n_told != len(run.told) or algo.n_failed != failed:
        raise ContractViolation(f"trials: {algo.name}: n_told={algo.n_told}, n_failed={algo.n_failed}; the script "
                                f"told {len(run.told)} results, {failed} failed")
    if {t.trial_id for t in algo.pending} != {t.trial_id for t in run.running} or algo.n_pending != len(run.running):
        raise ContractViolation(f"trials: {algo.name}: pending trials differ from the running ones")
    return f"{len(run.asked)} valid trials, {len(run.told)} told ({failed} failed, in a random order)"


def _failures(s: Setup) -> str:
    algo = s.build()
    run = s.script(algo, "failures", fail_rate=1.0).run(max(20, s.n_results // 2))
    if any(r.ok for r in run.told):
        raise ContractViolation("failures: the script told an OK result")  # pragma: no cover - script invariant
    return f"{len(run.told)} failed results in a row survived"


def _trial_key(t: Any) -> tuple[Any, ...]:
    return (t.trial_id, t.individual_id, tuple(sorted(t.config.items())), t.budget_epochs, t.operator,
            t.parent_ids, t.resume_from)


def _determinism(s: Setup) -> str:
    a = s.script(s.build(seed=5), "determinism", seed=2).run(s.n_results)
    b = s.script(s.build(seed=5), "determinism", seed=2).run(s.n_results)
    for x, y in zip(a.asked, b.asked):
        if x != y:
            raise ContractViolation(f"determinism: {a.algo.name}: two instances with seed 5 driven alike asked "
                                    f"different trials: {x} != {y} (draw every random number from self.rng)")
    if len(a.asked) != len(b.asked):
        raise ContractViolation(f"determinism: {a.algo.name}: {len(a.asked)} vs {len(b.asked)} trials asked")
    c = s.script(s.build(seed=6), "determinism", seed=2).run(s.n_results)
    if [_trial_key(t)[2:] for t in a.asked] == [_trial_key(t)[2:] for t in c.asked]:
        raise ContractViolation(f"determinism: {a.algo.name}: seeds 5 and 6 asked the same trials "
                                "(the seed is not used)")
    return "same seed, same trials; another seed, other trials"


def _resume(s: Setup) -> str:
    algo = s.build(seed=2)
    run = s.script(algo, "resume", seed=3).run(s.n_results)
    final = canonical(algo.state_dict())
    fresh = s.build(seed=2)
    replay(fresh, run.ops, "resume", "replaying every ask and tell on a fresh instance")
    if canonical(fresh.state_dict()) != final:
        raise ContractViolation(f"resume: {algo.name}: replaying every ask and tell reaches another state")
    points = sorted({len(run.ops) // 3, 2 * len(run.ops) // 3})
    for cut in points:
        first = s.build(seed=2)
        replay(first, run.ops[:cut], "resume", "replaying the first operations")
        snapshot = pickle.loads(pickle.dumps(first.state_dict()))
        restored = s.build(seed=2)
        restored.load_state_dict(snapshot)
        replay(restored, run.ops[cut:], "resume", f"restoring the snapshot after step {cut} and replaying the rest")
        if canonical(restored.state_dict()) != final:
            raise ContractViolation(f"resume: {algo.name}: snapshot after step {cut} + replay reaches another state")
    return f"replay and snapshot + replay (at steps {points}) of {len(run.ops)} operations are exact"


def _budgets(s: Setup) -> str:
    algo = s.build(seed=4)
    run = s.script(algo, "budgets", seed=4, fail_rate=0.1).run(s.n_results)
    written: dict[str, float] = {}
    budgets = set()
    for t in run.asked:
        budgets.add(t.budget_epochs)
        if s.ladder is not None:
            if not s.ladder.min_budget <= t.budget_epochs <= s.ladder.max_budget:
                raise ContractViolation(f"budgets: {algo.name}: trial {t.trial_id} budget {t.budget_epochs} outside "
                                        f"the ladder [{s.ladder.min_budget}, {s.ladder.max_budget}]")
            if not 0 <= t.rung < s.ladder.n_rungs:
                raise ContractViolation(f"budgets: {algo.name}: trial {t.trial_id} rung {t.rung} outside "
                                        f"0..{s.ladder.n_rungs - 1}")
        elif not algo.multi_fidelity and t.budget_epochs != algo.max_budget:
            raise ContractViolation(f"budgets: {algo.name}: without a ladder trial {t.trial_id} has budget "
                                    f"{t.budget_epochs}, not max_budget={algo.max_budget}")
    # resume_from names a checkpoint an earlier OK trial wrote at a lower budget
    for op in run.ops:
        if op.kind == "tell" and op.result is not None and op.result.ok and op.result.checkpoint is not None:
            written.setdefault(op.result.checkpoint, op.result.trial.budget_epochs)
        for t in op.trials:
            if t.resume_from is None:
                continue
            if t.resume_from not in written:
                raise ContractViolation(f"budgets: {algo.name}: trial {t.trial_id} resumes from {t.resume_from!r}, "
                                        "which no earlier OK trial wrote")
            if written[t.resume_from] >= t.budget_epochs:
                raise ContractViolation(f"budgets: {algo.name}: trial {t.trial_id} (budget {t.budget_epochs}) "
                                        f"resumes from {t.resume_from!r} written at budget {written[t.resume_from]}")
            if t.resume_budget != written[t.resume_from]:
                raise ContractViolation(f"budgets: {algo.name}: trial {t.trial_id} resumes from {t.resume_from!r} "
                                        f"with resume_budget={t.resume_budget!r}, but it was written at budget "
                                        f"{written[t.resume_from]}")
    n_resumed = sum(t.resume_from is not None for t in run.asked)
    return f"budgets {sorted(budgets)} ({s.variant}); {n_resumed} trials resumed from valid checkpoints"


def _checkpoints(s: Setup) -> str:
    algo = s.build(seed=6)
    run = s.script(algo, "checkpoints", seed=6).run(max(s.n_results, 80))
    told_keys: set[str] = set()
    live: set[str] = set()
    discarded: set[str] = set()
    n_written = 0
    running_resumes: dict[int, str] = {}
    for i, op in enumerate(run.ops):
        for t in op.trials:
            if t.resume_from is not None:
                if t.resume_from in discarded and t.resume_from not in live:
                    raise ContractViolation(f"checkpoints: {algo.name}: trial {t.trial_id} resumes from "
                                            f"{t.resume_from!r}, discarded before (step {i})")
                running_resumes[t.trial_id] = t.resume_from
        if op.kind != "tell" or op.result is None:
            continue
        r = op.result
        running_resumes.pop(r.trial.trial_id, None)
        told_keys.add(r.trial.checkpoint_key)
        if r.checkpoint is not None:
            told_keys.add(r.checkpoint)
            if r.ok:
                live.add(r.checkpoint)
                n_written += 1
        for key in op.discarded:
            if key not in told_keys:
                raise ContractViolation(f"checkpoints: {algo.name}: discarded {key!r}, not a checkpoint of a told "
                                        f"trial (step {i})")
            if key in running_resumes.values():
                raise ContractViolation(f"checkpoints: {algo.name}: discarded {key!r} while a running trial resumes "
                                        f"from it (step {i})")
            live.discard(key)
            discarded.add(key)
    bound = max(1, n_written // 2) + len(run.running)
    if len(live) > bound:
        raise ContractViolation(
            f"checkpoints: {algo.name}: {len(live)} of {n_written} checkpoints written are still kept after "
            f"{len(run.told)} results (at most {bound}): hand back the ones the algorithm lets go of with "
            "discard_checkpoint(key), or leave manages_checkpoints False so the base class keeps only the incumbent's")
    return (f"{n_written} checkpoints written in {len(run.told)} results, {len(live)} kept, {len(discarded)} keys "
            "discarded, none resumed after discard")


def _workers(s: Setup) -> str:
    algo = s.build(seed=7)
    run = s.script(algo, "workers", seed=7)
    capacity, short = 8, 0
    while len(run.told) < s.n_results and not (algo.is_finished() and not run.running):
        free = capacity - len(run.running)
        new = run.ask(free) if free else []
        if len(new) < free:
            short += 1
            if algo.asynchronous:
                raise ContractViolation(f"workers: {algo.name} is asynchronous but ask({free}) returned {len(new)} "
                                        "trials: a free worker stays idle")
        if not run.running:
            raise run.fail(f"ask({free}) returned nothing with nothing running and is_finished() False")
        run.tell(run.running[0])  # the oldest running trial finishes first
    kind = "asynchronous: every free worker got a trial" if algo.asynchronous else f"{short} asks returned fewer"
    return f"8 workers, {len(run.told)} results ({kind})"


#: the checks, in the order check_algorithm runs them (name -> function of a Setup returning a note)
ALGORITHM_CHECKS: dict[str, Callable[[Setup], str]] = {
    "construction": _construction,
    "trials": _trials,
    "failures": _failures,
    "determinism": _determinism,
    "resume": _resume,
    "budgets": _budgets,
    "checkpoints": _checkpoints,
    "workers": _workers,
}


@dataclass
class AlgorithmReport:
    """What :func:`check_algorithm` checked: ``(check, variant, note)`` per passed check, and skipped variants."""

    algorithm: str
    passed: list[tuple[str, str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{self.algorithm}: {len(self.passed)} checks passed"]
        lines += [f"  ok  {check:<13} {variant:<15} {note}" for check, variant, note in self.passed]
        lines += [f"  --  {text}" for text in self.skipped]
        return "\n".join(lines)


def check_algorithm(factory: Factory, *, n_objectives: int = 1, checks: Sequence[str] | None = None,
                    ladder: str = "both", n_results: int = 60, seed: int = 0) -> AlgorithmReport:
    """Run the algorithm contract on ``factory`` (see the module docstring).

    Args:
        factory: an Algorithm subclass, or any ``factory(space, *, seed, n_objectives,
            max_budget, ladder) -> Algorithm`` (e.g. ``functools.partial(MyAlgo, sigma=0.3)``).
        n_objectives: objectives the problem reports (2 for a multi-objective algorithm).
        checks: names from :data:`ALGORITHM_CHECKS` (default: all).
        ladder: ``"both"`` (with the ladder (1, 3, 9), and without unless the algorithm
            requires one), ``"with"`` or ``"without"``.
        n_results: results each check tells (at least).
        seed: root seed of the algorithm in the checks that do not vary it.

    Returns:
        An :class:`AlgorithmReport` of the passed checks.

    Raises:
        ContractViolation: (an AssertionError) naming the check, the variant and the problem.
    """
    names = list(ALGORITHM_CHECKS) if checks is None else list(checks)
    unknown = [n for n in names if n not in ALGORITHM_CHECKS]
    if unknown:
        raise ValueError(f"unknown check(s) {unknown}; known: {', '.join(ALGORITHM_CHECKS)}")
    if ladder not in ("both", "with", "without"):
        raise ValueError(f"ladder must be 'both', 'with' or 'without', got {ladder!r}")
    setups = []
    if ladder in ("both", "with"):
        setups.append(Setup(factory, n_objectives, LADDER, n_results, seed))
    report = AlgorithmReport(algorithm=getattr(factory, "__name__", None) or type(factory).__name__)
    if ladder in ("both", "without"):
        plain = Setup(factory, n_objectives, None, n_results, seed)
        try:
            plain.build()
            setups.append(plain)
        except ConfigError as exc:
            if ladder == "without" or "ladder" not in str(exc):
                raise
            report.skipped.append(f"without a ladder: {exc}")
    for s in setups:
        report.algorithm = s.build().name
        for name in names:
            try:
                note = ALGORITHM_CHECKS[name](s)
            except ContractViolation as exc:
                raise ContractViolation(f"[{s.variant}] {exc}") from None
            report.passed.append((name, s.variant, note))
    return report
