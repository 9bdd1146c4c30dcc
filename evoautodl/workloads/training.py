"""The shared PyTorch training engine and the `TorchWorkload` base class.

A user workload subclasses `TorchWorkload` and writes three methods; the engine
does the rest (epochs, metrics, divergence, checkpoints, continuation)::

    class MyWorkload(TorchWorkload):
        def load_data(self, context):
            return load_dataset("wine")
        def build_model(self, config, data):
            return nn.Sequential(nn.Linear(data.n_features, config["units"]), nn.ReLU(),
                                 nn.Linear(config["units"], data.n_classes))
        def build_optimizer(self, config, model):
            return torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)

Optional hooks: ``build_scheduler`` (default: cosine annealing over
``max_budget_epochs``, stepped per epoch, so a shorter budget is an exact prefix
of the full run), ``build_loss`` (default cross-entropy) and ``batch_size``
(default ``config["batch_size"]`` or 64).

Training. The data live on the worker's device (`DataSplits.to_tensors`, once
per worker in ``setup``). Each epoch draws a permutation from a
``torch.Generator`` seeded with hash(seed, epoch), gathers the training tensors
into a reused buffer in that order, and trains on contiguous slices of it
(no DataLoader); the last partial batch is kept (except a single-example batch
for models with batch norm). The train loss is summed on the device (one sync
per epoch); a NaN/inf train loss raises `TrainingDiverged` naming the epoch.
Validation loss / accuracy / balanced accuracy are computed every epoch, test
metrics once at the end, under ``torch.inference_mode`` in large batches. The
objective is ``val_error`` (1 - accuracy), ``val_loss`` or ``val_balanced_error``.
Dropout and initialization draw from torch's global generator seeded with the
trial seed; the caller's RNG state is restored afterwards (``fork_rng``).

Checkpoints. With ``context.checkpoint_dir`` set, a trial writes
``checkpoint_dir / f"{trial.checkpoint_key}.pt"`` (``ind0000007_b12.pt``:
individual 7 trained to 12 epochs), atomically (temporary file, then
``os.replace``). It holds model, optimizer and scheduler state, torch CPU/CUDA
RNG states, the training seed (which fixes every epoch's batch permutation),
the config and the learning curve. A trial with ``resume_from`` loads
``checkpoint_dir / f"{resume_from}.pt"`` and trains only the missing epochs:

* same individual (promotion): the run continues with the checkpoint's seed and
  RNG states, so it ends bit-for-bit where a straight run would (CPU);
* another individual (PBT exploit): weights and optimizer state are copied, the
  new config's optimizer hyperparameters (lr, momentum, weight decay, ...) are
  applied at the current point of the schedule, and the trial's own seed is used;
  a different optimizer class starts with fresh optimizer state;
* missing or incompatible checkpoint (e.g. another architecture): a warning is
  logged and the trial trains from scratch.
"""

from __future__ import annotations

import abc
import hashlib
import logging
import math
import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from evoautodl.data import DataSplits, TensorSplits
from evoautodl.errors import ConfigError, WorkloadError
from evoautodl.records import Evaluation, Trial
from evoautodl.workloads.base import WorkerContext

__all__ = [
    "OBJECTIVES",
    "TorchWorkload",
    "TrainingDiverged",
    "checkpoint_path",
    "delete_checkpoint",
    "epoch_seed",
    "evaluate_split",
    "resolve_device",
]

log = logging.getLogger(__name__)

OBJECTIVES: tuple[str, ...] = ("val_error", "val_loss", "val_balanced_error")
CURVE_KEYS = ("train_loss", "val_loss", "val_accuracy", "val_balanced_accuracy", "objective", "lr", "epoch_time_s")
_FORMAT = 1


class TrainingDiverged(RuntimeError):
    """The train loss became NaN or infinite; ``epoch`` is 1-based."""

    def __init__(self, epoch: int, loss: float) -> None:
        super().__init__(f"training diverged at epoch {epoch}: train loss is {loss}")
        self.epoch = epoch
        self.loss = loss


def checkpoint_path(checkpoint_dir: str | os.PathLike[str], key: str) -> Path:
    """File of checkpoint ``key``: ``checkpoint_dir / f"{key}.pt"``."""
    return Path(checkpoint_dir) / f"{key}.pt"


def delete_checkpoint(checkpoint_dir: str | os.PathLike[str] | None, key: str | None) -> bool:
    """Remove checkpoint ``key`` if it exists; True when a file was removed."""
    if checkpoint_dir is None or key is None:
        return False
    try:
        checkpoint_path(checkpoint_dir, key).unlink()
    except FileNotFoundError:
        return False
    return True


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of the batch permutation of ``epoch`` (1-based) in a run seeded ``seed``."""
    digest = hashlib.blake2b(f"{int(seed)}:{int(epoch)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def resolve_device(requested: str) -> torch.device:
    """``torch.device`` for "cpu" / "cuda" / "cuda:K"; CPU (with a warning) when CUDA is missing."""
    dev = torch.device(requested)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            log.warning("device %s requested but CUDA is not available: using cpu", requested)
            return torch.device("cpu")
        index = 0 if dev.index is None else dev.index
        if index >= torch.cuda.device_count():
            log.warning("device %s requested but only %d GPU(s): using cpu", requested, torch.cuda.device_count())
            return torch.device("cpu")
        return torch.device("cuda", index)
    return dev


def evaluate_split(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, n_classes: int, batch_size: int = 8192
) -> dict[str, float]:
    """Cross-entropy, accuracy and balanced accuracy of ``model`` on (x, y), in eval mode."""
    model.eval()
    loss = torch.zeros((), device=x.device)
    correct = torch.zeros(n_classes, device=x.device, dtype=torch.int64)
    with torch.inference_mode():
        for start in range(0, x.shape[0], batch_size):
            logits = model(x[start : start + batch_size])
            yb = y[start : start + batch_size]
            loss += F.cross_entropy(logits.float(), yb, reduction="sum")
            correct += torch.bincount(yb[logits.argmax(1) == yb], minlength=n_classes)
        total = torch.bincount(y, minlength=n_classes)
        packed = torch.cat([loss.reshape(1).double(), correct.double(), total.double()]).cpu().tolist()
    n = x.shape[0]
    hits, counts = packed[1 : 1 + n_classes], packed[1 + n_classes :]
    recalls = [h / c for h, c in zip(hits, counts) if c > 0]
    return {
        "loss": packed[0] / n,
        "accuracy": sum(hits) / n,
        "balanced_accuracy": sum(recalls) / len(recalls),
    }


def _plain(value: Any) -> Any:
    """Native Python value (numpy scalars -> int/float/bool) for safe checkpoint loading."""
    return value.item() if hasattr(value, "item") else value


class TorchWorkload(abc.ABC):
    """Base class of PyTorch classification workloads (see the module docstring).

    Args:
        objective: "val_error" (1 - validation accuracy), "val_loss" or
            "val_balanced_error" (1 - validation balanced accuracy).
        max_budget_epochs: the largest budget; the default scheduler anneals
            over it, and larger budgets are refused.
        deterministic: on CUDA, ask for deterministic kernels (cuDNN/cuBLAS).
        eval_batch_size: batch size of validation/test evaluation.
    """

    #: what ``evaluate`` reads from a config (None: not declared; a subclass names its hyperparameters)
    hyperparameters: tuple[str, ...] | None = None
    objective_descriptions: dict[str, str] = {
        "val_error": "1 - validation accuracy, fraction",
        "val_loss": "validation cross-entropy, nats",
        "val_balanced_error": "1 - validation balanced accuracy, fraction",
    }

    def __init__(
        self,
        *,
        objective: str = "val_error",
        max_budget_epochs: int = 50,
        deterministic: bool = True,
        eval_batch_size: int = 8192,
    ) -> None:
        if objective not in OBJECTIVES:
            raise ConfigError(f"objective {objective!r} unknown; choose one of {', '.join(OBJECTIVES)}")
        if int(max_budget_epochs) < 1:
            raise ConfigError(f"max_budget_epochs must be >= 1, got {max_budget_epochs}")
        self.objective = objective
        self.objective_names: tuple[str, ...] = (objective,)
        self.max_budget_epochs = int(max_budget_epochs)
        self.max_budget: float | None = float(self.max_budget_epochs)
        self.deterministic = bool(deterministic)
        self.eval_batch_size = int(eval_batch_size)
        self._data: DataSplits | None = None
        self._tensors: TensorSplits | None = None
        self._device: torch.device | None = None

    # ---- what a user writes -------------------------------------------------------------
    @abc.abstractmethod
    def load_data(self, context: WorkerContext) -> DataSplits:
        """The data set (called once per worker, in ``setup``)."""

    @abc.abstractmethod
    def build_model(self, config: Mapping[str, Any], data: DataSplits) -> nn.Module:
        """A fresh model for ``config`` (the engine moves it to the device)."""

    @abc.abstractmethod
    def build_optimizer(self, config: Mapping[str, Any], model: nn.Module) -> torch.optim.Optimizer:
        """The optimizer over ``model.parameters()`` (already on the device)."""

    def build_scheduler(
        self, config: Mapping[str, Any], optimizer: torch.optim.Optimizer
    ) -> torch.optim.lr_scheduler.LRScheduler | None:
        """Per-epoch LR scheduler; default cosine annealing over ``max_budget_epochs``."""
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.max_budget_epochs, eta_min=0.0)

    def build_loss(self, config: Mapping[str, Any], data: DataSplits) -> nn.Module:
        """Training loss; default ``nn.CrossEntropyLoss()``."""
        return nn.CrossEntropyLoss()

    def batch_size(self, config: Mapping[str, Any]) -> int:
        """Training batch size; default ``config["batch_size"]`` or 64."""
        return int(config.get("batch_size", 64))

    def preflight(self) -> None:  # noqa: B027 (a hook: workloads with data files override it)
        """Cheap checks the CLI makes on the manager before it creates the run directory (default: none).

        Raise a `DataError`/`ConfigError` naming the problem (a missing file, a
        missing column, the wrong shape); read headers, not the data.
        """

    # ---- the Workload protocol ----------------------------------------------------------
    def setup(self, context: WorkerContext) -> None:
        """Pick the device, load the data and move it there (once per worker)."""
        torch.set_num_threads(max(1, int(context.torch_threads)))
        device = resolve_device(context.device)
        if device.type == "cuda":
            torch.cuda.set_device(device)
            if self.deterministic:
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
                torch.backends.cudnn.deterministic = True
                torch.backends.cudnn.benchmark = False
        if self._data is None:
            data = self.load_data(context)
            if not isinstance(data, DataSplits):
                raise WorkloadError(f"{type(self).__name__}.load_data must return DataSplits, got {type(data)}")
            self._data = data
        if self._tensors is None or self._device != device:
            self._tensors = self._data.to_tensors(device)
        self._device = device

    def evaluate(self, trial: Trial, context: WorkerContext) -> Evaluation:
        """Train ``trial.config`` to ``trial.budget_epochs`` (continuing a checkpoint if asked)."""
        if self._tensors is None or self._device != resolve_device(context.device):
            self.setup(context)
        assert self._device is not None
        torch.set_num_threads(max(1, int(context.torch_threads)))
        budget = self._budget(trial.budget_epochs)
        cuda = [self._device.index or 0] if self._device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            return self._run(trial, context, budget)

    @property
    def data(self) -> DataSplits:
        """The worker's data set (numpy arrays); available after ``setup``."""
        if self._data is None:
            raise WorkloadError(f"{type(self).__name__}: call setup(context) before using the data")
        return self._data

    @property
    def tensors(self) -> TensorSplits:
        """The data set on the worker's device; available after ``setup``."""
        if self._tensors is None:
            raise WorkloadError(f"{type(self).__name__}: call setup(context) before using the data")
        return self._tensors

    @property
    def device(self) -> torch.device | None:
        """The device chosen in ``setup`` (None before)."""
        return self._device

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_data=None, _tensors=None, _device=None)  # each worker loads its own
        return state

    # ---- engine ---------------------------------------------------------------------------
    def _budget(self, budget_epochs: float) -> int:
        epochs = round(float(budget_epochs))
        if epochs < 1 or abs(epochs - float(budget_epochs)) > 1e-9:
            raise WorkloadError(f"budget_epochs must be a whole number >= 1, got {budget_epochs}")
        if epochs > self.max_budget_epochs:
            raise WorkloadError(f"budget_epochs {epochs} exceeds max_budget_epochs {self.max_budget_epochs}")
        return epochs

    def _fresh(self, config: Mapping[str, Any], seed: int) -> tuple[nn.Module, Any, Any]:
        torch.manual_seed(seed)
        assert self._data is not None
        model = self.build_model(config, self._data).to(self._device)
        optimizer = self.build_optimizer(config, model)
        return model, optimizer, self.build_scheduler(config, optimizer)

    def _load_resume(self, trial: Trial, context: WorkerContext, budget: int) -> dict[str, Any] | None:
        if trial.resume_from is None:
            return None
        if context.checkpoint_dir is None:
            log.warning("trial %d: resume_from=%s but no checkpoint_dir: training from scratch",
                        trial.trial_id, trial.resume_from)
            return None
        path = checkpoint_path(context.checkpoint_dir, trial.resume_from)
        if not path.is_file():
            log.warning("trial %d: checkpoint %s not found: training from scratch", trial.trial_id, path)
            return None
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # unreadable file: a new run is better than a failed trial
            log.warning("trial %d: checkpoint %s unreadable (%s): training from scratch", trial.trial_id, path, exc)
            return None
        if int(ckpt["epochs"]) > budget:
            log.warning("trial %d: checkpoint %s has %d epochs > budget %d: training from scratch",
                        trial.trial_id, path, ckpt["epochs"], budget)
            return None
        if int(ckpt.get("max_budget_epochs", self.max_budget_epochs)) != self.max_budget_epochs:
            log.warning("trial %d: checkpoint %s was trained with max_budget_epochs=%s (now %d)",
                        trial.trial_id, path, ckpt.get("max_budget_epochs"), self.max_budget_epochs)
        return ckpt

    def _restore(self, ckpt: dict[str, Any], trial: Trial, seed: int) -> tuple[nn.Module, Any, Any] | None:
        """Model/optimizer/scheduler continuing ``ckpt`` for ``trial.config``, or None if incompatible."""
        config = dict(trial.config)
        model, optimizer, scheduler = self._fresh(config, seed)
        try:
            model.load_state_dict(ckpt["model"])
        except (RuntimeError, KeyError, ValueError) as exc:
            log.warning("trial %d: checkpoint %s does not fit this config's model (%s): training from scratch",
                        trial.trial_id, trial.resume_from, str(exc).splitlines()[0])
            return None
        loaded = False
        if ckpt.get("optimizer_class") == type(optimizer).__name__:
            try:
                optimizer.load_state_dict(ckpt["optimizer"])
                loaded = True
            except (ValueError, KeyError, RuntimeError) as exc:
                log.warning("trial %d: optimizer state of %s not loaded (%s)", trial.trial_id, trial.resume_from, exc)
        if loaded and ckpt.get("config") == {k: _plain(v) for k, v in config.items()}:
            if scheduler is not None and ckpt.get("scheduler") is not None:
                scheduler.load_state_dict(ckpt["scheduler"])
            return model, optimizer, scheduler
        # PBT exploit / new hyperparameters: the new config's optimizer settings at epoch t of its schedule.
        fresh_opt = self.build_optimizer(config, model)
        fresh_sched = self.build_scheduler(config, fresh_opt)
        if fresh_sched is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for _ in range(int(ckpt["epochs"])):
                    fresh_sched.step()
        if not loaded:
            return model, fresh_opt, fresh_sched
        for group, new in zip(optimizer.param_groups, fresh_opt.param_groups):
            group.update({k: v for k, v in new.items() if k != "params"})
        if scheduler is not None and fresh_sched is not None:
            scheduler.load_state_dict(fresh_sched.state_dict())
        return model, optimizer, scheduler

    def _run(self, trial: Trial, context: WorkerContext, budget: int) -> Evaluation:
        assert self._tensors is not None and self._data is not None and self._device is not None
        data, device = self._tensors, self._device
        config = dict(trial.config)
        ckpt = self._load_resume(trial, context, budget)
        same_lineage = ckpt is not None and int(ckpt.get("individual_id", -1)) == trial.individual_id
        seed = int(ckpt["seed"]) if same_lineage and ckpt is not None else int(trial.seed)
        restored = self._restore(ckpt, trial, seed) if ckpt is not None else None
        if restored is None:
            ckpt, same_lineage, seed = None, False, int(trial.seed)
            model, optimizer, scheduler = self._fresh(config, seed)
        else:
            model, optimizer, scheduler = restored
        start_epoch = int(ckpt["epochs"]) if ckpt is not None else 0
        curve: dict[str, list[float]] = {k: [] for k in CURVE_KEYS}
        if ckpt is not None:
            curve.update({k: [float(v) for v in vals] for k, vals in ckpt["curve"].items()})
            if same_lineage:
                torch.set_rng_state(ckpt["rng_cpu"])
                if device.type == "cuda" and ckpt.get("rng_cuda") is not None:
                    torch.cuda.set_rng_state(ckpt["rng_cuda"], device)
            else:
                torch.manual_seed(epoch_seed(seed, start_epoch))
        loss_fn = self.build_loss(config, self._data).to(device)
        batch_size = max(1, self.batch_size(config))
        n = data.x_train.shape[0]
        has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
        n_used = n - 1 if has_bn and n % batch_size == 1 and n > 1 else n
        starts = list(range(0, n_used, batch_size))
        sizes = torch.tensor([min(batch_size, n_used - s) for s in starts], device=device, dtype=torch.float32)
        x_buf, y_buf = torch.empty_like(data.x_train), torch.empty_like(data.y_train)
        gen = torch.Generator(device=device)
        t_train = time.perf_counter()
        for epoch in range(start_epoch + 1, budget + 1):
            t0 = time.perf_counter()
            lr = float(optimizer.param_groups[0]["lr"])
            gen.manual_seed(epoch_seed(seed, epoch))
            perm = torch.randperm(n, generator=gen, device=device)
            torch.index_select(data.x_train, 0, perm, out=x_buf)
            torch.index_select(data.y_train, 0, perm, out=y_buf)
            model.train()
            losses = []
            for s in starts:
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(x_buf[s : s + batch_size]), y_buf[s : s + batch_size])
                loss.backward()
                optimizer.step()
                losses.append(loss.detach())
            if scheduler is not None:
                scheduler.step()
            train_loss = float((torch.stack(losses).float() * sizes).sum()) / n_used
            if not math.isfinite(train_loss):
                raise TrainingDiverged(epoch, train_loss)
            val = evaluate_split(model, data.x_val, data.y_val, data.n_classes, self.eval_batch_size)
            for key, value in (("train_loss", train_loss), ("val_loss", val["loss"]),
                               ("val_accuracy", val["accuracy"]),
                               ("val_balanced_accuracy", val["balanced_accuracy"]),
                               ("objective", self._objective(val)), ("lr", lr),
                               ("epoch_time_s", time.perf_counter() - t0)):
                curve[key].append(float(value))
        train_time = time.perf_counter() - t_train
        if start_epoch == budget:  # nothing to train: the checkpoint already has the budget
            val = evaluate_split(model, data.x_val, data.y_val, data.n_classes, self.eval_batch_size)
        test = evaluate_split(model, data.x_test, data.y_test, data.n_classes, self.eval_batch_size)
        written = None
        if context.checkpoint_dir is not None:
            written = trial.checkpoint_key
            self._save(trial, context, seed, budget, model, optimizer, scheduler, curve)
        metrics = {f"val_{k}": v for k, v in val.items()} | {f"test_{k}": v for k, v in test.items()}
        metrics.update(
            test_error=1.0 - test["accuracy"], val_error=1.0 - val["accuracy"],
            train_loss=curve["train_loss"][-1] if curve["train_loss"] else math.nan,
            n_params=float(sum(p.numel() for p in model.parameters())),
            resumed_epochs=float(start_epoch), train_time_s=train_time,
        )
        return Evaluation(
            objectives=(self._objective(val),), metrics=metrics, curve=curve,
            epochs_trained=float(budget - start_epoch), cost_s=None, checkpoint=written,
        )

    def _objective(self, val: Mapping[str, float]) -> float:
        if self.objective == "val_loss":
            return val["loss"]
        if self.objective == "val_balanced_error":
            return 1.0 - val["balanced_accuracy"]
        return 1.0 - val["accuracy"]

    def _save(self, trial: Trial, context: WorkerContext, seed: int, epochs: int, model: nn.Module,
              optimizer: torch.optim.Optimizer, scheduler: Any, curve: Mapping[str, list[float]]) -> None:
        assert context.checkpoint_dir is not None and self._device is not None
        state = {
            "format": _FORMAT, "workload": type(self).__name__, "key": trial.checkpoint_key,
            "individual_id": int(trial.individual_id), "trial_id": int(trial.trial_id),
            "seed": int(seed), "epochs": int(epochs), "max_budget_epochs": self.max_budget_epochs,
            "config": {str(k): _plain(v) for k, v in trial.config.items()},
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "optimizer_class": type(optimizer).__name__,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state(self._device) if self._device.type == "cuda" else None,
            "curve": {k: list(v) for k, v in curve.items()},
        }
        path = checkpoint_path(context.checkpoint_dir, trial.checkpoint_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        torch.save(state, tmp)
        os.replace(tmp, path)
