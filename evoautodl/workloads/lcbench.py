"""LCBench surrogate workload (YAHPO Gym ONNX model, data release v1.0.2).

The surrogate predicts, for one of 34 OpenML tasks, the learning curve of an
MLP trained with the 7 LCBench hyperparameters (Zimmer, Lindauer & Hutter,
TPAMI 2021). It is the ONNX model of YAHPO Gym (Pfisterer et al., "YAHPO Gym",
AutoML-Conf 2022), called directly with onnxruntime (the ``yahpo-gym`` package
pins numpy<2 and an old ConfigSpace).

Model I/O (see the yahpo_data README):

- ``x_cat``  int32 (n, 1): ``encoding.json["OpenML_task_id"][task_id]``;
- ``x_cont`` float32 (n, 8): epoch, batch_size, learning_rate, momentum,
  weight_decay, num_layers, max_units, max_dropout (raw values);
- ``output`` (n, 6): time (cumulative seconds), val_accuracy (percent),
  val_cross_entropy, val_balanced_accuracy, test_cross_entropy,
  test_balanced_accuracy (fractions).

Users get the files from https://github.com/slds-lmu/yahpo_data (folder
``lcbench``, data release v1.0.2) and point ``EVOAUTODL_YAHPO_DATA`` (or the
``data_dir`` argument) at the folder that contains ``lcbench/model.onnx``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evoautodl.errors import WorkloadError
from evoautodl.records import Evaluation, Trial
from evoautodl.workloads.base import WorkerContext, resolve_budget

__all__ = [
    "ENV_VAR",
    "LCBENCH_HPS",
    "LCBENCH_OUTPUTS",
    "LCBENCH_TASK_IDS",
    "LCBenchSurrogate",
    "find_yahpo_data",
]

logger = logging.getLogger(__name__)

ENV_VAR = "EVOAUTODL_YAHPO_DATA"
"""Environment variable naming the folder that contains ``lcbench/model.onnx``."""

LCBENCH_HPS: tuple[str, ...] = (
    "batch_size", "learning_rate", "momentum", "weight_decay", "num_layers", "max_units", "max_dropout",
)
"""The 7 LCBench hyperparameters, in the model's column order (after ``epoch``)."""

LCBENCH_BOUNDS: dict[str, tuple[float, float]] = {
    "batch_size": (16, 512),
    "learning_rate": (1e-4, 0.1),
    "momentum": (0.1, 0.99),
    "weight_decay": (1e-5, 0.1),
    "num_layers": (1, 5),
    "max_units": (64, 1024),
    "max_dropout": (0.0, 1.0),
}
"""Ranges of config_space.json (the model extrapolates silently outside them)."""

LCBENCH_OUTPUTS: tuple[str, ...] = (
    "time", "val_accuracy", "val_cross_entropy", "val_balanced_accuracy",
    "test_cross_entropy", "test_balanced_accuracy",
)
"""Columns of the model output."""

LCBENCH_TASK_IDS: tuple[str, ...] = (
    "3945", "7593", "34539", "126025", "126026", "126029", "146212", "167104", "167149", "167152",
    "167161", "167168", "167181", "167184", "167185", "167190", "167200", "167201", "168329", "168330",
    "168331", "168335", "168868", "168908", "168910", "189354", "189862", "189865", "189866", "189873",
    "189905", "189906", "189908", "189909",
)
"""The 34 tasks of config_space.json (encoding.json also lists 167083, which it lacks)."""

MAX_EPOCHS = 52
_OBJECTIVES = ("val_error", "val_cross_entropy", "val_balanced_error", "test_balanced_error")
_SOURCE_HINT = (
    "get the files from the public GitHub repository slds-lmu/yahpo_data "
    "(https://github.com/slds-lmu/yahpo_data, folder 'lcbench', data release v1.0.2) "
    "and cite YAHPO Gym (Pfisterer et al., AutoML-Conf 2022) and LCBench (Zimmer et al., TPAMI 2021)"
)


def find_yahpo_data(data_dir: str | os.PathLike | None = None) -> Path:
    """Folder that contains ``lcbench/model.onnx``.

    Args:
        data_dir: that folder; None reads the environment variable
            ``EVOAUTODL_YAHPO_DATA``. The ``lcbench`` folder itself is accepted too.

    Raises:
        WorkloadError: the model file is not there (the message names the path
            tried, the variable to set and where to get the files).
    """
    if data_dir is not None and str(data_dir) != "":
        root, origin = Path(data_dir).expanduser(), "the data_dir argument"
    elif os.environ.get(ENV_VAR):
        root, origin = Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"
    else:
        raise WorkloadError(
            f"LCBench surrogate data not found: no data_dir given and {ENV_VAR} is unset; "
            f"set {ENV_VAR} to the folder that contains lcbench/model.onnx; {_SOURCE_HINT}"
        )
    if (root / "lcbench" / "model.onnx").is_file():
        return root
    if root.name == "lcbench" and (root / "model.onnx").is_file():
        return root.parent
    raise WorkloadError(
        f"LCBench surrogate data not found: tried {root / 'lcbench' / 'model.onnx'} (from {origin}); "
        f"set {ENV_VAR} (or data_dir) to the folder that contains lcbench/model.onnx; {_SOURCE_HINT}"
    )


class LCBenchSurrogate:
    """LCBench learning-curve surrogate as a workload (minimise ``objective``).

    Budgets are epochs 1..52. ``evaluate`` predicts the whole curve up to the
    budget in one batched model call; a trial resuming from checkpoint key
    ``..._bK`` counts the first K epochs as already trained (``epochs_trained =
    b - K``, ``cost_s = time(b) - time(K)``, clipped at 0 because the
    surrogate's cumulative time is not always monotone).

    Args:
        task_id: OpenML task id (one of ``LCBENCH_TASK_IDS``).
        objective: "val_error" (1 - val_accuracy/100, default),
            "val_cross_entropy", "val_balanced_error" (1 - val_balanced_accuracy)
            or "test_balanced_error" (1 - test_balanced_accuracy).
        data_dir: folder containing ``lcbench/model.onnx``; None reads
            ``EVOAUTODL_YAHPO_DATA`` when the files are first needed (on the worker).
    """

    min_budget: int = 1
    max_budget: int = MAX_EPOCHS
    #: what ``evaluate`` reads from a config (a config may carry ``OpenML_task_id`` to override the task)
    hyperparameters: tuple[str, ...] = (*LCBENCH_HPS, "OpenML_task_id")
    #: the model needs all 7 in every config
    required_hyperparameters: tuple[str, ...] = LCBENCH_HPS
    objective_descriptions: dict[str, str] = {
        "val_error": "1 - validation accuracy, fraction",
        "val_cross_entropy": "validation cross-entropy, nats",
        "val_balanced_error": "1 - validation balanced accuracy, fraction",
        "test_balanced_error": "1 - test balanced accuracy, fraction",
    }

    def __init__(
        self,
        task_id: str | int = "3945",
        objective: str = "val_error",
        data_dir: str | os.PathLike | None = None,
    ) -> None:
        if str(task_id) not in LCBENCH_TASK_IDS:
            raise WorkloadError(
                f"LCBench task_id {task_id!r} is not one of the 34 surrogate tasks: {', '.join(LCBENCH_TASK_IDS)}"
            )
        if objective not in _OBJECTIVES:
            raise WorkloadError(f"LCBench objective {objective!r} is not one of {', '.join(_OBJECTIVES)}")
        self.task_id = str(task_id)
        self.objective = objective
        self.objective_names: tuple[str, ...] = (objective,)
        self.data_dir = None if data_dir is None else str(data_dir)
        self._session: Any = None
        self._encoding: dict[str, int] | None = None

    # -- pickling: the onnxruntime session stays on the worker ---------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_session"] = None
        state["_encoding"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"LCBenchSurrogate(task_id={self.task_id!r}, objective={self.objective!r})"

    # -- files -----------------------------------------------------------------
    def data_root(self) -> Path:
        """Folder that contains ``lcbench/`` (raises WorkloadError when missing)."""
        return find_yahpo_data(self.data_dir)

    def space_json_path(self) -> Path:
        """Path of ``lcbench/config_space.json``."""
        return self.data_root() / "lcbench" / "config_space.json"

    def task_ids(self) -> list[str]:
        """The tasks of config_space.json's ``OpenML_task_id`` choices (34)."""
        spec = json.loads(self.space_json_path().read_text())
        for hp in spec["hyperparameters"]:
            if hp["name"] == "OpenML_task_id":
                return [str(c) for c in hp["choices"]]
        raise WorkloadError(f"{self.space_json_path()} has no OpenML_task_id hyperparameter")

    def search_space(self) -> Any:
        """The 7-hyperparameter LCBench space (task id and epoch dropped)."""
        from evoautodl.space import SearchSpace

        return SearchSpace.from_json(self.space_json_path(), drop=("OpenML_task_id", "epoch"))

    # -- model -------------------------------------------------------------------
    def setup(self, context: WorkerContext | None = None) -> None:
        """Load the ONNX model (one intra-op thread, no spinning)."""
        self._ensure_session()

    def _ensure_session(self) -> Any:
        if self._session is None:
            import onnxruntime as ort

            lc = self.data_root() / "lcbench"
            enc = json.loads((lc / "encoding.json").read_text())["OpenML_task_id"]
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = ort.InferenceSession(
                str(lc / "model.onnx"), sess_options=opts, providers=["CPUExecutionProvider"]
            )
            self._encoding = {str(k): int(v) for k, v in enc.items()}
            logger.debug("loaded LCBench surrogate from %s", lc)
        return self._session

    def predict(
        self, configs: Sequence[Mapping[str, Any]], epochs: int | float | Sequence[float] | np.ndarray
    ) -> np.ndarray:
        """Model outputs for many configs in one call.

        Args:
            configs: dicts with the 7 LCBench hyperparameters; a config may carry
                ``"OpenML_task_id"`` to override the workload's task.
            epochs: one epoch for all rows, or one per row (1..52).

        Returns:
            float32 array (n, 6), columns ``LCBENCH_OUTPUTS``.
        """
        sess = self._ensure_session()
        assert self._encoding is not None
        n = len(configs)
        ep = np.broadcast_to(np.asarray(epochs, dtype=np.float64), (n,))
        if n == 0:
            return np.zeros((0, len(LCBENCH_OUTPUTS)), dtype=np.float32)
        ok = (ep >= 1) & (ep <= MAX_EPOCHS)
        if not ok.all():
            raise ValueError(f"LCBench epochs must lie in 1..{MAX_EPOCHS}, got {ep[~ok][:3].tolist()}")
        codes = {t: self._encoding[t] for t in LCBENCH_TASK_IDS}
        try:
            x_cat = np.array([[codes[str(c.get("OpenML_task_id", self.task_id))]] for c in configs], dtype=np.int32)
        except KeyError as err:
            raise ValueError(f"LCBench: unknown OpenML_task_id {err.args[0]!r} in a config") from None
        try:
            hps = np.array([[c[name] for name in LCBENCH_HPS] for c in configs], dtype=np.float64)
        except KeyError as err:
            raise ValueError(f"LCBench config lacks hyperparameter {err.args[0]!r}") from None
        x_cont = np.column_stack([ep, hps])
        self._check_ranges(x_cont)
        out = sess.run(None, {"x_cat": x_cat, "x_cont": x_cont.astype(np.float32)})[0]
        return np.asarray(out, dtype=np.float32)

    @staticmethod
    def _check_ranges(x_cont: np.ndarray) -> None:
        for j, name in enumerate(LCBENCH_HPS, start=1):
            lo, hi = LCBENCH_BOUNDS[name]
            col = x_cont[:, j]
            tol = 1e-6 * max(abs(lo), abs(hi))
            bad = ~((col >= lo - tol) & (col <= hi + tol))
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"LCBench hyperparameter {name!r}={col[i]!r} (config {i}) is outside [{lo}, {hi}]")

    def check_space(self, space: Any) -> None:
        """Every LCBench hyperparameter of ``space`` stays inside the range the model was trained on.

        Raises:
            ConfigError: naming the hyperparameter and the range (outside it every trial would fail).
        """
        from evoautodl.errors import ConfigError
        from evoautodl.space import GeneKind

        for h in space.hyperparameters:
            if h.name == "OpenML_task_id":
                bad = [v for v in h.levels if str(v) not in LCBENCH_TASK_IDS]
                if h.kind not in (GeneKind.CATEGORICAL, GeneKind.ORDINAL, GeneKind.CONSTANT) or bad:
                    raise ConfigError(f"hyperparameter 'OpenML_task_id': values must be LCBench task ids, got "
                                      f"{bad[:3] or h.kind.name.lower()}")
                continue
            if h.name not in LCBENCH_BOUNDS:
                continue
            lo, hi = LCBENCH_BOUNDS[h.name]
            values = (h.lower, h.upper) if h.kind in (GeneKind.FLOAT, GeneKind.INT) else h.levels
            if any(isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi for v in values):
                raise ConfigError(f"hyperparameter {h.name!r}: the LCBench surrogate accepts numbers in [{lo:g}, "
                                  f"{hi:g}] (the model's training range), the space has {list(values)!r}")

    # -- workload protocol ------------------------------------------------------------
    def objective_values(self, outputs: np.ndarray) -> np.ndarray:
        """The minimised objective of each row of model outputs (`predict`'s columns `LCBENCH_OUTPUTS`)."""
        out = outputs
        if self.objective == "val_error":
            return 1.0 - out[:, 1] / 100.0
        if self.objective == "val_cross_entropy":
            return out[:, 2]
        if self.objective == "val_balanced_error":
            return 1.0 - out[:, 3]
        return 1.0 - out[:, 5]

    def evaluate(self, trial: Trial, context: WorkerContext | None = None) -> Evaluation:
        """Predict the learning curve of ``trial.config`` up to ``trial.budget_epochs``."""
        b, b0 = resolve_budget(trial, self.max_budget, self.min_budget, what="LCBench")
        out = self.predict([trial.config] * b, np.arange(1, b + 1)).astype(np.float64)
        time = out[:, 0]
        obj = self.objective_values(out)
        curve: dict[str, list[float]] = {
            "val_error": (1.0 - out[:, 1] / 100.0).tolist(),
            "val_accuracy": out[:, 1].tolist(),
            "val_cross_entropy": out[:, 2].tolist(),
            "val_balanced_accuracy": out[:, 3].tolist(),
            "time": time.tolist(),
        }
        if self.objective not in curve:
            curve[self.objective] = obj.tolist()
        last = out[-1]
        metrics = {
            "val_accuracy": float(last[1]),
            "val_balanced_accuracy": float(last[3]),
            "val_cross_entropy": float(last[2]),
            "test_balanced_accuracy": float(last[5]),
            "test_cross_entropy": float(last[4]),
            "time_s": float(last[0]),
        }
        done = float(time[b0 - 1]) if b0 >= 1 else 0.0
        return Evaluation(
            objectives=(float(obj[-1]),),
            metrics=metrics,
            curve=curve,
            epochs_trained=float(b - b0),
            cost_s=max(float(time[-1]) - done, 0.0),
            checkpoint=trial.checkpoint_key,
        )
