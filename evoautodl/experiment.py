"""Experiment configuration: a TOML file, validated before anything runs.

Layout (every table optional except ``[workload]`` and ``[stop]``)::

    name = "lcbench-dehb"
    seed = 0

    [workload]                 # what an evaluation does
    type = "lcbench"           # lcbench | synthetic | mlp | cnn | python
    task_id = "3945"           # the workload's own options

    [space]                    # default: the workload's own search space
    file = "space.json"        # ConfigSpace JSON, or inline tables:
    # [space.hyperparameters.lr] type = "float" ...   [[space.forbidden]] ...

    [algorithm]
    name = "dehb"              # random | ga | steady_state | regularized | de | nsga2 | dehb | asha_ea | pbt
    # algorithm options, e.g. population_size = 20

    [fidelity]                 # epoch ladder (multi-fidelity algorithms need it)
    min_budget = 2
    max_budget = 52
    eta = 3

    [stop]                     # at least one criterion
    max_evaluations = 200
    max_epochs = 2600
    max_time_s = 3600

    [backend]
    type = "auto"              # auto (MPI under mpiexec, else serial) | serial | simulated | mpi
    n_workers = 8              # simulated only
    timeout_s = 600            # per-trial wall-time limit (every backend; a wall-clock limit on the simulated one)
    devices = "auto"           # MPI: "auto", "cpu", or a list like ["cuda:0", "cuda:1"]
    device = "cpu"             # serial / simulated: "cpu" or "cuda[:K]"
    workers_per_gpu = 1
    torch_threads = 1

    [run]
    checkpoint_interval_s = 30 # >= 0
    grace_s = 30               # >= 0
    max_trial_attempts = 3     # deaths of the run while a trial ran before it is logged FAILED

Every problem raises :class:`ConfigError` whose message names the key. Numbers
anywhere in the file (workload and algorithm options included) must be finite:
TOML's ``nan`` and ``inf`` are refused, since a NaN limit never stops a run.
Trust: a ``"module:Class"`` workload target or algorithm name is imported (and
may run code) while the file is checked, as ``python -m`` would.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoautodl.errors import ConfigError, EvoAutoDLError, SpaceError
from evoautodl.fidelity import BudgetLadder
from evoautodl.runner import StopCriteria

__all__ = ["Experiment", "load_experiment", "parse_experiment", "read_experiment_file", "WORKLOADS"]

WORKLOADS: dict[str, str] = {
    "lcbench": "evoautodl.workloads.lcbench:LCBenchSurrogate",
    "synthetic": "evoautodl.workloads.synthetic:MixedRastrigin",
    "mlp": "evoautodl.workloads.torch_mlp:LCBenchMLP",
    "cnn": "evoautodl.workloads.torch_cnn:ImageCNN",
}

_TOP = {"name", "seed", "workload", "space", "algorithm", "fidelity", "stop", "backend", "run"}
_SPACE = {"file", "drop", "hyperparameters", "forbidden"}
_FIDELITY = {"min_budget", "max_budget", "eta"}
_STOP = {"max_evaluations", "max_epochs", "max_time_s"}
_BACKEND = {"type", "n_workers", "timeout_s", "devices", "workers_per_gpu", "torch_threads", "device", "prefetch",
            "shutdown_timeout_s"}
_RUN = {"checkpoint_interval_s", "grace_s", "max_trial_attempts"}
_PATH_OPTIONS = {"data_dir", "dataset", "path"}


@dataclass(frozen=True)
class Experiment:
    """A validated experiment: the raw (resolved) table plus built objects."""

    config: dict[str, Any]
    workload: Any
    space: Any
    algorithm: Any
    ladder: BudgetLadder | None
    stop: StopCriteria
    backend: dict[str, Any]
    run: dict[str, Any]
    seed: int
    name: str


def _unknown(section: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    bad = sorted(set(table) - allowed)
    if bad:
        where = f"[{section}]" if section else "top level"
        raise ConfigError(f"{where}: unknown key {bad[0]!r} (valid keys: {', '.join(sorted(allowed))})")


def _table(cfg: Mapping[str, Any], key: str, required: bool = False) -> dict[str, Any]:
    if key not in cfg:
        if required:
            raise ConfigError(f"[{key}]: missing table")
        return {}
    v = cfg[key]
    if not isinstance(v, Mapping):
        raise ConfigError(f"{key}: expected a table, got {type(v).__name__}")
    return dict(v)


def _number(section: str, key: str, v: Any, *, integer: bool = False, positive: bool = True,
            minimum: float | None = None) -> Any:
    """``v`` if it is a finite number (an integer if ``integer``), > 0 if ``positive``, >= ``minimum`` if given."""
    name = f"{section}.{key}" if section else key
    ok = isinstance(v, int) if integer else isinstance(v, int | float)
    if isinstance(v, bool) or not ok:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{name}: expected {kind}, got {v!r}")
    if not math.isfinite(v):
        raise ConfigError(f"{name}: must be a finite number, got {v!r}")
    if positive and v <= 0:
        raise ConfigError(f"{name}: must be > 0, got {v!r}")
    if minimum is not None and v < minimum:
        raise ConfigError(f"{name}: must be >= {minimum:g}, got {v!r}")
    return v


def _finite_everywhere(node: Any, path: str = "") -> None:
    """Refuse NaN and infinity anywhere in the file (TOML has ``nan`` and ``inf``), naming the dotted key."""
    if isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"{path or 'value'}: must be a finite number, got {node!r}")
    if isinstance(node, Mapping):
        for k, v in node.items():
            _finite_everywhere(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list | tuple):
        for i, v in enumerate(node):
            _finite_everywhere(v, f"{path}[{i}]")


def _check_choices(table: Mapping[str, Any]) -> None:
    """Categorical choices and ordinal sequences hold strings, numbers or booleans (not lists or tables)."""
    hps = table.get("hyperparameters")
    if not isinstance(hps, Mapping):
        return
    for name, spec in hps.items():
        if not isinstance(spec, Mapping):
            raise ConfigError(f"space.hyperparameters.{name}: expected a table, got {spec!r}")
        for key in ("choices", "sequence"):
            items = spec.get(key)
            if isinstance(items, list):
                for item in items:
                    if not isinstance(item, str | int | float | bool):
                        raise ConfigError(f"space.hyperparameters.{name}.{key}: entry {item!r} is a "
                                          f"{type(item).__name__}; entries must be strings, numbers or booleans")


def _resolve(target: Any) -> Any:
    """Import ``"module:attr"`` (this runs the module's code: see the trust note in the module docstring)."""
    if not isinstance(target, str) or ":" not in target:
        raise ConfigError(f"workload.target: expected 'module:Class', got {target!r}")
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"workload.target: cannot import {target!r}: {exc}") from exc
    except Exception as exc:  # the module's own code failed while importing
        raise ConfigError(f"workload.target: importing {target!r} raised {type(exc).__name__}: {exc}") from exc


def _check_options(section: str, cls: Any, options: Mapping[str, Any]) -> None:
    sig = inspect.signature(cls)
    params = sig.parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    valid = [n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for key in options:
        if key not in valid:
            raise ConfigError(f"{section}.{key}: unknown option (valid: {', '.join(valid)})")


def _build_workload(table: dict[str, Any], base_dir: Path) -> Any:
    """Build the workload; relative data paths in ``table`` are resolved in place (config.toml keeps them)."""
    if "type" not in table:
        raise ConfigError(f"workload.type: missing (one of: {', '.join([*WORKLOADS, 'python'])})")
    kind = table["type"]
    if kind == "python":
        if "target" not in table:
            raise ConfigError("workload.target: missing ('module:callable' returning a workload)")
        cls = _resolve(table["target"])
    elif kind in WORKLOADS:
        cls = _resolve(WORKLOADS[kind])
    else:
        raise ConfigError(f"workload.type: unknown workload {kind!r} (one of: {', '.join([*WORKLOADS, 'python'])})")
    for key in _PATH_OPTIONS & set(table):
        v = table[key]
        if isinstance(v, str) and ("/" in v or v.endswith((".csv", ".npz"))) and not Path(v).is_absolute():
            table[key] = str((base_dir / v).resolve())
    # "target" names the class of a python workload; for the built-in ones it is an option (a CSV's label column)
    options = {k: v for k, v in table.items() if k != "type" and not (kind == "python" and k == "target")}
    _check_options("workload", cls, options)
    try:
        return cls(**options)
    except EvoAutoDLError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[workload]: {exc}") from exc


def _build_space(table: dict[str, Any], workload: Any, base_dir: Path) -> Any:
    from evoautodl.space import SearchSpace

    _unknown("space", table, _SPACE)
    if "file" in table:
        if "hyperparameters" in table:
            raise ConfigError("[space]: give either 'file' or 'hyperparameters', not both")
        path = Path(table["file"])
        path = path if path.is_absolute() else (base_dir / path)
        if path.is_dir():
            raise ConfigError(f"space.file: {str(path)!r} is a directory, not a ConfigSpace JSON file")
        if not path.is_file():
            raise ConfigError(f"space.file: {str(path)!r} does not exist")
        table["file"] = str(path.resolve())
        return SearchSpace.from_json(path, drop=table.get("drop", ()))
    if "hyperparameters" in table:
        _check_choices(table)
        return SearchSpace.from_dict(table["hyperparameters"], forbidden=table.get("forbidden", ()))
    if hasattr(workload, "search_space"):
        return workload.search_space()
    raise ConfigError("[space]: the workload has no search space of its own: give space.file or hyperparameters")


def parse_experiment(raw: Mapping[str, Any], base_dir: str | Path = ".") -> Experiment:
    """Validate a parsed TOML table and build the workload, space, algorithm, ladder."""
    from evoautodl.algorithms import get_algorithm

    cfg = copy.deepcopy(dict(raw))
    base = Path(base_dir)
    _finite_everywhere(cfg)
    _unknown("", cfg, _TOP)
    seed = _number("", "seed", cfg.get("seed", 0), integer=True, positive=False)
    name = str(cfg.get("name", "experiment"))
    wl_table = _table(cfg, "workload", required=True)
    workload = _build_workload(wl_table, base)
    cfg["workload"] = wl_table
    space_table = _table(cfg, "space")
    try:
        space = _build_space(space_table, workload, base)
    except ConfigError:
        raise
    except (SpaceError, TypeError, ValueError, KeyError) as exc:
        raise ConfigError(f"[space]: {exc}") from exc
    if space_table:
        cfg["space"] = space_table

    fid = _table(cfg, "fidelity")
    _unknown("fidelity", fid, _FIDELITY)
    wl_max = getattr(workload, "max_budget", None) or getattr(workload, "max_budget_epochs", None)
    ladder = None
    if fid:
        for k in fid:
            _number("fidelity", k, fid[k])
        max_b = fid.get("max_budget", wl_max)
        if max_b is None:
            raise ConfigError("fidelity.max_budget: missing (the workload has no maximum budget)")
        if wl_max is not None and max_b > wl_max:
            raise ConfigError(f"fidelity.max_budget: {max_b} exceeds the workload's maximum budget {wl_max}")
        ladder = BudgetLadder(fid.get("min_budget", 1), max_b, fid.get("eta", 3))
        if ladder.n_rungs < 2:
            raise ConfigError(
                f"fidelity: the ladder min_budget={ladder.min_budget}, max_budget={ladder.max_budget}, "
                f"eta={ladder.eta} has a single rung {list(ladder.budgets)}; lower min_budget or eta"
            )
    max_budget = ladder.max_budget if ladder else (wl_max or 1)

    stop = _table(cfg, "stop", required=True)
    _unknown("stop", stop, _STOP)
    if not stop:
        raise ConfigError(f"[stop]: give at least one of {', '.join(sorted(_STOP))}")
    for k, v in stop.items():
        _number("stop", k, v, integer=(k == "max_evaluations"))
    stop_criteria = StopCriteria(**stop)

    algo = _table(cfg, "algorithm")
    algo_name = algo.pop("name", "random")
    n_obj = len(getattr(workload, "objective_names", ("objective",)))
    pbt_hps = getattr(workload, "pbt_hyperparameters", None)
    if algo_name == "pbt" and pbt_hps and "explore_hyperparameters" not in algo:
        algo["explore_hyperparameters"] = [h for h in pbt_hps if h in space.index] or None
    try:
        algorithm = get_algorithm(algo_name, space, seed=seed, n_objectives=n_obj, max_budget=max_budget,
                                  ladder=ladder, **algo)
    except ConfigError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"[algorithm]: {exc}") from exc

    backend = _table(cfg, "backend")
    _unknown("backend", backend, _BACKEND)
    btype = backend.setdefault("type", "auto")
    if btype not in ("auto", "serial", "simulated", "mpi"):
        raise ConfigError(f"backend.type: unknown backend {btype!r} (auto, serial, simulated, mpi)")
    for k in ("n_workers", "workers_per_gpu", "torch_threads"):
        if k in backend:
            _number("backend", k, backend[k], integer=True)
    for k in ("timeout_s", "shutdown_timeout_s"):
        if k in backend:
            _number("backend", k, backend[k])
    prefetch = backend.get("prefetch", "auto")
    if prefetch != "auto" and (isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 0):
        raise ConfigError(f"backend.prefetch: 'auto' or an integer >= 0, got {prefetch!r}")
    _check_devices(backend)
    run = _table(cfg, "run")
    _unknown("run", run, _RUN)
    for k, v in run.items():
        if k == "max_trial_attempts":
            _number("run", k, v, integer=True)
        else:
            _number("run", k, v, positive=False, minimum=0)
    return Experiment(config=cfg, workload=workload, space=space, algorithm=algorithm, ladder=ladder,
                      stop=stop_criteria, backend=backend, run=run, seed=seed, name=name)


def _check_devices(backend: Mapping[str, Any]) -> None:
    """``devices`` (MPI) and ``device`` (serial, simulated) name devices torch knows."""
    from evoautodl.backends.devices import parse_devices

    if "devices" in backend:
        try:
            parse_devices(backend["devices"])
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"backend.devices: {exc}") from exc
    if "device" in backend:
        device = backend["device"]
        kind, _, index = str(device).partition(":") if isinstance(device, str) else ("", "", "")
        if kind not in ("cpu", "cuda") or (index and not index.isdigit()) or (kind == "cpu" and index):
            raise ConfigError(f"backend.device: {device!r} is not 'cpu', 'cuda' or 'cuda:K'")


def read_experiment_file(path: str | Path, what: str = "experiment file") -> dict[str, Any]:
    """The raw table of an experiment TOML file (ConfigError if missing, a folder, not text or not TOML)."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{what} {str(p)!r} is a directory, not a TOML file")
    if not p.is_file():
        raise ConfigError(f"{what} {str(p)!r} does not exist")
    try:
        return tomllib.loads(p.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{what} {str(p)!r} cannot be read: {exc.strerror or exc}") from exc


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment TOML file."""
    return parse_experiment(read_experiment_file(path), base_dir=Path(path).parent)
