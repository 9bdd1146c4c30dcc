#!/usr/bin/env python3
"""Reproduce the landscape questions of "Towards Understanding Automated Deep Learning" on the LCBench surrogate.

    EVOAUTODL_YAHPO_DATA=/path/to/yahpo_data nice -n 10 python analysis/lcbench_talk.py \
        --runs /tmp/evoautodl-lcbench --n-configs 1000

1. Data collection through the framework itself: one ``design`` run per LCBench task (all 34),
   the same seed everywhere, so every task sees the same N Sobol configurations, each trained to
   52 epochs with its learning curve logged (run directories under --runs; not committed).
2. Tables and figures (committed, small): importance across epochs per task (fANOVA), budget
   correlation between epochs with bootstrap CIs for all tasks (and the survivor bias a
   promoted-only estimate would have), landscape descriptors, the configuration x dataset
   heat map and the leave-one-dataset-out portfolio.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from evoautodl import load_run
from evoautodl.algorithms import get_algorithm
from evoautodl.analysis import (
    curve_correlation,
    curve_matrix,
    dispersion,
    fitness_distance_correlation,
    importance_by_budget,
    load_space,
    loo_portfolio,
    normalize,
    performance_table,
    survivor_bias,
)
from evoautodl.analysis import landscape_plots as lp
from evoautodl.analysis.sections import markdown_table
from evoautodl.backends.serial import SerialBackend
from evoautodl.runner import Runner, StopCriteria
from evoautodl.workloads.lcbench import LCBENCH_TASK_IDS, LCBenchSurrogate

HERE = Path(__file__).resolve().parent
EPOCHS = [1, 2, 4, 8, 16, 32, 52]
LOW = [1, 2, 4, 8, 16]
logger = logging.getLogger("lcbench_talk")


def collect(runs: Path, n_configs: int, tasks: list[str]) -> dict[str, Path]:
    out = {}
    for task in tasks:
        run = runs / f"design-{task}"
        out[task] = run
        if (run / "evaluations.jsonl").exists() and len(load_run(run)) >= n_configs:
            continue
        wl = LCBenchSurrogate(task_id=task)
        algo = get_algorithm("design", wl.search_space(), seed=0, max_budget=52, n_configs=n_configs)
        t0 = time.time()
        Runner(algo, SerialBackend(wl), run_dir=run, stop=StopCriteria(max_evaluations=n_configs),
               resume=(run / "evaluations.jsonl").exists(),
               meta={"name": f"lcbench-{task}-design", "task_id": task}).run()
        logger.info("task %s: %d configurations in %.1f s", task, n_configs, time.time() - t0)
    return out


def correlation_tables(dfs: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, bias = [], []
    for task, df in dfs.items():
        corr = curve_correlation(df, epochs=[*LOW, 52], n_boot=200)
        corr = corr[corr["budget_high"] == 52]
        row: dict[str, object] = {"task": task, "n": int(corr["n_pairs"].iloc[0])}
        for r in corr.itertuples(index=False):
            row[f"tau_{r.budget_low:g}"] = r.kendall_tau
            row[f"ci_{r.budget_low:g}"] = f"[{r.tau_ci_low:.2f}, {r.tau_ci_high:.2f}]"
        m = curve_matrix(df)
        best_low = m[2].idxmin()
        final = m[52]
        row["regret_pick_at_2"] = float((final[best_low] - final.min()) / (final.max() - final.min()))
        row["rank_of_best_at_2"] = int((final < final[best_low]).sum()) + 1
        rows.append(row)
        b = survivor_bias(m, [(2, 52), (8, 52)], eta=3)
        bias.append(b.assign(task=task))
    table = pd.DataFrame(rows)
    table["low_budget_misleads"] = (table["tau_2"] < 0.5) | (table["rank_of_best_at_2"] > 0.1 * table["n"])
    return table, pd.concat(bias, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, default=Path("/tmp/evoautodl-lcbench"))
    p.add_argument("--n-configs", type=int, default=1000)
    p.add_argument("--tasks", nargs="*", default=list(LCBENCH_TASK_IDS))
    p.add_argument("--results", type=Path, default=HERE / "results" / "lcbench")
    p.add_argument("--figures", type=Path, default=HERE / "figures")
    p.add_argument("--recompute", action="store_true", help="recompute the tables already in --results")
    p.add_argument("--show-tasks", nargs=3, default=["3945", "189906", "167168"],
                   help="tasks drawn in the importance-across-epochs figure")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args.results.mkdir(parents=True, exist_ok=True)
    args.figures.mkdir(parents=True, exist_ok=True)
    runs = collect(args.runs, args.n_configs, args.tasks)
    dfs = {t: load_run(r) for t, r in runs.items()}
    space = load_space(next(iter(runs.values())))

    # importance across epochs, every task
    t0 = time.time()
    imp_csv = args.results / "importance_by_epoch.csv"
    if imp_csv.exists() and not args.recompute:
        imp = pd.read_csv(imp_csv, dtype={"task": str})
    else:
        imp = pd.concat([importance_by_budget(df, space, by="epoch", epochs=EPOCHS, n_trees=32).assign(task=t)
                         for t, df in dfs.items()], ignore_index=True)
        imp.to_csv(imp_csv, index=False, float_format="%.4f")
    logger.info("importance across epochs: %.1f s", time.time() - t0)
    fig, axs = plt.subplots(1, 3, figsize=(16, 4.4), sharey=True)
    for ax, task in zip(axs, args.show_tasks):
        lp.plot_importance_by_budget(imp[imp["task"] == task], ax=ax)
        ax.set_title(f"LCBench task {task}")
        ax.set_ylim(0, 1)
        if ax is not axs[-1]:
            ax.get_legend().remove()
        if ax is not axs[0]:
            ax.set_ylabel("")
    fig.tight_layout()
    fig.savefig(args.figures / "lcbench_importance_by_epoch.png", dpi=100)
    plt.close(fig)
    top1 = imp[imp["rank"] == 1].pivot_table(index="task", columns="step", values="hyperparameter", aggfunc="first")
    changed = int((top1[1.0] != top1[52.0]).sum())

    # budget correlation, every task
    corr_csv, bias_csv = args.results / "budget_correlation.csv", args.results / "survivor_bias.csv"
    if corr_csv.exists() and bias_csv.exists() and not args.recompute:
        corr, bias = pd.read_csv(corr_csv, dtype={"task": str}), pd.read_csv(bias_csv, dtype={"task": str})
    else:
        corr, bias = correlation_tables(dfs)
        corr.to_csv(corr_csv, index=False, float_format="%.4f")
        bias.to_csv(bias_csv, index=False, float_format="%.4f")
    logger.info("budget correlation: %.1f s", time.time() - t0)
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    taus = corr.set_index("task")[[f"tau_{e}" for e in LOW]]
    misleads = corr.set_index("task")["low_budget_misleads"].astype(bool)
    for task, row in taus.iterrows():
        mis = bool(misleads[task])
        ax.plot(LOW, row.to_numpy(), color="tab:red" if mis else "0.6", lw=1.2 if mis else 0.8, alpha=0.8)
    ax.plot([], [], color="tab:red", label=f"low budgets mislead ({int(misleads.sum())} tasks, named in the table)")
    ax.plot([], [], color="0.6", label=f"they do not ({int((~misleads).sum())} tasks)")
    ax.plot(LOW, taus.median().to_numpy(), color="black", lw=2.5, label=f"median over {len(taus)} tasks")
    ax.set_xscale("log")
    ax.set_xticks(LOW, [str(e) for e in LOW])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("lower budget e (epochs)")
    ax.set_ylabel("Kendall τ(e, 52), all configurations")
    ax.set_title("LCBench surrogate: do low budgets rank like 52 epochs? (one line per task)", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.figures / "lcbench_budget_correlation.png", dpi=100)
    plt.close(fig)

    # descriptors
    desc = []
    for t, df in dfs.items():
        f = fitness_distance_correlation(df, space)
        d = dispersion(df, space, fractions=(0.1,))
        desc.append({"task": t, "fdc": f["fdc"].iloc[0], "dispersion_10pct": d["dispersion"].iloc[0]})
    desc = pd.DataFrame(desc)
    desc.to_csv(args.results / "descriptors.csv", index=False, float_format="%.4f")

    # across datasets
    table = performance_table(dfs)
    norm = normalize(table)
    loo = loo_portfolio(norm, k_max=10)
    loo.to_csv(args.results / "portfolio_loo.csv", index=False, float_format="%.4f")
    ax = lp.plot_performance_heatmap(norm)
    ax.figure.tight_layout()
    ax.figure.savefig(args.figures / "lcbench_config_x_dataset.png", dpi=90)
    plt.close(ax.figure)
    ax = lp.plot_portfolio(loo)
    ax.set_title(f"LCBench surrogate, {norm.shape[1]} tasks x {len(norm)} configurations: portfolio regret",
                 fontsize=9)
    ax.figure.tight_layout()
    ax.figure.savefig(args.figures / "lcbench_portfolio.png", dpi=100)
    plt.close(ax.figure)

    # the markdown summary
    show = imp[imp["task"].isin(args.show_tasks)]
    lines = ["# LCBench surrogate: landscape analysis", "",
             f"{len(dfs)} tasks x {args.n_configs} Sobol configurations (the same on every task, seed 0), "
             "each trained to 52 epochs through `evoautodl` (`design` algorithm), learning curves logged.", "",
             "## Importance across epochs (fANOVA, 32 trees)", "",
             f"The most important hyperparameter after 1 epoch differs from the one after 52 epochs on {changed} "
             f"of {len(top1)} tasks.", ""]
    for task in args.show_tasks:
        wide = show[show["task"] == task].pivot_table(index="hyperparameter", columns="step", values="importance")
        wide = wide.sort_values(52.0, ascending=False).reset_index()
        wide.columns = ["hyperparameter", *(f"epoch {c:g}" for c in wide.columns[1:])]
        lines += [f"### Task {task}", "", markdown_table(wide, 2), ""]
    lines += ["### Most important hyperparameter per task", "",
              markdown_table(top1.reset_index().rename(columns=lambda c: c if c == "task" else f"epoch {c:g}")), ""]
    mis = corr[corr["low_budget_misleads"]]
    cols = ["task", "n", *(f"tau_{e}" for e in LOW), "ci_2", "rank_of_best_at_2", "regret_pick_at_2",
            "low_budget_misleads"]
    lines += ["## Budget correlation (every configuration at every epoch: unbiased)", "",
              "Kendall τ between the objective after e epochs and after 52 epochs, 95% bootstrap CI for e = 2; "
              "`rank_of_best_at_2`: final rank of the configuration that looks best after 2 epochs; "
              "`regret_pick_at_2`: its normalized final regret. A low budget *misleads* when τ(2, 52) < 0.5 or "
              "the best configuration after 2 epochs is not in the final top 10%.", "",
              f"Low budgets mislead on {len(mis)} of {len(corr)} tasks: {', '.join(mis['task'])}.", "",
              markdown_table(corr[cols], 3), "",
              "### Survivor bias of promoted-only pairs", "",
              "τ over all configurations vs τ over the survivors only (top 1/3 at the lower epoch, what a successive-"
              f"halving run logs). Mean bias for (2, 52): {bias[bias['budget_low'] == 2]['bias'].mean():+.3f}; "
              f"for (8, 52): {bias[bias['budget_low'] == 8]['bias'].mean():+.3f}.", "",
              markdown_table(bias[bias["budget_low"] == 2][["task", "tau_all", "tau_survivors", "bias"]], 3), "",
              "## Landscape descriptors at 52 epochs", "",
              f"Fitness-distance correlation: median {desc['fdc'].median():.2f} (range {desc['fdc'].min():.2f} to "
              f"{desc['fdc'].max():.2f}); dispersion of the best 10%: median {desc['dispersion_10pct'].median():+.3f} "
              f"(negative on {int((desc['dispersion_10pct'] < 0).sum())} of {len(desc)} tasks).", "",
              markdown_table(desc, 3), "",
              "## Portfolios (leave one dataset out)", "",
              f"One configuration: held-out regret {loo['test_regret'].iloc[0]:.3f}; a portfolio of "
              f"{int(loo['k'].iloc[-1])}: {loo['test_regret'].iloc[-1]:.3f}; {int(loo['k'].iloc[-1])} random "
              f"configurations: {loo['random_regret'].iloc[-1]:.3f}.", "", markdown_table(loo, 3), ""]
    (args.results / "README.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
