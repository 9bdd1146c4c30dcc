#!/usr/bin/env python3
"""The landscape questions on real training: the LCBench MLP on the bundled datasets, under mpiexec.

    nice -n 10 python analysis/mlp_talk.py --runs /tmp/evoautodl-mlp --n-configs 32 --epochs 20

For each bundled dataset (digits, breast_cancer, wine, iris) one ``design`` experiment (the same
seed, so the same N configurations everywhere) is run with ``mpiexec -n 3 evoautodl run``
(1 manager + 2 workers), every configuration trained for --epochs epochs (the cosine schedule
spans them) with its learning curve logged. Then: ``evoautodl analyze`` over the four runs
(each run's report and figures, plus the cross-dataset report with the portfolio), and a
summary (importance across epochs, budget correlation) in analysis/results/mlp/.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATASETS = ("digits", "breast_cancer", "wine", "iris")
TEMPLATE = """name = "mlp-{dataset}-design"
seed = 0

[workload]
type = "mlp"
dataset = "{dataset}"
max_budget_epochs = {epochs}

[algorithm]
name = "design"
n_configs = {n}

[stop]
max_evaluations = {n}

[backend]
type = "auto"
timeout_s = 900
torch_threads = 1
"""


def collect(runs: Path, n: int, epochs: int, ranks: int) -> dict[str, Path]:
    mpiexec = shutil.which("mpiexec") or str(Path(sys.executable).parent / "mpiexec")
    out = {}
    for dataset in DATASETS:
        run = runs / f"design-{dataset}"
        out[dataset] = run
        if (run / "evaluations.jsonl").exists():
            continue
        runs.mkdir(parents=True, exist_ok=True)
        toml = runs / f"{dataset}.toml"
        toml.write_text(TEMPLATE.format(dataset=dataset, epochs=epochs, n=n))
        t0 = time.time()
        subprocess.run([mpiexec, "-n", str(ranks), sys.executable, "-m", "evoautodl", "run", str(toml), "--out",
                        str(run), "--no-progress"], check=True)
        print(f"{dataset}: {n} configurations x {epochs} epochs in {time.time() - t0:.0f} s", flush=True)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, default=Path("/tmp/evoautodl-mlp"))
    p.add_argument("--n-configs", type=int, default=32)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--ranks", type=int, default=3)
    p.add_argument("--results", type=Path, default=HERE / "results" / "mlp")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    runs = collect(args.runs, args.n_configs, args.epochs, args.ranks)

    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from evoautodl import load_run
    from evoautodl.analysis import curve_correlation, importance_by_budget, load_space
    from evoautodl.analysis.report import analyze_runs
    from evoautodl.analysis.sections import markdown_table

    args.results.mkdir(parents=True, exist_ok=True)
    reports = analyze_runs(list(runs.values()), args.results / "cross_dataset", n_trees=32)
    lines = ["# LCBench MLP trained for real on the bundled datasets", "",
             f"{len(runs)} datasets x {args.n_configs} Sobol configurations (seed 0, the same on every dataset), "
             f"{args.epochs} epochs each, `mpiexec -n {args.ranks}` (1 manager + {args.ranks - 1} workers).", ""]
    for (dataset, run), report in zip(runs.items(), reports):
        df = load_run(run)
        space = load_space(run)
        epochs = [e for e in (1, 2, 5, 10, args.epochs) if e <= args.epochs]
        imp = importance_by_budget(df, space, by="epoch", epochs=epochs, n_trees=32)
        wide = imp.pivot_table(index="hyperparameter", columns="step", values="importance")
        wide = wide.sort_values(float(args.epochs), ascending=False).reset_index()
        wide.columns = ["hyperparameter", *(f"epoch {c:g}" for c in wide.columns[1:])]
        corr = curve_correlation(df, epochs=epochs, n_boot=200)
        corr = corr[corr["budget_high"] == args.epochs].drop(columns=["source"])
        lines += [f"## {dataset}", "", f"Full report: `{run}/report.md` ({len(report.figures)} figures; run "
                  "directories are not committed).", "",
                  *(f"- **{t}.** {f}" for t, f in report.findings), "",
                  "Importance across epochs (fANOVA):", "", markdown_table(wide, 2), "",
                  f"Kendall τ against epoch {args.epochs} (every configuration):", "", markdown_table(corr, 3), ""]
        imp.assign(dataset=dataset).to_csv(args.results / f"importance_{dataset}.csv", index=False,
                                           float_format="%.4f")
        for name in ("importance_by_budget", "learning_curves", "budget_correlation"):
            shutil.copy(run / "figures" / f"{name}.png", args.results / f"{dataset}_{name}.png")
    for pdf in (args.results / "cross_dataset" / "figures").glob("*.pdf"):
        pdf.unlink()  # the committed copy keeps the PNGs only (the runs' own folders have both)
    cross = reports[-1]
    lines += ["## Across datasets", "", *(f"- **{t}.** {f}" for t, f in cross.findings), ""]
    (args.results / "README.md").write_text("\n".join(lines))
    pd.set_option("display.width", 160)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
