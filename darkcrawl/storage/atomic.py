"""Crash-safe writes: whole files appear atomically, appended rows are never torn."""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path

_counter = itertools.count()


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write *data* to *path* so that readers (and a crash) see all of it or none.

    The bytes go to a temporary sibling that is renamed over *path*: rename is
    atomic on POSIX file systems, so a kill -9 leaves at most a stray ``.tmp``
    file, never a torn record.  *mode*: the file's permissions (0o600 for secrets).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{next(_counter)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    os.replace(tmp, path)


class AppendLog:
    """An append-only line file (``link.csv``, ``misc/*.txt``) safe against torn rows.

    Each row is one ``write(2)`` on an ``O_APPEND`` descriptor, so rows from
    several processes never interleave.  A kill -9 can still stop a row spanning
    pages part-way (Linux checks for a fatal signal between the pages of a write),
    as can a power cut: that torn tail is cut off when the file is opened again,
    so the next row starts on a line of its own.
    """

    def __init__(self, path: Path, header: bytes = b"") -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()
        if header and os.fstat(self._fd).st_size == 0:
            os.write(self._fd, header)

    def _repair_tail(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size == 0:
            return
        with open(self.path, "rb+") as handle:
            handle.seek(max(0, size - 65536))
            tail = handle.read()
            if tail.endswith(b"\n"):
                return
            cut = tail.rfind(b"\n")
            keep = size - len(tail) + cut + 1 if cut >= 0 else (0 if size <= 65536 else size)
            handle.truncate(keep)

    def append(self, row: bytes) -> None:
        """Append one complete row; *row* must end with a newline."""
        with self._lock:
            view = memoryview(row)
            written = os.write(self._fd, view)
            if written != len(row):  # only on a full disk: finish the row rather than tear it
                view = view[written:]
                while view:
                    view = view[os.write(self._fd, view):]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
