"""Placement of MPI ranks: the launcher's world (from the environment) and each worker's device.

`launcher_env` reads what mpiexec/mpirun/srun announce in the environment, so
the caller can decide whether to import mpi4py at all.

Placement is decided per node. The workers of a node (the manager rank is never
counted) that see the same set of GPUs (same ``CUDA_VISIBLE_DEVICES`` /
``HIP_VISIBLE_DEVICES`` / ``ROCR_VISIBLE_DEVICES``) are numbered 0, 1, 2, ... in
rank order; worker ``k`` of such a group with ``G`` visible GPUs takes
``cuda:(k mod G)`` as long as ``k < G * workers_per_gpu``. Workers beyond that
(more workers on the node than the GPUs are meant to take) run on the CPU and a
warning names them. Grouping by visible devices makes SLURM's per-task GPU
binding (``--gpus-per-task=1``: every task sees one GPU of its own) come out
right: each task is worker 0 of its own group and takes ``cuda:0``.

``devices`` may also be an explicit list (per node): worker ``k`` takes
``devices[k mod len(devices)]``, so ``"cuda:0,cuda:0,cuda:1,cuda:1"`` puts two
workers on each of two GPUs. ``"cpu"`` keeps every worker on the CPU.

Torch is imported only by `count_gpus`, and only when the workload wants a
device (`workload_wants_device`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "DeviceSpec",
    "assign_device",
    "count_gpus",
    "launcher_env",
    "launcher_world",
    "node_index_of",
    "worker_device",
    "node_local_index",
    "parse_devices",
    "set_torch_threads",
    "visible_devices_key",
    "workload_wants_device",
]

log = logging.getLogger(__name__)

#: "auto", "cpu", or an explicit per-node list of device strings
DeviceSpec = str | Sequence[str]

_VISIBILITY_VARS = ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES")
_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE")
_RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "MV2_COMM_WORLD_RANK", "PMIX_RANK")


def _env_int(names: Sequence[str]) -> int | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return None


def launcher_env() -> tuple[bool, int | None, int]:
    """(started by an MPI launcher?, world size it announced or None, tasks of this srun step).

    MPICH/Intel MPI (PMI_*), Open MPI (OMPI_COMM_WORLD_*), PMIx launchers
    (``srun --mpi=pmix``, prterun: PMIX_RANK) and MVAPICH announce themselves;
    ``srun`` without MPI support only sets SLURM_STEP_NUM_TASKS. Reads the
    environment only.
    """
    size = _env_int(_SIZE_VARS)
    step_tasks = _env_int(("SLURM_STEP_NUM_TASKS",)) or 1
    return size is not None or _env_int(_RANK_VARS) is not None or step_tasks > 1, size, step_tasks


def launcher_world(load_mpi: Callable[[], Any]) -> tuple[int, int]:
    """(size, rank) of COMM_WORLD; ``load_mpi`` (which imports mpi4py) runs only under a launcher.

    Raises:
        ImportError: a launcher started several ranks but mpi4py is missing.
        RuntimeError: srun started several tasks that MPI does not see as one job.
    """
    launched, env_size, step_tasks = launcher_env()
    if not launched and "mpi4py.MPI" not in sys.modules:
        return 1, 0
    try:
        MPI = load_mpi()
    except ImportError:
        if (env_size or step_tasks) <= 1:
            return 1, 0
        raise
    size, rank = MPI.COMM_WORLD.Get_size(), MPI.COMM_WORLD.Get_rank()
    if size == 1 and step_tasks > 1 and env_size is None:
        raise RuntimeError(f"srun started {step_tasks} tasks but MPI sees a world of 1 in each: the MPI library is "
                           "not wired to srun; use `srun --mpi=pmix` (or pmi2, as your MPI was built) or mpirun")
    return size, rank


def parse_devices(devices: DeviceSpec) -> str | tuple[str, ...]:
    """Normalise the ``devices`` option: "auto", "cpu" or a tuple of device strings.

    Raises:
        ValueError: for an empty list or an entry that is neither "cpu" nor "cuda[:K]".
    """
    if isinstance(devices, str):
        text = devices.strip().lower()
        if text in ("auto", "cpu"):
            return text
        items: Sequence[str] = [d for d in (p.strip() for p in devices.split(",")) if d]
    else:
        items = [str(d).strip() for d in devices]
    if not items:
        raise ValueError(f"devices={devices!r}: give 'auto', 'cpu' or a non-empty list like 'cuda:0,cuda:1'")
    for d in items:
        kind, _, index = d.partition(":")
        if kind not in ("cpu", "cuda") or (index and not index.isdigit()) or (kind == "cpu" and index):
            raise ValueError(f"devices={devices!r}: entry {d!r} is not 'cpu', 'cuda' or 'cuda:K'")
    return tuple(items)


def assign_device(
    local_index: int,
    n_gpus: int,
    workers_per_gpu: int = 1,
    devices: DeviceSpec = "auto",
) -> str:
    """Device string of the ``local_index``-th worker of a node (pure function).

    Args:
        local_index: the worker's index among the workers of its node that see
            the same GPUs (0-based; the manager rank is not counted).
        n_gpus: GPUs the worker sees (0: none, or torch/CUDA missing).
        workers_per_gpu: how many workers may share one GPU (>= 1).
        devices: "auto", "cpu" or an explicit per-node list (see module docstring).

    Returns:
        "cpu" or "cuda:K".
    """
    if local_index < 0:
        raise ValueError(f"local_index must be >= 0, got {local_index}")
    if workers_per_gpu < 1:
        raise ValueError(f"workers_per_gpu must be >= 1, got {workers_per_gpu}")
    spec = parse_devices(devices)
    if spec == "cpu":
        return "cpu"
    if isinstance(spec, tuple):
        return spec[local_index % len(spec)]
    if n_gpus <= 0 or local_index >= n_gpus * workers_per_gpu:
        return "cpu"
    return f"cuda:{local_index % n_gpus}"


def visible_devices_key() -> tuple[str | None, ...]:
    """The GPU-visibility environment of this process (workers with equal keys share GPUs)."""
    return tuple(os.environ.get(v) for v in _VISIBILITY_VARS)


def node_local_index(my_rank: int, node_members: Sequence[tuple[int, Any]], manager_rank: int = 0) -> int:
    """Index of ``my_rank`` among the node's workers that have the same visibility key.

    Args:
        my_rank: this worker's world rank.
        node_members: (world rank, visibility key) of every rank on the node.
        manager_rank: the manager's world rank (never counted).
    """
    keys = dict(node_members)
    mine = keys[my_rank]
    group = sorted(r for r, k in node_members if r != manager_rank and k == mine)
    return group.index(my_rank)


def workload_wants_device(workload: object) -> bool:
    """Does the workload train on a device?

    A workload may say so with a ``wants_device`` attribute; otherwise the
    answer is whether torch has been imported (unpickling a torch workload
    imports it), so synthetic and surrogate workloads never pay for torch.
    """
    wants = getattr(workload, "wants_device", None)
    if wants is not None:
        return bool(wants)
    return "torch" in sys.modules


def count_gpus() -> int:
    """Number of CUDA devices torch sees (respects CUDA_VISIBLE_DEVICES); 0 without torch."""
    try:
        import torch
    except ImportError:
        return 0
    try:
        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    except Exception as exc:  # a broken driver means CPU, not a crashed worker
        log.warning("CUDA query failed (%s): using the CPU", exc)
        return 0


def set_torch_threads(n_threads: int) -> None:
    """Limit torch's intra-op threads when torch is loaded (never imports it)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(max(1, int(n_threads)))


def node_index_of(comm: Any, MPI: Any) -> int:
    """This worker's index among its node's workers that see the same GPUs.

    Collective over ``comm`` (the manager's ``start()`` takes part): splits it by
    shared memory, one communicator per node, and gathers every member's GPU
    visibility.
    """
    rank = comm.Get_rank()
    node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=rank)
    members = node.allgather((rank, visible_devices_key()))
    node.Free()
    return node_local_index(rank, members)


def worker_device(local_index: int, workload: object, devices: DeviceSpec, workers_per_gpu: int) -> str:
    """The device of a worker; torch is asked about GPUs only when the workload wants a device."""
    spec = parse_devices(devices)
    if spec == "auto" and not workload_wants_device(workload):
        return "cpu"
    n_gpus = count_gpus() if spec == "auto" else 0
    device = assign_device(local_index, n_gpus, workers_per_gpu, spec)
    if spec == "auto" and n_gpus and device == "cpu":
        log.warning("the %d GPU(s) of this node already have %d worker(s) each (workers_per_gpu): "
                    "node-local worker %d runs on the CPU", n_gpus, workers_per_gpu, local_index)
    return device
