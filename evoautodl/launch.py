"""Running an experiment into a run directory: what ``evoautodl run``, ``demo`` and ``resume`` do, as functions.

    from evoautodl.experiment import load_experiment
    from evoautodl.launch import run_experiment
    summary = run_experiment(load_experiment("exp.toml"), "runs/x")          # a new run
    summary = run_experiment(resume_experiment("runs/x"), "runs/x", resume=True)

Order (nothing is created before the input is checked)::

    backend type for this launch (MPI needs >= 2 ranks); the workload's preflight (files, columns)
    new run: the folder may be used (not a file, no run in it unless overwrite, no foreign files)
    resume: lock the run, `evoautodl.resume.check_compatible` (experiment, algorithm, space)
    write config.toml (atomically), build the backend, Runner(...).run(), shut the backend down
    a new run that fails before its first evaluation (a setup error) leaves no run directory behind
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evoautodl.errors import EvoAutoDLError, RunDirError, RunError, WorkloadError

__all__ = ["preflight", "resume_experiment", "run_config", "run_dir_state", "run_experiment", "with_stop"]

logger = logging.getLogger(__name__)


def preflight(workload: Any) -> None:
    """The workload's cheap checks (files, columns, shapes), before anything is created."""
    check = getattr(workload, "preflight", None)
    if check is None:
        return
    try:
        check()
    except EvoAutoDLError:
        raise
    except Exception as exc:
        raise WorkloadError(f"{type(workload).__name__}.preflight() failed: {type(exc).__name__}: {exc}") from exc


def with_stop(raw: Mapping[str, Any], **stop: Any) -> dict[str, Any]:
    """An experiment table with some ``[stop]`` criteria replaced (None values are left as they are)."""
    out = dict(raw)
    out["stop"] = {**dict(out.get("stop") or {}), **{k: v for k, v in stop.items() if v is not None}}
    return out


def run_config(run_dir: str | Path) -> dict[str, Any]:
    """The raw table of a run directory's ``config.toml`` (RunDirError/ConfigError naming what is missing)."""
    from evoautodl.experiment import read_experiment_file

    path = Path(run_dir)
    if not path.is_dir():
        raise RunDirError(f"{path}: not a run directory ({'a file' if path.exists() else 'does not exist'})")
    cfg = path / "config.toml"
    if not cfg.exists():
        raise RunDirError(f"{path}: no config.toml (is this a run directory?)")
    return read_experiment_file(cfg, what="the run's configuration")


def resume_experiment(run_dir: str | Path, **stop: Any) -> Any:
    """The `Experiment` of a run directory's ``config.toml`` (with larger ``stop`` criteria, if given)."""
    from evoautodl.experiment import parse_experiment

    return parse_experiment(with_stop(run_config(run_dir), **stop), base_dir=run_dir)


def run_dir_state(out: str | Path, *, resume: bool = False, overwrite: bool = False) -> str:
    """What a run would do with ``out`` ("new: will be created", "resume: N evaluations logged"...).

    Raises:
        RunDirError: what the run itself would refuse (a run in the way, no run to resume, a file).
    """
    from evoautodl.log import read_log
    from evoautodl.rundir import RunDir

    rd = RunDir(out)
    if resume:
        if not rd.exists():
            raise RunDirError(f"{out}: no run to resume (no evaluations.jsonl or state.pkl)")
        return f"resume: {len(read_log(out, skip_corrupt=True)[0])} evaluations logged"
    state = rd.check_new(overwrite)
    return {"new": "new: will be created", "empty folder": "an empty folder: the run goes into it",
            "overwrite": "holds a run: --overwrite deletes it first"}[state]


def run_experiment(exp: Any, out: str | Path, *, resume: bool = False, overwrite: bool = False,
                   progress: bool = False, world_size: int = 1) -> Any:
    """Run (or resume) a validated experiment in the run directory ``out``; returns the `RunSummary`.

    Raises:
        EvoAutoDLError: input refused before anything ran (the run directory is left as it was, and a new
            one that got no evaluation is removed again); `RunError`: a started run stopped on an error
            (what it logged is kept, and resuming continues).
    """
    import tomli_w

    from evoautodl.backends.factory import make_backend, resolve_backend_type
    from evoautodl.resume import check_compatible, fixed_part
    from evoautodl.rundir import RunDir
    from evoautodl.runner import Runner

    resolve_backend_type(exp.backend, world_size)  # MPI with one rank: refused before anything is created
    for note in exp.notes:
        logger.warning("%s", note)
    rd = RunDir(out)
    fixed = fixed_part(exp.config)
    if resume:
        if not rd.exists():
            raise RunDirError(f"{out}: no run to resume (no evaluations.jsonl or state.pkl)")
        rd.acquire()  # first: a run in use is refused before anything in it changes
        try:
            check_compatible(rd, exp.algorithm, exp.workload, fixed)
        except BaseException:
            rd.release()
            raise
        fresh_folder = False
    else:
        preflight(exp.workload)
        fresh_folder = rd.check_new(overwrite) != "empty folder"  # ours to delete again if nothing runs
        rd.create(overwrite=overwrite)
        rd.acquire()
    try:
        rd.write_atomic("config.toml", tomli_w.dumps(exp.config).encode())
        backend = make_backend(exp.backend, exp.workload, checkpoint_dir=rd.checkpoints, fault_dir=rd.faults,
                               world_size=world_size)
        logger.info("%s: %s on %s, %s -> %s", "resume" if resume else "run", exp.algorithm.name,
                    type(exp.workload).__name__, type(backend).__name__, rd.path)
        code = 1
        try:
            summary = Runner(exp.algorithm, backend, run_dir=rd, stop=exp.stop, resume=resume, progress=progress,
                             checkpoint_interval_s=exp.run.get("checkpoint_interval_s", 30.0),
                             grace_s=exp.run.get("grace_s", 30.0),
                             max_trial_attempts=exp.run.get("max_trial_attempts", 3),
                             meta={"name": exp.name, "world_size": world_size, "experiment": fixed}).run()
            code = 0
        finally:
            backend.shutdown(exit_code=code)  # MPI: the job's exit code should a worker have to be aborted
    except EvoAutoDLError as exc:
        if not resume and not isinstance(exc, RunError):  # refused input found late (a setup error): undo
            _remove_if_empty(rd, keep_folder=not fresh_folder)
        raise
    finally:
        rd.release()
    return summary


def _remove_if_empty(rd: Any, keep_folder: bool) -> None:
    """A new run that logged nothing (a setup error, say) leaves no run directory behind."""
    log = rd.path / "evaluations.jsonl"
    try:
        if rd.path.is_dir() and (not log.exists() or log.stat().st_size == 0):
            rd.remove(keep_folder=keep_folder)
            logger.info("nothing ran: %s %s", "emptied" if keep_folder else "removed", rd.path)
    except (EvoAutoDLError, OSError):
        logger.debug("could not remove %s", rd.path, exc_info=True)
