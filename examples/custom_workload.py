"""Plug your own model and data set into evoautodl in a few lines.

Subclass `TorchWorkload` and write three methods: where the data come from, how
a config becomes a model, and how it becomes an optimizer. The engine trains for
the trial's epoch budget on the worker's device, reports validation/test
metrics and a learning curve, writes checkpoints and continues promoted trials.

    python experiments/custom_workload.py                      # sklearn's wine data
    python experiments/custom_workload.py --csv my.csv --target label

Then give the workload and `SPACE` to any evoautodl algorithm.
"""

from __future__ import annotations

import argparse
import tempfile

import torch
from torch import nn

from evoautodl.backends.base import execute_trial
from evoautodl.data import DataSplits, load_dataset
from evoautodl.records import Trial
from evoautodl.workloads.base import WorkerContext
from evoautodl.workloads.training import TorchWorkload

# The search space, in the declarative form evoautodl.space.SearchSpace.from_dict reads.
SPACE = {
    "units": {"type": "int", "lower": 8, "upper": 256, "log": True},
    "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
    "lr": {"type": "float", "lower": 1e-3, "upper": 0.3, "log": True},
    "batch_size": {"type": "int", "lower": 8, "upper": 64, "log": True},
}


class TwoLayerNet(TorchWorkload):
    """A one-hidden-layer network on a CSV file or a scikit-learn data set."""

    def __init__(self, dataset: str = "wine", target: str | None = None, **engine_options):
        super().__init__(**engine_options)  # objective, max_budget_epochs, ...
        self.dataset, self.target = dataset, target

    def load_data(self, context: WorkerContext) -> DataSplits:
        return load_dataset(self.dataset, target=self.target, split_seed=0)

    def build_model(self, config, data: DataSplits) -> nn.Module:
        act = nn.ReLU() if config["activation"] == "relu" else nn.Tanh()
        return nn.Sequential(nn.Linear(data.n_features, config["units"]), act,
                             nn.Linear(config["units"], data.n_classes))

    def build_optimizer(self, config, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)


def main() -> None:
    parser = argparse.ArgumentParser(description="Evaluate a user-defined workload on a few configs.")
    parser.add_argument("--csv", help="CSV file (default: scikit-learn's wine data)")
    parser.add_argument("--target", help="target column of the CSV")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    workload = TwoLayerNet(args.csv or "wine", args.target, max_budget_epochs=args.epochs)
    configs = [
        {"units": 32, "activation": "relu", "lr": 0.05, "batch_size": 16},
        {"units": 128, "activation": "tanh", "lr": 0.01, "batch_size": 32},
    ]
    with tempfile.TemporaryDirectory() as ckpt_dir:
        context = WorkerContext.local(checkpoint_dir=ckpt_dir, device="cpu")
        workload.setup(context)
        for i, config in enumerate(configs):
            trial = Trial(trial_id=i, individual_id=i, config=config, genome=(), budget_epochs=args.epochs, seed=i)
            result = execute_trial(workload, trial, context)  # exceptions become FAILED results
            m = result.metrics
            print(f"config {i} {config}: status {result.status.value}, objective ({workload.objective}) "
                  f"{result.objective:.4f}, val acc {m.get('val_accuracy', float('nan')):.4f}, "
                  f"test acc {m.get('test_accuracy', float('nan')):.4f}, epochs {result.epochs_trained:g}, "
                  f"{result.cost_s:.2f} s")
            print("   val accuracy per epoch:", " ".join(f"{a:.2f}" for a in result.curve["val_accuracy"]))


if __name__ == "__main__":
    main()
