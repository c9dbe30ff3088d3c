"""The add-on of the distributed profile: wires the fleet's components over darkcrawl's.

``settings/distributed.py`` enables it after ``darkcrawl.addon.Addon`` and picks the
scheduler itself (a profile's own scheduler keeps darkcrawl's add-on from setting
up the embedded frontier).  Values set here use the "addon" priority, so the
profile and ``-s`` still override them; the environment variables below override
the profile, as darc's do.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from darkcrawl.config import ENV_PRIORITY, ConfigError

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

#: the distributed settings, their defaults, and how the environment spells them
SETTINGS: dict[str, tuple[type, Any]] = {
    "DARKCRAWL_REDIS_URL": (str, ""),  # else REDIS_URL, else redis://127.0.0.1:6379/0
    "REDIS_URL": (str, ""),
    "DARKCRAWL_REDIS_PREFIX": (str, "darkcrawl:%(spider)s"),
    "DARKCRAWL_WORKER_ID": (str, ""),  # else <host>/<pid>/<random>
    "DARKCRAWL_REDIS_RETRY_TIMEOUT": (float, 300.0),
    "DARKCRAWL_REDIS_WORKER_TTL": (float, 30.0),
    "DARKCRAWL_REDIS_POLL_INTERVAL": (float, 0.2),
    "DARKCRAWL_REDIS_POP_BATCH": (int, 8),
    "DARKCRAWL_REDIS_SEED_BATCH": (int, 100),
    "DARKCRAWL_REDIS_SEEN_CACHE": (int, 262_144),
}

COMPONENTS = {
    "DOWNLOADER_MIDDLEWARES": {"darkcrawl.distributed.polite.SharedPolitenessMiddleware": 950},
    "EXTENSIONS": {"darkcrawl.distributed.extension.DistributedCrawl": 500},
}

DEFAULTS = {
    "DARKCRAWL_DISTRIBUTED": True,
    "SCHEDULER_SERIALIZER": "darkcrawl.frontier.serialize",
    "DARKCRAWL_SEEN_CLASS": "darkcrawl.distributed.seen.RedisSeenSet",
    "DARKCRAWL_HOST_LEDGER_CLASS": "darkcrawl.distributed.hosts.RedisHostLedger",
    # the shared reservation sets the pace; a random local delay would push a
    # request past the time reserved for it
    "DOWNLOAD_DELAY_JITTER": 0,
}


def _parse(name: str, kind: type, value: Any) -> Any:
    try:
        parsed = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: not a valid {kind.__name__}: {value!r}") from None
    if kind is not str and parsed < 0:
        raise ConfigError(f"{name}: must not be negative: {value!r}")
    return parsed


def read_environment(settings: BaseSettings, environ: Any = os.environ) -> None:
    for name, (kind, default) in SETTINGS.items():
        if name in environ and (settings.getpriority(name) or 0) < ENV_PRIORITY:
            settings.set(name, _parse(name, kind, environ[name]), priority=ENV_PRIORITY)
        elif (priority := settings.getpriority(name)) is None:
            settings.set(name, default, priority="default")
        else:
            settings.set(name, _parse(name, kind, settings[name]), priority=priority)


class DistributedAddon:
    def update_settings(self, settings: BaseSettings) -> None:
        for name, value in DEFAULTS.items():
            settings.set(name, value, priority="addon")
        for setting, components in COMPONENTS.items():
            for path, order in components.items():
                settings[setting].set(path, order, priority="addon")
        read_environment(settings)
