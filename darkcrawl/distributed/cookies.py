"""The cookies imported for hosts, shared by a fleet through its Redis.

``SCRAPY_PROJECT=distributed scrapy cookies import HOST FILE`` writes the host's entry
into the hash ``<prefix>:cookies`` and bumps ``<prefix>:cookies:version``; every worker
looks at that version now and then (:mod:`darkcrawl.storage.cookiestore`), so the next
visit of the host, by whichever worker, carries them.  The same interface as
:class:`darkcrawl.storage.cookiestore.FileCookieStore`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from darkcrawl.distributed import connection
from darkcrawl.distributed.redis_frontier import DEFAULT_PREFIX
from darkcrawl.storage.cookiestore import new_entry

if TYPE_CHECKING:
    import redis
    from scrapy.settings import BaseSettings

    from darkcrawl.intel.cookiefiles import StoredCookie


class RedisCookieStore:
    def __init__(self, client: redis.Redis, prefix: str, shown: str = "") -> None:
        self.client = client
        self.key = f"{prefix}:cookies"
        self.version_key = f"{prefix}:cookies:version"
        self.shown = shown or self.key

    @classmethod
    def from_settings(cls, settings: BaseSettings, spider: str = "darkweb") -> RedisCookieStore:
        prefix = (settings.get("DARKCRAWL_REDIS_PREFIX") or DEFAULT_PREFIX) % {"spider": spider}
        url = connection.shown_url(connection.redis_url(settings))
        return cls(connection.from_settings(settings), prefix, f"{url} ({prefix}:cookies)")

    @property
    def where(self) -> str:
        return self.shown

    def entries(self) -> dict[str, dict[str, Any]]:
        return {host.decode(): json.loads(raw) for host, raw in self.client.hgetall(self.key).items()}

    def version(self) -> str:
        raw = self.client.get(self.version_key)
        return raw.decode() if raw else ""

    def put(self, host: str, cookies: list[StoredCookie], source: str) -> dict[str, Any]:
        entry = new_entry(cookies, source)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.key, host, json.dumps(entry))
        pipe.incr(self.version_key)
        pipe.execute()
        return entry

    def remove(self, host: str) -> bool:
        pipe = self.client.pipeline(transaction=True)
        pipe.hdel(self.key, host)
        pipe.incr(self.version_key)
        removed, _version = pipe.execute()
        return bool(removed)
