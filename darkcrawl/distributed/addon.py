"""The add-on of the distributed profile: wires the fleet's components over darkcrawl's.

``settings/distributed.py`` enables it after ``darkcrawl.addon.Addon`` and picks the
scheduler itself (a profile's own scheduler keeps darkcrawl's add-on from setting
up the embedded frontier).  Values set here use the "addon" priority, so the
profile and ``-s`` still override them.  The fleet's own options (``DARKCRAWL_REDIS_*``,
``DARKCRAWL_WORKER_ID``) are in :mod:`darkcrawl.config`'s table: darkcrawl's add-on
reads them, from the environment too, with the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

COMPONENTS = {
    "DOWNLOADER_MIDDLEWARES": {"darkcrawl.distributed.polite.SharedPolitenessMiddleware": 950},
    "EXTENSIONS": {"darkcrawl.distributed.extension.DistributedCrawl": 500},
}

DEFAULTS = {
    "DARKCRAWL_DISTRIBUTED": True,
    "SCHEDULER_SERIALIZER": "darkcrawl.frontier.serialize",
    "DARKCRAWL_SEEN_CLASS": "darkcrawl.distributed.seen.RedisSeenSet",
    "DARKCRAWL_HOST_LEDGER_CLASS": "darkcrawl.distributed.hosts.RedisHostLedger",
    # cookies imported for a host (scrapy cookies import): every worker's next visit uses them
    "DARKCRAWL_COOKIE_STORE": "darkcrawl.distributed.cookies.RedisCookieStore",
    # the shared reservation sets the pace; a random local delay would push a
    # request past the time reserved for it
    "DOWNLOAD_DELAY_JITTER": 0,
}


class DistributedAddon:
    def update_settings(self, settings: BaseSettings) -> None:
        for name, value in DEFAULTS.items():
            settings.set(name, value, priority="addon")
        for setting, components in COMPONENTS.items():
            for path, order in components.items():
                settings[setting].set(path, order, priority="addon")
