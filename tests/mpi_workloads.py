"""Picklable test workloads for the MPI backend (imported by the worker ranks).

`ScriptedWorkload` misbehaves on chosen trial ids, so one run can exercise
several faults: ``actions = {3: "raise", 5: "nan", 7: "hang"}``.

Actions:
    "ok"         sleep ``sleep_s``, return objective ``x``
    "raise"      raise RuntimeError
    "nan"        return a NaN objective
    "hang"       sleep ``hang_s`` (interruptible: the worker's SIGALRM tick ends it)
    "hang_hard"  sleep ``hang_s`` with SIGALRM blocked (like C code that never returns
                 to Python: only the manager's deadline catches it)
    "exit"       os._exit(3): the worker process dies mid-run
    "segv"       the process kills itself with SIGSEGV (as a crashing C extension would)
    "exit_once"  os._exit(3) unless the file ``marker`` exists (it is created first), so
                 a resumed run gets past the trial
    "hang_once"  "hang" unless the file ``marker.<trial_id>`` exists (created first)
    "hang_hard_once"  "hang_hard" unless the file ``marker.<trial_id>`` exists (created first)
    "sysexit"    sys.exit(4) inside the evaluation
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time

from evoautodl.records import Evaluation, Trial
from evoautodl.workloads.base import WorkerContext

__all__ = ["FailingSetup", "ScriptedWorkload"]


class ScriptedWorkload:
    """Sleeps ``sleep_s`` per trial; misbehaves as ``actions[trial_id]`` says."""

    objective_names = ("f",)
    max_budget = 1

    def __init__(self, sleep_s: float = 0.0, actions: dict[int, str] | None = None, hang_s: float = 60.0,
                 wants_device: bool | None = None, marker: str | None = None):
        self.sleep_s = sleep_s
        self.actions = {int(k): v for k, v in (actions or {}).items()}  # TOML keys are strings
        self.hang_s = hang_s
        self.marker = marker
        if wants_device is not None:
            self.wants_device = wants_device
        self.setup_calls = 0

    def setup(self, context: WorkerContext) -> None:
        self.setup_calls += 1

    def evaluate(self, trial: Trial, context: WorkerContext) -> Evaluation:
        action = self.actions.get(trial.trial_id, "ok")
        if action == "raise":
            raise RuntimeError(f"injected failure in trial {trial.trial_id}")
        if action == "nan":
            return Evaluation(objectives=(math.nan,))
        if action in ("hang_once", "hang_hard_once") and self.marker:
            hung = os.path.exists(f"{self.marker}.{trial.trial_id}")
            action = "ok" if hung else action.removesuffix("_once")
            with open(f"{self.marker}.{trial.trial_id}", "w") as fh:
                fh.write("hung")
        if action == "hang":
            time.sleep(self.hang_s)
        elif action == "hang_hard":
            old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            try:
                time.sleep(self.hang_s)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)
        elif action == "exit":
            os._exit(3)
        elif action == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif action == "exit_once" and self.marker and not os.path.exists(self.marker):
            with open(self.marker, "w") as fh:
                fh.write(str(trial.trial_id))
            os._exit(3)
        elif action == "sysexit":
            sys.exit(4)
        elif self.sleep_s:
            time.sleep(self.sleep_s)
        x = float(trial.config.get("x", 0.0))
        return Evaluation(objectives=(x,), metrics={"setup_calls": float(self.setup_calls)},
                          epochs_trained=float(trial.budget_epochs))


class FailingSetup(ScriptedWorkload):
    """``setup`` raises on the worker ranks listed in ``bad_ranks`` (all when empty)."""

    def __init__(self, bad_ranks: tuple[int, ...] = ()):
        super().__init__()
        self.bad_ranks = tuple(bad_ranks)

    def setup(self, context: WorkerContext) -> None:
        if not self.bad_ranks or context.rank in self.bad_ranks:
            raise OSError(f"data file missing on rank {context.rank}")
        super().setup(context)
