"""The shared request queue: a scrapy-redis queue with one priority queue per download slot.

``push`` writes the request as JSON (``SCHEDULER_SERIALIZER``, by default
:mod:`darkcrawl.frontier.serialize`: no pickle crosses the fleet) into its slot's
queue (``meta["download_slot"]``, else the host), through the frontier's buffer.
``pop_many`` takes the best request of each of up to *n* slots that may be
fetched now: the slot with the highest-priority head first (then first in,
first out), skipping the slots this worker is already busy with (as Scrapy's
``DownloaderAwarePriorityQueue`` does), and a slot just served rests
``DOWNLOAD_DELAY`` before it is served again, to any worker.  So a worker is never handed a row of requests to one host
that it would then have to space out while the other hosts wait, and
priorities hold across the whole fleet among the hosts that may be fetched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from scrapy import Request as ScrapyRequest
from scrapy.utils.httpobj import urlparse_cached
from scrapy_redis.queue import Base

from darkcrawl.distributed.seen import mark_of
from darkcrawl.meta import ADMIT_KEY, LEASE_KEY, LINK_KEY, SLOT_KEY, bootstrap_host, host_key

if TYPE_CHECKING:
    from scrapy import Request, Spider

    from darkcrawl.distributed.redis_frontier import RedisFrontier

#: scores hold priorities in this range (beyond, they are clamped)
PRIORITY_LIMIT = 1 << 20
#: Request attributes left out of a stored request when they have the value a new
#: Request gets anyway: a fifth of its bytes, which Redis reads, stores, writes to
#: its AOF and sends back (``request_from_dict`` gives them back)
DEFAULTS: dict[str, Any] = {"callback": None, "errback": None, "headers": {}, "body": b"", "cookies": {},
                            "meta": {}, "encoding": "utf-8", "flags": [], "cb_kwargs": {}, "method": "GET",
                            "priority": 0, "dont_filter": False}


def slot_of(request: Request) -> str:
    return request.meta.get(SLOT_KEY) or urlparse_cached(request).hostname or ""


class SlotQueue(Base):
    def __init__(self, server: Any, spider: Spider, key: str, serializer: Any = None,
                 frontier: RedisFrontier | None = None) -> None:
        super().__init__(server, spider, key, serializer)
        assert frontier is not None
        self.frontier = frontier
        frontier.admits_at_flush = True  # requests tagged with ADMIT_KEY are admitted as they are written
        self._names: dict[Any, str] = {}  # spider function -> its name

    def __len__(self) -> int:
        """Slots with requests, as of this worker's last call (not requests: that would cost a scan)."""
        return self.frontier.pending_slots

    def _encode_request(self, request: Request) -> bytes:
        # Request.to_dict(spider=...) looks the callbacks up among all the spider's
        # members, twice per request: most of the cost of a push.  Same dict, names cached.
        callback, errback = self._name(request.callback), self._name(request.errback)
        d: dict[str, Any]
        if callback is None and request.callback is not None or errback is None and request.errback is not None:
            d = request.to_dict(spider=self.spider)  # not a plain method of the spider: let Scrapy say why
        else:
            d = {"url": request.url, "callback": callback, "errback": errback, "headers": dict(request.headers)}
            for attr in request.attributes:
                d.setdefault(attr, getattr(request, attr))
            if type(request) is not ScrapyRequest:
                d["_class"] = f"{type(request).__module__}.{type(request).__name__}"
        if LEASE_KEY in d["meta"] or ADMIT_KEY in d["meta"]:
            # a retry or redirect of a request this worker holds: a request of its own;
            # an admission is decided once, when the request is written
            d["meta"] = {key: value for key, value in d["meta"].items() if key not in (LEASE_KEY, ADMIT_KEY)}
        if "_class" not in d:  # (a subclass may have defaults of its own)
            for attr, default in DEFAULTS.items():
                if attr in d and d[attr] == default:
                    del d[attr]
        return self.serializer.dumps(d)

    def _name(self, method: Any) -> str | None:
        if method is None or isinstance(method, str):
            return method
        func = getattr(method, "__func__", None)
        if func is None or getattr(method, "__self__", None) is not self.spider:
            return None
        name = self._names.get(func)
        if name is None:
            name = func.__name__
            if getattr(type(self.spider), name, None) is not func:
                return None
            self._names[func] = name
        return name

    def push(self, request: Request) -> None:
        """Buffered until the frontier's next flush; TypeError if the request cannot be stored."""
        data = self._encode_request(request)
        host = bootstrap_host(request.meta)
        priority = max(-PRIORITY_LIMIT, min(PRIORITY_LIMIT, request.priority))
        admitted = request.meta.pop(ADMIT_KEY, None)
        if admitted is not None:  # queued by the flush only if its URL is new to the fleet
            link = request.meta.get(LINK_KEY)
            self.frontier.admit(slot_of(request), priority, data, mark_of(admitted, self.frontier.seen_bits),
                                host_key(link[0], link[1]) if link else None)
        else:
            self.frontier.push(slot_of(request), priority, data, mark_of(request.url, self.frontier.seen_bits),
                               host)

    def pop_many(self, n: int, delay: float, skip: Sequence[str] = (),
                 grace: float = 0.0) -> list[tuple[bytes, float | None]]:
        """Up to *n* requests (one per slot), each with the time reserved for its start (or None)."""
        return self.frontier.pop_paced(n, delay, grace, skip)

    def decode(self, member: bytes) -> Request:
        return self._decode_request(member)

    def clear(self) -> None:
        raise NotImplementedError("the shared queue is cleared with `scrapy pushseeds --reset`, not by a worker")
