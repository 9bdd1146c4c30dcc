"""Layering: space <- operators <- algorithms never import the layers above them, torch or mpi4py.

Two checks, each shown to fail on a deliberate violation:

* static: every ``import`` / ``from ... import`` / ``importlib.import_module("...")``
  anywhere in a module of the layer (function-level lazy imports included,
  which an import-time check cannot see) is compared with the layer's
  forbidden prefixes;
* at import time: importing the core packages and every registered algorithm
  module in a fresh interpreter loads neither torch, mpi4py, nor the runner,
  backends, log or run directory modules.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "evoautodl"

HEAVY = ("torch", "mpi4py")
#: layers above the algorithms (the algorithms, operators and space never import them)
UPPER = ("evoautodl.runner", "evoautodl.backends", "evoautodl.log", "evoautodl.rundir", "evoautodl.experiment",
         "evoautodl.cli", "evoautodl.workloads", "evoautodl.analysis", "evoautodl.testing", "evoautodl.grid")
#: folder under evoautodl/ -> forbidden module prefixes
RULES: dict[str, tuple[str, ...]] = {
    "space": (*HEAVY, *UPPER, "evoautodl.operators", "evoautodl.algorithms"),
    "operators": (*HEAVY, *UPPER, "evoautodl.algorithms"),
    "algorithms": (*HEAVY, *UPPER),
}


def _imports(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, module) of every import in a source file, relative imports resolved against ``package``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            out.append((node.lineno, node.args[0].value))
    return out


def layer_violations(folder: Path, layer: str) -> list[str]:
    """``file:line imports module`` for every forbidden import in the modules of ``folder``."""
    forbidden = RULES[layer]
    found = []
    for path in sorted(folder.rglob("*.py")):
        package = "evoautodl." + ".".join(path.relative_to(folder.parent).with_suffix("").parts[:-1])
        for line, module in _imports(path, package):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                found.append(f"{path.name}:{line} imports {module}")
    return found


def test_space_operators_and_algorithms_import_only_downward() -> None:
    for layer in RULES:
        assert layer_violations(PACKAGE / layer, layer) == [], layer


def test_the_static_check_catches_a_deliberate_violation(tmp_path: Path) -> None:
    copy = tmp_path / "algorithms"
    shutil.copytree(PACKAGE / "algorithms", copy)
    (copy / "_violation.py").write_text(textwrap.dedent(
        """
        from evoautodl.runner import Runner
        from ..backends import serial


        def lazy():
            import torch
            import importlib
            return importlib.import_module("mpi4py.MPI")
        """
    ))
    assert layer_violations(copy, "algorithms") == [
        "_violation.py:2 imports evoautodl.runner",
        "_violation.py:2 imports evoautodl.runner.Runner",
        "_violation.py:3 imports evoautodl.backends",
        "_violation.py:3 imports evoautodl.backends.serial",
        "_violation.py:7 imports torch",
        "_violation.py:9 imports mpi4py.MPI",
    ]
    (copy / "_violation.py").unlink()
    assert layer_violations(copy, "algorithms") == []


# ---------------------------------------------------------------------------------------------- at import time
def _loaded_after(code: str, watched: tuple[str, ...], path: Path | None = None) -> list[str]:
    """Modules of ``watched`` (prefixes) in sys.modules after running ``code`` in a fresh interpreter."""
    probe = (
        (f"import sys; sys.path.insert(0, {str(path)!r})\n" if path else "")
        + f"{code}\nimport sys\n"
        + f"watched = {watched!r}\n"
        + "print(','.join(sorted(m for m in sys.modules if any(m == w or m.startswith(w + '.') for w in watched))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return [m for m in out.stdout.strip().split(",") if m]


def _algorithm_modules() -> list[str]:
    from evoautodl.algorithms import ALGORITHM_SPECS, BASELINE_LIBRARIES, available_algorithms

    # the registered baselines wrap other libraries (which may load anything): not algorithm modules of ours
    return sorted({ALGORITHM_SPECS[n].split(":")[0] for n in available_algorithms() if n not in BASELINE_LIBRARIES})


def test_core_packages_and_algorithm_modules_load_nothing_above_them() -> None:
    modules = _algorithm_modules()
    assert len(modules) >= 9
    code = "import evoautodl, evoautodl.space, evoautodl.operators, evoautodl.algorithms\n" + "\n".join(
        f"import {m}" for m in modules)
    assert _loaded_after(code, HEAVY + UPPER) == []


def test_the_runner_and_the_package_namespace_stay_light() -> None:
    code = "import evoautodl, evoautodl.runner\nevoautodl.Runner, evoautodl.get_algorithm, evoautodl.MPIBackend"
    assert _loaded_after(code, HEAVY) == []


def test_the_import_time_check_catches_a_deliberate_violation(tmp_path: Path) -> None:
    (tmp_path / "violating_algorithm.py").write_text(
        "from evoautodl.algorithms.base import Algorithm\nfrom evoautodl.runner import Runner\n")
    assert "evoautodl.runner" in _loaded_after("import violating_algorithm", UPPER, tmp_path)
