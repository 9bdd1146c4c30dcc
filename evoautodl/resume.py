"""Resuming a run: restore the snapshot, replay what came after it, judge the trials that were running.

Pseudocode (`replay`)::

    state = state.pkl, or none (replay from the start) when it counts more lines than the disk kept
    algorithm.load_state_dict(state)
    for each logged result r after the state's n_told, in log order:
        replay the journaled asks made before r was told (ask(n) must return the journaled ids)
        if r's trial was never asked and the journal has no ask left (a power loss took the journal's tail):
            ask(1) until r's trial comes back, identical to the logged one; journal these asks
        tell(r)
    replay the asks made after the last result; asks that need results the log lost (a power loss
        took the log's tail) are dropped with everything journaled after them
    pending = trials asked and not logged: they run again
    deaths(t) = "run" marks - "stop" marks of t in the whole journal   (the run died while t ran)
    deaths >= max_attempts      -> a FAILED result naming the signal if one was recorded
    1 <= deaths < max_attempts  -> a suspect: runs again alone, so a further death is its own
    otherwise                   -> runs again with the others

A trial that kills its worker process (``os._exit``, a segfault) takes the MPI
job down with it; without this bookkeeping every resume would run it again
and die again. Running suspects alone costs idle workers while they run, and
makes the second death conclusive.

Algorithm calls go through `algorithm_call`: an exception in a user's
``ask``/``tell`` becomes an `AlgorithmError` naming the algorithm, the call and
where it raised. (Replayed asks are ``next_trials``: enqueued configurations
first, then ``ask``, as the runner asked them.)

Before anything is replayed, `check_compatible` compares the run directory with
what resumes it (every resume, from the CLI or from Python): the algorithm's
name, seed and budgets, the search space (``space.json``), the objectives and,
for an experiment file, the sections a resumed run may not change
(`fixed_part`): a change is a `RunDirError` naming what changed.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoautodl.backends.faults import read_faults
from evoautodl.errors import AlgorithmError, RunDirError
from evoautodl.log import read_results
from evoautodl.records import Result, Status, Trial, failed_result
from evoautodl.rundir import RunDir

__all__ = ["FIXED_SECTIONS", "Resumed", "algorithm_call", "algorithm_error", "changed_keys", "check_compatible",
           "fixed_part", "replay"]

logger = logging.getLogger(__name__)


def algorithm_call(algorithm: Any, what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``; any exception becomes an `AlgorithmError` naming the algorithm, ``what`` and where it raised."""
    try:
        return fn(*args)
    except Exception as exc:
        raise algorithm_error(algorithm, what, exc) from exc


def algorithm_error(algorithm: Any, what: str, exc: Exception) -> AlgorithmError:
    """The `AlgorithmError` of ``exc``, raised by the algorithm in ``what``: names the algorithm, the call and the line.

    For callers that call the algorithm directly on a hot path (``raise algorithm_error(...) from exc``).
    """
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    name = getattr(algorithm, "name", type(algorithm).__name__)
    logger.debug("%s raised in %s", name, what, exc_info=exc)
    return AlgorithmError(f"algorithm {name!r} ({type(algorithm).__name__}) raised in {what}: "
                          f"{type(exc).__name__}: {exc}{where}")


#: the experiment sections a resumed run must not change ([stop], [backend] and [run] may, except run.enqueue)
FIXED_SECTIONS = ("seed", "workload", "space", "algorithm", "fidelity")


def fixed_part(config: dict[str, Any], sections: tuple[str, ...] = FIXED_SECTIONS) -> dict[str, Any]:
    """The part of an experiment table a resumed run must not change, as plain JSON values.

    ``run.enqueue`` belongs to it (the enqueued configurations are the first trials asked).
    """
    part = {k: config.get(k) for k in sections}
    enqueue = (config.get("run") or {}).get("enqueue")
    if enqueue is not None:
        part["run"] = {"enqueue": enqueue}
    return json.loads(json.dumps(part, default=str))


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested tables."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            out += changed_keys(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [prefix.rstrip(".")]


def _space_signature(space: Any) -> tuple[Any, ...]:
    cs = space.to_configspace()
    return (tuple(space.hyperparameters), tuple(sorted(str(c) for c in cs.conditions)),
            tuple(sorted(str(f) for f in cs.forbidden_clauses)))


def check_compatible(rundir: RunDir, algorithm: Any, workload: Any = None,
                     experiment: dict[str, Any] | None = None) -> None:
    """Refuse to resume a run with another algorithm, seed, budget, space, objectives or experiment.

    Args:
        rundir: the run being resumed.
        algorithm: the freshly built algorithm that will continue it.
        workload: the workload (its objective names are compared; None: not compared).
        experiment: the experiment's `fixed_part` (None: a run from Python, no file to compare).

    Raises:
        RunDirError: naming what changed (dotted keys of the experiment file, or the settings).
    """
    meta = rundir.read_meta()
    if experiment is not None and "experiment" in meta:
        changed = changed_keys(meta["experiment"], experiment)
        if changed:
            raise RunDirError(
                f"{rundir.path / 'config.toml'} changed since the run started ({', '.join(changed)}): a resumed run "
                "continues the original experiment, so only [stop], [backend] and [run] (but not run.enqueue) may "
                "change; undo the edit, or start a new run with another --out"
            )
    ladder = algorithm.ladder
    now: dict[str, Any] = {
        "algorithm": algorithm.name,
        "seed": algorithm.seed,
        "max_budget": algorithm.max_budget,
        "ladder": None if ladder is None else [ladder.min_budget, ladder.max_budget, ladder.eta],
        "hyperparameters": list(algorithm.space.names),
    }
    if algorithm.n_asked == 0:  # a fresh algorithm holds the whole queue the run started with
        now["enqueued"] = algorithm.enqueued_configs
    if workload is not None:
        now["objective_names"] = list(getattr(workload, "objective_names", ()) or ())
    changed = [f"{k} (was {meta[k]!r}, now {v!r})" for k, v in now.items() if k in meta and meta[k] != v]
    space_file = rundir.path / "space.json"
    if not changed and space_file.is_file():
        from evoautodl.space import SearchSpace

        try:
            before = _space_signature(SearchSpace.from_json(space_file))
        except Exception as exc:  # an unreadable space.json cannot be compared: say so, do not guess
            raise RunDirError(f"{space_file} cannot be read ({exc}); it records the run's search space") from exc
        if before != _space_signature(algorithm.space):
            changed.append("the search space (ranges, defaults, conditions or forbidden clauses differ from "
                           "space.json)")
    if changed:
        raise RunDirError(f"{rundir.path}: the run was started with another {'; '.join(changed)}: a resumed run "
                          "continues the original one exactly; build the same algorithm, space and workload, or "
                          "start a new run in another folder")


@dataclass(frozen=True, slots=True)
class Resumed:
    """What `replay` found.

    Attributes:
        results: every logged result, in log order (already told).
        resubmit: pending trials to run again with the others.
        suspects: pending trials that were running when the run died: each runs again alone.
        exhausted: FAILED results for trials that were running in ``max_attempts`` deaths
            (to log and tell; not yet told).
        elapsed_s: backend seconds the run spent before (from the snapshot).
    """

    results: tuple[Result, ...]
    resubmit: tuple[Trial, ...]
    suspects: tuple[Trial, ...]
    exhausted: tuple[Result, ...]
    elapsed_s: float


def replay(algorithm: Any, rundir: RunDir, *, max_attempts: int = 3) -> Resumed:
    """Restore ``algorithm`` from ``rundir`` (see the module docstring); the journal must be open for writing."""
    state = rundir.load_state()
    results = read_results(rundir.path)
    journal = rundir.read_journal()
    n_told0 = n_journal0 = 0
    elapsed = 0.0
    if state is not None and (state["n_told"] > len(results) or state["n_journal"] > len(journal)):
        logger.warning("%s: state.pkl counts %d results and %d journal lines, the disk kept %d and %d (a power "
                       "loss?): replaying the whole log instead", rundir.path, state["n_told"], state["n_journal"],
                       len(results), len(journal))
        state = None
    if state is not None:
        algorithm_call(algorithm, "load_state_dict()", algorithm.load_state_dict, state["algorithm"])
        n_told0, n_journal0 = state["n_told"], state["n_journal"]
        elapsed = float(state.get("elapsed_s", 0.0))
    asks = [(i, e) for i, e in enumerate(journal) if i >= n_journal0 and "ids" in e]
    pending_ids = {t.trial_id for t in algorithm.pending}
    a = 0

    def ask(n: int) -> list[Trial]:
        trials = algorithm_call(algorithm, f"ask({n}) while replaying the journal", algorithm.next_trials, n)
        pending_ids.update(t.trial_id for t in trials)
        return trials

    def replay_asks(upto: int) -> None:
        nonlocal a
        while a < len(asks) and asks[a][1]["after"] <= upto:
            index, entry = asks[a]
            ids = [t.trial_id for t in ask(entry["n"])]
            if ids != entry["ids"]:
                raise RunDirError(
                    f"{rundir.path}: replaying ask {index} gave trials {ids}, the journal says {entry['ids']}: "
                    "the algorithm or its settings differ from the original run"
                )
            a += 1

    def reask(k: int, logged: Result) -> None:
        """The journal lost the ask of this logged trial: ask one at a time until it comes back."""
        n = 0
        while logged.trial_id not in pending_ids:
            trials = ask(1)
            if not trials or trials[0].trial_id > logged.trial_id:
                raise RunDirError(f"{rundir.path}: logged trial {logged.trial_id} was never asked in the replay "
                                  "and asking again does not bring it back")
            rundir.journal_ask(k, 1, [trials[0].trial_id])
            n += 1
            if trials[0].trial_id == logged.trial_id and _differs(trials[0], logged.trial):
                raise RunDirError(f"{rundir.path}: asked again, trial {logged.trial_id} differs from the logged one")
        logger.warning("%s: the journal lacked the ask of trial %d (lost in a crash): asked again (%d trials)",
                       rundir.path, logged.trial_id, n)

    for k in range(n_told0, len(results)):
        replay_asks(k)
        r = results[k]
        if r.trial_id not in pending_ids:
            if a < len(asks):
                raise RunDirError(f"{rundir.path}: logged trial {r.trial_id} was never asked in the replay")
            reask(k, r)
        pending_ids.discard(r.trial_id)
        algorithm_call(algorithm, f"tell(result of trial {r.trial_id}) while replaying the log", algorithm.tell, r)
    replay_asks(len(results))
    if a < len(asks):
        cut = asks[a][0]
        logger.warning("%s: the journal holds asks made after results the log lost (a power loss?): dropping "
                       "journal lines %d.. and running those trials again", rundir.path, cut + 1)
        rundir.truncate_journal(cut)
        journal = journal[:cut]
    return _judge(algorithm, rundir, results, journal, max_attempts, elapsed)


def _differs(a: Trial, b: Trial) -> bool:
    return (dict(a.config) != dict(b.config) or a.budget_epochs != b.budget_epochs
            or a.individual_id != b.individual_id or a.resume_from != b.resume_from
            or a.resume_budget != b.resume_budget)


def _judge(algorithm: Any, rundir: RunDir, results: list[Result], journal: list[dict[str, Any]],
           max_attempts: int, elapsed: float) -> Resumed:
    """Split the pending trials by how often the run died while they ran."""
    runs: Counter[int] = Counter()
    stops: Counter[int] = Counter()
    for entry in journal:
        run = entry.get("run", ())
        runs.update(entry["ids"] if run is True else run)  # an ask whose trials were submitted at once
        stops.update(entry.get("stop", ()))
    pending = sorted(algorithm.pending, key=lambda t: t.trial_id)
    deaths = {t.trial_id: max(0, runs[t.trial_id] - stops[t.trial_id]) for t in pending}
    faults = read_faults(rundir.faults) if any(deaths.values()) else {}
    exhausted = tuple(_died(t, deaths[t.trial_id], max_attempts, faults.get(t.trial_id))
                      for t in pending if deaths[t.trial_id] >= max_attempts)
    suspects = tuple(t for t in pending if 0 < deaths[t.trial_id] < max_attempts)
    resubmit = tuple(t for t in pending if deaths[t.trial_id] == 0)
    logger.info("resumed: %d evaluations logged, %d trials to run again (%d of them alone: the run died while "
                "they ran), %d failed after %d deaths", len(results), len(suspects) + len(resubmit), len(suspects),
                len(exhausted), max_attempts)
    return Resumed(tuple(results), resubmit, suspects, exhausted, elapsed)


def _died(trial: Trial, deaths: int, max_attempts: int, fault: str | None) -> Result:
    cause = (f"the process died of {fault}" if fault else
             "no Python error was recorded (os._exit, or a signal such as SIGKILL from the out-of-memory killer; "
             "the launcher's output shows the exit code)")
    times = "once" if deaths == 1 else f"{deaths} times (from the second time on, with no other trial running)"
    error = (f"WorkerDied: the run died {times} while this trial ran, so the trial is taken to kill its worker "
             f"process: {cause}; [run] max_trial_attempts = {max_attempts}")
    logger.warning("trial %d FAILED: %s", trial.trial_id, error)
    return failed_result(trial, Status.FAILED, error, end_time=0.0)  # when it died is unknown
