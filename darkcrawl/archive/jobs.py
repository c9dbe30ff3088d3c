"""What the WARC writer runs: the functions that make a capture's records.

A job is one of these with its arguments bound (``functools.partial``), the writer's
:class:`~darkcrawl.archive.writer.Dedup` passed last.  They live here, apart from the
crawl's side of the archive, so that the writer process (which unpickles them by
name) imports warcio and these records only, not Scrapy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from darkcrawl.archive import records

if TYPE_CHECKING:
    from warcio.recordloader import ArcWarcRecord

    from darkcrawl.archive.writer import Dedup


def exchange_records(uri: str, date: str, rid: str, request: bytes, head: bytes, payload: bytes, status: int,
                     extra: list[tuple[str, str]], metadata: list[tuple[str, str]] | None,
                     dedup: Dedup) -> list[ArcWarcRecord]:
    """One exchange's records: the response (or a revisit of the earlier identical
    payload), its request, and a hop's metadata."""
    digest = records.sha1_digest(payload)
    earlier = dedup.seen(digest, rid, uri, date) if 200 <= status < 300 and payload else None
    if earlier is not None:
        response = records.revisit_record(uri, date, rid, head, digest, earlier, extra)
    else:
        response = records.response_record(uri, date, rid, head, payload, digest, extra)
    out = [response, records.request_record(uri, date, records.record_id(), request, rid)]
    if metadata is not None:
        out.append(records.metadata_record(uri, date, metadata, concurrent_to=rid))
    return out


def metadata_records(uri: str, date: str, fields: list[tuple[str, str]], concurrent_to: str | None,
                     _dedup: Dedup) -> list[ArcWarcRecord]:
    return [records.metadata_record(uri, date, fields, concurrent_to=concurrent_to)]


def render_records(url: str, date: str, screenshot: bytes | None, full_page: bool, html: bytes,
                   fields: list[tuple[str, str]], _dedup: Dedup) -> list[ArcWarcRecord]:
    out: list[ArcWarcRecord] = []
    first = records.record_id()
    if screenshot is not None:
        kind = "fullPage" if full_page else "view"
        out.append(records.resource_record(f"urn:{kind}:{url}", date, "image/png", screenshot, rid=first))
    out.append(records.resource_record(f"urn:dom:{url}", date, "text/html; charset=utf-8", html,
                                       concurrent_to=first if out else None, rid=None if out else first))
    out.append(records.metadata_record(url, date, fields, concurrent_to=first))
    return out
