"""``evoautodl analyze RUN [RUN ...]``: figures (PNG and PDF) and a report.md per run, plus a cross-run report.

Pseudocode::

    for each run: load it; refuse an empty run, a run with only failed trials,
                  a folder that is not a run, or too few trials for a forest
        for each section (incumbent, objective by budget, learning curves,
            budget correlation, hypervolume, importance across budgets,
            fANOVA, LPI, partial dependence, descriptors, operators):
            table -> figure(s) in RUN/figures/NAME.{png,pdf} -> one finding
        RUN/report.md: each figure with its finding (and its table)
    several runs: OUT/report.md with the incumbents overlaid and, when the
        runs share their configurations (design runs, same seed), the
        configuration x dataset heat map and the leave-one-dataset-out portfolio
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from evoautodl.analysis.frame import MIN_FOREST_TRIALS, AnalysisError, load_space, objective_label, ok_trials
from evoautodl.analysis.sections import SECTIONS, Context, Section, markdown_table

__all__ = ["RunReport", "analyze_run", "analyze_runs", "check_run", "save_figure"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunReport:
    """What :func:`analyze_run` wrote: the report, the figures (PNG paths) and the findings by section."""

    path: Path
    figures: tuple[Path, ...]
    findings: tuple[tuple[str, str], ...]


def save_figure(ax: Any, folder: Path, name: str) -> Path:
    """Save the Axes' figure as NAME.png and NAME.pdf in ``folder``; returns the PNG path."""
    import matplotlib.pyplot as plt

    fig = ax.figure
    if fig.get_layout_engine() is None:  # figures from evoautodl's plots lay themselves out when drawn
        fig.tight_layout()
    png = folder / f"{name}.png"
    fig.savefig(png, dpi=110)
    fig.savefig(folder / f"{name}.pdf")
    plt.close(fig)
    return png


def check_run(df: pd.DataFrame, path: Path, need_forest: bool = True) -> None:
    """Raise AnalysisError (one line naming the run) when there is nothing to analyze."""
    if df.empty:
        raise AnalysisError(f"{path}: the run has no evaluations yet (evaluations.jsonl is empty)")
    ok = ok_trials(df)
    if ok.empty:
        errors = df["error_message"].dropna() if "error_message" in df.columns else pd.Series(dtype=object)
        first = f"; first error: {str(errors.iloc[0]).splitlines()[0][:200]}" if len(errors) else ""
        raise AnalysisError(f"{path}: all {len(df)} trials failed, no OK trial to analyze{first}")
    if need_forest:
        sizes = ok.groupby("budget_epochs", observed=True).size()
        if sizes.max() < MIN_FOREST_TRIALS:
            raise AnalysisError(f"{path}: too few trials for a random forest: at most {int(sizes.max())} OK trials "
                                f"at one budget, at least {MIN_FOREST_TRIALS} needed (run longer, or pass "
                                "--no-importance to draw only the other figures)")


def _progress(total: int, enabled: bool, desc: str) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", file=sys.stderr, leave=False)


def analyze_run(path: str | Path, *, importance: bool = True, progress: bool = False, n_trees: int = 32,
                seed: int = 0, skip_corrupt: bool = False) -> RunReport:
    """Write ``RUN/figures/*.{png,pdf}`` and ``RUN/report.md`` for one run.

    Args:
        path: the run directory.
        importance: also the forest-based sections (fANOVA, LPI, importance across budgets, partial dependence).
        progress: a progress bar on stderr.
        n_trees: trees per random forest.
        seed: seed of the forests and bootstraps.
        skip_corrupt: skip (and name) log lines that do not read back instead of refusing the run.

    Raises:
        AnalysisError / RunDirError: not a run, an empty run, only failed trials, too few trials for a forest.
    """
    import matplotlib

    matplotlib.use("Agg")
    from evoautodl.log import load_run

    run = Path(path)
    df = load_run(run, skip_corrupt=skip_corrupt)
    check_run(df, run, need_forest=importance)
    space = load_space(run)
    folder = run / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    chosen = [(fn, forest) for fn, forest in SECTIONS if importance or not forest]
    bar = _progress(len(chosen), progress, run.name)
    ctx = Context(df=df, space=space, n_trees=n_trees, seed=seed, run=run)
    sections: list[Section] = []
    written: list[Path] = []
    for fn, _ in chosen:
        try:
            section = fn(ctx)
        except AnalysisError as exc:  # this run lacks the data for one section: say so, draw the others
            logger.info("%s: skipped %s: %s", run, fn.__name__, exc)
            section = Section(fn.__name__.replace("_section", "").replace("_", " ").capitalize(), (),
                              f"Skipped: {exc}.")
        if section is not None:
            sections.append(section)
            for name, ax in section.figures:
                written.append(save_figure(ax, folder, name))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    report = run / "report.md"
    report.write_text(_markdown(run, df, sections))
    return RunReport(path=report, figures=tuple(written), findings=tuple((s.title, s.finding) for s in sections))


def _markdown(run: Path, df: pd.DataFrame, sections: Sequence[Section]) -> str:
    ok = ok_trials(df)
    status = ", ".join(f"{k} {int(v)}" for k, v in df["status"].value_counts().items() if v)
    lines = [f"# Analysis of `{run.name}`", "",
             f"{len(df)} evaluations ({status}), {df['epochs_trained'].sum():g} epochs trained, budgets "
             f"{', '.join(f'{b:g}' for b in sorted(ok['budget_epochs'].unique()))}; objective: "
             f"{objective_label(df)}.", ""]
    for s in sections:
        lines += [f"## {s.title}", ""]
        lines += [f"![{name}](figures/{name}.png)" for name, _ in s.figures]
        lines += ["", f"**Finding.** {s.finding}", ""]
        if s.table:
            lines += [s.table, ""]
    return "\n".join(lines)


def _cross_run(runs: dict[str, pd.DataFrame]) -> list[Section]:
    from evoautodl.analysis import landscape_plots as lp
    from evoautodl.analysis import plots
    from evoautodl.analysis.portfolio import loo_portfolio, normalize, performance_table

    ax = None
    for name, df in runs.items():
        ax = plots.plot_incumbent(df, ax=ax, label=name)
    finals = {}
    for n, d in runs.items():
        ok = ok_trials(d)
        finals[n] = float(ok[ok["budget_epochs"] == ok["budget_epochs"].max()]["objective"].min())
    best = min(finals, key=finals.get)  # type: ignore[arg-type]
    sections = [Section("Incumbents", (("incumbents", ax),),
                        f"{best} ends with the best incumbent ({finals[best]:.4g}) of {len(runs)} runs.")]
    try:
        table = performance_table(runs)
    except AnalysisError as exc:
        logger.info("no portfolio: %s", exc)
        return sections
    norm = normalize(table)
    loo = loo_portfolio(norm, k_max=min(8, len(norm)))
    k1, kk = loo.iloc[0], loo.iloc[-1]
    sections.append(Section(
        "Configurations across datasets", (("performance_heatmap", lp.plot_performance_heatmap(norm)),),
        f"{len(norm)} configurations on {norm.shape[1]} datasets; the best single configuration by mean is "
        f"{norm.mean(axis=1).idxmin()} (mean normalized objective {norm.mean(axis=1).min():.3f}).",
    ))
    sections.append(Section(
        "Portfolio (leave one dataset out)", (("portfolio", lp.plot_portfolio(loo)),),
        f"On held-out datasets one configuration has regret {k1['test_regret']:.3f} and a portfolio of "
        f"{int(kk['k'])} {kk['test_regret']:.3f}, against {kk['random_regret']:.3f} for {int(kk['k'])} random "
        "configurations.", markdown_table(loo, 3)))
    return sections


def analyze_runs(paths: Sequence[str | Path], out: str | Path | None = None, *, importance: bool = True,
                 progress: bool = False, n_trees: int = 32, seed: int = 0,
                 skip_corrupt: bool = False) -> list[RunReport]:
    """:func:`analyze_run` for every run; with several runs also ``OUT/report.md`` comparing them.

    ``out`` defaults to ``evoautodl-analysis`` in the working directory (used only with several runs).
    """
    import matplotlib

    matplotlib.use("Agg")
    from evoautodl.log import load_run

    if not paths:
        raise AnalysisError("no run directory given")
    reports = [analyze_run(p, importance=importance, progress=progress, n_trees=n_trees, seed=seed,
                           skip_corrupt=skip_corrupt) for p in paths]
    if len(paths) > 1:
        runs = {Path(p).name: load_run(p, skip_corrupt=skip_corrupt) for p in paths}
        folder = Path(out) if out is not None else Path("evoautodl-analysis")
        (folder / "figures").mkdir(parents=True, exist_ok=True)
        sections = _cross_run(runs)
        written = [save_figure(ax, folder / "figures", name) for s in sections for name, ax in s.figures]
        lines = [f"# {len(runs)} runs", "", *(f"- [{Path(p).name}]({Path(p).resolve() / 'report.md'})"
                                              for p in paths), ""]
        for s in sections:
            lines += [f"## {s.title}", "", *(f"![{n}](figures/{n}.png)" for n, _ in s.figures), "",
                      f"**Finding.** {s.finding}", ""]
            if s.table:
                lines += [s.table, ""]
        (folder / "report.md").write_text("\n".join(lines))
        reports.append(RunReport(path=folder / "report.md", figures=tuple(written),
                                 findings=tuple((s.title, s.finding) for s in sections)))
    return reports
