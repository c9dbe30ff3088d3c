"""The WARC writer in a process of its own.

In a thread (:class:`~darkcrawl.archive.writer.WarcWriter` alone) the records' making
(warcio's Python) took the GIL from the crawl's thread at every step: measured on
`make bench` (20 hosts x 400 pages), the archive cost the plain stage 20-28% of its
pages/s in three runs, over the 10% the archive promises.  Here the crawl pickles each
job (a module-level function and its arguments: the exchange's bytes, a page's
metadata fields) onto a :class:`multiprocessing.Queue`; a spawned process runs the same
:class:`WarcWriter` on them, payload digests and revisits included (its
:class:`~darkcrawl.archive.writer.Dedup` lives there).  A job submitted with *wait*
gets a future that a reader thread settles when the process says its records are on
disk: a page is marked done only after its records are (see the archive pipeline).
The process writes each batch itself, no thread of its own, and answers a batch's
waited jobs in one message: a message per job through a queue's feeder thread, and a
writer thread inside the process, cost the writer 17-19% more CPU a page
(``python -m bench.warc_writer``).

The process dies with the crawl (``PR_SET_PDEATHSIG``): a crawl killed with
``kill -9`` leaves an ``.open`` file valid up to its last whole record, sealed at the
next start, as before.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import os
import queue
import signal
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from darkcrawl.archive.writer import Dedup, Job, WarcWriter
from darkcrawl.processes import die_with_parent

logger = logging.getLogger(__name__)

#: the crawl's message that there is nothing more to write
STOP = "stop"
#: batches of jobs on their way to the process before the crawl waits (a disk slower
#: than the crawl slows the crawl, it does not fill memory)
QUEUE_SIZE = 64
#: jobs sent at once, at most (a batch is what one turn of the event loop queued)
BATCH = 64


@dataclass(slots=True)
class Totals:
    """What the process wrote, sent back when it is done."""

    files: list[Path] = field(default_factory=list)
    records: int = 0
    bytes: int = 0
    errors: int = 0


def writer_main(folder: Path, prefix: str, max_size: int, info: list[tuple[str, str]], dedup: Dedup,
                host: str, pid: int, jobs: Any, results: Any) -> None:
    """The process: jobs from *jobs* into the WARC files until :data:`STOP`; the
    tokens of a batch's waited jobs back on *results* (a pipe's sending end) once
    written, with the error of each that failed; then the totals."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the crawl's Ctrl-C is the crawl's to handle
    writer = WarcWriter(folder, prefix, max_size, info, dedup, host, pid=pid)
    while (batch := jobs.get()) != STOP:
        outcomes = writer.write_batch([job for _, job in batch])
        acks = [(token, None if error is None else repr(error))
                for (token, _), error in zip(batch, outcomes) if token is not None]
        if acks:
            results.send(("done", acks))
    files = writer.close()
    results.send(("closed", Totals(files, writer.records, writer.bytes, writer.errors)))


class WarcWriterProcess:
    """:class:`WarcWriter`'s interface (``submit``, ``close``, ``records``, ``bytes``,
    ``errors``), its work done in a spawned process.  Jobs must pickle: module-level
    functions (``functools.partial``) taking the :class:`Dedup` last."""

    def __init__(self, folder: Path, prefix: str, max_size: int, info: list[tuple[str, str]],
                 dedup: Dedup, host: str, pid: int | None = None) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a threaded reactor
        self._jobs = context.Queue(QUEUE_SIZE)
        # the answers on a plain pipe: sent by the process's only thread (a Queue's
        # feeder thread would take the GIL from it at every batch), read here until
        # the process's end closes it
        self._results, results = context.Pipe(duplex=False)
        self._process = context.Process(
            target=writer_main, name="darkcrawl-warc",
            args=(folder, prefix, max_size, info, dedup, host, os.getpid() if pid is None else pid,
                  self._jobs, results), daemon=True)
        self._process.start()
        results.close()  # the process holds the only sending end: its death is our EOF
        self._tokens = itertools.count()
        self._pending: list[tuple[int | None, Job]] = []
        self._waiting: dict[int, Future[None]] = {}
        self._lock = threading.Lock()  # _waiting and _pending: close() runs in a thread of its own
        self._totals: Totals | None = None
        self._closed = threading.Event()
        self._gone = threading.Event()  # the process ended before it was closed
        self._told_gone = False
        self._reader = threading.Thread(target=self._read, name="darkcrawl-warc-acks", daemon=True)
        self._reader.start()

    @property
    def records(self) -> int:
        return self._totals.records if self._totals else 0

    @property
    def bytes(self) -> int:
        return self._totals.bytes if self._totals else 0

    @property
    def errors(self) -> int:
        return self._totals.errors if self._totals else 0

    def submit(self, job: Job, wait: bool = False) -> Future[None] | None:
        """Queue *job*; with *wait*, a future done once its records are on disk."""
        future: Future[None] | None = Future() if wait else None
        token = next(self._tokens) if wait else None
        # Jobs go in batches, one per turn of the crawl's event loop: one pickling and
        # one pipe write (a hand-off of the GIL to the queue's feeder thread) per batch,
        # not per job; nothing waits longer than the turn it was queued in.
        with self._lock:
            if future is not None:
                self._waiting[token] = future  # type: ignore[index]
            self._pending.append((token, job))
            queued = len(self._pending)
        if queued >= BATCH:
            self._flush()
        elif queued == 1:
            try:
                asyncio.get_running_loop().call_soon(self._flush)
            except RuntimeError:  # no event loop in this thread: at once
                self._flush()
        return future

    def _flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch and not self._put(batch):
            self._fail_waiting("the WARC writer process ended")

    def _put(self, message: Any) -> bool:
        """Put *message* on the queue, waiting while it is full (a disk slower than the
        crawl slows the crawl) but not for a process that is gone; False then."""
        while not self._gone.is_set():
            try:
                self._jobs.put(message, timeout=1.0)
                return True
            except queue.Full:
                if not self._process.is_alive():
                    break
        if not self._told_gone:  # once: the crawl goes on, its records are lost
            self._told_gone = True
            logger.error("the WARC writer process ended (exit code %s): records lost", self._process.exitcode)
        return False

    def close(self) -> list[Path]:
        """Write what is queued, close the file; the files written, in order."""
        if self._process.is_alive() or self._totals is None:
            self._flush()
            self._put(STOP)
            while not self._closed.wait(1.0):
                if not self._process.is_alive():  # killed: what it wrote is sealed at the next start
                    logger.error("the WARC writer process ended early (exit code %s)", self._process.exitcode)
                    break
            self._process.join(10)
        self._fail_waiting("the WARC writer process ended")
        return list(self._totals.files) if self._totals else []

    def _read(self) -> None:
        while True:
            try:
                message = self._results.recv()
            except (EOFError, OSError):  # the process is gone: nothing waits for it any more
                self._gone.set()
                self._fail_waiting("the WARC writer process ended")
                return
            if message[0] == "closed":
                self._totals = message[1]
                self._closed.set()
                return
            with self._lock:
                settled = [(self._waiting.pop(token, None), error) for token, error in message[1]]
            for future, error in settled:
                if future is None:
                    continue
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(OSError(error))

    def _fail_waiting(self, why: str) -> None:
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(OSError(why))
