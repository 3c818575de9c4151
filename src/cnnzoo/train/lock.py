"""One writer per run directory: an exclusive ``flock`` on ``DIR/.lock`` for as long as the run is open.

The kernel drops a ``flock`` when the last descriptor of it closes, which
includes the death of its process by SIGKILL, so a crashed run never leaves a
stale lock behind. The file itself stays: deleting it would let a newcomer lock
a fresh file while another process still holds the old one. It records who
holds it (pid, host, command line, start time) for the message a second writer
gets.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
import weakref
from pathlib import Path

__all__ = ["LOCK_NAME", "DirLock", "RunDirError", "RunDirLocked"]

LOCK_NAME = ".lock"


class RunDirError(ValueError):
    """A run directory that cannot be used as asked (not empty, not writable, disk full)."""


class RunDirLocked(RunDirError):
    """Another process is writing to this run directory."""


def _holder_record() -> bytes:
    command = " ".join(sys.argv)
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command if len(command) <= 200 else command[:197] + "...",
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    return (json.dumps(record) + "\n").encode()


def _describe_holder(fd: int) -> str:
    try:
        h = json.loads(os.pread(fd, 4096, 0) or b"null")
        desc = f"pid {h['pid']} on {h['host']} (started {h['started']}: {h['command']})"
    except (OSError, ValueError, TypeError, KeyError):
        return "another process (it has not recorded itself yet)"
    if h["pid"] == os.getpid() and h["host"] == socket.gethostname():
        desc += ", this very process: close() the RunDirectory opened before"
    return desc


class DirLock:
    """An exclusive, non-blocking lock on ``directory``; released by :meth:`release` or garbage collection."""

    def __init__(self, directory: str | os.PathLike[str], *, probe: bool = False) -> None:
        """``probe``: only raise if another process holds the lock; take it for a moment and write nothing."""
        self.path = Path(directory) / LOCK_NAME
        try:
            fd = os.open(self.path, (os.O_RDONLY if probe else os.O_RDWR | os.O_CREAT) | os.O_CLOEXEC, 0o666)
        except OSError as e:
            raise RunDirError(f"cannot {'open' if probe else 'create'} the lock file {self.path}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if probe else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError as e:
            holder = _describe_holder(fd) if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN) else None
            os.close(fd)
            if holder is None:
                raise RunDirError(f"cannot lock {self.path}: {e.strerror or e}") from None
            raise RunDirLocked(
                f"run directory {self.path.parent} is in use by {holder}; "
                "only one run may write to it: wait for that one to end or stop it"
            ) from None
        if probe:
            os.close(fd)  # closing the descriptor drops the shared lock
            self._finalizer = weakref.finalize(self, int)
            self._finalizer()  # a probe holds nothing
            return
        # Who holds the lock is only for messages: a full disk must not stop the run here.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, _holder_record(), 0)
        self._fd = fd
        self._finalizer = weakref.finalize(self, os.close, fd)

    @property
    def held(self) -> bool:
        return self._finalizer.alive

    def release(self) -> None:
        """Let the next writer in (closing the descriptor drops the flock); safe to call twice."""
        self._finalizer()
