"""The run directory: one writer at a time, and nothing in it lost or mixed between runs.

``RunDirectory.open(DIR, mode)`` locks ``DIR`` (see :mod:`cnnzoo.train.lock`)
and then, by ``mode``:

* ``"new"``: ``DIR`` must be empty; a finished or crashed run is never
  written over by accident.
* ``"resume"``: the rows of ``metrics.jsonl`` are read back into ``rows``
  (``truncate_after(epoch)`` then drops those the checkpoint does not cover).
* ``"overwrite"``: the previous run's files are removed first.

In every mode it removes the temporary files of writes a crash interrupted and
rebuilds checkpoint sidecars that disagree with their weights. One row per
epoch is appended to ``metrics.jsonl`` with a single ``write`` on an
``O_APPEND`` descriptor and fsynced, so a crash loses at most that row; a torn
last line is dropped on resume. ``metrics.csv`` and ``config.json`` are
rewritten atomically. The curves are drawn by the training callbacks.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from cnnzoo.train.checkpoint import atomic_write_bytes, repair_sidecars
from cnnzoo.train.lock import LOCK_NAME, DirLock, RunDirError, RunDirLocked

__all__ = ["MODES", "RunDirError", "RunDirLocked", "RunDirectory", "RunLogger", "prepare_run_dir"]

MODES = ("new", "resume", "overwrite")
log = logging.getLogger(__name__)


def prepare_run_dir(out: str | os.PathLike[str]) -> Path:
    """Create ``out`` and check that it is writable; a ``RunDirError`` that says why if not."""
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--out {path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise RunDirError(f"cannot write the run directory {path}: {e.strerror or e}") from None
    return path


def _listing(names: list[str], limit: int = 5) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _is_orphan(p: Path) -> bool:
    # atomic_write_bytes writes ".NAME.XXXXXXXX.tmp" and renames it; one left behind was cut off.
    return p.name.startswith(".") and p.name.endswith(".tmp") and p.is_file()


class RunDirectory:
    """An open run directory; see the module docstring. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike[str], mode: str = "new", *, resume_hint: bool = True) -> None:
        if mode not in MODES:
            raise ValueError(f"run directory mode must be one of {', '.join(MODES)}; got {mode!r}")
        self.path = Path(path).expanduser()
        if mode == "resume" and not self.path.is_dir():
            raise RunDirError(f"--resume {self.path}: no such run directory")
        if self.path.is_dir():
            self._check_mode(mode, resume_hint)  # before the lock file: a refused directory stays untouched
        prepare_run_dir(self.path)
        self.mode = mode
        self.rows: list[dict[str, Any]] = []
        self.warnings: list[str] = []  # what opening repaired; also logged
        self._lock = DirLock(self.path)
        try:
            self._check_mode(mode, resume_hint)  # again: only now can no other run change the directory
            if mode == "overwrite":
                self._clear()
            self._remove_orphans()
            for p in repair_sidecars(self.path):
                self._warn(f"rebuilt {p} from its weights (it was missing or described other weights)")
            if mode == "resume":
                self.rows = self._read_rows()
        except OSError as e:
            self.close()
            raise RunDirError(f"cannot prepare the run directory {self.path}: {e.strerror or e}") from None
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, path: str | os.PathLike[str], mode: str = "new", *, resume_hint: bool = True) -> RunDirectory:
        """Lock and prepare ``path`` for a run in ``mode`` ("new", "resume" or "overwrite")."""
        return cls(path, mode, resume_hint=resume_hint)

    @classmethod
    def check(cls, path: str | os.PathLike[str], mode: str = "new", *, resume_hint: bool = True) -> None:
        """Raise what :meth:`open` would raise for ``path`` in ``mode`` now, creating and changing nothing.

        Set-up calls it before it builds the model and the optimizer, so a
        refused directory is refused at once; :meth:`open` checks again under the lock.
        """
        probe = cls.__new__(cls)
        probe.path = Path(path).expanduser()
        if mode == "resume" and not probe.path.is_dir():
            raise RunDirError(f"--resume {probe.path}: no such run directory")
        if not probe.path.is_dir():
            return
        probe._check_mode(mode, resume_hint)
        if (probe.path / LOCK_NAME).exists():
            DirLock(probe.path, probe=True)

    @property
    def dir(self) -> Path:  # the name RunLogger used
        return self.path

    def __enter__(self) -> RunDirectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the lock; the next run may open the directory. Safe to call twice."""
        self._lock.release()

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning(message)

    def _entries(self) -> list[Path]:
        return sorted(p for p in self.path.iterdir() if p.name != LOCK_NAME)

    # -- opening ---------------------------------------------------------------------------
    def _check_mode(self, mode: str, resume_hint: bool) -> None:
        entries = self._entries()
        names = [p.name for p in entries]
        if mode == "new" and entries:
            how = f"pass --resume {self.path} to continue that run or --overwrite to replace it" if resume_hint else "pass --overwrite to replace it or choose another --out"
            raise RunDirError(f"run directory {self.path} is not empty ({_listing(names)}); {how}")
        markers = ("config.json", "metrics.jsonl", "metrics.csv")
        if mode == "overwrite" and entries and not any(p.name in markers or p.suffix == ".safetensors" for p in entries):
            raise RunDirError(
                f"--overwrite {self.path}: it holds {_listing(names)} but no config.json, "
                "metrics.jsonl or checkpoint of a cnnzoo run, so nothing was deleted; choose another --out"
            )

    def _clear(self) -> None:
        for p in self._entries():
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()

    def _remove_orphans(self) -> None:
        orphans = [p for p in self._entries() if _is_orphan(p)]
        for p in orphans:
            p.unlink(missing_ok=True)
        if orphans:
            self._warn(f"removed {len(orphans)} temporary file(s) of interrupted writes in {self.path}: {_listing([p.name for p in orphans])}")

    def _read_rows(self) -> list[dict[str, Any]]:
        """The rows of ``metrics.jsonl``; a torn last line (a crash mid-append) is dropped with a warning."""
        jsonl = self.path / "metrics.jsonl"
        if not jsonl.exists():
            return []
        *lines, tail = jsonl.read_bytes().split(b"\n")
        rows, torn = [], tail.strip() != b""
        for i, line in enumerate(lines, 1):
            try:
                row = json.loads(line) if line.strip() else None
            except ValueError:
                row = "bad"
            if isinstance(row, dict):
                rows.append(row)
            elif row is not None and i == len(lines) and not torn:
                torn = True  # the last line: cut off before its end by a crash
            elif row is not None:
                raise RunDirError(f"{jsonl} line {i} is not a JSON object of metrics; repair or remove that line to resume")
        if torn:
            self._warn(f"dropped the incomplete last line of {jsonl} (a crash cut it off)")
            self._rewrite(rows)
        return rows

    # -- writing ---------------------------------------------------------------------------
    def checkpoint_stem(self, name: str) -> Path:
        """Where checkpoint ``name`` ("checkpoint-last") of this run lives, without suffix."""
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"a checkpoint name is a plain file name like 'checkpoint-last'; got {name!r}")
        return self.path / name

    def write_config(self, config: dict[str, Any]) -> None:
        """``config.json``, replaced atomically."""
        self._atomic(self.path / "config.json", (json.dumps(config, indent=2, default=str) + "\n").encode())

    def truncate_after(self, epoch: int) -> None:
        """Drop the rows of epochs after ``epoch`` (work the checkpoint being resumed does not hold)."""
        self.rows = [r for r in self.rows if r.get("epoch", 0) <= epoch]
        self._rewrite(self.rows)

    def append_row(self, row: dict[str, Any]) -> None:
        """Append one epoch's row to ``metrics.jsonl`` (durably) and rewrite ``metrics.csv``."""
        jsonl = self.path / "metrics.jsonl"
        line = (json.dumps(row) + "\n").encode()
        try:
            fd = os.open(jsonl, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as e:
            raise RunDirError(f"cannot append to {jsonl}: {e.strerror or e}") from None
        try:
            size = os.fstat(fd).st_size
            view = memoryview(line)
            while view:  # one write for a row this size; the loop only guards against a short write
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)  # no torn line left behind
            kept = f"the rows up to epoch {self.rows[-1].get('epoch')} are kept" if self.rows else "no row was written"
            raise RunDirError(f"cannot append to {jsonl}: {e.strerror or e}; {kept}") from None
        finally:
            os.close(fd)
        self.rows.append(dict(row))
        self._write_csv()

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        self._atomic(self.path / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
        self._write_csv()

    def _write_csv(self) -> None:
        keys: list[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        w.writerows(self.rows)
        self._atomic(self.path / "metrics.csv", buf.getvalue().encode())

    def _atomic(self, path: Path, data: bytes) -> None:
        try:
            atomic_write_bytes(path, data)
        except OSError as e:
            raise RunDirError(f"cannot write {path}: {e.strerror or e}; its previous version is intact") from None


class RunLogger(RunDirectory):
    """The earlier interface: ``RunLogger(DIR, resume=, resume_epoch=)`` and ``log_epoch(row, plot)``.

    Without ``resume`` the directory is opened with ``"overwrite"``.
    """

    def __init__(self, out_dir: str | os.PathLike[str], *, resume: bool = False, resume_epoch: int | None = None) -> None:
        super().__init__(out_dir, "resume" if resume else "overwrite")
        if resume and resume_epoch is not None:
            self.truncate_after(resume_epoch)

    def log_epoch(self, row: dict[str, Any], plot: bool = True) -> None:
        """Append one epoch's row; redraw ``curves.png`` if ``plot``."""
        from cnnzoo.train.plots import plot_curves

        self.append_row(row)
        if plot:
            plot_curves(self.rows, self.path / "curves.png")
