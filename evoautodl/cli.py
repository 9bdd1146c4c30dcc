"""The ``evoautodl`` command line: run, demo, resume, show, analyze, experiment.

Under ``mpiexec -n N`` (N > 1) rank 0 is the manager and ranks 1..N-1 serve
trials; otherwise trials run in this process (or on the simulated clock).
User errors print one line ``evoautodl: error: ...`` and exit with code 2.
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
from evoautodl.errors import EvoAutoDLError

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

    r = sub.add_parser("run", help="run an experiment TOML file")
    r.add_argument("experiment", help="experiment TOML file")
    r.add_argument("--out", required=True, help="run directory to create")
    stop_flags(r)
    d = sub.add_parser("demo", help="run the embedded default experiment")
    d.add_argument("--out", default="runs/quickstart", help="run directory (default: runs/quickstart)")
    d.add_argument("--print-config", action="store_true", help="print the embedded experiment and exit")
    stop_flags(d)
    rs = sub.add_parser("resume", help="continue a stopped or killed run")
    rs.add_argument("run_dir")
    stop_flags(rs)
    s = sub.add_parser("show", help="summarise a run directory")
    s.add_argument("run_dir")
    s.add_argument("--top", type=int, default=5, help="show the best N trials")
    a = sub.add_parser("analyze", help="draw a run's figures into RUN_DIR/figures and print budget correlations")
    a.add_argument("run_dir")
    from evoautodl.grid.command import add_experiment_parser

    add_experiment_parser(sub)
    return p


def _stop_overrides(raw: dict[str, Any], args: argparse.Namespace) -> None:
    stop = raw.setdefault("stop", {})
    for key in ("max_evaluations", "max_epochs", "max_time_s"):
        v = getattr(args, key, None)
        if v is not None:
            stop[key] = v


def _make_backend(exp: Any, checkpoint_dir: Path, world_size: int) -> Any:
    from evoautodl.errors import ConfigError

    b = exp.backend
    btype = b.get("type", "auto")
    if btype == "auto":
        btype = "mpi" if world_size > 1 else "serial"
    if btype == "mpi":
        if world_size < 2:
            raise ConfigError("backend.type: 'mpi' needs at least 2 ranks (mpiexec -n 2 or more)")
        from evoautodl.backends.mpi import MPIBackend

        backend = MPIBackend(exp.workload, checkpoint_dir=checkpoint_dir, timeout_s=b.get("timeout_s"),
                             devices=b.get("devices", "auto"), workers_per_gpu=b.get("workers_per_gpu", 1),
                             torch_threads=b.get("torch_threads", 1), prefetch=b.get("prefetch", "auto"),
                             shutdown_timeout_s=b.get("shutdown_timeout_s", 10.0))
        backend.start()
        return backend
    if world_size > 1:
        from evoautodl.backends.mpi import release_workers

        logger.warning("backend.type = %r: the %d worker ranks stay idle", btype, world_size - 1)
        release_workers()
    if btype == "simulated":
        from evoautodl.backends.simulated import SimulatedBackend

        return SimulatedBackend(exp.workload, b.get("n_workers", 4), checkpoint_dir=checkpoint_dir)
    from evoautodl.backends.serial import SerialBackend

    return SerialBackend(exp.workload, checkpoint_dir=checkpoint_dir, device=b.get("device", "cpu"),
                         torch_threads=b.get("torch_threads", 1))


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
        changed = _changed_keys(rd.read_meta().get("experiment", fixed), fixed)
        if changed:
            raise EvoAutoDLError(
                f"{out / 'config.toml'} changed since the run started ({', '.join(changed)}): a resumed run "
                "continues the original experiment, so only [stop], [backend] and [run] may change; undo the "
                "edit, or start a new run with another --out"
            )
    else:
        rd.create()
    (out / "config.toml").write_text(tomli_w.dumps(exp.config))
    progress = args.progress if args.progress is not None else sys.stderr.isatty()
    backend = _make_backend(exp, rd.checkpoints, world_size)
    logger.info("%s: %s on %s, %s -> %s", "resume" if resume else "run", exp.algorithm.name,
                type(exp.workload).__name__, type(backend).__name__, out)
    try:
        summary = Runner(exp.algorithm, backend, run_dir=rd, stop=exp.stop, resume=resume, progress=progress,
                         checkpoint_interval_s=exp.run.get("checkpoint_interval_s", 30.0),
                         grace_s=exp.run.get("grace_s", 30.0),
                         meta={"name": exp.name, "world_size": world_size, "experiment": fixed}).run()
    finally:
        backend.shutdown()
    _print_summary(summary, out)
    names = list(getattr(exp.workload, "objective_names", ()))
    if len(names) > 1:
        _print_front(out, names)
    return 0


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


def _show(run_dir: Path, top: int) -> int:
    from evoautodl.log import load_run

    df = load_run(run_dir)
    meta_path = run_dir / "run.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
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


def _analyze(run_dir: Path) -> int:
    from evoautodl.analysis import budget_correlation
    from evoautodl.analysis.plots import save_figures
    from evoautodl.log import load_run

    df = load_run(run_dir)
    if df.empty:
        print(f"{run_dir}: no evaluations yet")
        return 0
    corr = budget_correlation(df)
    if not corr.empty:
        print("Kendall tau between budgets (individuals evaluated at both):")
        print(corr.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    for path in save_figures(df, run_dir / "figures"):
        print(f"wrote {path}")
    return 0


def _world() -> tuple[int, int]:
    from evoautodl.backends.mpi import mpi_rank, mpi_world_size

    size = mpi_world_size()
    return size, (mpi_rank() if size > 1 else 0)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    size, rank = (1, 0) if args.command in ("show", "analyze") else _world()
    _setup_logging(rank, getattr(args, "verbose", False))
    if args.command == "experiment":  # every rank takes part (evoautodl.grid.schedule)
        from evoautodl.grid.command import experiment_main

        return experiment_main(args, size, rank)
    if rank > 0:
        from evoautodl.backends.mpi import worker_main

        return worker_main()
    try:
        if args.command == "show":
            return _show(Path(args.run_dir), args.top)
        if args.command == "analyze":
            return _analyze(Path(args.run_dir))
        if args.command == "run":
            from evoautodl.experiment import read_experiment_file

            path = Path(args.experiment)
            raw = read_experiment_file(path)
            return _execute(raw, path.parent, Path(args.out), args, resume=False, world_size=size)
        if args.command == "demo":
            text = resources.files("evoautodl.defaults").joinpath("quickstart.toml").read_text()
            if args.print_config:
                print(text)
                return 0
            return _execute(tomllib.loads(text), Path.cwd(), Path(args.out), args, resume=False, world_size=size)
        if args.command == "resume":
            run_dir = Path(args.run_dir)
            cfg = run_dir / "config.toml"
            if not cfg.is_file():
                raise EvoAutoDLError(f"{run_dir}: no config.toml (is this a run directory?)")
            return _execute(tomllib.loads(cfg.read_text()), run_dir, run_dir, args, resume=True, world_size=size)
    except EvoAutoDLError as exc:
        if size > 1:
            _release()
        print(f"evoautodl: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evoautodl: aborted; resume with `evoautodl resume <run dir>`", file=sys.stderr)
        return 130
    return 2


def _release() -> None:
    try:
        from evoautodl.backends.mpi import release_workers

        release_workers()
    except Exception:  # workers may already be gone
        logger.debug("release_workers failed", exc_info=True)


