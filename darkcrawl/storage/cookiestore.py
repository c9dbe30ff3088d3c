"""The cookies imported for hosts, kept under ``PATH_DATA`` (``cookies/imported.json``).

``scrapy cookies import HOST FILE`` writes here; a crawl with the same ``PATH_DATA``
reads it (:mod:`darkcrawl.intel.imports`) and its next request to the host carries
them.  Cookies are credentials (a logged-in session, a solved captcha): the file is
written 0600 in a 0700 folder, atomically, under a lock against a concurrent import.
A fleet keeps them in its Redis instead (:mod:`darkcrawl.distributed.cookies`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from darkcrawl.config import get_option
from darkcrawl.storage.atomic import atomic_write
from darkcrawl.storage.paths import IMPORTED_COOKIES_FILE

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

    from darkcrawl.intel.cookiefiles import StoredCookie


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
