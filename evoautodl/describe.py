"""The resolved experiment in words: what ``evoautodl run/demo/resume --dry-run`` prints (nothing is created).

`describe_experiment` lists the workload and every option it is built with
(defaults marked), the objectives with their units, the search space
(types, ranges, defaults, conditions, forbidden clauses), the fidelity
ladder's rungs, the algorithm and every option (defaults marked), the
enqueued configurations, the backend this launch would build and the keys it
reads, the stop criteria, the ``[run]`` settings and the run directory.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

__all__ = ["describe_experiment", "describe_space"]


def _value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else repr(v)


def _options(given: Mapping[str, Any], defaults: Mapping[str, Any], skip: tuple[str, ...] = ()) -> list[str]:
    """``name = value`` for every option, given ones first in their order, the rest marked (default)."""
    out = [f"    {k} = {_value(v)}" for k, v in given.items() if k not in skip]
    for k, d in defaults.items():
        if k in given or k in skip:
            continue
        shown = "(required)" if d is inspect.Parameter.empty else f"{_value(d)} (default)"
        out.append(f"    {k} = {shown}")
    return out


def _signature_defaults(cls: Any) -> dict[str, Any]:
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return {}
    return {n: p.default for n, p in params.items()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and n != "self"}


def describe_space(space: Any) -> list[str]:
    """One line per hyperparameter (type, range or choices, default, condition), then the forbidden clauses."""
    from evoautodl.space import GeneKind

    cs = space.to_configspace()
    conditions: dict[str, str] = {}
    for c in cs.conditions:
        child = c.child.name
        conditions[child] = str(c).replace(f"{child} | ", "")
    rows = [("name", "type", "range / choices", "default", "active when")]
    for h in space.hyperparameters:
        if h.kind in (GeneKind.FLOAT, GeneKind.INT):
            kind = ("float" if h.kind is GeneKind.FLOAT else "int") + (", log" if h.log else "")
            lo, hi = (f"{h.lower:g}", f"{h.upper:g}") if h.kind is GeneKind.FLOAT else (int(h.lower), int(h.upper))
            span = f"[{lo}, {hi}]"
        elif h.kind is GeneKind.CONSTANT:
            kind, span = "constant", _value(h.levels[0])
        else:
            kind = "categorical" if h.kind is GeneKind.CATEGORICAL else "ordinal"
            span = ", ".join(_value(v) for v in h.levels)
        rows.append((h.name, kind, span, _value(h.default), conditions.get(h.name, "always")))
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    out = ["    " + "  ".join(str(c).ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    forbidden = [str(f) for f in cs.forbidden_clauses]
    out += [f"    forbidden: {f}" for f in forbidden]
    return out


def describe_experiment(exp: Any, *, world_size: int = 1, run_dir: str = "", run_dir_state: str = "",
                        source: str = "") -> str:
    """The text of ``--dry-run`` (see the module docstring).

    Args:
        exp: the validated `Experiment`.
        world_size: ranks of this launch (``backend.type = "auto"`` depends on it).
        run_dir, run_dir_state: the run directory and what a run would do with it.
        source: where the experiment came from (a file, the embedded demo, a run's config.toml).
    """
    from evoautodl.algorithms import algorithm_options
    from evoautodl.backends.factory import BACKEND_KEYS, backend_warnings, resolve_backend_type
    from evoautodl.workloads.base import describe_objective

    cfg = exp.config
    wl_table = dict(cfg["workload"])
    lines = [f"experiment    : {exp.name} (seed {exp.seed})" + (f" from {source}" if source else "")]
    if run_dir:
        lines.append(f"run directory : {run_dir}" + (f" ({run_dir_state})" if run_dir_state else ""))
    kind = wl_table.pop("type")
    if kind == "python":
        wl_table.pop("target", None)
    lines.append(f"workload      : {kind} ({type(exp.workload).__name__})")
    lines += _options(wl_table, _signature_defaults(type(exp.workload)))
    names = list(getattr(exp.workload, "objective_names", ("objective",)))
    lines.append("objective     : " + ", ".join(describe_objective(exp.workload, n) for n in names) + ", minimised")
    cs = exp.space.to_configspace()
    origin = "declared in [space]" if cfg.get("space") else "the workload's own"
    lines.append(f"search space  : {exp.space.dim} hyperparameters, {len(cs.conditions)} conditions, "
                 f"{len(cs.forbidden_clauses)} forbidden clauses ({origin})")
    lines += describe_space(exp.space)
    algo = exp.algorithm
    ladder = exp.ladder
    if ladder is not None:
        used = "rungs" if algo.uses_ladder else f"{' and '.join(algo.ladder_settings)} only"
        lines.append(f"fidelity      : rungs {', '.join(f'{b:g}' for b in ladder.budgets)} (min_budget "
                     f"{ladder.min_budget:g}, max_budget {ladder.max_budget:g}, eta {ladder.eta:g}; {algo.name} "
                     f"reads the {used})")
    else:
        lines.append(f"fidelity      : none: every trial at budget {algo.max_budget:g}")
    given = {k: v for k, v in cfg.get("algorithm", {}).items() if k != "name"}
    lines.append(f"algorithm     : {algo.name} ({type(algo).__module__}.{type(algo).__qualname__})")
    lines += _options(given, algorithm_options(type(algo)), skip=("seed", "n_objectives", "max_budget", "ladder"))
    if exp.enqueued:
        lines.append(f"enqueued      : {len(exp.enqueued)} configuration(s) evaluated first, at budget "
                     f"{algo.max_budget:g}")
        lines += [f"    {dict(c)}" for c in exp.enqueued]
    btype = resolve_backend_type(exp.backend, world_size)
    how = f"backend.type = 'auto', {world_size} rank(s)" if exp.backend.get("type") == "auto" else "backend.type"
    settings = {k: v for k, v in exp.backend.items() if k != "type" and k in BACKEND_KEYS[btype]}
    lines.append(f"backend       : {btype} ({how})" + (": " + ", ".join(f"{k} = {_value(v)}" for k, v in
                                                                         settings.items()) if settings else ""))
    lines += [f"    {w}" for w in backend_warnings(exp.backend, world_size)]
    stop = {k: v for k, v in (("max_evaluations", exp.stop.max_evaluations), ("max_epochs", exp.stop.max_epochs),
                              ("max_time_s", exp.stop.max_time_s)) if v is not None}
    clock = " (virtual seconds: simulated clock)" if "max_time_s" in stop and btype == "simulated" else ""
    lines.append("stop          : " + ", ".join(f"{k} = {_value(v)}" for k, v in stop.items()) + clock
                 + " (whichever comes first)" * (len(stop) > 1))
    from evoautodl.runner import Runner

    params = inspect.signature(Runner.__init__).parameters
    run_defaults = {k: params[k].default for k in ("checkpoint_interval_s", "grace_s", "max_trial_attempts")}
    lines.append("run           : " + ", ".join(
        f"{k} = {_value(exp.run.get(k, d))}" + ("" if k in exp.run else " (default)") for k, d in run_defaults.items()))
    lines += [f"note          : {n}" for n in exp.notes]
    return "\n".join(lines)
