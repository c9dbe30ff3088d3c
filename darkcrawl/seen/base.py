"""The URL-seen protocol every seen set speaks, and the defaults of a local one.

URL-seen is decided on the URL string, before any Request object exists: building
and fingerprinting a Request for every extracted link (as CrawlSpider and Scrapy's
dupefilter do) costs most of a page's CPU; a string lookup costs little.  The class
is chosen by ``DARKCRAWL_SEEN_CLASS``: in memory (:mod:`.memory`), compact and
persistent (:mod:`.compact`), or shared by a fleet (:mod:`darkcrawl.distributed.seen`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Protocol


class SeenSet(Protocol):
    #: True: a page's links are decided together in one :meth:`add_many` call (a
    #: shared set, where each call is a round trip); False: one :meth:`add` at a time
    batched: ClassVar[bool]

    @property
    def admits_later(self) -> bool:
        """True: :meth:`add_many`'s answers are provisional; the caller tags the request
        of each URL it admits with ``meta[ADMIT_KEY]`` and the queue that stores it
        decides (a fleet's shared queue: no round trip of their own)."""

    def add(self, url: str) -> bool:
        """Record *url*; True when it was not seen before."""

    def add_many(self, urls: Sequence[str], marks: Sequence[str] = ()) -> list[bool]:
        """Record *urls* (True for each one not seen before; a URL repeated in *urls*
        is new once) and *marks* (seen, not admitted: refused links)."""

    def known(self, url: str) -> bool:
        """True if *url* is certainly seen, answered without a round trip."""

    def save(self) -> None:
        """Make what was recorded durable (a no-op where there is nothing to write)."""

    def __contains__(self, url: object) -> bool: ...

    def __len__(self) -> int: ...

    def close(self) -> None: ...


class LocalSeenSet:
    """The defaults of a seen set that lives in this process: one URL at a time."""

    batched: ClassVar[bool] = False

    @property
    def admits_later(self) -> bool:
        return False

    def add(self, url: str) -> bool:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def __contains__(self, url: object) -> bool:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def add_many(self, urls: Sequence[str], marks: Sequence[str] = ()) -> list[bool]:
        for url in marks:
            self.add(url)
        return [self.add(url) for url in urls]

    def known(self, url: str) -> bool:
        return url in self

    def save(self) -> None:
        """Nothing to write: a subclass that persists overrides this."""
