"""``evoautodl experiment FILE --out DIR``: the command-line side of comparison experiments.

Every rank of ``mpiexec -n N`` runs this. Rank 0 validates the file and plans the cells
(workers nap meanwhile), writes ``grid.json``, then hands the plan to the other ranks;
one clear message and exit code 2 when the file is wrong, before any cell runs. The
functions return what to print (:class:`CommandOutput`); the command line prints it.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoautodl.errors import EvoAutoDLError

__all__ = ["CommandOutput", "add_experiment_parser", "experiment_main"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommandOutput:
    """Exit code, text for stdout and text for stderr of one rank."""

    code: int
    out: str = ""
    err: str = ""


def add_experiment_parser(sub: Any) -> argparse.ArgumentParser:
    """The ``experiment`` subcommand's arguments."""
    e = sub.add_parser("experiment", help="run a comparison: algorithms x problems x seeds (one run per cell)")
    e.add_argument("experiment", help="comparison TOML file (see README, 'Comparison experiments')")
    e.add_argument("--out", required=True, help="results folder (a rerun finishes only the missing cells)")
    e.add_argument("--dry-run", action="store_true", help="validate, list the cells and their status, run nothing")
    e.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar over cells (default: when stderr is a terminal)")
    e.add_argument("-v", "--verbose", action="store_true")
    return e


def _prepare(args: argparse.Namespace) -> Any:
    from evoautodl.grid.prepare import load_plan, write_grid_json

    plan = load_plan(args.experiment, args.out)
    if not args.dry_run:
        write_grid_json(plan, Path(args.out), source=Path(args.experiment))
    return plan


def _share(value: Any, size: int) -> Any:
    """Rank 0's value on every rank; the others nap (not spin) while rank 0 plans."""
    if size == 1:
        return value
    from evoautodl.backends.mpi import load_mpi
    from evoautodl.grid.schedule import _quiet_barrier

    comm = load_mpi().COMM_WORLD
    _quiet_barrier(comm)
    return comm.bcast(value, root=0)


def _dry_run(plan: Any, out: Path) -> str:
    status = plan.status(out)
    counts = Counter(status)
    lines = [f"{plan.spec.name}: {len(plan.cells)} cells = {len(plan.spec.problems)} problems x "
             f"{len(plan.spec.algorithms)} algorithms x {len(plan.spec.seeds)} seeds; budget {plan.spec.budget_max:g} "
             f"{plan.spec.budget_unit} per cell",
             "status        : " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
             f"{'status':<9} {'cost':<9} {'problem':<20} {'algorithm':<18} {'seed':>4}  path"]
    lines += [f"{s:<9} {'cheap' if c.cheap else 'expensive':<9} {c.problem:<20} {c.algorithm:<18} {c.seed:>4}  "
              f"{out / c.path}" for c, s in zip(plan.cells, status)]
    return "\n".join(lines)


def experiment_main(args: argparse.Namespace, size: int, rank: int) -> CommandOutput:
    """Run the comparison on every rank; exit code 2: bad input, 1: failed cells (rank 0 has the text)."""
    out = Path(args.out)
    payload: tuple[str, Any]
    if rank == 0:
        try:
            plan = _prepare(args)
            payload = ("dry-run", None) if args.dry_run else ("plan", plan)
        except EvoAutoDLError as exc:
            payload = ("error", str(exc))
    else:
        payload = ("", None)
    payload = _share(payload, size)
    kind, value = payload
    if kind == "error":
        return CommandOutput(2, err=f"evoautodl: error: {value}" if rank == 0 else "")
    if kind == "dry-run":
        return CommandOutput(0, out=_dry_run(plan, out) if rank == 0 else "")
    return _run(value, out, args, size, rank)


def _run(plan: Any, out: Path, args: argparse.Namespace, size: int, rank: int) -> CommandOutput:
    from evoautodl.grid.schedule import run_cells_mpi, run_cells_serial

    status = plan.status(out)
    todo = [c.index for c, s in zip(plan.cells, status) if s != "complete"]
    # cheap cells first, then expensive ones; within each, algorithm by algorithm in file order (put slow
    # baselines last: a stopped experiment then has every problem for the algorithms it finished)
    algo_rank = {a.label: k for k, a in enumerate(plan.spec.algorithms)}
    todo.sort(key=lambda i: (not plan.cells[i].cheap, algo_rank[plan.cells[i].algorithm], i))
    done: Counter[str] = Counter()
    bar = None
    t0 = time.perf_counter()
    if rank == 0:
        logger.info("%s: %d cells, %d complete, %d to run on %d rank(s) -> %s", plan.spec.name, len(plan.cells),
                    len(plan.cells) - len(todo), len(todo), size, out)
        show = args.progress if args.progress is not None else sys.stderr.isatty()
        if show and todo:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(plan.cells), initial=len(plan.cells) - len(todo), unit="cell",
                       desc=plan.spec.name, dynamic_ncols=True)

    def on_done(report: Any) -> None:
        done[report.status] += 1
        cell = plan.cells[report.index]
        logger.debug("cell %s: %s in %.2f s", cell.path, report.status, report.wall_s)
        if report.status == "failed":
            logger.warning("cell %s failed: %s", cell.path, report.error)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(failed=done["failed"], refresh=False)

    try:
        finished = run_cells_serial(plan, out, todo, on_done) if size == 1 else \
            run_cells_mpi(plan, out, todo, on_done)
    finally:
        if bar is not None:
            bar.close()
    if rank != 0:
        return CommandOutput(0)
    status = plan.status(out)
    final = Counter(status)
    wall = time.perf_counter() - t0
    lines = [f"results       : {out}",
             f"cells         : {len(plan.cells)} ({', '.join(f'{k} {v}' for k, v in sorted(final.items()))})",
             f"this run      : {sum(done.values())} cells in {wall:.1f} s on {size} rank(s)"]
    failed = [c.path for c, s in zip(plan.cells, status) if s == "failed"]
    lines += [f"failed        : {out / path} (see its cell.json)" for path in failed[:10]]
    if not finished:
        lines.append(f"stopped       : by a signal; rerun `evoautodl experiment {args.experiment} --out {out}` "
                     "to finish")
        return CommandOutput(0, out="\n".join(lines))
    if final.get("complete", 0) == len(plan.cells):
        lines.append(f"next          : evoautodl compare {out}")
    return CommandOutput(1 if failed else 0, out="\n".join(lines))
