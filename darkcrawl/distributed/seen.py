"""URL-seen shared by the fleet: 48-bit fingerprints in sorted shards in Redis.

A URL's fingerprint is 64 bits of BLAKE2b: the top ``bits`` pick one of ``2**bits``
shards (``DARKCRAWL_SEEN_CAPACITY / 256`` rounded up to a power of two, fixed by
the first worker), the next 32 bits are stored, as a big-endian uint32, in the
shard's string, kept sorted by the Lua scripts (binary search, insert in place).
So a URL costs 4 bytes plus its share of the shard's key (about 5 B/URL at 10M
URLs, ``python -m bench.distributed --seen-memory``), and two different URLs
collide with probability ``n / 2**(32 + bits)``: 3.6e-8 at 10M URLs (2**16
shards), 3.6e-7 at 100M.  A shard that outgrows the plan just gets longer.

Why not a Bloom filter (SETBIT), at 2.9 B/URL for 1e-5?  A crashed worker's
admissions must be taken back (:mod:`darkcrawl.distributed.redis_frontier`), and a Bloom
filter cannot forget; a Redis set of 8-byte strings could, at 60-70 B/URL.

A page's links cost no round trip of their own: with the fleet's scheduler
(:attr:`RedisSeenSet.admits_later`), :meth:`RedisSeenSet.add_many` answers "new" for
every link this worker does not know, and the spider tags the requests it makes for
them (``meta[ADMIT_KEY]``): the flush that writes them to the shared queue queues
each only if its URL is not seen yet, and records it as seen, in the same script
call (:meth:`~darkcrawl.distributed.redis_frontier.RedisFrontier.admit`).  A URL is
then seen exactly when its request is queued, and a worker that dies before its
flush loses nothing: the page that found the link is fetched again.  Without that
scheduler, a page's links cost one round trip.  The links this worker already knows
are seen (most of them: a site's navigation) cost nothing either way: they are
answered from a bounded local cache of recent URLs, dropped whenever another worker
is recovered.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import blake2b
from typing import TYPE_CHECKING, ClassVar

from darkcrawl.config import get_option
from darkcrawl.distributed.redis_frontier import RedisFrontier

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self


def fingerprint(url: str, bits: int) -> tuple[int, int]:
    """(shard, 32-bit value) of *url* for a seen set of ``2**bits`` shards."""
    h = int.from_bytes(blake2b(url.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")
    return h >> (64 - bits), (h >> (32 - bits)) & 0xFFFFFFFF


def mark_of(url: str, bits: int) -> str:
    """How a worker's mark on *url* is written in Redis (``P:marks:<worker>``)."""
    shard, x = fingerprint(url, bits)
    return f"{shard}:{x}"


class RecentSet:
    """URLs known to be seen: two generations; the older is dropped when the newer fills."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size // 2)
        self.new: set[str] = set()
        self.old: set[str] = set()

    def __contains__(self, url: object) -> bool:
        return url in self.new or url in self.old

    def add(self, url: str) -> None:
        new = self.new
        new.add(url)
        if len(new) >= self.size:
            self.old = new
            self.new = set()

    def clear(self) -> None:
        self.new = set()
        self.old = set()


class RedisSeenSet:
    #: a page's links in one add_many call: one round trip to Redis
    batched: ClassVar[bool] = True

    def __init__(self, frontier: RedisFrontier, cache_size: int = 262_144) -> None:
        self.frontier = frontier
        self._known = RecentSet(cache_size)
        frontier.on_epoch(self._known.clear)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(RedisFrontier.for_crawler(crawler), get_option(crawler.settings, "DARKCRAWL_REDIS_SEEN_CACHE"))

    def known(self, url: str) -> bool:
        """True if *url* is certainly seen, answered locally; False means: ask :meth:`add_many`."""
        return url in self._known

    @property
    def admits_later(self) -> bool:
        """True: :meth:`add_many`'s answers are provisional, its URLs' requests are
        tagged with ``meta[ADMIT_KEY]`` and admitted when the shared queue writes them."""
        return self.frontier.admits_at_flush

    def add_many(self, urls: Sequence[str], marks: Sequence[str] = ()) -> list[bool]:
        """Admit *urls*: for each, True if no worker saw it before (a URL repeated in
        *urls* is new once); with :attr:`admits_later`, True if this worker does not
        know it, decided for good by the flush.  *marks* are recorded as seen, not
        admitted (refused links).  One round trip, none with :attr:`admits_later`."""
        if not urls and not marks:
            return []
        bits = self.frontier.seen_bits
        if self.admits_later:
            return self._add_later(urls, marks, bits)
        index: dict[str, int] = {}
        for url in urls:
            index.setdefault(url, len(index))
        flags = self.frontier.seen_add([fingerprint(url, bits) for url in index],
                                       [fingerprint(url, bits) for url in marks])
        known = self._known
        out: list[bool] = []
        for url in urls:
            i = index.get(url)
            if i is None:
                out.append(False)
                continue
            out.append(flags[i])
            del index[url]  # a second occurrence is not new
            known.add(url)
        for url in marks:
            known.add(url)
        return out

    def _add_later(self, urls: Sequence[str], marks: Sequence[str], bits: int) -> list[bool]:
        known = self._known
        out: list[bool] = []
        for url in urls:
            out.append(url not in known)  # a URL repeated in *urls* is new once
            known.add(url)
        self.frontier.see_later([mark_of(url, bits) for url in marks])
        for url in marks:
            known.add(url)
        return out

    def add(self, url: str) -> bool:
        # For URLs the caller does not queue as admitted (redirect targets, a hook's
        # own requests): recorded as seen, not marked as this worker's.
        new = self.frontier.seen_add((), [fingerprint(url, self.frontier.seen_bits)])[0]
        self._known.add(url)
        return new

    def __contains__(self, url: object) -> bool:
        if not isinstance(url, str):
            return False
        if url in self._known:
            return True
        if self.frontier.seen_has(*fingerprint(url, self.frontier.seen_bits)):
            self._known.add(url)
            return True
        return False

    def __len__(self) -> int:
        return int(self.frontier.client.get(self.frontier.key("seen", "n")) or 0)

    def save(self) -> None:
        """Nothing to write: every add is in Redis when it returns."""

    def close(self) -> None:
        self._known.clear()
