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
where it raised.
"""

from __future__ import annotations

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

__all__ = ["Resumed", "algorithm_call", "replay"]

logger = logging.getLogger(__name__)


def algorithm_call(algorithm: Any, what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``; any exception becomes an `AlgorithmError` naming the algorithm, ``what`` and where it raised."""
    try:
        return fn(*args)
    except Exception as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
        name = getattr(algorithm, "name", type(algorithm).__name__)
        logger.debug("%s raised in %s", name, what, exc_info=True)
        raise AlgorithmError(f"algorithm {name!r} ({type(algorithm).__name__}) raised in {what}: "
                             f"{type(exc).__name__}: {exc}{where}") from exc


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
        trials = algorithm_call(algorithm, f"ask({n}) while replaying the journal", algorithm.ask, n)
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
