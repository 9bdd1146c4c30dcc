"""A backend from an experiment's ``[backend]`` table: which keys each backend reads, checked before anything runs.

``type = "auto"`` means MPI under ``mpiexec`` with more than one rank, serial
otherwise. Each backend reads only its own keys (`BACKEND_KEYS`)::

    serial      timeout_s, device, torch_threads
    simulated   timeout_s, device, torch_threads, n_workers
    mpi         timeout_s, devices, workers_per_gpu, torch_threads, prefetch, shutdown_timeout_s

A key the chosen backend does not read would be silently ignored, so
`check_backend_table` refuses it, naming the key and the backend that reads
it. With ``type = "auto"`` a key of the serial or the MPI backend is accepted
(which one runs depends on the launch), and `backend_warnings` names the keys
the backend actually chosen ignores; keys neither reads are refused.
`make_backend` builds it (mpi4py is imported only for the MPI backend).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evoautodl.errors import ConfigError

__all__ = ["BACKEND_KEYS", "BACKEND_TYPES", "backend_warnings", "check_backend_table", "make_backend",
           "resolve_backend_type"]

logger = logging.getLogger(__name__)

BACKEND_TYPES = ("auto", "serial", "simulated", "mpi")

#: the [backend] keys each backend reads (besides ``type``)
BACKEND_KEYS: dict[str, frozenset[str]] = {
    "serial": frozenset({"timeout_s", "device", "torch_threads"}),
    "simulated": frozenset({"timeout_s", "device", "torch_threads", "n_workers"}),
    "mpi": frozenset({"timeout_s", "devices", "workers_per_gpu", "torch_threads", "prefetch", "shutdown_timeout_s"}),
}
BACKEND_KEYS["auto"] = BACKEND_KEYS["serial"] | BACKEND_KEYS["mpi"]
_ALL_KEYS = frozenset().union(*BACKEND_KEYS.values())


def _readers(key: str) -> str:
    """"the 'mpi' backend reads" / "the 'serial' and 'simulated' backends read"."""
    names = [f"'{t}'" for t in ("serial", "simulated", "mpi") if key in BACKEND_KEYS[t]]
    if len(names) == 1:
        return f"the {names[0]} backend reads"
    return f"the {', '.join(names[:-1])} and {names[-1]} backends read"


def _number(key: str, v: Any, *, integer: bool = False) -> None:
    ok = isinstance(v, int) if integer else isinstance(v, int | float)
    if isinstance(v, bool) or not ok or not math.isfinite(v) or v <= 0:
        kind = "an integer >= 1" if integer else "a finite number > 0"
        raise ConfigError(f"backend.{key}: expected {kind}, got {v!r}")


def check_backend_table(table: Mapping[str, Any]) -> dict[str, Any]:
    """The ``[backend]`` table with ``type`` filled in, every value checked and no key the backend ignores.

    Raises:
        ConfigError: naming the key: an unknown key or backend type, a value of the
            wrong type or range, or a key the chosen backend does not read.
    """
    from evoautodl.backends.devices import parse_devices

    out = dict(table)
    btype = out.setdefault("type", "auto")
    if btype not in BACKEND_TYPES:
        raise ConfigError(f"backend.type: unknown backend {btype!r} ({', '.join(BACKEND_TYPES)})")
    for key in out:
        if key == "type":
            continue
        if key not in _ALL_KEYS:
            raise ConfigError(f"[backend]: unknown key {key!r} (valid keys: {', '.join(sorted(_ALL_KEYS | {'type'}))})")
        if key not in BACKEND_KEYS[btype]:
            chosen = (f"the {btype!r} backend does not use it" if btype != "auto" else
                      "neither backend type = 'auto' picks ('serial', or 'mpi' under mpiexec) uses it")
            raise ConfigError(f"backend.{key}: {chosen} (only {_readers(key)} it); remove it or change backend.type")
    for key in ("n_workers", "workers_per_gpu", "torch_threads"):
        if key in out:
            _number(key, out[key], integer=True)
    for key in ("timeout_s", "shutdown_timeout_s"):
        if key in out:
            _number(key, out[key])
    prefetch = out.get("prefetch", "auto")
    if prefetch != "auto" and (isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 0):
        raise ConfigError(f"backend.prefetch: 'auto' or an integer >= 0, got {prefetch!r}")
    if "devices" in out:
        try:
            parse_devices(out["devices"])
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"backend.devices: {exc}") from exc
    if "device" in out:
        device = out["device"]
        kind, _, index = device.partition(":") if isinstance(device, str) else ("", "", "")
        if kind not in ("cpu", "cuda") or (index and not index.isdigit()) or (kind == "cpu" and index):
            raise ConfigError(f"backend.device: {device!r} is not 'cpu', 'cuda' or 'cuda:K'")
    return out


def resolve_backend_type(table: Mapping[str, Any], world_size: int) -> str:
    """"serial", "simulated" or "mpi": what ``type`` (default "auto") means with ``world_size`` ranks.

    Raises:
        ConfigError: "mpi" with fewer than 2 ranks.
    """
    btype = table.get("type", "auto")
    if btype == "auto":
        return "mpi" if world_size > 1 else "serial"
    if btype == "mpi" and world_size < 2:
        raise ConfigError("backend.type: 'mpi' needs at least 2 ranks (mpiexec -n 2 or more)")
    return str(btype)


def backend_warnings(table: Mapping[str, Any], world_size: int) -> list[str]:
    """What ``type = "auto"`` leaves unused in this launch (one line per key; [] for an explicit type)."""
    if table.get("type", "auto") != "auto":
        return []
    chosen = resolve_backend_type(table, world_size)
    launch = "under mpiexec" if world_size > 1 else "outside mpiexec"
    return [f"backend.{key}: ignored: backend.type = 'auto' runs the {chosen!r} backend {launch}, and only "
            f"{_readers(key)} it" for key in sorted(table) if key != "type" and key not in BACKEND_KEYS[chosen]]


def make_backend(table: Mapping[str, Any], workload: Any, *, checkpoint_dir: str | Path | None,
                 fault_dir: str | Path | None = None, world_size: int = 1, comm: Any = None) -> Any:
    """The backend a checked ``[backend]`` table asks for (the MPI backend already started).

    Args:
        table: the table `check_backend_table` returned.
        workload: what the backend evaluates.
        checkpoint_dir, fault_dir: the run directory's folders.
        world_size: ranks of the launch (``type = "auto"`` picks MPI above 1); with a
            non-MPI type under mpiexec the other ranks are released (they stay idle).
        comm: the communicator of an MPI backend (default COMM_WORLD; its size counts then).
    """
    size = comm.Get_size() if comm is not None else world_size
    btype = resolve_backend_type(table, size)
    for line in backend_warnings(table, size):
        logger.warning("%s", line)
    t = dict(table)
    if btype == "mpi":
        from evoautodl.backends.mpi import MPIBackend

        backend = MPIBackend(workload, checkpoint_dir=checkpoint_dir, timeout_s=t.get("timeout_s"),
                             devices=t.get("devices", "auto"), workers_per_gpu=t.get("workers_per_gpu", 1),
                             torch_threads=t.get("torch_threads", 1), prefetch=t.get("prefetch", "auto"),
                             shutdown_timeout_s=t.get("shutdown_timeout_s", 10.0), fault_dir=fault_dir, comm=comm)
        backend.start()
        return backend
    if comm is None and world_size > 1:
        from evoautodl.backends.mpi import release_workers

        logger.warning("backend.type = %r: the %d worker ranks stay idle", btype, world_size - 1)
        release_workers()
    if btype == "simulated":
        from evoautodl.backends.simulated import SimulatedBackend

        return SimulatedBackend(workload, t.get("n_workers", 4), checkpoint_dir=checkpoint_dir,
                                timeout_s=t.get("timeout_s"), device=t.get("device", "cpu"),
                                torch_threads=t.get("torch_threads", 1))
    from evoautodl.backends.serial import SerialBackend

    return SerialBackend(workload, checkpoint_dir=checkpoint_dir, device=t.get("device", "cpu"),
                         torch_threads=t.get("torch_threads", 1), timeout_s=t.get("timeout_s"), fault_dir=fault_dir)
