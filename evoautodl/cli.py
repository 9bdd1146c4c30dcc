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
import logging
import os
import sys
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from evoautodl import __version__
from evoautodl.errors import EvoAutoDLError, RunError

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
        sp.add_argument("--dry-run", action="store_true",
                        help="print the resolved experiment (rungs, space, options with defaults, backend, stop, "
                             "run directory) and create nothing")
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
    s.add_argument("--front", type=int, default=50, help="show at most N trials of a Pareto front (default 50)")
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


def _stops(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k, None) for k in ("max_evaluations", "max_epochs", "max_time_s")}


def _execute(raw: dict[str, Any], base_dir: Path, out: Path, args: argparse.Namespace, resume: bool,
             world_size: int, source: str) -> int:
    from evoautodl.experiment import parse_experiment
    from evoautodl.launch import run_experiment, with_stop
    from evoautodl.summary import summarize_run

    exp = parse_experiment(with_stop(raw, **_stops(args)), base_dir=base_dir)
    overwrite = getattr(args, "overwrite", False)
    if args.dry_run:
        return _dry_run(exp, out, resume, overwrite, world_size, source)
    progress = args.progress if args.progress is not None else sys.stderr.isatty()
    summary = run_experiment(exp, out, resume=resume, overwrite=overwrite, progress=progress,
                             world_size=world_size)
    if resume and summary.n_evaluations == summary.n_before:
        print(_nothing_new(summary, exp))
    print(summarize_run(out, session=summary, stop=exp.stop))
    return 0


def _nothing_new(summary: Any, exp: Any) -> str:
    """Why a resume ran nothing, and how to give it more to do."""
    why = summary.stopped_by
    limit = getattr(exp.stop, why, None)
    if limit is not None:
        return (f"nothing to do  : the run had already reached stop.{why} = {limit:g}; give a larger budget to "
                "extend it (below)")
    if why == "algorithm finished":
        return (f"nothing to do  : algorithm {exp.algorithm.name!r} has finished (it has nothing more to ask); a "
                "resumed run keeps its algorithm: start a new run with other [algorithm] settings to go on")
    return f"nothing to do  : stopped by {why}"


def _dry_run(exp: Any, out: Path, resume: bool, overwrite: bool, world_size: int, source: str) -> int:
    from evoautodl.describe import describe_experiment
    from evoautodl.launch import preflight, run_dir_state

    if not resume:
        preflight(exp.workload)
    state = run_dir_state(out, resume=resume, overwrite=overwrite)
    print(describe_experiment(exp, world_size=world_size, run_dir=str(out), run_dir_state=state, source=source))
    print("dry run       : nothing was created or changed; drop --dry-run to run it")
    return 0


def _show(args: argparse.Namespace) -> int:
    from evoautodl.summary import summarize_run

    print(summarize_run(Path(args.run_dir), top=args.top, front_rows=args.front, skip_corrupt=args.skip_corrupt))
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
    """The command line; returns the exit code (a reader that closes the pipe, as ``| head`` does, ends it quietly)."""
    try:
        return _main(argv)
    except BrokenPipeError:
        _quiet_stdout()
        return 141  # what a process killed by SIGPIPE reports (128 + 13)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail again on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout (captured in tests)
        pass


def _main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    size, rank = (1, 0) if args.command in ("show", "analyze", "compare") else _world()
    _setup_logging(rank, getattr(args, "verbose", False))
    if args.command == "experiment":  # every rank takes part (evoautodl.grid.schedule)
        from evoautodl.grid.command import experiment_main

        result = experiment_main(args, size, rank)
        if result.out:
            print(result.out)
        if result.err:
            print(result.err, file=sys.stderr)
        return result.code
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
        return _show(args)
    if args.command == "analyze":
        return _analyze(args)
    if args.command == "compare":
        from evoautodl.compare.cli import run_compare

        return run_compare(args)
    from evoautodl.experiment import read_experiment_file

    if args.command == "run":
        path = Path(args.experiment)
        raw = read_experiment_file(path)
        return _execute(raw, path.parent, Path(args.out), args, resume=False, world_size=size, source=str(path))
    if args.command == "demo":
        text = resources.files("evoautodl.defaults").joinpath("quickstart.toml").read_text()
        if args.print_config:
            print(text)
            return 0
        return _execute(tomllib.loads(text), Path.cwd(), Path(args.out), args, resume=False, world_size=size,
                        source="the embedded quickstart experiment")
    from evoautodl.launch import run_config

    run_dir = Path(args.run_dir)  # resume
    return _execute(run_config(run_dir), run_dir, run_dir, args, resume=True, world_size=size,
                    source=str(run_dir / "config.toml"))


def _release() -> None:
    try:
        from evoautodl.backends.mpi import release_workers

        release_workers()
    except Exception:  # workers may already be gone
        logger.debug("release_workers failed", exc_info=True)
