"""The cookies imported for hosts: kept under ``PATH_DATA`` (``cookies/imported.json``),
and as a crawl uses them.

``scrapy cookies import HOST FILE`` writes to the store ``DARKCRAWL_COOKIE_STORE`` names:
:class:`FileCookieStore` here, or a fleet's Redis (:mod:`darkcrawl.distributed.cookies`).
Cookies are credentials (a logged-in session, a solved captcha): the file is written
0600 in a 0700 folder, atomically, under a lock against a concurrent import.

A crawl (:class:`CookieImports`) looks at the store's version every :data:`REFRESH`
seconds (one ``stat``, or one Redis ``GET``) and reads it again when it changed, so
cookies imported while it runs are used by the host's next request: the cookie
middleware puts them in the jar (plain stage), the render stage's browser context gets
them from there, and a host that needed a person is tried again with them
(:mod:`darkcrawl.policy.gatebook`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from scrapy.utils.misc import load_object

from darkcrawl.config import get_option
from darkcrawl.intel.cookiefiles import StoredCookie
from darkcrawl.storage.atomic import atomic_write
from darkcrawl.storage.paths import IMPORTED_COOKIES_FILE

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)


def new_entry(cookies: list[StoredCookie], source: str) -> dict[str, Any]:
    """A host's entry in a cookie store: when, from where, which cookies."""
    return {"imported": datetime.now(timezone.utc).isoformat(), "source": source,
            "cookies": [cookie.to_json() for cookie in cookies]}


class FileCookieStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def from_settings(cls, settings: BaseSettings, spider: str = "darkweb") -> FileCookieStore:
        return cls(Path(get_option(settings, "PATH_DATA")) / IMPORTED_COOKIES_FILE)  # one crawl per PATH_DATA

    @property
    def where(self) -> str:
        return str(self.path)

    def entries(self) -> dict[str, dict[str, Any]]:
        """host -> its entry (:func:`new_entry`)."""
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise OSError(f"{self.path} is damaged ({exc}): remove it and import again") from None
        hosts = data.get("hosts") if isinstance(data, dict) else None
        return hosts if isinstance(hosts, dict) else {}

    def version(self) -> str:
        """Changes whenever the store does (cheap: one stat)."""
        try:
            status = self.path.stat()
        except FileNotFoundError:
            return ""
        return f"{status.st_mtime_ns}:{status.st_size}"

    def put(self, host: str, cookies: list[StoredCookie], source: str) -> dict[str, Any]:
        with self._locked():
            hosts = self.entries()
            entry = hosts[host] = new_entry(cookies, source)
            self._write(hosts)
        return entry

    def remove(self, host: str) -> bool:
        with self._locked():
            hosts = self.entries()
            if hosts.pop(host, None) is None:
                return False
            self._write(hosts)
        return True

    def _write(self, hosts: dict[str, dict[str, Any]]) -> None:
        atomic_write(self.path, json.dumps({"hosts": hosts}, indent=1, sort_keys=True).encode(), mode=0o600)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path.parent / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


# -- as a crawl uses them ----------------------------------------------------------------------

#: Seconds between two looks at the store's version.
REFRESH = 10.0
_ATTRIBUTE = "_darkcrawl_cookie_imports"


class CookieStore(Protocol):
    @property
    def where(self) -> str: ...
    def entries(self) -> dict[str, dict[str, Any]]: ...
    def version(self) -> str: ...
    def put(self, host: str, cookies: list[StoredCookie], source: str) -> dict[str, Any]: ...
    def remove(self, host: str) -> bool: ...


def load_store(settings: BaseSettings, spider: str = "darkweb") -> CookieStore:
    """The store ``DARKCRAWL_COOKIE_STORE`` names (a class with ``from_settings``)."""
    cls = load_object(get_option(settings, "DARKCRAWL_COOKIE_STORE"))
    return cls.from_settings(settings, spider=spider)


class CookieImports:
    """host -> (version, cookies) of the store, refreshed now and then."""

    def __init__(self, store: CookieStore, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self._clock = clock
        self._checked = -math.inf
        self._version: str | None = None
        self._entries: dict[str, tuple[str, list[StoredCookie]]] = {}
        self._failed = False

    @classmethod
    def for_crawler(cls, crawler: Crawler) -> CookieImports | None:
        """The crawl's (made on first use); None when its store cannot be opened (said once)."""
        if hasattr(crawler, _ATTRIBUTE):
            return getattr(crawler, _ATTRIBUTE)
        try:
            imports: CookieImports | None = cls(load_store(crawler.settings, getattr(crawler.spidercls, "name", "")
                                                           or "darkweb"))
        except Exception as exc:  # a store class that cannot be loaded or connected: the crawl goes on without
            logger.warning("imported cookies unavailable (DARKCRAWL_COOKIE_STORE): %s", exc)
            imports = None
        setattr(crawler, _ATTRIBUTE, imports)
        return imports

    def refresh(self) -> None:
        now = self._clock()
        if now - self._checked < REFRESH:
            return
        self._checked = now
        try:
            version = self.store.version()
            if version == self._version:
                return
            entries = self.store.entries()
        except Exception as exc:  # a damaged file, Redis away: keep what was read before
            if not self._failed:
                logger.warning("cannot read the imported cookies from %s: %s", self.store.where, exc)
            self._failed = True
            return
        self._failed = False
        self._version = version
        self._entries = {host.lower(): (str(entry.get("imported", "")),
                                        [StoredCookie.from_json(c) for c in entry.get("cookies", ())])
                         for host, entry in entries.items() if isinstance(entry, dict)}
        if self._entries:
            logger.info("imported cookies for %d hosts from %s", len(self._entries), self.store.where)

    def any(self) -> bool:
        """Whether cookies are imported for some host."""
        self.refresh()
        return bool(self._entries)

    def for_host(self, hostname: str) -> tuple[str | None, list[StoredCookie]]:
        """The version and the unexpired cookies imported for *hostname* (or a domain above it)."""
        self.refresh()
        if not self._entries:
            return None, []
        hostname = hostname.lower().rstrip(".")
        versions: list[str] = []
        cookies: list[StoredCookie] = []
        now = time.time()
        for host, (version, stored) in self._entries.items():
            if hostname == host or hostname.endswith("." + host):
                versions.append(version)
                cookies.extend(cookie for cookie in stored if not cookie.expired(now) and cookie.applies_to(hostname))
        return ("|".join(versions) or None), cookies

    def version_of(self, hostname: str) -> str | None:
        return self.for_host(hostname)[0]
