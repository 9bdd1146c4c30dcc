#!/usr/bin/env python3
"""Set up evoautodl in ./.venv and run the demo or the tests.

    python3 quickstart.py run    # set up, then the embedded demo under mpiexec (1 manager + 2 workers)
    python3 quickstart.py test   # set up, then the whole test suite

Set-up (once; repeated only when pyproject.toml changes): a virtual
environment in .venv; torch is reused when the Python running this script
already has one (the venv then sees its site-packages), otherwise the CPU
build torch==2.13.0 is installed; then evoautodl with its MPI (mpi4py + the
MPICH wheel, which brings `mpiexec`), test and baselines (Optuna, DEHB, SMAC3)
extras. Extra arguments after
`run` or `test` are passed to `evoautodl demo` or `pytest`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".evoautodl-setup"
TORCH_CPU = "torch==2.13.0"


def sh(*cmd: str | Path, **kw) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, **kw)


def has_torch(python: str | Path) -> bool:
    return subprocess.run([str(python), "-c", "import torch"], capture_output=True).returncode == 0


def setup() -> None:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest and PY.exists():
        return
    if not PY.exists():
        system_torch = has_torch(sys.executable)
        args = [sys.executable, "-m", "venv", VENV]
        if system_torch:
            print("reusing the torch of", sys.executable, flush=True)
            args.insert(3, "--system-site-packages")
        sh(*args)
    sh(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    if not has_torch(PY):
        sh(PY, "-m", "pip", "install", "--quiet", TORCH_CPU)
    sh(PY, "-m", "pip", "install", "--quiet", "-e", ".[mpich,test,baselines]")
    STAMP.write_text(digest)


def run_demo(extra: list[str]) -> int:
    out = ROOT / "runs" / time.strftime("quickstart-%Y%m%d-%H%M%S")
    evo = [str(BIN / "evoautodl"), "demo", "--out", str(out), *extra]
    mpiexec = BIN / "mpiexec"
    if not mpiexec.exists():
        found = shutil.which("mpiexec")
        mpiexec = Path(found) if found else None
    if mpiexec is None:
        print("no mpiexec found: running the demo serially", flush=True)
        cmd = evo
    else:
        cmd = [str(mpiexec), "-n", "3", *evo]
    print("+", " ".join(cmd), flush=True)
    rc = subprocess.run(cmd, cwd=ROOT).returncode
    if rc == 0:
        print(f"\ninspect the run with: {BIN / 'evoautodl'} show {out}", flush=True)
    return rc


def run_tests(extra: list[str]) -> int:
    cmd = [str(PY), "-m", "pytest", *extra]
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT).returncode


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test"):
        print(__doc__)
        return 2
    setup()
    return run_demo(sys.argv[2:]) if sys.argv[1] == "run" else run_tests(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
