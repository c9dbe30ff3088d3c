"""One worker's handle on the frontier the fleet shares in Redis.

Made once per crawl (:meth:`RedisFrontier.for_crawler`) and used by the scheduler,
the seen set, the host ledger, the politeness middleware and the seed intake, so
that the writes of one page (the requests it found, the URLs they were admitted
as, the host claims, the ack of the page itself) reach Redis together, in one
script call, in the order they were made.

Crash safety (kill -9 of a worker, at any instruction):

- a popped request stays in the worker's lease until the engine is completely
  done with it (:mod:`darkcrawl.frontier.ack`), and its ack travels in the same
  flush as the requests it produced, after them;
- a page's new links are admitted by the flush that queues their requests
  (:meth:`RedisFrontier.admit`): seen exactly when queued.  A URL admitted apart
  (:meth:`RedisFrontier.seen_add`: a request that cannot be stored) is *marked* as
  the worker's own until its request is queued; a host it claimed likewise until the
  host's bootstrap request is queued;
- a worker whose heartbeat stops (or whose process is gone, on the same machine)
  is recovered by any other: its leased requests go back to the queue, its marks
  are removed from the seen set and its host claims dropped, so the requests that
  found those URLs find them again when they are fetched again.  Every worker
  then drops its local caches (the ``epoch`` changes).

So nothing is lost, and what is fetched twice is what was in flight.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import secrets
import socket
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError
from scrapy import signals
from twisted.internet.task import LoopingCall

from darkcrawl.processes import pid_alive
from darkcrawl.config import get_option
from darkcrawl.distributed import connection, scripts

if TYPE_CHECKING:
    import redis
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector
    from typing_extensions import Self

logger = logging.getLogger(__name__)

_ATTRIBUTE = "_darkcrawl_redis_frontier"
DEFAULT_PREFIX = "darkcrawl:%(spider)s"
#: the seen set is split in 2**bits shards of about this many URLs at the planned size
SHARD_TARGET = 256


@dataclass(frozen=True)
class Status:
    ready: int  # slots with a request that may be fetched now
    waiting: int  # slots resting (politeness) with requests
    seeds: int  # seed URLs not taken yet
    leased: int  # requests and seeds taken by live (or not yet recovered) workers
    activity: int
    epoch: int
    workers: int

    @property
    def empty(self) -> bool:
        return not (self.ready or self.waiting or self.seeds or self.leased)


def machine_id() -> str:
    """This machine (and boot): a worker registered with it can be checked by its pid."""
    boot = ""
    with contextlib.suppress(OSError):
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return f"{socket.gethostname()}/{boot}"


def _outage_counter(stats: StatsCollector) -> Callable[[float], None]:
    def outage(seconds: float) -> None:
        stats.inc_value("darkcrawl/redis/outages")
        stats.inc_value("darkcrawl/redis/outage_seconds", round(seconds, 3))  # type: ignore[arg-type]

    return outage


class RedisFrontier:
    def __init__(self, client: redis.Redis, prefix: str, worker: str, *, ttl: float = 30.0,
                 stats: StatsCollector | None = None, seen_capacity: int = 10_000_000) -> None:
        self.client = client
        self.prefix = prefix
        self.worker = worker
        self.ttl = ttl
        self.stats = stats
        self.seen_capacity = seen_capacity
        self._scripts = {
            name: client.register_script(source)
            for name, source in (
                ("pop", scripts.POP), ("flush", scripts.FLUSH), ("recover", scripts.RECOVER),
                ("seen_add", scripts.SEEN_ADD), ("seen_has", scripts.SEEN_HAS),
                ("claim_host", scripts.CLAIM_HOST), ("take_seeds", scripts.TAKE_SEEDS),
                ("status", scripts.STATUS), ("reserve", scripts.RESERVE), ("start", scripts.START),
            )
        }
        # tokens make a retried script call (its answer lost in a Redis restart) harmless
        self._session = secrets.token_hex(4)
        self._tokens = itertools.count(1)
        # the buffer, flushed in one call: pushes first, then what they complete
        self._pushes: list[Any] = []  # slot, priority, member, mark: four entries per request
        self._acks: list[str] = []  # lease ids
        #: a popped request -> its lease ids (a request pushed again while leased has two)
        self._lease_ids: dict[bytes, list[str]] = {}
        self._marks_done: list[str] = []
        self._hosts_done: list[str] = []
        self._seeds_done: list[str] = []
        self._counts: Counter[str] = Counter()
        self._seen_later: list[str] = []  # URLs to record as seen (``shard:x``), not admitted
        #: the scheduler's queue writes admitted requests (:meth:`admit`): a page's new
        #: links are decided by the flush that queues them, not by a call of their own
        self.admits_at_flush = False
        self.epoch: int | None = None
        self._epoch_listeners: list[Callable[[], None]] = []
        self._count_listeners: list[Callable[[dict[str, int]], None]] = []
        #: non-empty slots in Redis at the last pop or flush, and when the first resting one wakes
        self.pending_slots = 0
        self.next_wake: float | None = None
        #: seed URLs waiting in Redis at the last pop (the seed intake asks only then)
        self.seeds_waiting = 0
        #: requests this worker has written to Redis so far
        self.pushes_flushed = 0
        #: lease number -> (slot, monotonic time) of a popped request whose start the
        #: pop reserved (:meth:`pop_paced`); the politeness middleware takes it
        self.paced: dict[int, tuple[str, float]] = {}
        self.seen_bits = 0
        self._heartbeat: LoopingCall | None = None
        self._info = json.dumps({"machine": machine_id(), "pid": os.getpid(), "started": time.time()})
        self.registered = False
        self.closed = False

    @classmethod
    def for_crawler(cls, crawler: Crawler) -> Self:
        """The crawl's frontier, made (and checked against Redis) on first use."""
        frontier = getattr(crawler, _ATTRIBUTE, None)
        if frontier is None:
            settings = crawler.settings
            spider = getattr(crawler.spidercls, "name", None) or "spider"
            prefix = (settings.get("DARKCRAWL_REDIS_PREFIX") or DEFAULT_PREFIX) % {"spider": spider}
            worker = settings.get("DARKCRAWL_WORKER_ID") or (
                f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}")
            connection.check(settings)
            stats = crawler.stats
            client = connection.from_settings(settings, on_outage=_outage_counter(stats),
                                              on_round_trip=lambda: stats.inc_value("darkcrawl/redis/round_trips"))
            frontier = cls(client, prefix, worker, ttl=get_option(settings, "DARKCRAWL_REDIS_WORKER_TTL"),
                           stats=crawler.stats, seen_capacity=get_option(settings, "DARKCRAWL_SEEN_CAPACITY"))
            setattr(crawler, _ATTRIBUTE, frontier)
            crawler.signals.connect(frontier.close, signal=signals.engine_stopped)
        return frontier

    # -- keys, scripts, stats -------------------------------------------------------

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _token(self) -> str:
        return f"{self._session}.{next(self._tokens)}"

    def _run(self, name: str, *args: Any) -> Any:
        self._inc(f"calls/{name}")
        return self._scripts[name](args=(self.prefix, *args))

    def _inc(self, key: str, count: float = 1) -> None:
        if self.stats is not None and count:
            self.stats.inc_value(f"darkcrawl/redis/{key}", count)  # type: ignore[arg-type]  # seconds too

    def on_epoch(self, callback: Callable[[], None]) -> None:
        """*callback* runs when another worker was recovered: local caches may lie."""
        self._epoch_listeners.append(callback)

    def on_counts(self, callback: Callable[[dict[str, int]], None]) -> None:
        self._count_listeners.append(callback)

    def _saw_epoch(self, epoch: Any) -> None:
        epoch = int(epoch)
        if self.epoch is not None and epoch != self.epoch:
            self._inc("epoch_changes")
            for callback in self._epoch_listeners:
                callback()
        self.epoch = epoch

    # -- lifecycle ------------------------------------------------------------------

    def register(self, heartbeat: bool = True) -> None:
        """Join the fleet: register, start the heartbeat, recover workers found dead."""
        if self.registered:
            return
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self.key("workers"), self.worker, self._info)
        pipe.set(self.key("alive", self.worker), self._info, px=int(self.ttl * 1000))
        pipe.set(self.key("seen", "bits"), self._plan_bits(), nx=True)
        pipe.get(self.key("seen", "bits"))
        pipe.get(self.key("epoch"))
        *_, bits, epoch = pipe.execute()
        self.seen_bits = int(bits)
        self.epoch = int(epoch or 0)
        self.registered = True
        logger.info("worker %s joined the frontier %s (seen set: %d shards)", self.worker, self.prefix,
                    1 << self.seen_bits)
        self.recover_dead()
        if heartbeat:
            self._heartbeat = LoopingCall(self._beat)
            self._heartbeat.start(max(0.5, self.ttl / 3), now=False)

    def _plan_bits(self) -> int:
        shards = max(1, self.seen_capacity // SHARD_TARGET)
        return min(24, max(4, (shards - 1).bit_length()))

    def _beat(self) -> None:
        try:
            self.client.set(self.key("alive", self.worker), self._info, px=int(self.ttl * 1000))
            self.recover_dead()
            self.flush()
        except RedisError as exc:  # Redis gone longer than the retry budget: try again next beat
            logger.error("heartbeat failed: %s", exc)

    def recover_dead(self) -> int:
        """Give back the requests of workers that died; returns how many were recovered."""
        recovered = 0
        for worker, force in self._dead_workers():
            result = self._run("recover", worker, "1" if force else "0")
            if result == -1:
                continue
            requeued, unseen = int(result[0]), int(result[1])
            recovered += 1
            logger.warning("worker %s is gone: %d of its requests back in the queue, %d URLs it had "
                           "not queued forgotten", worker, requeued, unseen)
            self._inc("recovered_workers")
            self._inc("recovered_requests", requeued)
            self._inc("unseen", unseen)
        return recovered

    def _dead_workers(self) -> list[tuple[str, bool]]:
        """(worker, whether its process is known to be gone) for the other workers that
        look dead: gone from this machine, or without a heartbeat.  Two round trips
        however large the fleet (every worker asks this every heartbeat)."""
        here = machine_id()
        silent: list[str] = []
        dead: list[tuple[str, bool]] = []
        for raw_id, raw_info in self.client.hgetall(self.key("workers")).items():
            worker = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
            if worker == self.worker:
                continue
            try:
                info = json.loads(raw_info)
            except ValueError:
                info = {}
            if info.get("machine") == here and not pid_alive(int(info.get("pid", 0))):
                dead.append((worker, True))
            else:
                silent.append(worker)
        if silent:
            pipe = self.client.pipeline(transaction=False)
            for worker in silent:
                pipe.exists(self.key("alive", worker))
            silent = [worker for worker, alive in zip(silent, pipe.execute()) if not alive]
        if silent and int(self.client.info("server").get("uptime_in_seconds", 0)) >= self.ttl:
            # (else Redis restarted lately: give the fleet time to check in again)
            dead += ((worker, False) for worker in silent)
        return dead

    def close(self) -> None:
        """Leave the fleet: flush, give back whatever is still leased, close the client."""
        if self.closed:
            return
        self.closed = True
        if self._heartbeat is not None and self._heartbeat.running:
            self._heartbeat.stop()
        if self.registered:
            try:
                self.flush()
                result = self._run("recover", self.worker, "1")
                if result != -1 and int(result[0]):
                    logger.info("%d unfinished requests back in the shared queue", int(result[0]))
            except RedisError as exc:
                logger.error("cannot leave the frontier cleanly (%s): the fleet recovers this "
                             "worker's requests once its heartbeat expires", exc)
        self.client.close()

    # -- the buffer -----------------------------------------------------------------

    def push(self, slot: str, priority: int, member: bytes, mark: str = "", host: str | None = None) -> None:
        self._pushes += (slot, priority, member, mark)
        if host is not None:
            self._hosts_done.append(host)

    def admit(self, slot: str, priority: int, member: bytes, mark: str, counted: str | None) -> None:
        """Push a request for a URL (its *mark*) that the flush queues only if no
        worker saw it yet, recording it as seen; else the request is dropped and the
        page count of *counted* (its host key, counted by this worker) taken back."""
        self._pushes += (slot, priority, member, f"+{mark}\n{counted}" if counted else f"+{mark}")

    def see_later(self, marks: Sequence[str]) -> None:
        """Record *marks* as seen with the next flush (URLs refused, not admitted)."""
        self._seen_later += marks

    def ack(self, member: bytes) -> None:
        """*member* (popped by this worker) is done: its lease goes with the next flush."""
        ids = self._lease_ids.get(member)
        if ids:
            self._acks.append(ids.pop(0))
            if not ids:
                del self._lease_ids[member]

    def unmark(self, mark: str) -> None:
        self._marks_done.append(mark)

    def seeds_queued(self, urls: Sequence[str]) -> None:
        self._seeds_done += urls

    def count_page(self, key: str, n: int = 1) -> None:
        self._counts[key] += n

    def pending_count(self, key: str) -> int:
        return self._counts.get(key, 0)

    @property
    def unflushed_requests(self) -> bool:
        return bool(self._pushes)

    @property
    def buffered(self) -> int:
        return (len(self._pushes) // 4 + len(self._acks) + len(self._marks_done) + len(self._hosts_done)
                + len(self._seeds_done) + len(self._counts) + len(self._seen_later))

    def _flush_args(self) -> tuple[list[Any], list[tuple[str, int]]]:
        """The buffer as the scripts take it (``scripts._FLUSH``), and its page counts."""
        if not self.buffered:
            return ["", 0, 0, 0, 0, 0, 0, 0], []
        counts = list(self._counts.items())
        args: list[Any] = [
            self._token(), len(self._pushes) // 4, len(self._acks), len(self._marks_done),
            len(self._hosts_done), len(self._seeds_done), len(counts), len(self._seen_later),
            *self._pushes, *self._acks, *self._marks_done, *self._hosts_done, *self._seeds_done,
        ]
        for key, n in counts:
            args += (key, n)
        args += self._seen_later
        return args, counts

    def _flushed(self, counts: list[tuple[str, int]], totals: Sequence[Any], dropped: int = 0) -> None:
        """The buffer is in Redis: empty it; *totals* are the fleet's page counts of
        *counts*, *dropped* the admitted requests found seen already."""
        self._inc("pushed", len(self._pushes) // 4 - dropped)
        self.pushes_flushed += len(self._pushes) // 4 - dropped
        if dropped and self.stats is not None:
            self.stats.inc_value("darkcrawl/links/duplicate", dropped)
            self._inc("dropped_as_seen", dropped)
        self._inc("acked", len(self._acks))
        self._pushes.clear()
        self._acks.clear()
        self._marks_done.clear()
        self._hosts_done.clear()
        self._seeds_done.clear()
        self._counts.clear()
        self._seen_later.clear()
        if totals and self._count_listeners:
            fleet = {key: int(total) for (key, _), total in zip(counts, totals)}
            for callback in self._count_listeners:
                callback(fleet)

    def flush(self) -> None:
        if not self.buffered:
            return
        args, counts = self._flush_args()
        result = self._run("flush", self.worker, *args)  # raises: the buffer stays for the next try
        self._flushed(counts, result[3:], int(result[2]))
        self._saw_epoch(result[0])
        self.pending_slots = int(result[1])

    # -- calls ----------------------------------------------------------------------

    def pop(self, n: int, delay: float, skip: Sequence[str] = ()) -> list[bytes]:
        """Up to *n* requests, one per slot, none of the slots in *skip*, leased to
        this worker; the buffer is flushed first, in the same call."""
        return [member for member, _ in self.pop_paced(n, delay, 0.0, skip)]

    def pop_paced(self, n: int, delay: float, grace: float,
                  skip: Sequence[str] = ()) -> list[tuple[bytes, float | None]]:
        """:meth:`pop`, each request with the time its slot reserved for it (with a
        *delay*: ``time.monotonic()`` from which it may start, for *grace* seconds),
        else None."""
        buffered = bool(self.buffered)
        flush, counts = self._flush_args()
        result = self._run("pop", self.worker, *flush, self._token(), n, int(delay * 1000), int(grace * 1000), *skip)
        now = time.monotonic()
        self.seeds_waiting = int(result[3])
        ncounts = int(result[5])
        if buffered:
            self._flushed(counts, result[6:6 + ncounts], int(result[4]))
        self._saw_epoch(result[0])
        self.pending_slots = int(result[1])
        wake = int(result[2])
        self.next_wake = None if wake < 0 else now + wake / 1000
        first = 7 + ncounts
        leased = result[first:first + 2 * int(result[6 + ncounts])]
        members: list[bytes] = leased[1::2]
        for lease_id, member in zip(leased[::2], members):
            self._lease_ids.setdefault(member, []).append(lease_id.decode())
        waits = result[first + len(leased):]
        self._inc("popped", len(members))
        if len(waits) != len(members):  # a retried pop: its reservations are lost
            return [(member, None) for member in members]
        return [(member, now + int(wait) / 1000) for member, wait in zip(members, waits)]

    def take_seeds(self, n: int) -> list[str]:
        urls = [url.decode() for url in self._run("take_seeds", self.worker, self._token(), n)]
        self._inc("seeds_taken", len(urls))
        self.seeds_waiting = max(0, self.seeds_waiting - len(urls)) if len(urls) == n else 0
        return urls

    def status(self) -> Status:
        ready, waiting, seeds, leased, activity, epoch, workers = (int(v) for v in self._run("status"))
        self._saw_epoch(epoch)
        self.seeds_waiting = seeds
        return Status(ready, waiting, seeds, leased, activity, epoch, workers)

    def seen_add(self, admit: Sequence[tuple[int, int]], mark: Sequence[tuple[int, int]] = ()) -> list[bool]:
        args: list[Any] = [self.worker, len(admit), len(mark)]
        for shard, x in itertools.chain(admit, mark):
            args += (shard, x)
        result = self._run("seen_add", *args)
        self._saw_epoch(result[0])
        return [bool(flag) for flag in result[1:]]

    def seen_has(self, shard: int, x: int) -> bool:
        return bool(self._run("seen_has", shard, x))

    def claim_host(self, key: str, now: float, older_than: float | None) -> tuple[bool, float, int]:
        claimed, when, pages = self._run("claim_host", self.worker, key, repr(now),
                                         "" if older_than is None else repr(older_than))
        return bool(claimed), float(when), int(pages)

    def reserve(self, slot: str, delay: float) -> tuple[float, bool]:
        """(seconds to wait, whether the request to *slot* may start now and has started)."""
        wait, started = self._run("reserve", slot, int(delay * 1000))
        return int(wait) / 1000, bool(started)

    def start(self, slot: str, delay: float) -> float:
        """After waiting: 0 if the request to *slot* starts now, else seconds still to wait."""
        return int(self._run("start", slot, int(delay * 1000))) / 1000
