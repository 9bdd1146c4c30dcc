"""The run directory: layout, lock, atomic state, ask journal.

::

    runs/NAME/
      config.toml        resolved experiment configuration
      run.json           metadata: objective names, hyperparameter names, versions
      space.json         the search space (ConfigSpace JSON)
      evaluations.jsonl  append-only, one JSON object per finished trial
      journal.jsonl      append-only, one line per ask: {"after": n_told, "n": n, "ids": [...]}
      state.pkl          algorithm + runner state (atomic: tmp + rename), written periodically
      checkpoints/       model states for budget continuation / PBT
      figures/           plots from `evoautodl analyze`

Resume restores ``state.pkl`` and replays the journal and the log written
after it (asks and tells in their original order), so a killed run continues
exactly, without losing or repeating a finished evaluation.
"""

from __future__ import annotations

import fcntl
import json
import os
import pickle
from pathlib import Path
from typing import IO, Any

from evoautodl.errors import RunDirError
from evoautodl.log import trim_partial_line

__all__ = ["RunDir"]

STATE_NAME = "state.pkl"
JOURNAL_NAME = "journal.jsonl"
META_NAME = "run.json"


class RunDir:
    """Files of one run. ``acquire()`` takes an exclusive lock (one writer per run)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock: IO[str] | None = None
        self._journal: IO[str] | None = None
        self.n_journal = 0

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def figures(self) -> Path:
        return self.path / "figures"

    def exists(self) -> bool:
        return (self.path / "evaluations.jsonl").exists() or (self.path / STATE_NAME).exists()

    def create(self) -> None:
        """Make the folders of a new run; refuse a folder that already holds a run."""
        if self.exists():
            raise RunDirError(
                f"{self.path} already holds a run: use `evoautodl resume {self.path}` or choose another --out"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        self.checkpoints.mkdir(exist_ok=True)

    def acquire(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        fh = open(self.path / ".lock", "w")  # noqa: SIM115
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.close()
            raise RunDirError(f"{self.path} is in use by another evoautodl process") from exc
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock = fh

    def release(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    # ------------------------------------------------------------------ metadata
    def write_meta(self, meta: dict[str, Any]) -> None:
        self.write_atomic(META_NAME, json.dumps(meta, indent=2).encode())

    def read_meta(self) -> dict[str, Any]:
        p = self.path / META_NAME
        return json.loads(p.read_text()) if p.exists() else {}

    def write_atomic(self, name: str, data: bytes) -> None:
        tmp = self.path / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path / name)

    # ------------------------------------------------------------------ state
    def save_state(self, state: dict[str, Any]) -> None:
        self.write_atomic(STATE_NAME, pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))

    def load_state(self) -> dict[str, Any] | None:
        p = self.path / STATE_NAME
        if not p.exists():
            return None
        try:
            return pickle.loads(p.read_bytes())
        except Exception as exc:
            raise RunDirError(f"{p} cannot be read ({exc}); delete it to resume by replaying the log") from exc

    # ------------------------------------------------------------------ journal
    def read_journal(self) -> list[dict[str, Any]]:
        p = self.path / JOURNAL_NAME
        if not p.exists():
            return []
        out = []
        with open(p, "rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break
                if raw.strip():
                    out.append(json.loads(raw))
        return out

    def open_journal(self) -> None:
        p = self.path / JOURNAL_NAME
        self.n_journal = trim_partial_line(p)
        self._journal = open(p, "a", encoding="utf-8")  # noqa: SIM115

    def journal_ask(self, after: int, n: int, ids: list[int]) -> None:
        if self._journal is None:
            self.open_journal()
        assert self._journal is not None
        self._journal.write(json.dumps({"after": after, "n": n, "ids": ids}, separators=(",", ":")) + "\n")
        self._journal.flush()
        self.n_journal += 1

    # ------------------------------------------------------------------ checkpoints
    def remove_stale_temporaries(self) -> int:
        """Delete half-written checkpoint files (``*.tmp*``) a killed run left; returns how many."""
        removed = 0
        if self.checkpoints.is_dir():
            for p in self.checkpoints.glob("*.tmp*"):
                p.unlink(missing_ok=True)
                removed += 1
        return removed

    def delete_checkpoints(self, keys: list[str]) -> int:
        """Delete the files of these checkpoint keys; returns how many were removed."""
        wanted = set(keys)
        if not wanted:
            return 0
        try:  # one directory scan for all keys (a glob per key compiles a pattern per key)
            with os.scandir(self.checkpoints) as it:
                names = [e.name for e in it]
        except FileNotFoundError:
            return 0
        removed = 0
        for name in names:
            # "<key>.<ext>": the key is a prefix ending before one of the name's dots
            dot = name.find(".")
            while dot > 0 and name[:dot] not in wanted:
                dot = name.find(".", dot + 1)
            if dot > 0:
                try:
                    os.unlink(os.path.join(self.checkpoints, name))
                    removed += 1
                except FileNotFoundError:
                    pass
        return removed
