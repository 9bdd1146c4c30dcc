"""DEHB, ASHA-evolution and PBT: budgets, promotion/exploit lineage, checkpoint hygiene, determinism."""

from __future__ import annotations

import copy
import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest

from evoautodl.algorithms.asha import ASHAEvolution
from evoautodl.algorithms.base import Algorithm
from evoautodl.algorithms.dehb import DEHB
from evoautodl.algorithms.pbt import PBT
from evoautodl.backends.serial import SerialBackend
from evoautodl.backends.simulated import SimulatedBackend
from evoautodl.errors import ConfigError
from evoautodl.fidelity import BudgetLadder
from evoautodl.log import read_results
from evoautodl.records import Evaluation, Result, Status, Trial, checkpoint_key, parse_checkpoint_budget
from evoautodl.runner import Runner, StopCriteria
from evoautodl.workloads.base import WorkerContext
from evoautodl.workloads.synthetic import MixedRastrigin

LADDER = BudgetLadder(1, 27, 3)
CLASSES: dict[str, type[Algorithm]] = {"dehb": DEHB, "asha_ea": ASHAEvolution, "pbt": PBT}
PBT_OPTS = {"population_size": 8, "step_epochs": 3}


def _make(name: str, space, seed: int = 0, **kw) -> Algorithm:
    opts = dict(PBT_OPTS) if name == "pbt" else {}
    opts.update(kw)
    return CLASSES[name](space, seed=seed, ladder=LADDER, **opts)


class FileCheckpoints:
    """MixedRastrigin that writes a checkpoint file per trial and fails when a resumed one is missing."""

    objective_names = ("error",)
    max_budget = 27

    def __init__(self, fail_prob: float = 0.0) -> None:
        self.inner = MixedRastrigin(max_budget=27, fidelity_correlation=0.7, noise_std=0.01, fail_prob=fail_prob,
                                    nan_prob=fail_prob / 2, cost_spread=0.5)

    def setup(self, context: WorkerContext) -> None:
        pass

    def evaluate(self, trial: Trial, context: WorkerContext) -> Evaluation:
        folder = context.checkpoint_dir
        assert folder is not None
        if trial.resume_from is not None:
            src = folder / f"{trial.resume_from}.ckpt"
            if not src.exists():
                raise FileNotFoundError(f"checkpoint {src.name} was deleted before trial {trial.trial_id}")
            assert json.loads(src.read_text())["budget"] == trial.resume_budget
        ev = self.inner.evaluate(trial, context)
        (folder / f"{trial.checkpoint_key}.ckpt").write_text(json.dumps({"budget": trial.budget_epochs}))
        return ev


class Recorder:
    """Proxy of an algorithm for the runner: records asks, tells and discarded checkpoints in order."""

    def __init__(self, algo: Algorithm) -> None:
        self.algo = algo
        self.events: list[tuple[str, object]] = []

    def __getattr__(self, name: str):
        return getattr(self.algo, name)

    def ask(self, n: int) -> list[Trial]:
        out = self.algo.ask(n)
        self.events.extend(("ask", t) for t in out)
        return out

    def tell(self, r: Result) -> None:
        self.events.append(("tell", r))
        self.algo.tell(r)

    def pop_discarded_checkpoints(self) -> list[str]:
        keys = self.algo.pop_discarded_checkpoints()
        self.events.extend(("discard", k) for k in keys)
        return keys

    def check_discards(self) -> int:
        """No discarded key is resumed from by a running or a later trial; returns #discards."""
        pending: dict[int, Trial] = {}
        discarded: set[str] = set()
        for kind, x in self.events:
            if kind == "ask":
                assert isinstance(x, Trial)
                assert x.resume_from not in discarded, f"trial {x.trial_id} resumes from discarded {x.resume_from}"
                pending[x.trial_id] = x
            elif kind == "tell":
                assert isinstance(x, Result)
                pending.pop(x.trial_id, None)
            else:
                assert isinstance(x, str)
                users = [t.trial_id for t in pending.values() if t.resume_from == x]
                assert not users, f"{x} discarded while trials {users} resume from it"
                discarded.add(x)
        return len(discarded)


def _run(name: str, tmp_path: Path, backend: str, seed: int = 0, max_epochs: float = 900, fail_prob: float = 0.0,
         **kw) -> tuple[Recorder, list[Result], Path]:
    wl = FileCheckpoints(fail_prob)
    rec = Recorder(_make(name, wl.inner.search_space(), seed=seed, **kw))
    run_dir = tmp_path / f"{name}-{backend}-{seed}"
    ckpt = run_dir / "checkpoints"
    be = SerialBackend(wl, checkpoint_dir=ckpt) if backend == "serial" else SimulatedBackend(wl, 8, checkpoint_dir=ckpt)
    Runner(rec, be,  # type: ignore[arg-type]
           run_dir=run_dir, stop=StopCriteria(max_epochs=max_epochs), handle_signals=False).run()
    return rec, read_results(run_dir), run_dir


def _check_promotions(results: list[Result]) -> int:
    """Every resumed trial continues an earlier logged result of its (or, for exploit, its parent's) individual."""
    seen: dict[tuple[int, float], Result] = {}
    n = 0
    for r in results:
        t = r.trial
        if t.resume_from is not None:
            b0 = t.resume_budget
            assert b0 is not None and b0 < t.budget_epochs and b0 == parse_checkpoint_budget(t.resume_from)
            owner = t.individual_id if t.operator in ("promote", "continue") else t.parent_ids[0]
            assert t.resume_from == checkpoint_key(owner, b0)
            src = seen.get((owner, b0))
            assert src is not None and src.ok, f"trial {t.trial_id} resumes from {t.resume_from}, never logged OK"
            if t.operator in ("promote", "continue"):
                assert dict(src.trial.config) == dict(t.config)
                assert t.parent_ids == (t.individual_id,)
            n += 1
        seen[(t.individual_id, t.budget_epochs)] = r
    return n


# ---------------------------------------------------------------------------------------------- DEHB / ASHA
@pytest.mark.parametrize("backend", ["serial", "sim8"])
@pytest.mark.parametrize("name", ["dehb", "asha_ea"])
def test_ladder_budgets_promotions_and_hygiene(tmp_path: Path, name: str, backend: str) -> None:
    rec, results, run_dir = _run(name, tmp_path, backend)
    budgets = LADDER.budgets
    assert len(results) > 50
    assert all(r.status is Status.OK for r in results), [r.error for r in results if not r.ok][:2]
    for r in results:
        assert r.trial.budget_epochs in budgets and budgets[r.trial.rung] == r.trial.budget_epochs
    promoted = [r for r in results if r.trial.operator == "promote"]
    assert promoted and all(r.trial.resume_from is not None for r in promoted)
    for r in promoted:  # promoted trials: the same individual from the rung below
        k = r.trial.rung
        assert r.trial.resume_from == checkpoint_key(r.trial.individual_id, budgets[k - 1])
        assert r.epochs_trained == budgets[k] - budgets[k - 1]
    assert _check_promotions(results) == len(promoted)
    assert any(r.trial.budget_epochs == budgets[-1] for r in results)
    assert rec.check_discards() > 0
    # disk use is bounded: the incumbent plus open rungs (DEHB) / the kept candidates per rung (ASHA)
    left = sorted(p.stem for p in (run_dir / "checkpoints").iterdir())
    n_max = sum(1 for r in results if r.trial.budget_epochs == budgets[-1])
    assert sum(k.endswith(f"_b{int(budgets[-1])}") for k in left) <= 1 < n_max
    if name == "dehb":
        assert len(left) <= 1 + LADDER.bracket(LADDER.s_max)[0][0] * rec.algo.n_open_brackets
    else:
        assert len(left) <= 1 + (len(budgets) - 1) * rec.algo.keep_checkpoints_per_rung + 8


def test_dehb_bracket_structure_serial() -> None:
    space = MixedRastrigin(max_budget=27).search_space()
    algo = DEHB(space, seed=3, ladder=LADDER)
    wl = MixedRastrigin(max_budget=27, fidelity_correlation=0.8)
    shapes = [LADDER.bracket(s) for s in range(LADDER.s_max, -1, -1)]
    seen: list[tuple[int, float]] = []
    for _ in range(2 * sum(sum(n for n, _ in sh) for sh in shapes)):
        (t,) = algo.ask(1)
        seen.append((t.generation, t.budget_epochs))
        ev = wl.evaluate(t, WorkerContext())
        algo.tell(Result(trial=t, status=Status.OK, objectives=ev.objectives, checkpoint=ev.checkpoint))
    for g, shape in enumerate(shapes * 2):  # serially, brackets run one after the other, rung by rung
        got = [b for gg, b in seen if gg == g]
        assert got == [b for n, b in shape for _ in range(n)]
    ops = {t for t in algo.__dict__}  # state is plain data
    assert "_pops" in ops
    for j, size in enumerate(algo.population_sizes):
        assert 0 < len(algo.subpopulation(j)) <= size


def test_asha_promotes_top_fraction_without_waiting() -> None:
    space = MixedRastrigin(max_budget=27).search_space()
    algo = ASHAEvolution(space, seed=0, ladder=LADDER, n_initial=5)
    wl = MixedRastrigin(max_budget=27)
    trials = algo.ask(3)
    assert all(t.budget_epochs == 1 for t in trials)
    for t in trials:
        ev = wl.evaluate(t, WorkerContext())
        algo.tell(Result(trial=t, status=Status.OK, objectives=ev.objectives, checkpoint=ev.checkpoint))
    (p,) = algo.ask(1)  # 3 results at rung 0: the best is in the top 1/3 and goes up at once
    best = min(trials, key=lambda t: wl.curve(t.config, 1)[-1])
    assert p.operator == "promote" and p.individual_id == best.individual_id and p.budget_epochs == 3
    assert p.resume_from == checkpoint_key(best.individual_id, 1)
    (q,) = algo.ask(1)
    assert q.operator != "promote" and q.budget_epochs == 1


def test_asha_bounded_checkpoints_promote_from_scratch(tmp_path: Path) -> None:
    rec, results, run_dir = _run("asha_ea", tmp_path, "sim8", max_epochs=1500, keep_checkpoints_per_rung=1)
    promoted = [r for r in results if r.trial.operator == "promote"]
    fresh = [r for r in promoted if r.trial.resume_from is None]
    assert fresh and all(r.epochs_trained == r.trial.budget_epochs for r in fresh)
    assert all(r.ok for r in results)
    rec.check_discards()
    assert len(list((run_dir / "checkpoints").iterdir())) <= 1 + (LADDER.n_rungs - 1) + 8


# ---------------------------------------------------------------------------------------------- PBT
@pytest.mark.parametrize("backend", ["serial", "sim8"])
def test_pbt_exploit_copies_a_better_member(tmp_path: Path, backend: str) -> None:
    rec, results, run_dir = _run("pbt", tmp_path, backend, max_epochs=10_000)
    assert rec.algo.is_finished()
    assert all(r.ok for r in results)
    budgets = {r.trial.budget_epochs for r in results}
    assert budgets <= {3.0 * k for k in range(1, 10)}
    last: dict[int, Result] = {}  # member slot -> its latest result
    exploits = 0
    for r in results:
        t = r.trial
        if t.operator == "exploit":
            donor = t.parent_ids[0]
            b0 = t.resume_budget
            assert t.resume_from == checkpoint_key(donor, b0) and t.budget_epochs == b0 + 3
            assert t.individual_id not in (donor, last[t.generation].trial.individual_id)
            donor_result = next(x for x in results if x.trial.individual_id == donor and x.trial.budget_epochs == b0)
            assert donor_result.objective < last[t.generation].objective
            exploits += 1
        last[t.generation] = r
    assert exploits > 0
    assert _check_promotions(results) == sum(r.trial.resume_from is not None for r in results)
    assert rec.check_discards() > 0
    left = sorted(p.stem for p in (run_dir / "checkpoints").iterdir())
    finals = sorted(checkpoint_key(r.trial.individual_id, 27) for r in last.values())
    assert len(last) == PBT_OPTS["population_size"] and left == finals


def test_pbt_needs_step_or_ladder_and_waits_when_all_run() -> None:
    space = MixedRastrigin().search_space()
    with pytest.raises(ConfigError, match="step_epochs"):
        PBT(space)
    algo = PBT(space, population_size=4, step_epochs=1, max_budget=2)
    assert len(algo.ask(10)) == 4
    before = pickle.dumps(algo.state_dict())
    assert algo.ask(3) == []
    assert pickle.dumps(algo.state_dict()) == before


# ---------------------------------------------------------------------------------------------- shared contract
@pytest.mark.parametrize("name", ["dehb", "asha_ea"])
def test_ladder_is_required(name: str) -> None:
    with pytest.raises(ConfigError, match="ladder"):
        CLASSES[name](MixedRastrigin().search_space())


@pytest.mark.parametrize("name", ["dehb", "asha_ea", "pbt"])
def test_failures_through_the_runner(tmp_path: Path, name: str) -> None:
    rec, results, _ = _run(name, tmp_path, "sim8", max_epochs=600, fail_prob=0.2)
    failed = [r for r in results if not r.ok]
    assert failed and len(failed) < len(results)
    assert _check_promotions(results) > 0  # never resumes from a failed trial
    rec.check_discards()


def test_registry_resolves_the_classes() -> None:
    registry = pytest.importorskip("evoautodl.algorithms")
    space = MixedRastrigin().search_space()
    for name, cls in CLASSES.items():
        algo = registry.get_algorithm(name, space, seed=1, ladder=LADDER)
        assert type(algo) is cls


def _drive(algo: Algorithm, n_steps: int, wl: MixedRastrigin, rng: np.random.Generator,
           running: list[Trial] | None = None) -> list[tuple]:
    """Asynchronous ask/tell with a random completion order; returns what finished, in order."""
    running = [] if running is None else running
    trace: list[tuple] = []
    for _ in range(n_steps):
        running += algo.ask(int(rng.integers(0, 3)) if running else 1 + int(rng.integers(0, 3)))
        if not running:
            break
        t = running.pop(int(rng.integers(len(running))))
        trace.append((t.trial_id, t.individual_id, t.budget_epochs, t.resume_from, t.operator, t.genome))
        try:
            ev = wl.evaluate(t, WorkerContext())
            r = Result(trial=t, status=Status.OK if math.isfinite(ev.objectives[0]) else Status.FAILED,
                       objectives=ev.objectives, checkpoint=ev.checkpoint)
        except RuntimeError as exc:
            r = Result(trial=t, status=Status.FAILED, error=str(exc))
        algo.tell(r)
    return trace


@pytest.mark.parametrize("name", ["dehb", "asha_ea", "pbt"])
def test_determinism_state_roundtrip_and_failures(name: str) -> None:
    wl = MixedRastrigin(max_budget=27, fidelity_correlation=0.6, fail_prob=0.15, nan_prob=0.05)
    space = wl.search_space()
    kw = {"step_epochs": 1} if name == "pbt" else {}
    a = _drive(_make(name, space, seed=4, **kw), 300, wl, np.random.default_rng(1))
    b = _drive(_make(name, space, seed=4, **kw), 300, wl, np.random.default_rng(1))
    assert a == b and len(a) > 100
    assert any(t[4] != "sample" for t in a)
    c = _drive(_make(name, space, seed=5, **kw), 300, wl, np.random.default_rng(1))
    assert a != c
    # state_dict round-trip in the middle of a run; ask(0) changes nothing
    algo, rng, running = _make(name, space, seed=4, **kw), np.random.default_rng(1), []
    head = _drive(algo, 150, wl, rng, running)
    state = pickle.dumps(algo.state_dict())
    assert algo.ask(0) == []
    assert pickle.dumps(algo.state_dict()) == state
    fresh = _make(name, space, seed=99, **kw)
    fresh.load_state_dict(pickle.loads(state))
    rng2, running2 = copy.deepcopy(rng), list(running)
    tail = _drive(algo, 150, wl, rng, running)
    assert head + tail == a
    assert _drive(fresh, 150, wl, rng2, running2) == tail


@pytest.mark.parametrize("name", ["dehb", "asha_ea", "pbt"])
def test_resume_through_the_runner_is_exact(tmp_path: Path, name: str) -> None:
    wl = MixedRastrigin(max_budget=27, fidelity_correlation=0.7)

    def go(run_dir: Path, n: int, resume: bool) -> None:
        algo = _make(name, wl.search_space(), seed=2)
        Runner(algo, SerialBackend(wl), run_dir=run_dir, stop=StopCriteria(max_evaluations=n), resume=resume,
               handle_signals=False).run()

    go(tmp_path / "full", 120, False)
    go(tmp_path / "part", 50, False)
    (tmp_path / "part" / "state.pkl").unlink()  # resume by replaying the whole journal and log
    go(tmp_path / "part", 120, True)
    strip = ("start_time", "end_time", "host", "worker")

    def lines(p: Path) -> list[dict]:
        return sorted(({k: v for k, v in json.loads(x).items() if k not in strip}
                       for x in (p / "evaluations.jsonl").read_text().splitlines()), key=lambda d: d["trial_id"])

    assert lines(tmp_path / "part") == lines(tmp_path / "full")


def test_pbt_explore_keeps_the_architecture(tmp_path: Path) -> None:
    wl = MixedRastrigin(max_budget=27)
    space = wl.search_space()
    explorable = ["lr", "batch_size"]
    algo = PBT(space, seed=3, ladder=BudgetLadder(3, 27, 3), population_size=6, explore_hyperparameters=explorable)
    Runner(algo, SerialBackend(wl), run_dir=tmp_path / "r", stop=StopCriteria(max_evaluations=60)).run()
    results = read_results(tmp_path / "r")
    by_key = {r.checkpoint: r for r in results if r.checkpoint}
    explored = [r for r in results if r.trial.operator in ("exploit", "explore")]
    assert explored, "the run exploited/explored at least once"
    for r in explored:
        donor = by_key[r.trial.resume_from].trial.config
        frozen = {k: v for k, v in donor.items() if k not in explorable}
        assert {k: v for k, v in r.trial.config.items() if k not in explorable} == frozen
    with pytest.raises(ConfigError, match="explore_hyperparameters"):
        PBT(space, ladder=BudgetLadder(3, 27, 3), explore_hyperparameters=["no_such"])


def test_ladder_budgets_are_computed_once_and_keep_the_settings_types() -> None:
    assert BudgetLadder(1, 52, 3).budgets == (2.0, 6.0, 17.0, 52.0)
    assert BudgetLadder(1, 27, 3).budgets == (1.0, 3.0, 9.0, 27.0)
    # equal settings of other types are other ladders: a ladder of ints that does not round keeps an int
    exact = BudgetLadder(1, 27, 3, integer=False).budgets
    floats = BudgetLadder(1.0, 27.0, 3.0, integer=False).budgets
    assert exact == floats and type(exact[-1]) is int and type(floats[-1]) is float
    assert BudgetLadder(1, 27, 3, integer=False).budgets is exact  # remembered
    ladder = BudgetLadder(1, 27, 3)
    assert [ladder.rung_of(b) for b in (1, 2, 3, 5, 6, 9.0, 18, 100)] == [0, 0, 1, 1, 1, 2, 2, 3]  # ties: lower
