"""The durable outbox of submissions: spool first, then send.

Every payload is written atomically to
``PATH_DATA/api/<YYYY-MM-DD>/<base>/<event>/<sha256>_<ts>.json`` (darc's folder
for undelivered payloads) *before* it is POSTed, and deleted only after the
receiver answered 2xx.  A process killed at any moment therefore leaves every
payload either delivered or still on disk; what is on disk is sent again later
(the next crawl, or ``scrapy resubmit``).

The price of never losing one is that a payload can arrive twice: when the
process dies after the receiver answered but before the file was deleted.  Each
payload has a stable idempotency key, its file name stem, sent as the
``Idempotency-Key`` header, so the receiver can drop that duplicate.

The files survive the death of the process (they are in the page cache once
written); they are not fsync'ed, so a power cut can still lose the last ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import os
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx2

from darkcrawl.storage.atomic import atomic_write
from darkcrawl.storage.paths import timestamp_token
from darkcrawl.submission import EVENTS
from darkcrawl.submission.payloads import FILE_REF, b64

SPOOL_DIR = "api"
#: statuses worth another attempt; any other non-2xx answer is the receiver
#: refusing the payload, which sending it again will not change
RETRY_STATUSES = frozenset({408, 425, 429}) | frozenset(range(500, 600))


def _root_of(path: Path) -> Path:
    """PATH_DATA of a spooled file: ``<root>/api/<day>/<network>/<scheme>/<host>/<event>/<file>``."""
    return path.parents[6]


def idempotency_key(path: Path) -> str:
    """The stable key of a spooled payload: its file name stem (``<sha256>_<ts>``)."""
    return path.stem


def _sort_key(path: Path) -> tuple[str, str]:
    # ``<sha256>_<ts>``: order by the timestamp, the hash only breaks ties
    name, _, token = path.stem.rpartition("_")
    return token, name


class Spool:
    """Payload files under ``<root>/api``; *root* is PATH_DATA."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / SPOOL_DIR

    def path_for(self, event: str, base: str, name: str, ts: datetime) -> Path:
        day = ts.astimezone(timezone.utc).strftime("%Y-%m-%d")
        return self.dir / day / base / event / f"{name}_{timestamp_token(ts)}.json"

    def put(self, event: str, base: str, name: str, ts: datetime, payload: dict[str, Any]) -> Path:
        """Write *payload* atomically and return its file; call before sending it.

        ``base`` is darc's ``Link.base`` (``<network>/<scheme>/<host>``), ``name`` the
        URL's SHA-256, ``ts`` the record's (aware) timestamp.
        """
        if event not in EVENTS:
            raise ValueError(f"unknown submission event {event!r}")
        return self.write(self.path_for(event, base, name, ts), payload)

    def write(self, path: Path, payload: dict[str, Any]) -> Path:
        """Write *payload* atomically at *path* (from :meth:`path_for`)."""
        data = _dumps(payload)
        for attempt in range(3):
            try:
                atomic_write(path, data)
                break
            except FileNotFoundError:
                # a concurrent prune() removed the folder atomic_write just made
                if attempt == 2:
                    raise
        return path

    def pending(self, events: Collection[str] | None = None) -> Iterator[tuple[str, Path]]:
        """``(event, path)`` of every spooled payload, oldest first.

        Lists one day folder at a time, so a huge backlog is never held in memory
        whole.  Temporary files of writes in progress (``.*.tmp``) are never listed.
        """
        for day in self.days():
            yield from self.pending_on(day, events)

    def days(self) -> list[str]:
        """The day folders, oldest first."""
        try:
            return sorted(entry.name for entry in os.scandir(self.dir) if entry.is_dir())
        except FileNotFoundError:
            return []

    def pending_on(self, day: str, events: Collection[str] | None = None) -> list[tuple[str, Path]]:
        """The payloads spooled in one day folder, oldest first."""
        wanted = set(EVENTS if events is None else events)
        # <day>/<network>/<scheme>/<host>/<event>/<file>: a fixed depth, so a host
        # folder named like an event is never mistaken for one.
        found = [path for path in (self.dir / day).glob("*/*/*/*/*.json")
                 if path.parent.name in wanted and not path.name.startswith(".")]
        found.sort(key=_sort_key)
        return [(path.parent.name, path) for path in found]

    def done(self, path: Path) -> None:
        """Forget a delivered payload."""
        path.unlink(missing_ok=True)

    def count(self, events: Collection[str] | None = None) -> int:
        return sum(1 for _ in self.pending(events))

    def prune(self, stale_tmp: float = 3600.0) -> None:
        """Remove the empty folders delivered payloads leave behind, and the
        temporary files of writes killed midway (older than *stale_tmp* seconds,
        so that a write in progress in another process is left alone)."""
        if not self.dir.is_dir():
            return
        cutoff = time.time() - stale_tmp
        for dirpath, _dirnames, files in os.walk(self.dir, topdown=False):
            for name in files:
                if name.startswith(".") and name.endswith(".tmp"):
                    path = os.path.join(dirpath, name)
                    with contextlib.suppress(OSError):
                        if os.stat(path).st_mtime < cutoff:
                            os.unlink(path)
            if Path(dirpath) == self.dir:
                continue
            try:
                os.rmdir(dirpath)
            except OSError:  # not empty (or just refilled by a put): keep it
                pass


# -- sending ------------------------------------------------------------------------


class Outcome(enum.Enum):
    DELIVERED = "delivered"  # 2xx: delete the file
    FAILED = "failed"  # every attempt met an error or a retryable status
    REJECTED = "rejected"  # the receiver refused it (4xx): retrying will not help
    GONE = "gone"  # the file is no longer there: someone else delivered it


@dataclass(frozen=True, slots=True)
class Delivery:
    outcome: Outcome
    attempts: int
    detail: str = ""


def make_client(timeout: float, max_connections: int) -> httpx2.AsyncClient:
    """The client POSTing to the API URLs.

    The API is the user's own service, so it is reached directly: never through
    Tor, and ``trust_env=False`` so that an ``ALL_PROXY``/``HTTPS_PROXY`` meant for
    the crawl does not carry the submissions (or their URLs) anywhere else.
    """
    return httpx2.AsyncClient(
        timeout=timeout,
        limits=httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        trust_env=False,
        follow_redirects=False,
    )


def backoff_delay(retry: int, base: float, cap: float) -> float:
    """Seconds before retry number *retry* (1, 2, ...): base × 2^(retry-1), capped."""
    return min(cap, base * 2.0 ** (retry - 1))


def _fill(value: Any, root: Path) -> Any:
    if isinstance(value, dict):
        relative = value.get(FILE_REF)
        if isinstance(relative, str):
            try:
                data: str | None = b64((root / relative).read_bytes())
            except OSError:  # gone since: its path still tells the receiver there was one
                data = None
            return {"path": value.get("path", relative), "data": data}
        return {key: _fill(item, root) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, root) for item in value]
    return value


def materialize(raw: bytes, root: Path) -> bytes:
    """A spooled payload as it is sent: the files it names (``"$file"``, for a payload
    spooled while its event had no API URL) read from *root* (PATH_DATA) and put in."""
    if FILE_REF.encode() not in raw:
        return raw
    return _dumps(_fill(json.loads(raw), root))


def _dumps(payload: dict[str, Any]) -> bytes:
    # ASCII JSON: URLs and header values may carry lone surrogates, which
    # UTF-8 cannot encode; the base64 documents dominate the size anyway.
    return json.dumps(payload, separators=(",", ":")).encode("ascii")


async def send(
    client: httpx2.AsyncClient,
    url: str,
    path: Path,
    *,
    retries: int,
    backoff: float = 0.5,
    backoff_cap: float = 8.0,
    on_retry: Callable[[], None] | None = None,
    root: Path | None = None,
) -> Delivery:
    """POST the spooled file at *path* to *url*: 1 + *retries* attempts at most.

    The body is the file's bytes, with the files it names filled in from *root*
    (PATH_DATA; by default the spool's own parent), so a re-delivery is
    byte-identical.  The file is not deleted here: the caller does that on
    ``DELIVERED``.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Delivery(Outcome.GONE, 0)
    body = materialize(raw, root if root is not None else _root_of(path))
    headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key(path)}
    detail = ""
    attempts = 0
    for attempt in range(max(0, retries) + 1):
        if attempt:
            if on_retry is not None:
                on_retry()
            await asyncio.sleep(backoff_delay(attempt, backoff, backoff_cap))
        attempts += 1
        try:
            response = await client.post(url, content=body, headers=headers)
        except httpx2.HTTPError as exc:
            detail = f"{type(exc).__name__}: {exc}"
            continue
        if 200 <= response.status_code < 300:
            return Delivery(Outcome.DELIVERED, attempts)
        detail = f"HTTP {response.status_code}"
        if response.status_code not in RETRY_STATUSES:
            return Delivery(Outcome.REJECTED, attempts, detail)
    return Delivery(Outcome.FAILED, attempts, detail)
