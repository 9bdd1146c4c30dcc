"""Layering: the core packages never import torch or mpi4py (imports point downward only)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "mpi4py")


def _imported_after(code: str) -> list[str]:
    probe = (
        f"{code}\n"
        "import sys\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return [m for m in out.stdout.strip().split(",") if m]


def test_core_packages_do_not_import_torch_or_mpi4py() -> None:
    heavy = _imported_after(
        "import evoautodl, evoautodl.algorithms, evoautodl.space, evoautodl.operators, evoautodl.runner"
    )
    assert heavy == [], f"importing the core packages imported {heavy}"


def test_every_registered_algorithm_module_is_light() -> None:
    from evoautodl.algorithms import ALGORITHM_SPECS, available_algorithms

    modules = sorted({ALGORITHM_SPECS[n].split(":")[0] for n in available_algorithms()})
    assert modules
    heavy = _imported_after("\n".join(f"import {m}" for m in modules))
    assert heavy == [], f"importing {modules} imported {heavy}"


def test_algorithm_layers_do_not_import_the_runner_or_backends() -> None:
    upper = ("evoautodl.runner", "evoautodl.backends.serial", "evoautodl.backends.simulated", "evoautodl.log")
    probe = (
        "import evoautodl.algorithms, evoautodl.space, evoautodl.operators, sys\n"
        f"print(','.join(m for m in {upper!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"the algorithm/space/operator layers imported {out.stdout.strip()}"
