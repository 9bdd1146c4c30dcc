"""The sections of a run's report: each computes its table, draws its figure and states one finding.

A section is a function ``(ctx) -> Section | None`` (None: the run has no
data for it, e.g. no second objective). Findings are sentences computed from
the figure's own numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evoautodl.analysis import landscape_plots as lp
from evoautodl.analysis import plots
from evoautodl.analysis.correlation import budget_correlation, curve_correlation
from evoautodl.analysis.descriptors import (
    dispersion,
    diversity_by_generation,
    fitness_distance_correlation,
    operator_success,
    parent_offspring_correlation,
)
from evoautodl.analysis.fanova import fanova_forest, landscape_forest
from evoautodl.analysis.frame import MIN_FOREST_TRIALS, AnalysisError, objective_label, ok_trials
from evoautodl.analysis.importance import importance_by_budget, importance_step
from evoautodl.analysis.lpi import lpi
from evoautodl.analysis.pdp import partial_dependence, partial_dependence_2d
from evoautodl.analysis.summaries import hypervolume_trace, incumbent_trace
from evoautodl.space import SearchSpace

__all__ = ["Context", "SECTIONS", "Section", "markdown_table"]


@dataclass(frozen=True)
class Section:
    """One part of the report: a title, figures (names without extension), a finding, an optional table."""

    title: str
    figures: tuple[tuple[str, Any], ...]
    finding: str
    table: str = ""


@dataclass
class Context:
    """What the sections share for one run: its data, space and the forest at the top budget."""

    df: pd.DataFrame
    space: SearchSpace
    n_trees: int = 32
    max_forest_trials: int = 4000
    seed: int = 0
    cache: dict[str, Any] = field(default_factory=dict)
    on_step: Callable[[], None] | None = None
    run: Path | None = None

    @property
    def ok(self) -> pd.DataFrame:
        if "ok" not in self.cache:
            self.cache["ok"] = ok_trials(self.df)
        return self.cache["ok"]

    @property
    def label(self) -> str:
        return objective_label(self.df)

    def top(self) -> pd.DataFrame:
        """OK trials at the highest budget with enough of them for a forest (subsampled to ``max_forest_trials``)."""
        if "top" not in self.cache:
            ok = self.ok
            sizes = ok.groupby("budget_epochs", observed=True).size()
            enough = sizes[sizes >= MIN_FOREST_TRIALS]
            budget = enough.index.max() if len(enough) else sizes.index.max()
            at = ok[ok["budget_epochs"] == budget]
            if len(at) > self.max_forest_trials:
                at = at.sample(self.max_forest_trials, random_state=self.seed)
            self.cache["top"] = at
        return self.cache["top"]

    def forest(self) -> Any:
        if "forest" not in self.cache:
            at = self.top()
            self.cache["forest"] = landscape_forest(at, at["objective"].to_numpy(dtype=float), self.space,
                                                    n_trees=self.n_trees, seed=self.seed)
        return self.cache["forest"]


def markdown_table(df: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a Markdown table (numbers to ``digits`` significant digits)."""
    def cell(v: Any) -> str:
        if isinstance(v, float | np.floating):
            return "" if np.isnan(v) else f"{v:.{digits}g}"
        return str(v)

    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def incumbent(ctx: Context) -> Section:
    trace = incumbent_trace(ctx.df).dropna(subset=["incumbent"])
    final = trace.iloc[-1]
    top = trace[trace["budget_epochs"] == final["budget_epochs"]]
    first, last = top["incumbent"].iloc[0], final["incumbent"]
    half = top[top["incumbent"] <= first - 0.5 * (first - last)].iloc[0]
    finding = (f"The incumbent reached {last:.4g} ({ctx.label}) at budget {final['budget_epochs']:g} after "
               f"{final['epochs']:g} epochs; half of the improvement at that budget ({first:.4g} -> {last:.4g}) "
               f"was made by {half['epochs']:g} epochs ({100 * half['epochs'] / final['epochs']:.0f}% of the run).")
    return Section("Incumbent", (("incumbent", plots.plot_incumbent(ctx.df)),), finding)


def objective_by_budget(ctx: Context) -> Section | None:
    ok = ctx.ok
    if ok["budget_epochs"].nunique() < 2:
        return None
    med = ok.groupby("budget_epochs", observed=True)["objective"].median()
    finding = (f"The median objective falls from {med.iloc[0]:.4g} at {med.index[0]:g} epochs to {med.iloc[-1]:.4g} "
               f"at {med.index[-1]:g} epochs over {len(ok)} OK trials.")
    return Section("Objective by budget", (("objective_by_budget", plots.plot_objective_by_budget(ctx.df)),), finding)


def learning_curves(ctx: Context) -> Section | None:
    try:
        ax = plots.plot_learning_curves(ctx.df)
    except AnalysisError:
        return None
    from evoautodl.analysis.curves import curve_matrix

    m = curve_matrix(ctx.ok)
    full = m.dropna()
    if len(full) >= 3 and m.shape[1] > 1:
        first, last = full.iloc[:, 0], full.iloc[:, -1]
        best_early = first.idxmin()
        rank = int((last < last[best_early]).sum()) + 1
        finding = (f"Of {len(full)} configurations trained to {m.shape[1]} epochs, the best after epoch 1 ends "
                   f"{rank}{_ordinal(rank)} after epoch {m.shape[1]}; the median falls from {first.median():.4g} "
                   f"to {last.median():.4g}.")
    else:
        finding = f"{len(m)} learning curves of up to {m.shape[1]} epochs."
    return Section("Learning curves", (("learning_curves", ax),), finding)


def _ordinal(n: int) -> str:
    return "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def correlation(ctx: Context) -> Section | None:
    step = importance_step(ctx.df)
    if step == "epoch":
        corr = curve_correlation(ctx.df, n_boot=100, seed=ctx.seed)
        how = "every configuration at both epochs (unbiased)"
    else:
        corr = budget_correlation(ctx.df, n_boot=100, seed=ctx.seed)
        how = ("promoted individuals only: survivors of the lower budget, a biased sample; "
               "run a `design` experiment for the unbiased value")
    if corr.empty:
        return None
    lo, hi = corr["budget_low"].min(), corr["budget_high"].max()
    row = corr[(corr["budget_low"] == lo) & (corr["budget_high"] == hi)]
    r = row.iloc[0] if len(row) else corr.iloc[0]
    weakest = corr.loc[corr["kendall_tau"].idxmin()]
    finding = (f"Kendall τ between {r['budget_low']:g} and {r['budget_high']:g} epochs is {r['kendall_tau']:.2f} "
               f"(95% CI {r['tau_ci_low']:.2f} to {r['tau_ci_high']:.2f}, n = {int(r['n_pairs'])}; {how}); "
               f"the weakest pair is {weakest['budget_low']:g} vs {weakest['budget_high']:g} epochs "
               f"(τ = {weakest['kendall_tau']:.2f}).")
    table = markdown_table(corr.drop(columns=["source"]))
    return Section("Budget correlation", (("budget_correlation", plots.plot_budget_correlation(corr)),), finding,
                   table)


def importance_across_budgets(ctx: Context) -> Section:
    table = importance_by_budget(ctx.df, ctx.space, n_trees=ctx.n_trees, seed=ctx.seed, on_step=ctx.on_step)
    ctx.cache["importance"] = table
    steps = sorted(table["step"].unique())
    by = table["by"].iloc[0]
    first = table[table["step"] == steps[0]].sort_values("rank")
    last = table[table["step"] == steps[-1]].sort_values("rank")
    top_first, top_last = list(first["hyperparameter"].head(3)), list(last["hyperparameter"].head(3))
    same = "keeps its top 3" if top_first == top_last else f"changes its top 3 from {', '.join(top_first)}"
    finding = (f"At {by} {steps[-1]:g} the most important hyperparameter is {top_last[0]} "
               f"({last['importance'].iloc[0]:.2f} of the variance); the ranking {same} between {by} {steps[0]:g} "
               f"and {steps[-1]:g} (top 3 at {steps[-1]:g}: {', '.join(top_last)}).")
    from evoautodl.analysis.importance import importance_ranks

    wide = importance_ranks(table, "importance").reset_index()
    wide.columns = [str(c) if c == "hyperparameter" else f"{by} {c:g}" for c in wide.columns]
    return Section(f"Importance across {by}s", (("importance_by_budget", lp.plot_importance_by_budget(table)),),
                   finding, markdown_table(wide, 2))


def fanova_section(ctx: Context) -> Section:
    table = fanova_forest(ctx.forest(), pairs=4)
    ctx.cache["fanova"] = table
    main = table[table["order"] == 1]
    pairs = table[table["order"] == 2]
    b = ctx.top()["budget_epochs"].iloc[0]
    finding = (f"At budget {b:g} ({len(ctx.top())} trials) {main['hyperparameter'].iloc[0]} explains "
               f"{main['importance'].iloc[0]:.0%} of the variance and {main['hyperparameter'].iloc[1]} "
               f"{main['importance'].iloc[1]:.0%}; main effects sum to {main['importance'].sum():.0%}")
    if len(pairs):
        finding += (f", the largest interaction ({pairs['hyperparameter'].iloc[0]}) adds "
                    f"{pairs['importance'].iloc[0]:.0%}.")
    else:
        finding += "."
    ax = lp.plot_importance(table, title=f"fANOVA importance at budget {b:g} (main effects and top pairs)")
    return Section("fANOVA", (("fanova", ax),), finding, markdown_table(table, 3))


def lpi_section(ctx: Context) -> Section:
    at = ctx.top()
    table = lpi(at, at["objective"].to_numpy(dtype=float), ctx.space, forest=ctx.forest())
    finding = (f"Around the incumbent, changing {table['hyperparameter'].iloc[0]} alone causes "
               f"{table['importance'].iloc[0]:.0%} of the local variance, {table['hyperparameter'].iloc[1]} "
               f"{table['importance'].iloc[1]:.0%}.")
    ax = lp.plot_importance(table, title="local parameter importance around the incumbent",
                            xlabel="fraction of the variance around the incumbent")
    return Section("Local parameter importance (LPI)", (("lpi", ax),), finding, markdown_table(table, 3))


def pdp_section(ctx: Context) -> Section:
    import matplotlib.pyplot as plt

    fan = ctx.cache.get("fanova")
    names = list(fan[fan["order"] == 1]["hyperparameter"].head(3)) if fan is not None else list(ctx.space.names[:3])
    forest = ctx.forest()
    pdp = partial_dependence(forest, ctx.space, names)
    fig, axs = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), squeeze=False, layout="constrained")
    parts = []
    for ax, name in zip(axs[0], names):
        lp.plot_partial_dependence(pdp, name, ctx.space, ax=ax, ylabel=ctx.label)
        t = pdp[pdp["hyperparameter"] == name]
        best = t.loc[t["mean"].idxmin()]
        v = best["value"]
        parts.append(f"{name} best near {v:.3g}" if isinstance(v, float) else f"{name} best at {v}")
    fig.suptitle("partial dependence (band: std over trees)")
    figures: list[tuple[str, Any]] = [("partial_dependence", axs[0][0])]
    if len(names) >= 2:
        pd2 = partial_dependence_2d(forest, ctx.space, (names[0], names[1]))
        name = (list(ctx.df.attrs.get("objective_names", [])) or ["objective"])[0]
        figures.append(("partial_dependence_2d", lp.plot_partial_dependence_2d(pd2, label=name)))
    finding = "The forest's partial dependence puts " + "; ".join(parts) + "."
    return Section("Partial dependence", tuple(figures), finding)


def descriptors_section(ctx: Context) -> Section:
    fdc = fitness_distance_correlation(ctx.df, ctx.space)
    disp = dispersion(ctx.df, ctx.space)
    div = diversity_by_generation(ctx.df, ctx.space)
    d10 = disp[disp["fraction"] == 0.1]["dispersion"]
    d10v = float(d10.iloc[0]) if len(d10) else float(disp["dispersion"].iloc[0])
    finding = (f"Fitness-distance correlation is {fdc['fdc'].iloc[0]:.2f} (n = {int(fdc['n'].iloc[0])}) and the best "
               f"10% are {'closer together' if d10v < 0 else 'not closer together'} than all configurations "
               f"(dispersion {d10v:+.3f}); diversity goes from {div['diversity'].iloc[0]:.3f} to "
               f"{div['diversity'].iloc[-1]:.3f} over {len(div)} {div['group'].iloc[0]}s.")
    table = markdown_table(pd.concat([fdc.assign(measure="fdc"), disp.assign(measure="dispersion")], ignore_index=True)
                           [["measure", "budget", "n", "fdc", "fdc_spearman", "fraction", "dispersion"]], 3)
    return Section("Landscape descriptors", (("diversity", lp.plot_diversity(div)),), finding, table)


def lineage_section(ctx: Context) -> Section | None:
    try:
        succ = operator_success(ctx.df)
        poc = parent_offspring_correlation(ctx.df)
    except AnalysisError:
        return None
    best = succ.iloc[0]
    overall = poc.iloc[0]
    finding = (f"{best['operator']} improved on its best parent in {best['success_rate']:.0%} of {int(best['n'])} "
               f"offspring (the best operator); offspring and parent objectives correlate with Pearson "
               f"{overall['pearson']:.2f} over {int(overall['n'])} offspring.")
    return Section("Operators and lineage", (("operator_success", lp.plot_operator_success(succ)),), finding,
                   markdown_table(succ, 3) + "\n\n" + markdown_table(poc, 3))


def multiobjective_section(ctx: Context) -> Section | None:
    cols = list(ctx.df.attrs.get("objective_columns", []))
    if len(cols) < 2:
        return None
    trace = hypervolume_trace(ctx.df)
    hv = trace["hypervolume"]
    first = hv[hv > 0]
    start = float(first.iloc[0]) if len(first) else 0.0
    last_gain = int(trace["n_evaluations"][hv.diff().fillna(hv) > 0].iloc[-1]) if (hv > 0).any() else 0
    finding = (f"The hypervolume of {', '.join(cols)} grows from {start:.4g} to {hv.iloc[-1]:.4g} over "
               f"{len(trace)} evaluations (reference point {', '.join(f'{v:.3g}' for v in trace.attrs['reference'])});"
               f" the front last improved at evaluation {last_gain}.")
    return Section("Multi-objective", (("hypervolume", plots.plot_hypervolume(trace)),
                                       ("pareto", plots.plot_pareto(ctx.df))), finding)


def schedule_section(ctx: Context) -> Section | None:
    """adaptive_mf's decisions (agreement of each rung with the full budget, bracket shares); None for others."""
    from evoautodl.analysis.schedule import load_decisions, plot_agreement, plot_brackets

    df = load_decisions(ctx.run) if ctx.run is not None else None
    if df is None or df.empty:
        return None
    last = df.iloc[-1]
    rungs = sorted({c.split("_")[0] for c in df.columns if c.startswith("rung") and c.endswith("_rho_mean")})
    agreement = ", ".join(f"{last[f'{r}_budget']:g} epochs {last[f'{r}_rho_mean']:.2f} "
                          f"[{last[f'{r}_rho_low']:.2f}, {last[f'{r}_rho_high']:.2f}]" for r in rungs)
    shares = {c[len("bracket_"): -len("_probability")]: float(last[c]) for c in df.columns
              if c.startswith("bracket_") and c.endswith("_probability")}
    top = max(shares, key=shares.__getitem__) if shares else "none"
    finding = (f"After {len(df)} schedule decisions ({last['epochs']:.0f} epochs trained) the rungs agree with the "
               f"full budget as {agreement} (posterior mean, 80% interval), and bracket {top} gets the largest "
               f"share of new configurations ({shares.get(top, 0.0):.0%}).")
    return Section("adaptive_mf's schedule", (("schedule_agreement", plot_agreement(df)),
                                              ("schedule_brackets", plot_brackets(df))), finding)


#: the report's sections, in order; True marks those that need a random forest
SECTIONS: tuple[tuple[Callable[[Context], Section | None], bool], ...] = (
    (incumbent, False), (objective_by_budget, False), (learning_curves, False), (correlation, False),
    (multiobjective_section, False), (importance_across_budgets, True), (fanova_section, True), (lpi_section, True),
    (pdp_section, True), (descriptors_section, False), (lineage_section, False), (schedule_section, False),
)
