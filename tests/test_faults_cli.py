"""Fault injection through the CLI (no MPI): bad input refused before ``--out`` exists, one clear line
and no traceback, trials that kill the process, a refused resume, run-directory abuse (issue 8,
defects 4, 6, 7, 8, 9, 10, 11).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from evoautodl.cli import main
from evoautodl.errors import ConfigError
from evoautodl.experiment import parse_experiment
from evoautodl.rundir import RunDir

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))  # mpi_workloads, for the in-process CLI
SCRIPTED = """
[workload]
type = "python"
target = "mpi_workloads:ScriptedWorkload"
{workload}
[space.hyperparameters.x]
type = "float"
lower = 0.0
upper = 1.0
[algorithm]
name = "random"
[stop]
max_evaluations = {n}
[backend]
type = "serial"
{backend}
[run]
{run}
"""


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def _process(*args: str, cwd: Path, timeout: float = 120) -> Done:
    """``python -m evoautodl ARGS`` in a process of its own (for faults that end the process)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "evoautodl", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=env)
    return Done(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """``evoautodl ARGS`` in this process (what the console script runs): a traceback would fail the test."""

    def run(*args: str, cwd: Path) -> Done:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        rc = main(list(args))
        out, err = capsys.readouterr()
        return Done(rc, out, err)

    return run


def _refused(done: Done, *needles: str, code: int = 2) -> None:
    """Exit code ``code``, no traceback, the last line is the one error line and names every needle."""
    assert done.returncode == code, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    last = [line for line in done.stderr.splitlines() if line.startswith("evoautodl: error:")]
    assert len(last) == 1, done.stderr[-3000:]
    for needle in needles:
        assert needle in last[0], last[0]


def _scripted(tmp_path: Path, n: int = 8, workload: str = "", backend: str = "", run: str = "") -> Path:
    exp = tmp_path / "exp.toml"
    exp.write_text(SCRIPTED.format(n=n, workload=workload, backend=backend, run=run))
    return exp


def _ids(run: Path) -> list[int]:
    return [json.loads(line)["trial_id"] for line in (run / "evaluations.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------- defect 4: [workload] target
def _csv(path: Path) -> Path:
    rows = ["f1,f2,label"] + [f"{i % 7 / 7:.3f},{(i * 3) % 11 / 11:.3f},{i % 2}" for i in range(60)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_workload_target_reaches_the_mlp_and_a_cnn_refuses_it(tmp_path: Path) -> None:
    from evoautodl.workloads.base import WorkerContext

    _csv(tmp_path / "data.csv")
    cfg = {"workload": {"type": "mlp", "dataset": "data.csv", "target": "label", "max_budget_epochs": 2},
           "stop": {"max_evaluations": 2}}
    exp = parse_experiment(cfg, base_dir=tmp_path)
    assert exp.workload.target == "label"
    exp.workload.setup(WorkerContext.local())  # the user's CSV loads, labelled by its target column
    assert exp.workload.data.n_classes == 2 and exp.workload.data.n_features == 2
    cfg["workload"] = {"type": "cnn", "dataset": "digits", "target": "label"}
    with pytest.raises(ConfigError, match=r"workload\.target: unknown option"):
        parse_experiment(cfg, base_dir=tmp_path)


# ---------------------------------------------------------------- defect 6: a trial that kills its process
@pytest.mark.parametrize(("action", "cause"), [("exit", "no Python error was recorded (os._exit"),
                                               ("segv", "Segmentation fault (SIGSEGV)")])
def test_trial_that_kills_the_process_is_failed_after_max_attempts(tmp_path: Path, action: str, cause: str) -> None:
    exp = _scripted(tmp_path, n=8, workload=f'actions = {{"3" = "{action}"}}', run="max_trial_attempts = 2")
    first = _process("run", str(exp), "--out", "run", cwd=tmp_path)
    assert first.returncode != 0 and _ids(tmp_path / "run") == [0, 1, 2]
    again = _process("resume", "run", cwd=tmp_path)  # the suspect runs alone, and kills the run again
    assert again.returncode != 0 and _ids(tmp_path / "run") == [0, 1, 2]
    done = _process("resume", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in (tmp_path / "run" / "evaluations.jsonl").read_text().splitlines()]
    assert sorted(x["trial_id"] for x in lines) == list(range(8))
    dead = next(x for x in lines if x["trial_id"] == 3)
    assert dead["status"] == "FAILED" and "died 2 times" in dead["error"] and cause in dead["error"]
    assert "evaluations   : 8 (1 failed)" in done.stdout


# ---------------------------------------------------------------- defect 7: a refused resume changes nothing
def test_refused_resume_of_a_run_in_use_leaves_config_untouched(tmp_path: Path, cli) -> None:
    exp = _scripted(tmp_path, n=4)
    assert cli("run", str(exp), "--out", "run", cwd=tmp_path).returncode == 0
    config = (tmp_path / "run" / "config.toml").read_bytes()
    holder = RunDir(tmp_path / "run")
    holder.acquire()  # another evoautodl process works in the run
    try:
        done = cli("resume", "run", "--max-evaluations", "50", cwd=tmp_path)
    finally:
        holder.release()
    _refused(done, "in use by another evoautodl process")
    assert (tmp_path / "run" / "config.toml").read_bytes() == config


# ---------------------------------------------------------------- defect 8: NaN and negative numbers
BASE = {"seed": 0, "workload": {"type": "synthetic", "max_budget": 27}, "algorithm": {"name": "random"},
        "stop": {"max_evaluations": 30}}


@pytest.mark.parametrize(("section", "key", "value", "message"), [
    ("stop", "max_epochs", math.nan, "stop.max_epochs: must be a finite number"),
    ("stop", "max_time_s", math.inf, "stop.max_time_s: must be a finite number"),
    ("backend", "timeout_s", math.nan, "backend.timeout_s: must be a finite number"),
    ("run", "checkpoint_interval_s", math.nan, "run.checkpoint_interval_s: must be a finite number"),
    ("run", "grace_s", -5, "run.grace_s: must be >= 0"),
    ("run", "max_trial_attempts", 0, "run.max_trial_attempts: must be > 0"),
    ("fidelity", "eta", math.inf, "fidelity.eta: must be a finite number"),
    ("algorithm", "population_size", math.nan, "algorithm.population_size: must be a finite number"),
    ("workload", "noise_std", math.nan, "workload.noise_std: must be a finite number"),
])
def test_every_numeric_setting_is_finite_and_in_range(section: str, key: str, value: float, message: str) -> None:
    cfg = json.loads(json.dumps(BASE))
    cfg.setdefault(section, {})[key] = value
    if section == "algorithm":
        cfg["algorithm"]["name"] = "regularized"
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_experiment(cfg)


def test_cli_max_epochs_nan_is_refused_before_anything_runs(tmp_path: Path, cli) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text('[workload]\ntype = "synthetic"\n[stop]\nmax_epochs = 100\n[backend]\ntype = "simulated"\n')
    done = cli("run", str(exp), "--out", "run", "--max-epochs", "nan", cwd=tmp_path)
    _refused(done, "stop.max_epochs: must be a finite number")
    assert not (tmp_path / "run").exists()
    exp.write_text('[workload]\ntype = "synthetic"\n[stop]\nmax_epochs = nan\n')
    _refused(cli("run", str(exp), "--out", "run", cwd=tmp_path), "stop.max_epochs")


# ---------------------------------------------------------------- defect 9: serial timeout from the TOML
def test_serial_timeout_from_the_experiment_file(tmp_path: Path, cli) -> None:
    exp = _scripted(tmp_path, n=5, workload='hang_s = 60\nactions = {"2" = "hang"}', backend="timeout_s = 0.5")
    done = cli("run", str(exp), "--out", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = {json.loads(x)["trial_id"]: json.loads(x) for x in (tmp_path / "run" / "evaluations.jsonl").open()}
    assert sorted(lines) == list(range(5)) and lines[2]["status"] == "TIMEOUT"


# ---------------------------------------------------------------- defect 10: errors before --out exists
@pytest.mark.parametrize(("workload", "backend", "needles"), [
    ('type = "mlp"\ndataset = "missing.csv"\ntarget = "y"', "", ["missing.csv", "not found"]),
    ('type = "mlp"\ndataset = "data.csv"\ntarget = "class"', "", ["target column 'class' not found", "'label'"]),
    ('type = "cnn"\ndataset = "wine"', "", ["'wine' has no image layout"]),
    ('type = "cnn"\ndataset = "data.csv"', "", ["an image model needs an .npz"]),
    ('type = "synthetic"', 'device = "tpu"', ["backend.device: 'tpu'"]),
    ('type = "synthetic"', 'devices = "tpu:0"', ["backend.devices"]),
])
def test_bad_data_and_devices_are_refused_before_the_run_directory_exists(
        tmp_path: Path, workload: str, backend: str, needles: list[str], cli) -> None:
    _csv(tmp_path / "data.csv")
    exp = tmp_path / "exp.toml"
    exp.write_text(f'[workload]\n{workload}\n[stop]\nmax_evaluations = 3\n[backend]\n{backend}\n')
    _refused(cli("run", str(exp), "--out", "run", cwd=tmp_path), *needles)
    assert not (tmp_path / "run").exists()


def test_workload_setup_failing_removes_the_new_run_directory(tmp_path: Path, cli) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text(SCRIPTED.format(n=3, workload="", backend="", run="").replace("ScriptedWorkload", "FailingSetup"))
    _refused(cli("run", str(exp), "--out", "run", cwd=tmp_path), "setup failed", "data file missing")
    assert not (tmp_path / "run").exists()
    (tmp_path / "mine").mkdir()  # a folder the user made: kept, only the run files go
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    _refused(cli("run", str(exp), "--out", "mine", cwd=tmp_path), "setup failed")
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]


def test_overwrite_starts_afresh_but_never_deletes_foreign_files(tmp_path: Path, cli) -> None:
    exp = _scripted(tmp_path, n=3)
    assert cli("run", str(exp), "--out", "run", cwd=tmp_path).returncode == 0
    _refused(cli("run", str(exp), "--out", "run", cwd=tmp_path), "already holds a run", "--overwrite")
    again = cli("run", str(exp), "--out", "run", "--overwrite", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert _ids(tmp_path / "run") == [0, 1, 2]
    (tmp_path / "run" / "paper.tex").write_text("precious")
    _refused(cli("run", str(exp), "--out", "run", "--overwrite", cwd=tmp_path), "paper.tex", "not deleting")
    assert (tmp_path / "run" / "paper.tex").read_text() == "precious" and _ids(tmp_path / "run") == [0, 1, 2]


# ---------------------------------------------------------------- defect 11: messages, not tracebacks
def test_garbage_and_folders_where_files_belong(tmp_path: Path, cli) -> None:
    (tmp_path / "garbage.toml").write_bytes(bytes(range(256)) * 4)
    _refused(cli("run", "garbage.toml", "--out", "r", cwd=tmp_path), "not valid TOML", "not UTF-8")
    (tmp_path / "folder.toml").mkdir()
    _refused(cli("run", "folder.toml", "--out", "r", cwd=tmp_path), "is a directory")
    (tmp_path / "space.json").mkdir()
    exp = tmp_path / "exp.toml"
    exp.write_text('[workload]\ntype = "synthetic"\n[space]\nfile = "space.json"\n[stop]\nmax_evaluations = 2\n')
    _refused(cli("run", str(exp), "--out", "r", cwd=tmp_path), "space.file", "is a directory")
    (tmp_path / "dir.csv").mkdir()
    exp.write_text('[workload]\ntype = "mlp"\ndataset = "dir.csv"\ntarget = "y"\n[stop]\nmax_evaluations = 2\n')
    _refused(cli("run", str(exp), "--out", "r", cwd=tmp_path), "dir.csv", "is a directory")
    exp.write_text(textwrap.dedent("""
        [workload]
        type = "synthetic"
        [space.hyperparameters.c]
        type = "categorical"
        choices = [[1, 2], [3]]
        [stop]
        max_evaluations = 2
    """))
    _refused(cli("run", str(exp), "--out", "r", cwd=tmp_path), "hyperparameter 'c': 'choices' entry [1, 2] is a list")
    (tmp_path / "afile").write_text("x")
    exp.write_text('[workload]\ntype = "synthetic"\n[stop]\nmax_evaluations = 2\n[backend]\ntype = "simulated"\n')
    _refused(cli("run", str(exp), "--out", "afile", cwd=tmp_path), "afile is a file")
    assert not (tmp_path / "r").exists()


def test_corrupt_run_files_are_named(tmp_path: Path, cli) -> None:
    exp = _scripted(tmp_path, n=4)
    assert cli("run", str(exp), "--out", "run", cwd=tmp_path).returncode == 0
    log = tmp_path / "run" / "evaluations.jsonl"
    lines = log.read_text().splitlines()
    broken = json.loads(lines[1])
    del broken["config"]
    lines[1] = json.dumps(broken)
    log.write_text("\n".join(lines) + "\n")
    _refused(cli("show", "run", cwd=tmp_path), "line 2", "missing key 'config'", "--skip-corrupt")
    shown = cli("show", "run", "--skip-corrupt", cwd=tmp_path)
    assert shown.returncode == 0 and "skipped       : 1 corrupt log line(s) (2)" in shown.stdout
    _refused(cli("resume", "run", cwd=tmp_path), "line 2", "missing key 'config'")
    (tmp_path / "run" / "config.toml").write_bytes(b"\x00\xff[stop\n")
    _refused(cli("resume", "run", cwd=tmp_path), "config.toml", "not valid TOML")
    _refused(cli("resume", "nowhere", cwd=tmp_path), "nowhere")


@contextlib.contextmanager
def _read_only(path: Path):
    """Make ``path`` unwritable: chmod, or for root (who ignores modes) the immutable attribute."""
    os.chmod(path, 0o555)
    immutable = False
    try:
        if os.access(path, os.W_OK):  # root
            immutable = subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
            if not immutable:
                pytest.skip("cannot make a folder read-only for this user")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        os.chmod(path, 0o755)


def test_read_only_run_directory_is_a_message(tmp_path: Path, cli) -> None:
    exp = _scripted(tmp_path, n=3)
    assert cli("run", str(exp), "--out", "run", cwd=tmp_path).returncode == 0
    (tmp_path / "run" / ".lock").unlink()
    with _read_only(tmp_path / "run"):
        _refused(cli("resume", "run", "--max-evaluations", "6", cwd=tmp_path), "run", "must be writable")
    (tmp_path / "parent").mkdir()
    with _read_only(tmp_path / "parent"):
        _refused(cli("run", str(exp), "--out", "parent/run", cwd=tmp_path), "cannot create the run directory")
