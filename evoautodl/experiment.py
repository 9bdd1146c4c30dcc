"""Experiment configuration: a TOML file, validated before anything runs.

Layout (every table optional except ``[workload]`` and ``[stop]``)::

    name = "lcbench-dehb"
    seed = 0

    [workload]                 # what an evaluation does
    type = "lcbench"           # lcbench | synthetic | mlp | cnn | python
    task_id = "3945"           # the workload's own options

    [space]                    # default: the workload's own search space
    file = "space.json"        # ConfigSpace JSON (drop = [...] removes some), or inline tables:
    # [space.hyperparameters.lr] type = "float" ...   [[space.forbidden]] ...

    [algorithm]
    name = "dehb"              # random | ga | steady_state | regularized | de | nsga2 | dehb | asha_ea | pbt |
                               # design | a baseline (optuna_tpe, optuna_hyperband, dehb_lib, smac_bo,
                               # smac_hyperband) | "module:Class"
    # algorithm options, e.g. population_size = 20

    [fidelity]                 # epoch ladder (multi-fidelity algorithms need it; the others read max_budget only)
    min_budget = 2
    max_budget = 52
    eta = 3

    [stop]                     # at least one criterion
    max_evaluations = 200
    max_epochs = 2600
    max_time_s = 3600

    [backend]                  # each backend reads its own keys (evoautodl.backends.factory)
    type = "auto"              # auto (MPI under mpiexec, else serial) | serial | simulated | mpi
    n_workers = 8              # simulated only
    timeout_s = 600            # per-trial wall-time limit (every backend; a wall-clock limit on the simulated one)
    devices = "auto"           # MPI: "auto", "cpu", or a list like ["cuda:0", "cuda:1"]
    device = "cpu"             # serial / simulated: "cpu" or "cuda[:K]"
    workers_per_gpu = 1        # MPI
    torch_threads = 1

    [run]
    checkpoint_interval_s = 30 # >= 0
    grace_s = 30               # >= 0
    max_trial_attempts = 3     # deaths of the run while a trial ran before it is logged FAILED
    enqueue = [{...}, ...]     # configurations evaluated first (a warm start), or
    enqueue_file = "configs.json"   # a JSON list of them

Every problem raises :class:`ConfigError` whose message names the key. Numbers
anywhere in the file (workload and algorithm options included) must be finite:
TOML's ``nan`` and ``inf`` are refused, since a NaN limit never stops a run.
Nothing is silently ignored: an option of the wrong type (checked against the
constructor's annotations, `evoautodl.typecheck`), a search-space
hyperparameter the workload does not read (`evoautodl.workloads.base.check_space`),
a ``[fidelity]`` setting the algorithm does not read (its ``ladder_settings``),
a ``[backend]`` key the backend does not read, ``space.drop`` without a file:
each is an error naming the key.
Trust: a ``"module:Class"`` workload target or algorithm name is imported (and
may run code) while the file is checked, as ``python -m`` would.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoautodl.errors import ConfigError, EvoAutoDLError, SpaceError
from evoautodl.fidelity import BudgetLadder
from evoautodl.runner import StopCriteria

__all__ = ["Experiment", "WORKLOADS", "load_experiment", "parse_experiment", "read_experiment_file"]

WORKLOADS: dict[str, str] = {
    "lcbench": "evoautodl.workloads.lcbench:LCBenchSurrogate",
    "synthetic": "evoautodl.workloads.synthetic:MixedRastrigin",
    "mlp": "evoautodl.workloads.torch_mlp:LCBenchMLP",
    "cnn": "evoautodl.workloads.torch_cnn:ImageCNN",
}

_TOP = {"name", "seed", "workload", "space", "algorithm", "fidelity", "stop", "backend", "run"}
_SPACE = {"file", "drop", "hyperparameters", "forbidden"}
_FIDELITY = ("min_budget", "max_budget", "eta")
_STOP = {"max_evaluations", "max_epochs", "max_time_s"}
_RUN = {"checkpoint_interval_s", "grace_s", "max_trial_attempts", "enqueue", "enqueue_file"}
_PATH_OPTIONS = {"data_dir", "dataset", "path"}


@dataclass(frozen=True)
class Experiment:
    """A validated experiment: the raw (resolved) table plus built objects.

    Attributes:
        config: the resolved table (what ``config.toml`` records).
        workload, space, algorithm, ladder, stop: the built objects (the algorithm
            holds the enqueued configurations).
        backend: the checked ``[backend]`` table (`evoautodl.backends.factory`).
        run: the ``[run]`` table.
        notes: what the user should know but is no error (e.g. a workload that does
            not declare the hyperparameters it reads).
    """

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
    notes: tuple[str, ...] = ()

    @property
    def enqueued(self) -> list[dict[str, Any]]:
        """The configurations evaluated first (``[run] enqueue``)."""
        return list(self.run.get("enqueue", ()))


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
    """Unknown options (listing the valid ones), then each value against the constructor's annotation."""
    from evoautodl.typecheck import check_options

    sig = inspect.signature(cls)
    params = sig.parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        valid = [n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
        for key in options:
            if key not in valid:
                raise ConfigError(f"{section}.{key}: unknown option (valid: {', '.join(valid)})")
    check_options(section, cls, options)


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
        if "hyperparameters" in table or "forbidden" in table:
            key = "hyperparameters" if "hyperparameters" in table else "forbidden"
            raise ConfigError(f"space.{key}: give either 'file' or inline 'hyperparameters' (with 'forbidden'), "
                              "not both")
        path = Path(table["file"])
        path = path if path.is_absolute() else (base_dir / path)
        if path.is_dir():
            raise ConfigError(f"space.file: {str(path)!r} is a directory, not a ConfigSpace JSON file")
        if not path.is_file():
            raise ConfigError(f"space.file: {str(path)!r} does not exist")
        table["file"] = str(path.resolve())
        return SearchSpace.from_json(path, drop=table.get("drop", ()))
    if "drop" in table:
        raise ConfigError("space.drop: removes hyperparameters from a space.file; without a file there is nothing "
                          "to drop (leave the hyperparameter out instead)")
    if "hyperparameters" in table:
        return SearchSpace.from_dict(table["hyperparameters"], forbidden=table.get("forbidden", ()))
    if "forbidden" in table:
        raise ConfigError("space.forbidden: forbidden clauses need inline space.hyperparameters (the workload's "
                          "own space cannot take them here)")
    if hasattr(workload, "search_space"):
        return workload.search_space()
    raise ConfigError("[space]: the workload has no search space of its own: give space.file or hyperparameters")


def _ladder(fid: dict[str, Any], workload: Any) -> BudgetLadder | None:
    _unknown("fidelity", fid, set(_FIDELITY))
    if not fid:
        return None
    wl_max = workload_max_budget(workload)
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
    return ladder


def workload_max_budget(workload: Any) -> float | None:
    """The largest budget a workload accepts (``max_budget`` or ``max_budget_epochs``; None: no limit)."""
    return getattr(workload, "max_budget", None) or getattr(workload, "max_budget_epochs", None)


def _build_algorithm(algo: dict[str, Any], space: Any, workload: Any, seed: int, ladder: BudgetLadder | None,
                     fid: Mapping[str, Any], strict_fidelity: bool) -> Any:
    from evoautodl.algorithms import algorithm_class, get_algorithm

    name = algo.pop("name", "random")
    where = {"seed": "the top-level seed", "max_budget": "fidelity.max_budget (or the workload's maximum budget)",
             "ladder": "the [fidelity] table", "n_objectives": "the workload's objective_names"}
    for key, source in where.items():
        if key in algo:
            raise ConfigError(f"algorithm.{key}: the experiment sets it from {source}; remove it from [algorithm]")
    cls = algorithm_class(name)
    _check_own_options(name, cls, algo)
    n_obj = len(getattr(workload, "objective_names", ("objective",)))
    pbt_hps = getattr(workload, "pbt_hyperparameters", None)
    if name == "pbt" and pbt_hps and "explore_hyperparameters" not in algo:
        algo["explore_hyperparameters"] = [h for h in pbt_hps if h in space.index] or None
    max_budget = ladder.max_budget if ladder else (workload_max_budget(workload) or 1)
    try:
        algorithm = get_algorithm(name, space, seed=seed, n_objectives=n_obj, max_budget=max_budget, ladder=ladder,
                                  **algo)
    except ConfigError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"[algorithm]: {exc}") from exc
    if strict_fidelity:
        ignored = [k for k in _FIDELITY if k in fid and k not in algorithm.ladder_settings]
        if ignored:
            why = "" if algorithm.multi_fidelity else f": every trial runs at budget {algorithm.max_budget:g}"
            raise ConfigError(
                f"fidelity.{ignored[0]}: algorithm {algorithm.name!r} does not read it (it reads only "
                f"{' and '.join(algorithm.ladder_settings)}{why}); remove {' and '.join(ignored)} from [fidelity]"
            )
    return algorithm


def _objective_notes(algorithm: Any, workload: Any) -> list[str]:
    """A single-objective algorithm on a workload with several objectives minimises the first only: say so."""
    names = list(getattr(workload, "objective_names", ()) or ())
    if len(names) < 2 or algorithm.multi_objective:
        return []
    return [f"the workload reports {len(names)} objectives ({', '.join(names)}) and algorithm {algorithm.name!r} "
            f"minimises the first ({names[0]}) only; the others are logged (use nsga2 to search for the Pareto "
            "front)"]


def _check_own_options(name: str, cls: Any, options: Mapping[str, Any]) -> None:
    """The types of an algorithm's own options (unknown ones are get_algorithm's to name)."""
    from evoautodl.typecheck import check_options

    check_options("algorithm", cls, options, skip=("space",))


def _enqueue(run: dict[str, Any], algorithm: Any, base_dir: Path) -> None:
    """``[run] enqueue`` / ``enqueue_file``: each configuration checked and enqueued; the file's are copied into
    ``run.enqueue`` (config.toml then holds the configurations themselves)."""
    if "enqueue" in run and "enqueue_file" in run:
        raise ConfigError("run.enqueue_file: give run.enqueue or run.enqueue_file, not both")
    where = "run.enqueue"
    if "enqueue_file" in run:
        where = "run.enqueue_file"
        path = Path(run.pop("enqueue_file"))
        path = path if path.is_absolute() else base_dir / path
        if not path.is_file():
            what = "is a directory" if path.is_dir() else "does not exist"
            raise ConfigError(f"run.enqueue_file: {str(path)!r} {what}")
        try:
            run["enqueue"] = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"run.enqueue_file: {str(path)!r} is not a JSON list of configurations ({exc})") from exc
        where = f"run.enqueue_file ({path.name})"
    configs = run.get("enqueue")
    if configs is None:
        return
    if not isinstance(configs, list) or not all(isinstance(c, Mapping) for c in configs):
        raise ConfigError(f"{where}: expected a list of configurations (tables of hyperparameter = value), "
                          f"got {configs!r:.80}")
    for i, config in enumerate(configs):
        try:
            algorithm.enqueue(config)
        except ConfigError as exc:
            problem = str(exc).split(": ", 1)[-1]
            raise ConfigError(f"{where}[{i}]: {problem}") from exc
    run["enqueue"] = [dict(c) for c in configs]


def parse_experiment(raw: Mapping[str, Any], base_dir: str | Path = ".", *, space: Any = None,
                     strict_fidelity: bool = True) -> Experiment:
    """Validate a parsed TOML table and build the workload, space, algorithm, ladder.

    Args:
        raw: the table (as `read_experiment_file` returns it).
        base_dir: folder that relative paths in the table refer to.
        space: an already built SearchSpace to use instead of building the ``[space]``
            table again (it must be the space that table describes; the grid reuses one per problem).
        strict_fidelity: refuse ``[fidelity]`` settings the algorithm does not read (a
            comparison grid gives one ladder to all its algorithms, so it passes False).

    Raises:
        ConfigError: naming the key, for anything the run would not use as written.
    """
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
    if space is None:
        try:
            space = _build_space(space_table, workload, base)
        except ConfigError:
            raise
        except (SpaceError, TypeError, ValueError, KeyError) as exc:
            raise ConfigError(f"[space]: {exc}") from exc
    if space_table:
        cfg["space"] = space_table
    from evoautodl.workloads.base import check_space

    notes = check_space(workload, space, where="space" if space_table else "the workload's space")

    fid = _table(cfg, "fidelity")
    ladder = _ladder(fid, workload)

    stop = _table(cfg, "stop", required=True)
    _unknown("stop", stop, _STOP)
    if not stop:
        raise ConfigError(f"[stop]: give at least one of {', '.join(sorted(_STOP))}")
    for k, v in stop.items():
        _number("stop", k, v, integer=(k == "max_evaluations"))
    stop_criteria = StopCriteria(**stop)

    algorithm = _build_algorithm(_table(cfg, "algorithm"), space, workload, seed, ladder, fid, strict_fidelity)

    from evoautodl.backends.factory import check_backend_table

    backend = check_backend_table(_table(cfg, "backend"))
    cfg["backend"] = backend
    run = _table(cfg, "run")
    _unknown("run", run, _RUN)
    for k, v in run.items():
        if k == "max_trial_attempts":
            _number("run", k, v, integer=True)
        elif k in ("checkpoint_interval_s", "grace_s"):
            _number("run", k, v, positive=False, minimum=0)
    _enqueue(run, algorithm, base)
    notes += _objective_notes(algorithm, workload)
    if run:
        cfg["run"] = run
    return Experiment(config=cfg, workload=workload, space=space, algorithm=algorithm, ladder=ladder,
                      stop=stop_criteria, backend=backend, run=run, seed=seed, name=name, notes=tuple(notes))


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
