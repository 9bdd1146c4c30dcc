"""The ``evoautodl`` command line: run, demo, resume, show, analyze, experiment, compare.

Under ``mpiexec -n N`` (N > 1) rank 0 is the manager and ranks 1..N-1 serve
trials; otherwise trials run in this process (or on the simulated clock).
Errors print one line ``evoautodl: error: ...`` (from rank 0 only) and exit
with code 2 when input is refused before anything ran (bad experiment, data,
run directory; ``run`` and ``demo`` check the data before ``--out`` is made and
remove it again when a setup error leaves it empty), or 1 when a started run
stopped on an error (`RunError`: what it logged is kept, ``resume`` continues).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from evoautodl import __version__
from evoautodl.errors import ConfigError, EvoAutoDLError, RunError, WorkloadError

__all__ = ["main"]

logger = logging.getLogger("evoautodl")


def _setup_logging(rank: int, verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=f"%(asctime)s [rank {rank}] %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evoautodl", description="MPI-parallel evolutionary AutoDL.")
    p.add_argument("--version", action="version", version=f"evoautodl {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def stop_flags(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--max-evaluations", type=int, help="override stop.max_evaluations")
        sp.add_argument("--max-epochs", type=float, help="override stop.max_epochs")
        sp.add_argument("--max-time-s", type=float, help="override stop.max_time_s")
        sp.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar (default: when stderr is a terminal)")
        sp.add_argument("-v", "--verbose", action="store_true")

    overwrite_help = "delete the run already in --out and start afresh (refused for a folder with other files)"
    r = sub.add_parser("run", help="run an experiment TOML file")
    r.add_argument("experiment", help="experiment TOML file")
    r.add_argument("--out", required=True, help="run directory to create")
    r.add_argument("--overwrite", action="store_true", help=overwrite_help)
    stop_flags(r)
    d = sub.add_parser("demo", help="run the embedded default experiment")
    d.add_argument("--out", default="runs/quickstart", help="run directory (default: runs/quickstart)")
    d.add_argument("--overwrite", action="store_true", help=overwrite_help)
    d.add_argument("--print-config", action="store_true", help="print the embedded experiment and exit")
    stop_flags(d)
    rs = sub.add_parser("resume", help="continue a stopped or killed run")
    rs.add_argument("run_dir")
    stop_flags(rs)
    skip_help = "skip (and report) log lines that do not read back instead of refusing the run"
    s = sub.add_parser("show", help="summarise a run directory")
    s.add_argument("run_dir")
    s.add_argument("--top", type=int, default=5, help="show the best N trials")
    s.add_argument("--skip-corrupt", action="store_true", help=skip_help)
    a = sub.add_parser("analyze", help="figures (RUN/figures) and a report (RUN/report.md) of one or more runs")
    a.add_argument("run_dir", nargs="+")
    a.add_argument("--out", help="folder of the report comparing several runs (default: ./evoautodl-analysis)")
    a.add_argument("--no-importance", dest="importance", action="store_false",
                   help="skip the random-forest analyses (fANOVA, LPI, importance across budgets, partial dependence)")
    a.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: when stderr is a terminal)")
    a.add_argument("--skip-corrupt", action="store_true", help=skip_help)
    from evoautodl.grid.command import add_experiment_parser

    add_experiment_parser(sub)
    from evoautodl.compare.cli import add_compare_parser

    add_compare_parser(sub)
    return p


def _stop_overrides(raw: dict[str, Any], args: argparse.Namespace) -> None:
    stop = raw.setdefault("stop", {})
    for key in ("max_evaluations", "max_epochs", "max_time_s"):
        v = getattr(args, key, None)
        if v is not None:
            stop[key] = v


def _make_backend(exp: Any, rd: Any, world_size: int) -> Any:
    b = exp.backend
    btype = b.get("type", "auto")
    if btype == "auto":
        btype = "mpi" if world_size > 1 else "serial"
    if btype == "mpi":
        if world_size < 2:
            raise ConfigError("backend.type: 'mpi' needs at least 2 ranks (mpiexec -n 2 or more)")
        from evoautodl.backends.mpi import MPIBackend

        backend = MPIBackend(exp.workload, checkpoint_dir=rd.checkpoints, timeout_s=b.get("timeout_s"),
                             devices=b.get("devices", "auto"), workers_per_gpu=b.get("workers_per_gpu", 1),
                             torch_threads=b.get("torch_threads", 1), prefetch=b.get("prefetch", "auto"),
                             shutdown_timeout_s=b.get("shutdown_timeout_s", 10.0), fault_dir=rd.faults)
        backend.start()
        return backend
    if world_size > 1:
        from evoautodl.backends.mpi import release_workers

        logger.warning("backend.type = %r: the %d worker ranks stay idle", btype, world_size - 1)
        release_workers()
    if btype == "simulated":
        from evoautodl.backends.simulated import SimulatedBackend

        return SimulatedBackend(exp.workload, b.get("n_workers", 4), checkpoint_dir=rd.checkpoints,
                                timeout_s=b.get("timeout_s"))
    from evoautodl.backends.serial import SerialBackend

    return SerialBackend(exp.workload, checkpoint_dir=rd.checkpoints, device=b.get("device", "cpu"),
                         torch_threads=b.get("torch_threads", 1), timeout_s=b.get("timeout_s"),
                         fault_dir=rd.faults)


def _preflight(workload: Any) -> None:
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


def _execute(raw: dict[str, Any], base_dir: Path, out: Path, args: argparse.Namespace, resume: bool,
             world_size: int) -> int:
    import tomli_w

    from evoautodl.experiment import parse_experiment
    from evoautodl.rundir import RunDir
    from evoautodl.runner import Runner

    _stop_overrides(raw, args)
    exp = parse_experiment(raw, base_dir=base_dir)
    rd = RunDir(out)
    fixed = _fixed_part(exp.config)
    if resume:
        if not rd.exists():
            raise EvoAutoDLError(f"{out}: no run to resume (no evaluations.jsonl or state.pkl)")
        rd.acquire()  # first: a run in use is refused before anything in it changes
        try:
            changed = _changed_keys(rd.read_meta().get("experiment", fixed), fixed)
        except BaseException:
            rd.release()
            raise
        if changed:
            rd.release()
            raise EvoAutoDLError(
                f"{out / 'config.toml'} changed since the run started ({', '.join(changed)}): a resumed run "
                "continues the original experiment, so only [stop], [backend] and [run] may change; undo the "
                "edit, or start a new run with another --out"
            )
    else:
        _preflight(exp.workload)
        fresh_folder = not out.exists() or rd.exists()  # ours to delete again if nothing runs
        rd.create(overwrite=args.overwrite)
        rd.acquire()
    try:
        rd.write_atomic("config.toml", tomli_w.dumps(exp.config).encode())
        summary = _run(exp, rd, args, resume, world_size, fixed, Runner)
    except EvoAutoDLError as exc:
        if not resume and not isinstance(exc, RunError):  # refused input found late (a setup error): undo
            _remove_if_empty(rd, keep_folder=not fresh_folder)
        raise
    finally:
        rd.release()
    _print_summary(summary, out)
    names = list(getattr(exp.workload, "objective_names", ()))
    if len(names) > 1:
        _print_front(out, names)
    return 0


def _run(exp: Any, rd: Any, args: argparse.Namespace, resume: bool, world_size: int, fixed: dict[str, Any],
         runner_cls: Any) -> Any:
    progress = args.progress if args.progress is not None else sys.stderr.isatty()
    backend = _make_backend(exp, rd, world_size)
    logger.info("%s: %s on %s, %s -> %s", "resume" if resume else "run", exp.algorithm.name,
                type(exp.workload).__name__, type(backend).__name__, rd.path)
    code = 1
    try:
        summary = runner_cls(exp.algorithm, backend, run_dir=rd, stop=exp.stop, resume=resume, progress=progress,
                             checkpoint_interval_s=exp.run.get("checkpoint_interval_s", 30.0),
                             grace_s=exp.run.get("grace_s", 30.0),
                             max_trial_attempts=exp.run.get("max_trial_attempts", 3),
                             meta={"name": exp.name, "world_size": world_size, "experiment": fixed}).run()
        code = 0
    finally:
        backend.shutdown(exit_code=code)  # MPI: the job's exit code should a worker have to be aborted
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


def _print_front(out: Path, names: list[str]) -> None:
    from evoautodl.analysis import pareto_front
    from evoautodl.log import load_run

    df = load_run(out)
    cols = list(df.attrs["objective_columns"])
    front = pareto_front(df, cols)
    print(f"pareto front  : {len(front)} non-dominated trials on {', '.join(names)} (all minimised)")
    if len(front):
        print(front[["trial_id", "budget_epochs", *cols]].head(15).to_string(
            index=False, float_format=lambda x: f"{x:.4g}"))


_FIXED_SECTIONS = ("seed", "workload", "space", "algorithm", "fidelity")


def _fixed_part(config: dict[str, Any]) -> dict[str, Any]:
    """The part of an experiment a resumed run must not change (as plain JSON values)."""
    return json.loads(json.dumps({k: config.get(k) for k in _FIXED_SECTIONS}, default=str))


def _changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested tables."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            out += _changed_keys(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [prefix.rstrip(".")]


def _print_summary(summary: Any, out: Path) -> None:
    print(f"run directory : {out}")
    print(f"stopped by    : {summary.stopped_by}")
    print(f"evaluations   : {summary.n_evaluations} ({summary.n_failed} failed)")
    print(f"epochs trained: {summary.epochs_trained:g}")
    print(f"elapsed       : {summary.elapsed_s:.1f} s")
    best = summary.best
    if best is not None:
        print(f"incumbent     : trial {best.trial_id} (individual {best.trial.individual_id}) at budget "
              f"{best.trial.budget_epochs:g}: objective {best.objective:.6g}")
        for k, v in best.trial.config.items():
            print(f"    {k} = {v!r}")
    else:
        print("incumbent     : none (no trial finished OK)")
    if summary.stopped_by.startswith("signal"):
        print(f"continue with : evoautodl resume {out}")


def _load(run_dir: Path, skip_corrupt: bool) -> Any:
    from evoautodl.log import load_run

    df = load_run(run_dir, skip_corrupt=skip_corrupt)
    corrupt = df.attrs.get("corrupt_lines", [])
    if corrupt:
        lines = ", ".join(str(c.line) for c in corrupt[:10]) + (" ..." if len(corrupt) > 10 else "")
        print(f"skipped       : {len(corrupt)} corrupt log line(s) ({lines}): {corrupt[0].reason}")
    return df


def _show(run_dir: Path, top: int, skip_corrupt: bool = False) -> int:
    from evoautodl.log import read_meta

    df = _load(run_dir, skip_corrupt)
    meta = read_meta(run_dir)
    print(f"run           : {run_dir} ({meta.get('name', '?')}, algorithm {meta.get('algorithm', '?')})")
    if df.empty:
        print("evaluations   : 0")
        return 0
    counts = df["status"].value_counts()
    print(f"evaluations   : {len(df)}  " + "  ".join(f"{k}={int(v)}" for k, v in counts.items() if v))
    print(f"epochs trained: {df['epochs_trained'].sum():g} (budgets asked: {df['budget_epochs'].sum():g})")
    span = df["end_time"].max() - df["start_time"].min()
    print(f"time span     : {span:.1f} s, evaluation time {df['duration_s'].sum():.1f} s")
    ok = df[df["status"] == "OK"]
    if ok.empty:
        print("incumbent     : none")
        return 0
    by_budget = ok.groupby("budget_epochs")["objective"].agg(["count", "min", "median"])
    print("per budget    :")
    print(by_budget.to_string(float_format=lambda x: f"{x:.4g}"))
    max_b = ok["budget_epochs"].max()
    best = ok[ok["budget_epochs"] == max_b].sort_values("objective").head(top)
    hp = [h for h in df.attrs.get("hyperparameters", []) if h in df.columns]
    print(f"best {len(best)} at the highest budget ({max_b:g}):")
    cols = ["trial_id", "objective", *hp]
    print(best[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from evoautodl.analysis.report import analyze_runs

    progress = args.progress if args.progress is not None else sys.stderr.isatty()
    for report in analyze_runs(args.run_dir, args.out, importance=args.importance, progress=progress,
                               skip_corrupt=args.skip_corrupt):
        print(f"wrote {report.path} ({len(report.figures)} figures)")
        for title, finding in report.findings:
            print(f"  {title}: {finding}")
    return 0


def _world() -> tuple[int, int]:
    from evoautodl.backends.mpi import mpi_rank, mpi_world_size

    size = mpi_world_size()
    return size, (mpi_rank() if size > 1 else 0)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    size, rank = (1, 0) if args.command in ("show", "analyze", "compare") else _world()
    _setup_logging(rank, getattr(args, "verbose", False))
    if args.command == "experiment":  # every rank takes part (evoautodl.grid.schedule)
        from evoautodl.grid.command import experiment_main

        return experiment_main(args, size, rank)
    if rank > 0:
        from evoautodl.backends.mpi import worker_main

        return worker_main()
    try:
        return _command(args, size)
    except RunError as exc:
        print(f"evoautodl: error: {exc}", file=sys.stderr)
        run_dir = getattr(args, "out", None) or getattr(args, "run_dir", None)
        print(f"evoautodl: the run stopped; what it logged is kept: `evoautodl resume {run_dir}` continues",
              file=sys.stderr)
        return 1
    except EvoAutoDLError as exc:
        print(f"evoautodl: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evoautodl: aborted; resume with `evoautodl resume <run dir>`", file=sys.stderr)
        return 130
    finally:
        if size > 1:
            _release()  # workers still waiting for START exit (a no-op once the backend shut them down)


def _command(args: argparse.Namespace, size: int) -> int:
    if args.command == "show":
        return _show(Path(args.run_dir), args.top, args.skip_corrupt)
    if args.command == "analyze":
        return _analyze(args)
    if args.command == "compare":
        from evoautodl.compare.cli import run_compare

        return run_compare(args)
    from evoautodl.experiment import read_experiment_file

    if args.command == "run":
        path = Path(args.experiment)
        raw = read_experiment_file(path)
        return _execute(raw, path.parent, Path(args.out), args, resume=False, world_size=size)
    if args.command == "demo":
        text = resources.files("evoautodl.defaults").joinpath("quickstart.toml").read_text()
        if args.print_config:
            print(text)
            return 0
        return _execute(tomllib.loads(text), Path.cwd(), Path(args.out), args, resume=False, world_size=size)
    run_dir = Path(args.run_dir)  # resume
    cfg = run_dir / "config.toml"
    if not run_dir.is_dir():
        raise EvoAutoDLError(f"{run_dir}: not a run directory ({'a file' if run_dir.exists() else 'does not exist'})")
    if not cfg.exists():
        raise EvoAutoDLError(f"{run_dir}: no config.toml (is this a run directory?)")
    raw = read_experiment_file(cfg, what="the run's configuration")
    return _execute(raw, run_dir, run_dir, args, resume=True, world_size=size)


def _release() -> None:
    try:
        from evoautodl.backends.mpi import release_workers

        release_workers()
    except Exception:  # workers may already be gone
        logger.debug("release_workers failed", exc_info=True)
