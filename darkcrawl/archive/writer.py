"""Rotating, crash-safe WARC files, written by the WARC writer process.

* **One gzip member per record, flushed after each batch**: a reader sees every
  record of a batch whose write returned, even after ``kill -9``; a torn last member
  is cut off by :func:`complete_length` (what ``scrapy wacz`` and the next start do).
* **Names no other process uses**: ``<prefix>-<time>-<serial>-<pid>~<host>.warc.gz``
  (Heritrix's), ``.open`` while written, renamed when closed; each file begins with
  a ``warcinfo`` record naming the software, the crawl and the round.
* **Off the crawl's process**: the digests, the serialisation (warcio) and the
  compression run in a process of its own (:mod:`darkcrawl.archive.writer_process`),
  which calls :meth:`WarcWriter.write_batch` with the jobs the crawl sends: functions
  that make the records (:mod:`darkcrawl.archive.jobs`).
* **Revisits** (identical-payload-digest): the writer keeps the payload digest of
  every 2xx response it wrote (:class:`Dedup`); the job making a response asks it,
  so the decision and the record it names are in one order.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Callable
from datetime import datetime, timezone
from io import BytesIO
from pathlib import Path
from typing import Any

from warcio.recordloader import ArcWarcRecord
from warcio.warcwriter import WARCWriter

from darkcrawl.archive.records import warcinfo_record
from darkcrawl.storage.paths import OPEN_SUFFIX, warc_name

logger = logging.getLogger(__name__)

#: zlib level of each record's gzip member: compression is two thirds of the writer's
#: CPU; on the bench's 15 KB pages level 1 takes 0.25 ms a page, level 6 (zlib's
#: default) 0.52 and warcio's 9 more, for 7% smaller files at 6
GZIP_LEVEL = 1
#: payload digests remembered for revisits (~200 B each); past it, new payloads are
#: written in full and not remembered
DEDUP_CAPACITY = 2_000_000

Job = Callable[["Dedup"], list[ArcWarcRecord]]


class Dedup:
    """Payload digest -> (record ID, target URI, date) of the response that had it first."""

    def __init__(self, enabled: bool, capacity: int = DEDUP_CAPACITY) -> None:
        self.enabled = enabled
        self.capacity = capacity
        self._first: dict[str, tuple[str, str, str]] = {}

    def seen(self, digest: str, rid: str, uri: str, date: str) -> tuple[str, str, str] | None:
        """The earlier record with this payload, or None (then this one is remembered)."""
        if not self.enabled:
            return None
        first = self._first.get(digest)
        if first is None and len(self._first) < self.capacity:
            self._first[digest] = (rid, uri, date)
        return first


def complete_length(path: Path) -> int:
    """Bytes of *path* made of whole gzip members: a file cut in the middle of a
    record (a killed writer) is valid up to there."""
    good = position = 0
    inflate = zlib.decompressobj(31)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            data = chunk
            while data:
                try:
                    inflate.decompress(data, 1 << 22)
                    while inflate.unconsumed_tail and not inflate.eof:  # bounded output per call
                        inflate.decompress(inflate.unconsumed_tail, 1 << 22)
                except zlib.error:
                    return good
                if not inflate.eof:
                    position += len(data)
                    break
                used = len(data) - len(inflate.unused_data)
                position += used
                good = position
                data = inflate.unused_data
                inflate = zlib.decompressobj(31)
    return good


def seal(path: Path) -> Path:
    """Close a WARC file its writer left open (a killed crawl): the torn last record
    cut off, the ``.open`` suffix dropped."""
    length = complete_length(path)
    with open(path, "r+b") as handle:
        handle.truncate(length)
    final = path.with_name(path.name.removesuffix(OPEN_SUFFIX))
    os.replace(path, final)
    return final


class WarcWriter:
    """The WARC files of one crawl process."""

    def __init__(self, folder: Path, prefix: str, max_size: int, info: list[tuple[str, str]],
                 dedup: Dedup, host: str, pid: int | None = None) -> None:
        self.folder = folder
        self.prefix = prefix
        self.max_size = max_size
        self.info = info
        self.dedup = dedup
        self.host = host
        self.pid = os.getpid() if pid is None else pid
        self.files: list[Path] = []  # closed files, in order
        self.records = 0
        self.bytes = 0
        self.errors = 0
        self._serial = 0
        self._handle: Any = None
        self._path: Path | None = None
        self._serialiser = WARCWriter(BytesIO(), gzip=False, warc_version="1.1")

    def close(self) -> list[Path]:
        """Close the file being written; the files written, in order."""
        self._close_file()
        return list(self.files)

    def write_batch(self, jobs: list[Job]) -> list[Exception | None]:
        """Make and write each job's records, then flush once: per job, None when its
        records are written (in the OS's hands), else what went wrong (counted; the
        crawl goes on after a full disk or a record that cannot be made)."""
        outcomes: list[Exception | None] = []
        for job in jobs:
            try:
                self._write(job(self.dedup))
            except Exception as exc:
                self.errors += 1
                logger.error("WARC record not written: %r", exc)
                outcomes.append(exc)
            else:
                outcomes.append(None)
        if self._handle is not None:
            self._handle.flush()
        return outcomes

    def _write(self, records: list[ArcWarcRecord]) -> None:
        if not records:
            return
        if self._handle is None or self._handle.tell() >= self.max_size:
            self._close_file()
            self._open_file()
        for record in records:
            self._handle.write(self._member(record))
            self.records += 1

    def _member(self, record: ArcWarcRecord) -> bytes:
        buffer = BytesIO()
        self._serialiser.out = buffer
        self._serialiser._write_warc_record(buffer, record)
        deflate = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
        member = deflate.compress(buffer.getvalue()) + deflate.flush()
        self.bytes += len(member)
        return member

    def _open_file(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._serial += 1
        name = warc_name(self.prefix, datetime.now(timezone.utc), self._serial, self.pid, self.host)
        self._path = self.folder / (name + OPEN_SUFFIX)
        self._handle = open(self._path, "xb", buffering=1 << 20)
        self._handle.write(self._member(warcinfo_record(name, self.info)))
        self.records += 1

    def _close_file(self) -> None:
        if self._handle is None or self._path is None:
            return
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        final = self._path.with_name(self._path.name.removesuffix(OPEN_SUFFIX))
        os.replace(self._path, final)
        self.files.append(final)
        self._handle = self._path = None
