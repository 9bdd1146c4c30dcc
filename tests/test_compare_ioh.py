"""The IOHprofiler export read back by readers that are not its writer: the format's own rules, iohinspector, ioh."""

from __future__ import annotations

import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from evoautodl.compare import compare

sys.path.insert(0, str(Path(__file__).parent))
from compare_grid import STANDARD, cached_grid


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    grid = cached_grid(tmp_path_factory, **STANDARD)
    return compare(grid, out=tmp_path_factory.mktemp("ioh-compare"), figures=False)


def read_ioh(folder: Path) -> list[dict]:
    """A reader written from the format's documentation (IOHanalyzer's data-format page, IOHexperimenter's json).

    Per index file: the meta data and, per scenario, the runs of its .dat file, split at the header lines
    (lines whose first field is not a number); each run a list of (evaluations, raw_y).
    """
    out = []
    for index in sorted(folder.rglob("*.json")):
        meta = json.loads(index.read_text())
        for scenario in meta["scenarios"]:
            runs: list[list[tuple[int, float]]] = []
            for line in (index.parent / scenario["path"]).read_text().splitlines():
                fields = line.split()
                if not fields[0].isdigit():
                    assert fields == meta["attributes"], (index, line)
                    runs.append([])
                else:
                    runs[-1].append((int(fields[0]), float(fields[1])))
            out.append({"meta": meta, "scenario": scenario, "runs": runs, "file": index})
    return out


def _value_at(run: list[tuple[int, float]], budget: float) -> float:
    last = [y for e, y in run if e <= budget]
    return last[-1] if last else math.inf


def test_export_follows_the_format_and_matches_the_comparison(exported) -> None:
    data = read_ioh(exported.out / "ioh")
    compared = exported.cells[exported.cells["included"]].set_index(["problem", "algorithm", "seed"])
    final = exported.reports[-1].perf.set_index(["problem", "algorithm", "seed"])["best"]
    assert len(data) == 6 and sum(len(d["runs"]) for d in data) == len(compared) == 16
    problems = list(exported.problems["problem"])
    for d in data:
        meta, scenario = d["meta"], d["scenario"]
        assert meta["maximization"] is False and meta["function_name"] == problems[meta["function_id"] - 1]
        assert meta["attributes"] == ["evaluations", "raw_y"] and meta["run_attributes"] == ["seed"]
        assert {"budget_unit": "epochs"} in meta["experiment_attributes"]
        assert scenario["dimension"] == 10  # MixedRastrigin's hyperparameters
        assert len(scenario["runs"]) == len(d["runs"])
        for info, run in zip(scenario["runs"], d["runs"]):
            key = (meta["function_name"], meta["algorithm"]["name"], info["seed"])
            evals = [e for e, _ in run]
            ys = [y for _, y in run]
            assert evals[0] == 1 and all(a < b for a, b in itertools.pairwise(evals))
            assert all(a > b for a, b in itertools.pairwise(ys[:-1]))  # improvements only, then the closing row
            assert evals[-1] == info["evals"] == math.ceil(compared.loc[key, "budget_spent"])
            assert info["best"]["y"] == pytest.approx(compared.loc[key, "best"])
            assert info["best"]["y"] == min(ys) and info["best"]["evals"] == evals[ys.index(min(ys))]
            assert len(info["best"]["x"]) == 10 and all(0 <= v <= 1 for v in info["best"]["x"])
            assert _value_at(run, 240) == pytest.approx(final.loc[key])  # the fixed-budget value at the budget
        seeds = [r["seed"] for r in scenario["runs"]]
        assert seeds == sorted(seeds)


def test_iohinspector_reads_the_export(exported) -> None:
    iohinspector = pytest.importorskip("iohinspector", reason="iohinspector is not installed")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a file it cannot parse is only a warning there: make it fail
        dm = iohinspector.DataManager()
        dm.add_folder(str(exported.out / "ioh"))
    overview = dm.overview.to_pandas()
    compared = exported.cells[exported.cells["included"]]
    assert len(overview) == len(compared)
    assert set(overview["algorithm_name"]) == set(exported.algorithms)
    assert set(overview["function_name"]) == set(exported.problems["problem"])
    best = compared.set_index(["problem", "algorithm"]).groupby(level=[0, 1])["best"].apply(sorted)
    got = overview.groupby(["function_name", "algorithm_name"])["best_y"].apply(sorted)
    for key, values in best.items():
        assert got.loc[key] == pytest.approx(values)
    rows = dm.load(monotonic=True, include_meta_data=True).to_pandas()
    perf = exported.reports[-1].perf.set_index(["problem", "algorithm", "seed"])["best"].to_dict()
    seeds = compared.groupby(["problem", "algorithm"])["seed"].apply(sorted)  # the runs are listed in seed order
    for (fname, alg, run_id), g in rows.groupby(["function_name", "algorithm_name", "run_id"]):
        g = g.sort_values("evaluations")
        assert g["evaluations"].iloc[0] == 1 and g["raw_y"].is_monotonic_decreasing
        at_budget = g.loc[g["evaluations"] <= 240, "raw_y"].iloc[-1]
        assert at_budget == pytest.approx(perf[(fname, alg, seeds.loc[(fname, alg)][run_id - 1])])
    assert rows.groupby("data_id").ngroups == len(compared)


def test_index_file_has_the_structure_ioh_writes(exported, tmp_path: Path) -> None:
    ioh = pytest.importorskip("ioh", reason="the ioh package is not installed")

    class Algo:
        seed = 0

    problem = ioh.get_problem(1, 1, 10, ioh.ProblemClass.BBOB)
    logger = ioh.logger.Analyzer(root=str(tmp_path), folder_name="ref", algorithm_name="rs", algorithm_info="x")
    algo = Algo()
    logger.add_run_attributes(algo, ["seed"])
    logger.add_experiment_attribute("budget_unit", "epochs")
    problem.attach_logger(logger)
    rng = np.random.default_rng(0)
    for _ in range(5):
        problem(rng.uniform(-5, 5, 10))
    problem.reset()
    logger.close()
    ref = json.loads(next((tmp_path / "ref").glob("*.json")).read_text())
    ours = json.loads(next((exported.out / "ioh" / "random").glob("*.json")).read_text())
    assert set(ours) == set(ref)
    assert set(ours["scenarios"][0]) == set(ref["scenarios"][0])
    assert set(ours["scenarios"][0]["runs"][0]) == set(ref["scenarios"][0]["runs"][0])
    assert set(ours["scenarios"][0]["runs"][0]["best"]) == set(ref["scenarios"][0]["runs"][0]["best"])
    assert ours["attributes"] == ref["attributes"]
    ref_dat = (tmp_path / "ref" / ref["scenarios"][0]["path"]).read_text().splitlines()
    our_dat = (exported.out / "ioh" / "random" / ours["scenarios"][0]["path"]).read_text().splitlines()
    assert our_dat[0] == ref_dat[0] == "evaluations raw_y"
    for name in (ours["scenarios"][0]["path"], ref["scenarios"][0]["path"]):
        assert name.startswith("data_f") and "_DIM" in name and name.endswith(".dat")
