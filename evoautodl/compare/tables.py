"""Final-performance tables at one budget, and their Markdown / LaTeX text.

:func:`final_table` has one row per algorithm (rank order): mean rank over the
blocks (see :mod:`evoautodl.compare.stats`), mean and median normalized
regret and raw regret over all runs, wins (problems on which the algorithm
has the lowest mean regret; tied algorithms each win), and the Holm-corrected
Wilcoxon p-value against the best-ranked algorithm. :func:`per_problem_table`
has mean, standard deviation and median regret per (problem, algorithm).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["final_table", "format_number", "fraction_tag", "latex_table", "markdown_table", "per_problem_markdown",
           "per_problem_table", "summary_rows"]


def fraction_tag(fraction: float) -> str:
    """File-name tag of a budget fraction: 0.25 -> "25pct", 1.0 -> "100pct"."""
    return f"{fraction * 100:g}pct"


def per_problem_table(perf: pd.DataFrame) -> pd.DataFrame:
    """Regret per (problem, algorithm) at one budget.

    Columns: problem, algorithm, n, mean, std, median (regret), mean_nregret,
    best (lowest mean regret on the problem). Means are +inf when a run has
    no full-budget result by the budget.
    """
    rows = []
    for (problem, algorithm), g in perf.groupby(["problem", "algorithm"], sort=False):
        r = g["regret"].to_numpy(dtype=float)
        finite = bool(np.all(np.isfinite(r)))
        rows.append((problem, algorithm, len(r), float(np.mean(r)) if finite else math.inf,
                     float(np.std(r, ddof=1)) if finite and len(r) > 1 else math.nan, float(np.median(r)),
                     float(np.mean(g["nregret"])) if finite else math.inf))
    out = pd.DataFrame(rows, columns=["problem", "algorithm", "n", "mean", "std", "median", "mean_nregret"])
    out["best"] = out["mean"] == out.groupby("problem")["mean"].transform("min")
    return out


def final_table(perf: pd.DataFrame, ranks: pd.Series, tests: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per algorithm at one budget, best mean rank first.

    Args:
        perf: the runs at this budget (problem, algorithm, seed, regret, nregret).
        ranks: mean rank per algorithm (:func:`evoautodl.compare.stats.mean_ranks`).
        tests: :func:`evoautodl.compare.stats.wilcoxon_holm` against the best
            algorithm (adds ``p_holm`` and ``significant``; NaN for the best itself).

    Columns: algorithm, mean_rank, mean_nregret, median_nregret, mean_regret,
    median_regret, wins, n_runs (, p_holm, significant).
    """
    per_problem = per_problem_table(perf)
    wins = per_problem[per_problem["best"] & np.isfinite(per_problem["mean"])].groupby("algorithm").size()
    rows = []
    for algorithm, g in perf.groupby("algorithm", sort=False):
        r, nr = g["regret"].to_numpy(dtype=float), g["nregret"].to_numpy(dtype=float)
        rows.append({"algorithm": algorithm, "mean_rank": float(ranks.get(algorithm, math.nan)),
                     "mean_nregret": float(np.mean(nr)), "median_nregret": float(np.median(nr)),
                     "mean_regret": float(np.mean(r)), "median_regret": float(np.median(r)),
                     "wins": int(wins.get(algorithm, 0)), "n_runs": len(g)})
    out = pd.DataFrame(rows)
    if tests is not None and len(tests):
        control = tests["algorithm"].iloc[0]
        p = dict(zip(tests["versus"], tests["p_holm"]))
        sig = dict(zip(tests["versus"], tests["significant"]))
        out["p_holm"] = [p.get(a, math.nan) if a != control else math.nan for a in out["algorithm"]]
        out["significant"] = [bool(sig.get(a, False)) for a in out["algorithm"]]
    return out.sort_values(["mean_rank", "mean_nregret"], kind="stable").reset_index(drop=True)


def format_number(x: float, digits: int = 3, latex: bool = False) -> str:
    """``digits`` significant digits (trailing zeros kept); inf and NaN spelled out."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "--" if latex else "-"
    if math.isinf(x):
        return ("$\\infty$" if latex else "inf") if x > 0 else ("$-\\infty$" if latex else "-inf")
    text = f"{x:#.{digits}g}".rstrip(".")  # trailing zeros kept: a column reads 0.280, 0.0478, 0.129
    if "e" in text:
        mant, exp = text.split("e")
        text = f"{mant.rstrip('.')}e{exp}"
    if latex and "e" in text:
        mant, exp = text.split("e")
        text = f"${mant}\\times10^{{{int(exp)}}}$"
    return text


def _p(p: float, significant: bool, latex: bool) -> str:
    if p is None or math.isnan(p):
        return "(best)"
    text = "<0.001" if p < 0.001 else f"{p:.3f}"
    if latex:
        text = text.replace("<", "$<$")
    return text + ("*" if significant else "")


def summary_rows(final: pd.DataFrame, n_problems: int, latex: bool = False) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-algorithm table (shared by Markdown and LaTeX)."""
    has_p = "p_holm" in final.columns
    header = ["algorithm", "mean rank", "mean nregret", "median nregret", "mean regret", "median regret",
              f"wins (of {n_problems})"] + (["Wilcoxon-Holm p vs best"] if has_p else [])
    rows = []
    for r in final.itertuples(index=False):
        row = [_escape(r.algorithm, latex), f"{r.mean_rank:.2f}",
               *(format_number(v, latex=latex) for v in (r.mean_nregret, r.median_nregret, r.mean_regret,
                                                         r.median_regret)), str(r.wins)]
        if has_p:
            row.append(_p(r.p_holm, bool(r.significant), latex))
        rows.append(row)
    return header, rows


def per_problem_markdown(table: pd.DataFrame, algorithms: Sequence[str], latex: bool = False) -> str:
    """Rows = problems, columns = algorithms, cells ``mean ± std (median)``; the best mean in bold."""
    header = ["problem", *(_escape(a, latex) for a in algorithms)]
    rows = []
    for problem, g in table.groupby("problem", sort=False):
        by = {r.algorithm: r for r in g.itertuples(index=False)}
        row = [_escape(str(problem), latex)]
        for a in algorithms:
            r = by.get(a)
            if r is None:
                row.append("--" if latex else "-")
                continue
            pm = " $\\pm$ " if latex else " ± "
            mean = format_number(r.mean, latex=latex)
            if r.best and math.isfinite(r.mean):
                mean = f"\\textbf{{{mean}}}" if latex else f"**{mean}**"
            row.append(f"{mean}{pm}{format_number(r.std, 2, latex)} ({format_number(r.median, latex=latex)})")
        rows.append(row)
    align = ["l"] + ["r"] * len(algorithms)
    return latex_table(header, rows, align) if latex else markdown_table(header, rows, align)


def _escape(text: str, latex: bool) -> str:
    if not latex:
        return text.replace("|", "\\|")
    for a, b in (("\\", "\\textbackslash{}"), ("_", "\\_"), ("%", "\\%"), ("&", "\\&"), ("#", "\\#"),
                 ("$", "\\$"), ("{", "\\{"), ("}", "\\}")):
        text = text.replace(a, b)
    return text


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table (``align``: "l" or "r" per column)."""
    align = list(align or ["l"] + ["r"] * (len(header) - 1))
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def latex_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None,
                caption: str | None = None, label: str | None = None) -> str:
    """A booktabs ``table`` environment (``\\usepackage{booktabs}``)."""
    align = list(align or ["l"] + ["r"] * (len(header) - 1))
    lines = ["\\begin{table}[t]", "\\centering", "\\small"]
    if caption:
        lines.append(f"\\caption{{{caption}}}")
    if label:
        lines.append(f"\\label{{{label}}}")
    lines += [f"\\begin{{tabular}}{{{''.join(align)}}}", "\\toprule", " & ".join(header) + " \\\\", "\\midrule"]
    lines += [" & ".join(row) + " \\\\" for row in rows]
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines)
