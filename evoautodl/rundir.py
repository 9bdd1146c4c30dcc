"""The run directory: layout, lock, atomic state, ask journal.

::

    runs/NAME/
      config.toml        resolved experiment configuration
      run.json           metadata: objective names, hyperparameter names, versions
      space.json         the search space (ConfigSpace JSON)
      evaluations.jsonl  append-only, one JSON object per finished trial
      journal.jsonl      append-only: {"after": n_told, "n": n, "ids": [...]} per ask (with
                         "run": true when its trials are submitted at once), {"run": [...]} before
                         other trials are submitted, {"stop": [...]} for trials a stopping run
                         cancelled
      state.pkl          algorithm + runner state (atomic: tmp + rename), written periodically
      checkpoints/       model states for budget continuation / PBT
      faults/            which trial a process ran when a fatal signal killed it (faulthandler)
      figures/           plots from `evoautodl analyze`

Resume restores ``state.pkl`` and replays the journal and the log written
after it (asks and tells in their original order), so a killed run continues
exactly, without losing or repeating a finished evaluation. The "run" and
"stop" marks count how often a trial was running when the run died (see
`evoautodl.resume`).

Durability: log and journal lines are flushed when written (they survive a
killed process); before ``state.pkl`` is replaced the runner forces log and
journal to disk (`sync_journal`), and ``state.pkl`` and ``run.json`` are
written to a temporary file, forced to disk and renamed, so after a power
loss the snapshot never counts a line the disk lost.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pickle
import shutil
from pathlib import Path
from typing import IO, Any, BinaryIO

from evoautodl.errors import RunDirError
from evoautodl.log import LOG_NAME, open_lines, read_meta, trim_partial_line, write_line

__all__ = ["RUN_FILES", "RunDir"]

_dumps = json.JSONEncoder(separators=(",", ":")).encode
_INT = frozenset((int,))

STATE_NAME = "state.pkl"
JOURNAL_NAME = "journal.jsonl"
META_NAME = "run.json"
#: what a run directory may hold (``--overwrite`` deletes a directory only if it holds nothing else)
RUN_FILES = frozenset({"config.toml", META_NAME, "space.json", LOG_NAME, JOURNAL_NAME, STATE_NAME, "checkpoints",
                       "faults", "figures", ".lock", f".{STATE_NAME}.tmp", f".{META_NAME}.tmp", ".config.toml.tmp"})


class RunDir:
    """Files of one run. ``acquire()`` takes an exclusive lock (one writer per run)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock: IO[str] | None = None
        self._journal: BinaryIO | None = None
        self.n_journal = 0

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def figures(self) -> Path:
        return self.path / "figures"

    @property
    def faults(self) -> Path:
        return self.path / "faults"

    def exists(self) -> bool:
        """True when the folder holds a run (a log or a state)."""
        return (self.path / LOG_NAME).exists() or (self.path / STATE_NAME).exists()

    def foreign_entries(self) -> list[str]:
        """Names in the folder that a run directory does not hold (sorted)."""
        try:
            return sorted(p.name for p in self.path.iterdir() if p.name not in RUN_FILES)
        except OSError as exc:
            raise RunDirError(f"cannot read {self.path}: {exc.strerror or exc}") from exc

    def check_new(self, overwrite: bool = False) -> str:
        """What `create` would do, without doing it: "new", "empty folder" or "overwrite"; RunDirError if refused."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"{self.path} is a file; the run directory must be a folder (choose another --out)")
        if self.exists():
            if not overwrite:
                raise RunDirError(
                    f"{self.path} already holds a run: use `evoautodl resume {self.path}`, choose another --out, "
                    "or pass --overwrite to delete it and start afresh"
                )
            foreign = self.foreign_entries()
            if foreign:
                shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
                raise RunDirError(f"{self.path} holds files that are not part of a run ({shown}): not deleting it")
            return "overwrite"
        return "empty folder" if self.path.is_dir() else "new"

    def create(self, overwrite: bool = False) -> None:
        """Make the folders of a new run; refuse a folder that already holds a run (unless ``overwrite``).

        ``overwrite`` deletes an existing run first, but only a folder that holds
        nothing but run files and is not in use.
        """
        if self.check_new(overwrite) == "overwrite":
            self.remove()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self.checkpoints.mkdir(exist_ok=True)
        except OSError as exc:
            raise RunDirError(f"cannot create the run directory {self.path}: {exc.strerror or exc}") from exc

    def remove(self, keep_folder: bool = False) -> None:
        """Delete this run directory, or only its run files with ``keep_folder`` (and release the lock).

        Refuses a folder that holds files a run does not write, and a run in use by another process.
        """
        foreign = self.foreign_entries()
        if foreign and not keep_folder:
            shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
            raise RunDirError(f"{self.path} holds files that are not part of a run ({shown}): not deleting it")
        self.acquire()
        try:
            if not keep_folder:
                shutil.rmtree(self.path)
            else:
                for name in RUN_FILES - {".lock"}:
                    p = self.path / name
                    if p.is_dir():
                        shutil.rmtree(p)
                    elif p.exists():
                        p.unlink()
                (self.path / ".lock").unlink(missing_ok=True)
        except OSError as exc:
            raise RunDirError(f"cannot delete {self.path}: {exc.strerror or exc}") from exc
        finally:
            self.release()

    def acquire(self) -> None:
        """Take the run's lock (no-op when this object holds it already)."""
        if self._lock is not None:
            return
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"{self.path} is a file, not a run directory")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fh = open(self.path / ".lock", "w")  # noqa: SIM115
        except OSError as exc:
            raise RunDirError(f"cannot use {self.path}: {exc.strerror or exc} (a run directory must be writable)") \
                from exc
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.close()
            raise RunDirError(f"{self.path} is in use by another evoautodl process") from exc
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock = fh

    @property
    def locked(self) -> bool:
        """True while this object holds the lock."""
        return self._lock is not None

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
        return read_meta(self.path)

    def write_atomic(self, name: str, data: bytes) -> None:
        """Replace ``name`` by ``data``: temporary file, fsync, rename, fsync of the folder."""
        tmp = self.path / f".{name}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path / name)
            _sync_dir(self.path)
        except OSError as exc:
            raise RunDirError(f"cannot write {self.path / name}: {exc.strerror or exc}") from exc

    # ------------------------------------------------------------------ state
    def save_state(self, state: dict[str, Any]) -> None:
        self.write_atomic(STATE_NAME, pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))

    def load_state(self) -> dict[str, Any] | None:
        p = self.path / STATE_NAME
        if not p.exists():
            return None
        try:
            state = pickle.loads(p.read_bytes())  # trusted: written by this run (see the README's trust notes)
        except Exception as exc:
            raise RunDirError(f"{p} cannot be read ({exc}); delete it to resume by replaying the log") from exc
        if not isinstance(state, dict) or not {"algorithm", "n_told", "n_journal"} <= set(state):
            raise RunDirError(f"{p} is not an evoautodl state; delete it to resume by replaying the log")
        return state

    # ------------------------------------------------------------------ journal
    def read_journal(self) -> list[dict[str, Any]]:
        """Every complete journal entry, in order (RunDirError naming a corrupt line)."""
        p = self.path / JOURNAL_NAME
        if not p.exists():
            return []
        out = []
        with open(p, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                if not raw.endswith(b"\n"):
                    break
                if not raw.strip():
                    continue
                try:
                    entry = json.loads(raw)
                except ValueError as exc:
                    raise RunDirError(f"{p}, line {number}: not JSON ({exc})") from exc
                if not isinstance(entry, dict) or not ({"ids", "run", "stop"} & set(entry)):
                    raise RunDirError(f"{p}, line {number}: not a journal entry")
                out.append(entry)
        return out

    def open_journal(self) -> None:
        p = self.path / JOURNAL_NAME
        try:
            self.n_journal = trim_partial_line(p)
            self._journal = open_lines(p)
        except OSError as exc:
            raise RunDirError(f"cannot open the journal {p}: {exc.strerror or exc}") from exc

    def _journal_write(self, line: str) -> None:
        """Append one entry (a JSON object, no newline), written through (it survives a killed process)."""
        if self._journal is None:
            self.open_journal()
        assert self._journal is not None
        try:
            write_line(self._journal, line)
        except OSError as exc:
            raise RunDirError(f"cannot write the journal in {self.path}: {exc.strerror or exc}") from exc
        self.n_journal += 1

    def journal_ask(self, after: int, n: int, ids: list[int], run: bool = False) -> None:
        """Record an ask: after ``after`` told results, ``ask(n)`` returned these trial ids.

        ``run``: the trials are submitted right away (the "run" mark in the same line).
        """
        if type(after) is int and type(n) is int and _INT.issuperset(map(type, ids)):
            # the usual case (exact ints: their JSON is their str), written without the encoder
            tail = ',"run":true}' if run else "}"
            self._journal_write(f'{{"after":{after},"n":{n},"ids":[{",".join(map(str, ids))}]{tail}')
        else:
            self._journal_write(_dumps({"after": after, "n": n, "ids": ids, "run": True} if run else
                                       {"after": after, "n": n, "ids": ids}))

    def journal_run(self, ids: list[int]) -> None:
        """Record that these trials are about to be submitted (an attempt each)."""
        self._journal_write(_dumps({"run": ids}))

    def journal_stop(self, ids: list[int]) -> None:
        """Record that these trials were cancelled by a stopping run (their attempts do not count)."""
        self._journal_write(_dumps({"stop": ids}))

    def truncate_journal(self, n_entries: int) -> None:
        """Keep only the first ``n_entries`` journal entries (recovery after a power loss)."""
        p = self.path / JOURNAL_NAME
        data = p.read_bytes()
        offset = count = 0
        for raw in data.splitlines(keepends=True):
            if count == n_entries:
                break
            offset += len(raw)
            count += raw.strip() != b""
        with open(p, "r+b") as fh:
            fh.truncate(offset)
        self.n_journal = count

    def sync_journal(self) -> None:
        """Force the journal's lines to disk."""
        if self._journal is not None:
            os.fsync(self._journal.fileno())

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


def _sync_dir(path: Path) -> None:
    """fsync a folder, so a rename in it survives a power loss (a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
