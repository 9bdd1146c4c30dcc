"""The one loop: ask -> submit -> wait -> tell -> log -> checkpoint.

Pseudocode::

    replay state.pkl + journal + log (resume only); resubmit trials still pending
    while not stopped:
        if budget left: trials = algorithm.ask(free workers); journal them; submit
        results = backend.wait()
        for r in results: log.append(r); algorithm.tell(r)
        delete checkpoints the algorithm discarded; snapshot state every few seconds
    drain (or, on SIGTERM/SIGINT, cancel within a grace period); snapshot; summary

The runner never checks which backend it has. Failed trials are data: logged
and told to the algorithm; the loop goes on.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evoautodl.algorithms.base import Algorithm
from evoautodl.backends.base import Backend
from evoautodl.errors import RunDirError
from evoautodl.log import EvaluationLog, read_results
from evoautodl.records import Result, Status, Trial, parse_checkpoint_budget
from evoautodl.rundir import RunDir

__all__ = ["RunSummary", "Runner", "StopCriteria", "run"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StopCriteria:
    """When a run stops asking for trials (running ones are drained and logged).

    Attributes:
        max_evaluations: finished trials (any status).
        max_epochs: epochs actually trained, summed over trials; a trial is only
            started while the spent plus in-flight epochs stay below the limit.
        max_time_s: seconds on the backend's clock (virtual for the simulated
            backend), counted across resumes.
    """

    max_evaluations: int | None = None
    max_epochs: float | None = None
    max_time_s: float | None = None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a run did."""

    n_evaluations: int
    n_failed: int
    epochs_trained: float
    elapsed_s: float
    stopped_by: str
    best: Result | None = None
    run_dir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class _Signals:
    """SIGTERM, SIGINT and SIGUSR1 set a flag (and wake a blocked backend); a second SIGINT aborts at once."""

    def __init__(self, wake: Callable[[], None] | None = None) -> None:
        self.stop = threading.Event()
        self.name = ""
        self.wake = wake
        self._old: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):  # SIGUSR1: what Open MPI forwards
            self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.name = signal.Signals(signum).name
        logger.warning("%s received: no new trials; stopping running ones (Ctrl-C again to abort)", self.name)
        self.stop.set()
        if self.wake is not None:
            self.wake()

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


class Runner:
    """Drives an algorithm on a backend, logging to a run directory.

    Args:
        algorithm: the ask/tell optimiser (freshly built; on resume its state is restored).
        backend: where trials run.
        run_dir: the run directory (None: nothing is written).
        stop: stopping criteria.
        resume: continue the run in ``run_dir``.
        progress: show a progress bar (stderr).
        checkpoint_interval_s: how often state.pkl is rewritten.
        grace_s: how long running trials may finish after SIGTERM/SIGINT.
        on_result: called with each result after it is logged and told.
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
    ):
        self.algorithm = algorithm
        self.backend = backend
        self.dir = run_dir if isinstance(run_dir, RunDir) or run_dir is None else RunDir(run_dir)
        self.stop = stop or StopCriteria()
        self.resume = resume
        self.progress = progress
        self.checkpoint_interval_s = checkpoint_interval_s
        self.grace_s = grace_s
        self.on_result = on_result
        self.handle_signals = handle_signals
        self.meta = dict(meta or {})
        self.n_evaluations = 0
        self.n_failed = 0
        self.epochs = 0.0
        self.best: Result | None = None
        self._elapsed_before = 0.0
        self._t0 = 0.0
        self._log: EvaluationLog | None = None
        self._bar: Any = None
        self._signals = _Signals(backend.interrupt)

    # ------------------------------------------------------------------ bookkeeping
    def _count(self, r: Result) -> None:
        self.n_evaluations += 1
        self.epochs += r.epochs_trained
        if not r.ok:
            self.n_failed += 1
        elif self.best is None or r.trial.budget_epochs > self.best.trial.budget_epochs or (
            r.trial.budget_epochs == self.best.trial.budget_epochs and r.objective < self.best.objective
        ):
            # the incumbent: the best result at the highest budget evaluated so far
            self.best = r

    def _write_meta(self) -> None:
        """run.json and space.json of a new run (what load_run needs to name columns)."""
        assert self.dir is not None
        from evoautodl import __version__

        workload = getattr(self.backend, "workload", None)
        space = self.algorithm.space
        meta = {
            "evoautodl_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "algorithm": self.algorithm.name,
            "seed": self.algorithm.seed,
            "objective_names": list(getattr(workload, "objective_names", ()) or ()),
            "hyperparameters": list(space.names),
            **self.meta,
        }
        self.dir.write_meta(meta)
        if not (self.dir.path / "space.json").exists():
            space.to_json(self.dir.path / "space.json")

    def elapsed(self) -> float:
        return self._elapsed_before + (self.backend.now() - self._t0)

    def _snapshot(self) -> None:
        if self.dir is None or self._log is None:
            return
        self.dir.save_state({
            "version": 1,
            "algorithm": self.algorithm.state_dict(),
            "n_told": self._log.n_lines,
            "n_journal": self.dir.n_journal,
            "elapsed_s": self.elapsed(),
        })
        self._last_snapshot = time.monotonic()

    # ------------------------------------------------------------------ resume
    def _replay(self) -> list[Trial]:
        """Restore state, replay asks and tells after it; return trials to resubmit."""
        assert self.dir is not None
        state = self.dir.load_state()
        n_told0 = n_journal0 = 0
        if state is not None:
            self.algorithm.load_state_dict(state["algorithm"])
            n_told0, n_journal0 = state["n_told"], state["n_journal"]
            self._elapsed_before = float(state.get("elapsed_s", 0.0))
        results = read_results(self.dir.path)
        journal = self.dir.read_journal()
        if n_told0 > len(results) or n_journal0 > len(journal):
            raise RunDirError(f"{self.dir.path}: state.pkl is newer than the log; the run directory was altered")
        for r in results:
            self._count(r)
        asks = journal[n_journal0:]
        a = 0
        pending_ids = {t.trial_id for t in self.algorithm.pending}  # kept in step below (no per-result rebuild)

        def replay_asks(upto: int) -> None:
            nonlocal a
            while a < len(asks) and asks[a]["after"] <= upto:
                trials = self.algorithm.ask(asks[a]["n"])
                ids = [t.trial_id for t in trials]
                if ids != asks[a]["ids"]:
                    raise RunDirError(
                        f"{self.dir.path}: replaying ask {n_journal0 + a} gave trials {ids}, the journal says "
                        f"{asks[a]['ids']}: the algorithm or its settings differ from the original run"
                    )
                pending_ids.update(ids)
                a += 1

        for k in range(n_told0, len(results)):
            replay_asks(k)
            r = results[k]
            if r.trial_id not in pending_ids:
                raise RunDirError(f"{self.dir.path}: logged trial {r.trial_id} was never asked in the replay")
            pending_ids.discard(r.trial_id)
            self.algorithm.tell(r)
        replay_asks(len(results))
        if a < len(asks):
            raise RunDirError(f"{self.dir.path}: journal has asks after the last logged result that cannot replay")
        pending = sorted(self.algorithm.pending, key=lambda t: t.trial_id)
        logger.info("resumed: %d evaluations logged, %d trials to run again", len(results), len(pending))
        return pending

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
            total += t.budget_epochs - (parse_checkpoint_budget(t.resume_from or "") or 0.0)
        return total

    def _submit(self, trials: list[Trial]) -> None:
        for t in trials:
            self._running[t.trial_id] = t
            self.backend.submit(t)

    def _handle(self, results: list[Result]) -> None:
        for r in results:
            self._running.pop(r.trial_id, None)
            if r.status is Status.CANCELLED:
                continue  # not finished: stays pending and runs again on resume
            if self._log is not None:
                self._log.append(r)
            self.algorithm.tell(r)
            self._count(r)
            if r.status is not Status.OK:
                logger.warning("trial %d %s: %s", r.trial_id, r.status.value, (r.error or "").splitlines()[:1])
            if self._bar is not None:
                self._bar.update(1)
                if self.best is not None:
                    self._bar.set_postfix(best=f"{self.best.objective:.4g}", epochs=f"{self.epochs:.0f}",
                                          failed=self.n_failed, refresh=False)
            if self.on_result is not None:
                self.on_result(r)
        if self.dir is not None:
            keys = self.algorithm.pop_discarded_checkpoints()
            if keys:
                self.dir.delete_checkpoints(keys)
            if time.monotonic() - self._last_snapshot >= self.checkpoint_interval_s:
                self._snapshot()

    def run(self) -> RunSummary:
        self._running: dict[int, Trial] = {}
        self._last_snapshot = time.monotonic()
        if self.dir is not None:
            if self.resume:
                self.dir.acquire()
                if self.dir.remove_stale_temporaries():
                    logger.info("removed half-written checkpoint files left by the stopped run")
            else:
                self.dir.create()
                self.dir.acquire()
                self._write_meta()
            self._log = EvaluationLog(self.dir.path).open()
            self.dir.open_journal()
        if self.handle_signals:
            self._signals.install()
        stopped_by = "algorithm finished"
        try:
            resubmit = self._replay() if (self.resume and self.dir is not None) else []
            self._t0 = self.backend.now()
            if self.progress:
                from tqdm.auto import tqdm

                self._bar = tqdm(total=self.stop.max_evaluations, initial=self.n_evaluations, unit="eval",
                                 desc=self.algorithm.name, dynamic_ncols=True)
            while resubmit:
                room = self.backend.capacity - self.backend.n_running
                if room <= 0:
                    self._handle(self.backend.wait())
                    continue
                self._submit(resubmit[:room])
                resubmit = resubmit[room:]
            while not self._signals.stop.is_set():
                n = self._may_ask()
                if n > 0:
                    trials = self.algorithm.ask(n)
                    if trials:
                        if self.dir is not None:
                            self.dir.journal_ask(self._log.n_lines if self._log else 0, n,
                                                 [t.trial_id for t in trials])
                        self._submit(trials)
                if self.backend.n_running == 0:
                    stopped_by = self._why_stopped(n)
                    break
                self._handle(self.backend.wait())
            if self._signals.stop.is_set():
                stopped_by = f"signal {self._signals.name}"
                self._handle(self.backend.cancel_running(self.grace_s))
        finally:
            if self._bar is not None:
                self._bar.close()
            if self.handle_signals:
                self._signals.restore()
            try:
                self._snapshot()
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
        )

    def _why_stopped(self, n_allowed: int) -> str:
        s = self.stop
        if self._signals.stop.is_set():
            return f"signal {self._signals.name}"
        if s.max_evaluations is not None and self.n_evaluations >= s.max_evaluations:
            return "max_evaluations"
        if s.max_time_s is not None and self.elapsed() >= s.max_time_s:
            return "max_time_s"
        if s.max_epochs is not None and n_allowed == 0:
            return "max_epochs"
        if self.algorithm.is_finished():
            return "algorithm finished"
        raise RuntimeError(
            f"{self.algorithm.name}: asked for trials with every worker idle and got none; "
            "the algorithm is stuck (it must return at least one trial when nothing is running)"
        )


def run(algorithm: Algorithm, backend: Backend, **kwargs: Any) -> RunSummary:
    """Convenience: ``Runner(algorithm, backend, **kwargs).run()``."""
    return Runner(algorithm, backend, **kwargs).run()
