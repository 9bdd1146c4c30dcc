"""evoautodl compare on real grid folders written by the Runner: files, numbers, cells, CLI, bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evoautodl import load_run
from evoautodl.cli import main
from evoautodl.compare import CompareError, compare, read_grid

sys.path.insert(0, str(Path(__file__).parent))
from compare_grid import STANDARD, build_grid, cached_grid, copy_grid

INCOMPLETE = STANDARD["incomplete"][0]
MISSING = STANDARD["missing"][0]
REFERENCE = STANDARD["references"]


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 synthetic problems x 3 algorithms x 3 seeds, 240 epochs; one cell stopped half-way, one never run."""
    return cached_grid(tmp_path_factory, **STANDARD)


@pytest.fixture(scope="module")
def result(grid: Path, tmp_path_factory: pytest.TempPathFactory):
    return compare(grid, out=tmp_path_factory.mktemp("compare"), fractions=(0.25, 1.0))


def test_compare_writes_tables_figures_and_the_ioh_export(result, grid: Path) -> None:
    out = result.out
    names = {p.relative_to(out).as_posix() for p in result.files}
    for tag in ("25pct", "100pct"):
        for stem in ("final", "per_problem"):
            assert {f"{stem}_{tag}.md", f"{stem}_{tag}.tex", f"{stem}_{tag}.csv"} <= names
        assert {f"wilcoxon_{tag}.csv", f"cd_{tag}.png", f"cd_{tag}.pdf"} <= names
    for stem in ("anytime_problems", "anytime_mean", "ecdf", "mean_rank"):
        assert (out / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
        assert (out / f"{stem}.pdf").read_bytes()[:4] == b"%PDF"
    assert {"report.md", "cells.csv", "problems.csv", "anytime.csv", "ecdf.csv", "mean_rank.csv"} <= names
    assert sum(n.startswith("ioh/") and n.endswith(".json") for n in names) == 6  # 3 algorithms x 2 problems
    shown = pd.read_csv(out / "cells.csv")  # paths relative to the grid folder: true when it is moved
    assert not any(Path(p).is_absolute() for p in shown["path"])
    assert all((grid / p).is_dir() for p in shown.loc[shown["status"] != "missing", "path"])
    md = (out / "final_100pct.md").read_text()
    assert md.startswith("## At 100% of the budget (240 epochs)")
    for a in ("random", "asha_ea", "regularized"):
        assert f"| {a} |" in md
    tex = (out / "final_25pct.tex").read_text()
    assert "\\begin{tabular}" in tex and "\\toprule" in tex and "asha\\_ea" in tex
    final = pd.read_csv(out / "final_100pct.csv")
    assert list(final["algorithm"]) == list(result.reports[-1].final["algorithm"])
    assert final["mean_rank"].is_monotonic_increasing


def _independent_regret(grid_dir: Path, budget: float) -> dict[tuple, float]:
    """Regret at ``budget`` epochs from load_run, written from the contract without the compare code."""
    spec = json.loads((grid_dir / "grid.json").read_text())
    best_at, best_any = {}, {}
    for c in spec["cells"]:
        path = grid_dir / c["path"]
        cell = path / "cell.json"
        if not cell.exists() or json.loads(cell.read_text())["status"] != "complete":
            continue
        df = load_run(path)
        max_b = spec["problems"][c["problem"]]["max_budget"]
        spent, at, anywhere = 0.0, math.inf, math.inf
        for row in df.itertuples(index=False):
            spent += row.epochs_trained
            if row.status == "OK" and row.budget_epochs == max_b and math.isfinite(row.error):
                anywhere = min(anywhere, row.error)
                if spent <= budget:
                    at = min(at, row.error)
        key = (c["problem"], c["algorithm"], c["seed"])
        best_at[key], best_any[key] = at, anywhere
    oracle = {}
    for p, ps in spec["problems"].items():
        found = min(v for k, v in best_any.items() if k[0] == p)
        ref = ps["reference_objective"]
        oracle[p] = min(found, ref) if ref is not None else found
    return {k: v - oracle[k[0]] for k, v in best_at.items()}


@pytest.mark.parametrize("fraction", [0.04, 0.25, 1.0])
def test_regret_equals_an_independent_computation_from_load_run(grid: Path, fraction: float) -> None:
    result = compare(grid, out=False, fractions=(fraction,))
    report = result.reports[0]
    expected = _independent_regret(grid, report.budget)
    got = {(r.problem, r.algorithm, r.seed): r.regret for r in report.perf.itertuples(index=False)}
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key
    assert all(v >= 0 for v in got.values())
    if fraction < 0.1:  # 9.6 epochs: one full-budget (9-epoch) trial at most; asha_ea has only low budgets yet
        assert math.isinf(got[("mixed-c0.5", "asha_ea", 0)]) and math.isfinite(got[("mixed-c0.5", "random", 0)])
    assert result.problems.set_index("problem").loc["mixed-c1-noisy", "oracle"] <= REFERENCE["mixed-c1-noisy"]


def test_incomplete_and_missing_cells_are_reported_and_left_out(grid: Path, result, tmp_path: Path) -> None:
    cells = result.cells.set_index(["problem", "algorithm", "seed"])
    assert cells.loc[INCOMPLETE, "status"] == "running" and not cells.loc[INCOMPLETE, "included"]
    assert cells.loc[MISSING, "status"] == "missing" and not cells.loc[MISSING, "included"]
    assert int(cells["included"].sum()) == 16
    assert "Left out: 2 cells" in result.text
    assert len(result.reports[-1].perf) == 16
    more = compare(grid, out=False, include_incomplete=True, figures=False)
    c = more.cells.set_index(["problem", "algorithm", "seed"])
    assert c.loc[INCOMPLETE, "included"] and not c.loc[MISSING, "included"]
    assert len(more.reports[-1].perf) == 17
    assert more.out is None and more.files == ()


def test_tables_are_deterministic(grid: Path, result) -> None:
    again = compare(grid, out=False, fractions=(0.25, 1.0))
    for a, b in zip(result.reports, again.reports):
        pd.testing.assert_frame_equal(a.final, b.final)
        pd.testing.assert_frame_equal(a.pairs, b.pairs)
    assert again.text == result.text


def test_curves_ranks_and_ecdf_are_consistent(result) -> None:
    budgets = sorted(result.perf["budget"].unique())
    assert budgets[-1] == 240 and len(budgets) == 200
    for _, g in result.perf.groupby(["problem", "algorithm", "seed"]):
        assert g.sort_values("budget")["regret"].is_monotonic_decreasing  # best so far never gets worse
    for _, g in result.ecdf.groupby("algorithm"):
        assert g.sort_values("budget")["fraction"].is_monotonic_increasing
    last = result.ranks[result.ranks["budget"] == 240].set_index("algorithm")["mean_rank"]
    final = result.reports[-1].final.set_index("algorithm")["mean_rank"]
    assert last.to_dict() == pytest.approx(final.to_dict())
    k = len(result.algorithms)
    assert result.ranks.groupby("budget")["mean_rank"].sum().to_numpy() == pytest.approx(k * (k + 1) / 2)


def test_cli_prints_the_final_table(grid: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "evoautodl", "compare", str(grid), "--out", str(tmp_path / "c"),
                           "--no-figures", "--fractions", "0.5", "1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "## At 50% of the budget (120 epochs)" in done.stdout
    assert "| algorithm | mean rank |" in done.stdout
    assert (tmp_path / "c" / "final_50pct.md").exists() and not (tmp_path / "c" / "ecdf.png").exists()


def _edit(src: Path, dst: Path, change) -> Path:
    copy_grid(src, dst)
    spec = json.loads((dst / "grid.json").read_text())
    change(spec)
    (dst / "grid.json").write_text(json.dumps(spec))
    return dst


def _cells_of(spec: dict, algorithm: str) -> None:
    spec["cells"] = [c for c in spec["cells"] if c["algorithm"] == algorithm]


BAD = {
    "not a folder": (lambda d, g: d / "nothing-here", "no such folder"),
    "no grid.json": (lambda d, g: (d / "empty").mkdir() or d / "empty", "no grid.json"),
    "bad unit": (lambda d, g: _edit(g, d / "g", lambda s: s["budget"].update(unit="epoch")), "budget.unit"),
    "no budget": (lambda d, g: _edit(g, d / "g", lambda s: s.pop("budget")), "missing key 'budget'"),
    "undeclared algorithm": (lambda d, g: _edit(g, d / "g", lambda s: s["cells"][0].update(algorithm="x")),
                             "not declared under algorithms"),
    "wrong objective": (lambda d, g: _edit(g, d / "g", lambda s: s["problems"]["mixed-c0.5"].update(
        objective="accuracy")), "objective 'accuracy'"),
    "single algorithm": (lambda d, g: _edit(g, d / "g", lambda s: _cells_of(s, "asha_ea")),
                         "at least two algorithms"),
    "nothing complete": (lambda d, g: _edit(g, d / "g", lambda s: s.update(cells=[
        {**c, "path": c["path"] + "-gone"} for c in s["cells"]])), "no complete cells"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_message_and_exit_code_2(grid: Path, tmp_path: Path, capsys, case: str) -> None:
    make, message = BAD[case]
    folder = make(tmp_path, grid)
    with pytest.raises(CompareError, match=message):
        compare(folder, out=False)
    assert main(["compare", str(folder), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("evoautodl: error: ") and message in err[-1]
    assert "Traceback" not in "\n".join(err)


def test_bad_options(grid: Path) -> None:
    for kwargs, message in (({"fractions": (0.25, 1.5)}, "fraction"), ({"fractions": ()}, "fraction"),
                            ({"alpha": 1.0}, "alpha"), ({"blocks": "seeds"}, "blocks"),
                            ({"n_points": 1}, "n_points")):
        with pytest.raises(CompareError, match=message):
            compare(grid, out=False, **kwargs)


@pytest.mark.parametrize("unit", ["evaluations", "time_s"])
def test_other_budget_units(tmp_path_factory: pytest.TempPathFactory, unit: str) -> None:
    budget = 30 if unit == "evaluations" else 60.0
    g = cached_grid(tmp_path_factory, problems=("mixed-c0.5",), seeds=(0, 1), unit=unit, budget_max=budget,
                    simulated_workers=4 if unit == "time_s" else 0,
                    algorithms={"random": {"name": "random"}, "asha_ea": {"name": "asha_ea"}})
    res = compare(g, out=False, figures=False, fractions=(0.5, 1.0))
    budgets = np.sort(res.perf["budget"].unique())
    assert budgets[-1] == budget
    if unit == "evaluations":
        assert np.all(budgets == np.round(budgets)) and len(budgets) == 30
    assert res.reports[-1].budget == budget
    assert np.isfinite(res.reports[-1].final["mean_rank"]).all()


def test_compare_needs_no_runner_torch_or_mpi() -> None:
    probe = ("import sys, evoautodl.compare\n"
             "heavy = ('torch', 'mpi4py', 'matplotlib', 'evoautodl.runner', 'evoautodl.backends.serial')\n"
             "print(','.join(m for m in heavy if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_read_grid_paths_and_order(grid: Path) -> None:
    g = read_grid(grid)
    assert g.budget_unit == "epochs" and g.budget_max == 240
    assert g.problem_names == ("mixed-c0.5", "mixed-c1-noisy")
    assert g.algorithms == ("random", "asha_ea", "regularized")
    assert all(c.path.is_absolute() for c in g.cells) and len(g.cells) == 18


@pytest.mark.lcbench
def test_lcbench_surrogate_grid(tmp_path: Path) -> None:
    import os

    data = os.environ.get("EVOAUTODL_YAHPO_DATA")
    if not data:
        pytest.skip("EVOAUTODL_YAHPO_DATA is not set (folder with lcbench/model.onnx)")
    g = build_grid(tmp_path / "lc", problems=("lcbench-3945",), seeds=(0, 1), budget_max=260.0, lcbench_data=data,
                   algorithms={"random": {"name": "random"}, "dehb": {"name": "dehb"}},
                   references={"lcbench-3945": 0.0})
    res = compare(g, out=tmp_path / "out", figures=False)
    p = res.problems.set_index("problem").loc["lcbench-3945"]
    assert p["oracle"] == 0.0  # a reference below every value found is the oracle
    final = res.reports[-1].perf
    assert (final["regret"] > 0).all() and np.isfinite(final["regret"]).all()
    assert (tmp_path / "out" / "ioh" / "dehb" / "IOHprofiler_f1_lcbench-3945.json").exists()


def test_reading_cells_in_processes_gives_the_same_tables(grid: Path) -> None:
    from evoautodl.compare import load_cells

    g = read_grid(grid)
    one = load_cells(g, jobs=1)
    two = load_cells(g, jobs=2)
    pd.testing.assert_frame_equal(one[0], two[0])
    pd.testing.assert_frame_equal(one[1], two[1])
    assert one[2] == two[2]


HARNESS = """
name = "harness"
seeds = [0, 1, 2]
[budget]
unit = "epochs"
max = 90
[fidelity]
min_budget = 1
eta = 3
[reference]
samples = 2000
[problems.syn]
type = "synthetic"
max_budget = 9
fidelity_correlation = 0.7
[algorithms.random]
[algorithms.asha_ea]
"""


def test_compare_reads_what_evoautodl_experiment_writes(tmp_path: Path) -> None:
    exp, out = tmp_path / "exp.toml", tmp_path / "res"
    exp.write_text(HARNESS)
    assert main(["experiment", str(exp), "--out", str(out), "--no-progress"]) == 0
    res = compare(out, out=tmp_path / "cmp", figures=False)
    assert int(res.cells["included"].sum()) == 6 and res.algorithms == ("random", "asha_ea")
    reference = json.loads((out / "grid.json").read_text())["problems"]["syn"]["reference_objective"]
    assert reference is not None and res.problems["oracle"].iloc[0] <= reference
    assert (res.reports[-1].perf["regret"] >= 0).all()
    victim = out / "cells/syn/asha_ea/seed1/cell.json"
    state = json.loads(victim.read_text())
    victim.write_text(json.dumps({**state, "status": "stopped"}))
    again = compare(out, out=False)
    row = again.cells.set_index(["problem", "algorithm", "seed"]).loc[("syn", "asha_ea", 1)]
    assert row["status"] == "stopped" and not row["included"]


def test_a_problem_without_any_full_budget_result_is_left_out_and_named(grid: Path, tmp_path: Path) -> None:
    folder = _edit(grid, tmp_path / "g", lambda s: s["problems"]["mixed-c0.5"].update(max_budget=27))
    res = compare(folder, out=False)
    assert list(res.problems["problem"]) == ["mixed-c1-noisy"]
    assert "Problems left out" in res.text and "mixed-c0.5" in res.text
    assert set(res.reports[-1].perf["problem"]) == {"mixed-c1-noisy"}


def test_a_fraction_next_to_a_grid_budget_is_read_once(grid: Path) -> None:
    res = compare(grid, out=False, fractions=(0.03,), figures=False)  # 0.03 * 240 = 7.199999999999999, grid 7.2
    report = res.reports[0]
    assert report.budget == 0.03 * 240
    assert len(report.perf) == int(res.cells["included"].sum())  # one row per compared cell


def test_registering_the_subcommand_stays_light() -> None:
    from evoautodl.cli import _parser
    from evoautodl.compare.stats import BLOCKS

    for b in BLOCKS:  # the CLI's choices are the library's
        assert _parser().parse_args(["compare", "results", "--blocks", b]).blocks == b
    probe = "import sys, evoautodl.cli\nevoautodl.cli._parser()\nprint('pandas' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"  # `evoautodl run` does not pay for compare's imports
