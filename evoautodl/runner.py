"""The one loop: ask -> submit -> wait -> tell -> log -> checkpoint.

Pseudocode::

    resume only: replay state.pkl + journal + log (evoautodl.resume); log FAILED the trials that
        were running in max_trial_attempts deaths; run each suspect alone; resubmit the rest
    while not stopped:
        if budget left: trials = algorithm.next_trials(free workers)  # enqueued configurations, then ask()
                        journal the ask; journal "run"; submit
        results = backend.wait()
        for r in results: log.append(r); algorithm.tell(r)         # one critical section
        delete the checkpoints the algorithm discarded (in batches of 64 keys: one directory scan
            per batch, not per evaluation); snapshot state every few seconds (deleting the rest first)
    drain (or, on SIGTERM/SIGINT, cancel within a grace period); journal "stop" for cancelled
    trials; snapshot; summary

The runner never checks which backend it has. Failed trials are data: logged
and told to the algorithm; the loop goes on.

What the state snapshot (``state.pkl``) promises: it counts exactly the log
lines whose ``tell`` completed, and it is written only while the algorithm's
state is whole. An exception in the algorithm's ``ask``/``tell`` stops the run
with an `AlgorithmError` (the results still coming back are logged, not told)
and keeps the previous snapshot, so ``evoautodl resume`` replays the logged
results once the algorithm is fixed. Log and journal are forced to disk
before each snapshot, so the snapshot is never ahead of them after a power
loss. No live worker left (`Backend.health`) is a `NoWorkersError` naming
them; an algorithm that asks for nothing with every worker idle is an
`AlgorithmError`; both after the state is saved.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evoautodl.algorithms.base import Algorithm
from evoautodl.backends.base import Backend
from evoautodl.errors import AlgorithmError, NoWorkersError
from evoautodl.log import EvaluationLog
from evoautodl.records import Result, Status, Trial
from evoautodl.resume import Resumed, algorithm_call, algorithm_error, check_compatible, replay
from evoautodl.rundir import RunDir
from evoautodl.stopping import StopCriteria, StopSignals, check_setting

__all__ = ["RunSummary", "Runner", "StopCriteria", "run"]

logger = logging.getLogger(__name__)

#: discarded checkpoint keys deleted together (each deletion scans the checkpoint folder once)
DELETE_BATCH = 64
_OK, _CANCELLED = Status.OK, Status.CANCELLED  # an enum member looked up through its class costs a call each


@dataclass(frozen=True, slots=True, repr=False)
class RunSummary:
    """What a run did (counts include the evaluations of earlier sessions of a resumed run).

    Attributes:
        n_evaluations, n_failed, epochs_trained: totals over the run's log.
        elapsed_s: seconds on the backend's clock (virtual on the simulated backend), across resumes.
        stopped_by: "max_evaluations", "max_epochs", "max_time_s", "algorithm finished" or "signal SIGTERM"...
        best: the incumbent (best OK result at the highest budget), None before one.
        run_dir: the run directory (None: nothing written).
        n_before: evaluations logged before this session (a resume), 0 for a new run.
    """

    n_evaluations: int
    n_failed: int
    epochs_trained: float
    elapsed_s: float
    stopped_by: str
    best: Result | None = None
    run_dir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    n_before: int = 0

    def __repr__(self) -> str:
        best = "None" if self.best is None else (
            f"trial {self.best.trial_id} at budget {self.best.trial.budget_epochs:g}: {self.best.objective:.6g}")
        return (f"RunSummary(n_evaluations={self.n_evaluations}, n_failed={self.n_failed}, "
                f"epochs_trained={self.epochs_trained:g}, elapsed_s={self.elapsed_s:.1f}, "
                f"stopped_by={self.stopped_by!r}, best={best}, run_dir={self.run_dir!r})")

    __str__ = __repr__


class Runner:
    """Drives an algorithm on a backend, logging to a run directory.

    Args:
        algorithm: the ask/tell optimiser (freshly built; on resume its state is restored).
        backend: where trials run.
        run_dir: the run directory (None: nothing is written).
        stop: stopping criteria.
        resume: continue the run in ``run_dir``.
        progress: show a progress bar (stderr).
        checkpoint_interval_s: how often state.pkl is rewritten (>= 0).
        grace_s: how long running trials may finish after SIGTERM/SIGINT (>= 0).
        on_result: called with each result after it is logged and told.
        max_trial_attempts: on resume, a trial that was running when the run died
            this many times is logged FAILED instead of run again (>= 1; see `evoautodl.resume`).

    Raises:
        ConfigError: a setting out of range (NaN, negative).
    """

    def __init__(
        self,
        algorithm: Algorithm,
        backend: Backend,
        *,
        run_dir: str | Path | RunDir | None = None,
        stop: StopCriteria | None = None,
        resume: bool = False,
        progress: bool = False,
        checkpoint_interval_s: float = 30.0,
        grace_s: float = 30.0,
        on_result: Callable[[Result], None] | None = None,
        handle_signals: bool = True,
        meta: dict[str, Any] | None = None,
        max_trial_attempts: int = 3,
    ):
        check_setting("run.checkpoint_interval_s", checkpoint_interval_s, strict=False)
        check_setting("run.grace_s", grace_s, strict=False)
        check_setting("run.max_trial_attempts", max_trial_attempts, integer=True, minimum=1, strict=False)
        self.algorithm = algorithm
        self.backend = backend
        self.dir = run_dir if isinstance(run_dir, RunDir) or run_dir is None else RunDir(run_dir)
        self.stop = stop or StopCriteria()
        self.resume = resume
        self.progress = progress
        self.checkpoint_interval_s = float(checkpoint_interval_s)
        self.grace_s = float(grace_s)
        self.on_result = on_result
        self.handle_signals = handle_signals
        self.meta = dict(meta or {})
        self.max_trial_attempts = int(max_trial_attempts)
        self.n_evaluations = 0
        self.n_failed = 0
        self.epochs = 0.0
        self.best: Result | None = None
        self._elapsed_before = 0.0
        self._t0 = 0.0
        self._log: EvaluationLog | None = None
        self._bar: Any = None
        self._healthy = False  # the algorithm's state is whole and counts exactly _n_told log lines
        self._n_told = 0
        self._n_before = 0
        self._running: dict[int, Trial] = {}
        self._discarded: list[str] = []  # checkpoint keys the algorithm let go of, not deleted yet
        self._last_snapshot = 0.0
        self._signals = StopSignals(lambda: backend.interrupt(self.grace_s))

    # ------------------------------------------------------------------ bookkeeping
    def _count(self, r: Result) -> None:
        self.n_evaluations += 1
        self.epochs += r.epochs_trained
        if not r.ok:
            self.n_failed += 1
            return
        best = self.best  # an OK result: objectives[0] is its objective
        if best is None or r.trial.budget_epochs > best.trial.budget_epochs or (
            r.trial.budget_epochs == best.trial.budget_epochs and r.objectives[0] < best.objectives[0]
        ):
            # the incumbent: the best result at the highest budget evaluated so far
            self.best = r

    def _write_meta(self) -> None:
        """run.json and space.json of a new run (what load_run needs to name columns)."""
        assert self.dir is not None
        from evoautodl import __version__

        workload = getattr(self.backend, "workload", None)
        algo, space = self.algorithm, self.algorithm.space
        names = list(getattr(workload, "objective_names", ()) or ())
        described = getattr(workload, "objective_descriptions", None) or {}
        ladder = algo.ladder
        meta = {
            "evoautodl_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "algorithm": algo.name,
            "seed": algo.seed,
            "max_budget": algo.max_budget,
            "ladder": None if ladder is None else [ladder.min_budget, ladder.max_budget, ladder.eta],
            "objective_names": names,
            "objective_descriptions": {n: described[n] for n in names if n in described},
            "hyperparameters": list(space.names),
            "enqueued": algo.enqueued_configs,
            "backend": type(self.backend).__name__,
            "virtual_clock": bool(getattr(self.backend, "virtual_clock", False)),
            **self.meta,
        }
        self.dir.write_meta(meta)
        if not (self.dir.path / "space.json").exists():
            space.to_json(self.dir.path / "space.json")

    def elapsed(self) -> float:
        return self._elapsed_before + (self.backend.now() - self._t0)

    def _snapshot(self) -> None:
        """state.pkl, after forcing log and journal to disk (the snapshot is never ahead of them).

        Only while the algorithm's state is whole: after an exception in its ``tell``/``ask`` (or an abort
        that tore a critical section) the previous snapshot stays, and resume replays the log after it.
        """
        if self.dir is None or self._log is None or not self._healthy or self._signals.torn:
            return
        self._delete_discarded()
        with self._signals.critical():
            self._log.sync()
            self.dir.sync_journal()
            algo = algorithm_call(self.algorithm, "state_dict()", self.algorithm.state_dict)
            self.dir.save_state({"version": 2, "algorithm": algo, "n_told": self._n_told,
                                 "n_journal": self.dir.n_journal, "elapsed_s": self.elapsed()})
        self._last_snapshot = time.monotonic()

    # ------------------------------------------------------------------ algorithm calls
    def _tell(self, r: Result) -> None:
        try:
            self.algorithm.tell(r)
        except Exception as exc:  # as algorithm_call, without formatting the call's name for every result
            self._healthy = False  # tell may have half-updated the state: never snapshot it
            raise algorithm_error(self.algorithm, f"tell(result of trial {r.trial_id})", exc) from exc
        self._n_told += 1

    def _ask(self, n: int) -> list[Trial]:
        with self._signals.critical():
            try:
                asked = self.algorithm.next_trials(n)
            except Exception as exc:
                self._healthy = False
                raise algorithm_error(self.algorithm, f"ask({n})", exc) from exc
            trials = list(asked or [])
            ids = []
            for t in trials:
                if not isinstance(t, Trial) or t.trial_id in self._running:
                    self._healthy = False
                    raise AlgorithmError(f"algorithm {self.algorithm.name!r}: ask({n}) returned {t!r}, not a "
                                         "new Trial (build trials with make_trial)")
                ids.append(t.trial_id)
            if ids and self.dir is not None:  # the ask, and the "run" mark of its trials (submitted next)
                self.dir.journal_ask(self._log.n_lines if self._log else 0, n, ids, run=True)
        return trials

    # ------------------------------------------------------------------ loop
    def _may_ask(self) -> int:
        """How many new trials the stopping criteria allow now."""
        s = self.stop
        free = self.backend.capacity - self.backend.n_running
        if free <= 0 or self._signals.stop.is_set():
            return 0
        if s.max_evaluations is not None:
            free = min(free, s.max_evaluations - self.n_evaluations - self.backend.n_running)
        if s.max_time_s is not None and self.elapsed() >= s.max_time_s:
            return 0
        if s.max_epochs is not None and self.epochs + self._in_flight_epochs() >= s.max_epochs:
            return 0
        return max(0, free)

    def _in_flight_epochs(self) -> float:
        total = 0.0
        for t in self._running.values():
            total += t.budget_epochs - (t.resume_budget or 0.0)
        return total

    def _submit(self, trials: list[Trial], marked: bool = False) -> None:
        """Submit; the journal's "run" mark comes first (``marked``: the ask's journal line carried it)."""
        if self.dir is not None and not marked:
            self.dir.journal_run([t.trial_id for t in trials])  # an attempt each, should the run die now
        for t in trials:
            self._running[t.trial_id] = t
            self.backend.submit(t)

    def _handle(self, results: list[Result]) -> None:
        """Log each result and tell it (one critical section); journal "stop" for cancelled trials."""
        cancelled: list[int] = []
        error: AlgorithmError | None = None
        with self._signals.critical():
            for r in results:
                self._running.pop(r.trial.trial_id, None)
                if r.status is _CANCELLED:
                    cancelled.append(r.trial_id)  # not finished: stays pending and runs again on resume
                    continue
                if self._log is not None:
                    r = self._log.append(r)
                self._count(r)
                if self._healthy:
                    try:
                        self._tell(r)
                    except AlgorithmError as exc:
                        error = exc  # the rest of the batch is still logged (not told)
                if r.status is not _OK:
                    logger.warning("trial %d %s: %s", r.trial_id, r.status.value, (r.error or "").splitlines()[:1])
                if self._bar is not None:
                    self._progress_bar()
                if self.on_result is not None and error is None:
                    self.on_result(r)
            if cancelled and self.dir is not None:
                self.dir.journal_stop(cancelled)
        if error is not None:
            raise error
        if self.dir is not None:
            self._discarded += self.algorithm.pop_discarded_checkpoints()
            if len(self._discarded) >= DELETE_BATCH:
                self._delete_discarded()
            if time.monotonic() - self._last_snapshot >= self.checkpoint_interval_s:
                self._snapshot()

    def _delete_discarded(self) -> None:
        """Delete the checkpoints the algorithm discarded (one scan of the checkpoint folder for all of them)."""
        if self._discarded and self.dir is not None:
            self.dir.delete_checkpoints(self._discarded)
            self._discarded = []

    def _progress_bar(self) -> None:
        if self._bar is not None:
            self._bar.update(1)
            if self.best is not None:
                self._bar.set_postfix(best=f"{self.best.objective:.4g}", epochs=f"{self.epochs:.0f}",
                                      failed=self.n_failed, refresh=False)

    def _open(self) -> None:
        assert self.dir is not None
        if self.resume:
            self.dir.acquire()
            try:
                check_compatible(self.dir, self.algorithm, getattr(self.backend, "workload", None),
                                 self.meta.get("experiment"))
            except BaseException:
                self.dir.release()
                raise
            if self.dir.remove_stale_temporaries():
                logger.info("removed half-written checkpoint files left by the stopped run")
        else:
            self.dir.create()
            self.dir.acquire()
            self._write_meta()
        self._log = EvaluationLog(self.dir.path).open()
        self.dir.open_journal()

    def _resume(self) -> Resumed:
        assert self.dir is not None
        resumed = replay(self.algorithm, self.dir, max_attempts=self.max_trial_attempts)
        self._elapsed_before = resumed.elapsed_s
        self._n_told = self._n_before = len(resumed.results)
        for r in resumed.results:
            self._count(r)
        return resumed

    def _run_alone(self, trials: tuple[Trial, ...]) -> None:
        """Each trial with nothing else running (a further death of the run is its own)."""
        for t in trials:
            if self._signals.stop.is_set():
                return
            self._submit([t])
            while self.backend.n_running and not self._signals.stop.is_set():
                self._handle(self.backend.wait())

    def run(self) -> RunSummary:
        self._running = {}
        self._last_snapshot = time.monotonic()
        if self.dir is not None:
            self._open()
        if self.handle_signals:
            self._signals.install()
        stopped_by = "algorithm finished"
        try:
            resumed = self._resume() if (self.resume and self.dir is not None) else None
            self._healthy = True
            self._t0 = self.backend.now()
            if self.progress:
                from tqdm.auto import tqdm

                self._bar = tqdm(total=self.stop.max_evaluations, initial=self.n_evaluations, unit="eval",
                                 desc=self.algorithm.name, dynamic_ncols=True)
            resubmit: list[Trial] = []
            if resumed is not None:
                self._handle(list(resumed.exhausted))
                self._run_alone(resumed.suspects)
                resubmit = list(resumed.resubmit)
            while resubmit and not self._signals.stop.is_set():
                room = self.backend.capacity - self.backend.n_running
                if room <= 0:
                    self._check_workers()
                    self._handle(self.backend.wait())
                    continue
                self._submit(resubmit[:room])
                resubmit = resubmit[room:]
            while not self._signals.stop.is_set():
                n = self._may_ask()
                if n > 0:
                    trials = self._ask(n)
                    if trials:
                        self._submit(trials, marked=True)
                if self.backend.n_running == 0:
                    stopped_by = self._why_stopped(n)
                    break
                self._handle(self.backend.wait())
            if self._signals.stop.is_set():
                stopped_by = f"signal {self._signals.name}"
                self._handle(self.backend.cancel_running(self.grace_s))
        except BaseException:
            self._stop_running()
            raise
        finally:
            if self._bar is not None:
                self._bar.close()
            if self.handle_signals:
                self._signals.restore()
            try:
                self._snapshot()
                self._delete_discarded()  # also when the state could not be saved
            finally:
                if self._log is not None:
                    self._log.close()
                if self.dir is not None:
                    self.dir.release()
        return RunSummary(
            n_evaluations=self.n_evaluations,
            n_failed=self.n_failed,
            epochs_trained=self.epochs,
            elapsed_s=self.elapsed(),
            stopped_by=stopped_by,
            best=self.best,
            run_dir=str(self.dir.path) if self.dir is not None else None,
            n_before=self._n_before,
        )

    def _stop_running(self) -> None:
        """After an error: cancel what runs, log what finished, journal "stop" for the rest (best effort)."""
        try:
            results = self.backend.cancel_running(0.0)
        except Exception:
            logger.debug("cancel_running failed", exc_info=True)
            results = []
        try:
            self._handle(results)
        except AlgorithmError:
            pass  # already stopping on an error; what finished is logged
        finally:
            if self._running and self.dir is not None and self._log is not None:
                self.dir.journal_stop(sorted(self._running))  # the process is alive: not the trials' fault
                self._running.clear()

    def _check_workers(self) -> None:
        if self.backend.capacity <= 0 and (why := self.backend.health()):
            raise NoWorkersError(why)

    def _why_stopped(self, n_allowed: int) -> str:
        s = self.stop
        if self._signals.stop.is_set():
            return f"signal {self._signals.name}"
        if s.max_evaluations is not None and self.n_evaluations >= s.max_evaluations:
            return "max_evaluations"
        if s.max_time_s is not None and self.elapsed() >= s.max_time_s:
            return "max_time_s"
        self._check_workers()
        if s.max_epochs is not None and n_allowed == 0:
            return "max_epochs"
        if algorithm_call(self.algorithm, "is_finished()", self.algorithm.is_finished):
            return "algorithm finished"
        raise AlgorithmError(
            f"algorithm {self.algorithm.name!r}: ask() returned no trial with every worker idle, and "
            "is_finished() is False: the algorithm is stuck (it must return at least one trial when nothing "
            "is running)"
        )


def run(algorithm: Algorithm, backend: Backend, **kwargs: Any) -> RunSummary:
    """Convenience: ``Runner(algorithm, backend, **kwargs).run()``."""
    return Runner(algorithm, backend, **kwargs).run()
