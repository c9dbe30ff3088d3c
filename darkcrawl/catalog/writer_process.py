"""The catalogue's writer, in a process of its own.

A writer *thread* cost the crawl twice what its SQL costs: every statement lets
Python's GIL go and takes it back, and the crawl's thread, which needs the GIL
for every page, waits for it each time (measured on `make bench`: 1.35 CPU-ms per
page for the catalogue in a thread, 0.66 for the same rows written by one thread
alone).  In a process the writer has an interpreter of its own; the crawl only
hands it its rows, a batch at a time, through a :class:`multiprocessing.Queue`
(whose feeder thread pickles them and writes them to a pipe: one GIL hand-off per
batch, not per statement).

The process dies with the crawl (``PR_SET_PDEATHSIG``): a crawl killed with
``kill -9`` leaves the catalogue as its last committed batch left it, as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import queue
import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from darkcrawl.catalog.db import CatalogDB, CatalogError, redact
from darkcrawl.catalog.rows import FailureRow, Visit
from darkcrawl.catalog.writer import CatalogWriter

if TYPE_CHECKING:
    from darkcrawl.catalog.facets import Facet

logger = logging.getLogger(__name__)

#: a batch the database refused is tried this many times, a second apart
WRITE_ATTEMPTS = 3
#: the crawl's message that there is nothing more to write
STOP = "stop"
_PR_SET_PDEATHSIG = 1


@dataclass(slots=True)
class Totals:
    """What the writer did, sent back to the crawl when it is done."""

    batches: int = 0
    snapshots: int = 0
    renders: int = 0
    failures: int = 0
    lost: int = 0
    finish_failed: bool = False
    unavailable: str | None = None
    cpu_seconds: float = 0.0  # the writer process's own, for the stats
    errors: list[str] = field(default_factory=list)


def _die_with_parent() -> None:
    """Linux: this process gets SIGKILL when the crawl's process dies, however it dies."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def writer_main(location: str, facets: list[Facet], batch: int, interval: float, rows: Any, results: Any) -> None:
    """The process: rows from *rows* into the catalogue at *location*, in batches of
    *batch* rows (or what came within *interval* s), until :data:`STOP`; then the
    facets' closing pass and the totals put on *results*."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the crawl's Ctrl-C is the crawl's to handle
    totals = Totals()
    try:
        db = CatalogDB.open(location)
    except CatalogError as exc:
        totals.unavailable = str(exc)
        results.put(totals)
        _drain(rows)
        return
    writer = CatalogWriter(db, facets)
    try:
        stop = False
        while not stop:
            pending, stop = _next_batch(rows, batch, interval)
            if pending:
                _write(writer, pending, totals, location)
        try:
            writer.finish()
        except Exception as exc:  # derived data: the crawl's result stands, a rebuild redoes it
            totals.finish_failed = True
            totals.errors.append(f"closing pass: {exc!r}")
    finally:
        db.close()
        totals.cpu_seconds = time.process_time()
        results.put(totals)


def _drain(rows: Any) -> None:
    """Read and drop rows until the crawl says stop (its feeder must not block on a full pipe)."""
    while True:
        message = rows.get()
        if message == STOP:
            return


def _next_batch(rows: Any, batch: int, interval: float) -> tuple[list[Any], bool]:
    """Up to *batch* rows (the crawl sends lists of them), waiting at most *interval*
    once the first is in."""
    pending: list[Any] = []
    message = rows.get()
    if message == STOP:
        return pending, True
    pending.extend(message)
    deadline = time.monotonic() + interval
    while len(pending) < batch:
        try:
            message = rows.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if message == STOP:
            return pending, True
        pending.extend(message)
    return pending, False


def _write(writer: CatalogWriter, pending: list[Any], totals: Totals, location: str) -> None:
    visits = [r for r in pending if isinstance(r, Visit)]
    failures = [r for r in pending if isinstance(r, FailureRow)]
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            counts = writer.write(visits, failures)
        except Exception as exc:  # sqlite3 / psycopg errors: the catalogue is derived, the crawl goes on
            if attempt < WRITE_ATTEMPTS:
                time.sleep(1.0)
                continue
            totals.lost += len(pending)
            totals.errors.append(f"catalogue {redact(location)} refused {len(pending)} rows ({exc!r})")
            return
        break
    totals.batches += 1
    totals.snapshots += counts.snapshots
    totals.renders += counts.renders
    totals.failures += counts.failures
