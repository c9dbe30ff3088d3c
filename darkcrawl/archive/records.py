"""WARC 1.1 records (ISO 28500:2017) as warcio objects: pure builders, no I/O.

Every block is given to warcio as bytes already final (an HTTP block is the
exchange's bytes, never headers parsed and written again), with its digests
computed here: ``WARC-Block-Digest`` over the whole block, ``WARC-Payload-Digest``
over what follows the HTTP header block (the message body as transferred: what
``warcio check``, pywb and Heritrix digest).  warcio then only serialises.

Conventions an archivist expects (Heritrix, Brozzler, browsertrix-crawler):
request, response and metadata of one capture share ``WARC-Concurrent-To``; a
revisit names what it repeats with ``WARC-Refers-To``, ``-Target-URI`` and
``-Date``; screenshots and the rendered DOM are ``resource`` records under
``urn:fullPage:<url>`` / ``urn:view:<url>`` / ``urn:dom:<url>``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from io import BytesIO

from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders

WARC_VERSION = "WARC/1.1"
REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
HTTP_REQUEST = "application/http; msgtype=request"
HTTP_RESPONSE = "application/http; msgtype=response"
WARC_FIELDS = "application/warc-fields"
_HEAD_END = re.compile(rb"\r?\n\r?\n")


def record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def warc_date(when: datetime | None = None) -> str:
    """WARC 1.1's date: UTC, to the microsecond (``2026-12-07T06:15:00.123456Z``)."""
    when = (when or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sha1_digest(*parts: bytes) -> str:
    """``sha1:<base32>``, the labelled digest WARC tools write and check."""
    digest = hashlib.sha1()
    for part in parts:
        digest.update(part)
    return "sha1:" + base64.b32encode(digest.digest()).decode("ascii")


def _record(kind: str, uri: str, date: str, rid: str, content_type: str, block: bytes,
            headers: Iterable[tuple[str, str]] = (), *, payload_digest: str | None = None) -> ArcWarcRecord:
    fields = [("WARC-Type", kind), ("WARC-Record-ID", rid), ("WARC-Date", date)]
    if uri:
        fields.append(("WARC-Target-URI", uri))
    fields += [(name, value) for name, value in headers if value]
    fields.append(("WARC-Block-Digest", sha1_digest(block)))
    if payload_digest:
        fields.append(("WARC-Payload-Digest", payload_digest))
    fields.append(("Content-Type", content_type))
    record = ArcWarcRecord("warc", kind, StatusAndHeaders(WARC_VERSION, fields, protocol=""),
                           BytesIO(block), None, content_type, len(block))
    record.payload_length = len(block)
    return record


def request_record(uri: str, date: str, rid: str, block: bytes, concurrent_to: str,
                   extra: Iterable[tuple[str, str]] = ()) -> ArcWarcRecord:
    end = _HEAD_END.search(block)
    body = block[end.end():] if end else b""
    return _record("request", uri, date, rid, HTTP_REQUEST, block,
                   [("WARC-Concurrent-To", concurrent_to), *extra], payload_digest=sha1_digest(body))


def response_record(uri: str, date: str, rid: str, head: bytes, body: bytes, payload_digest: str,
                    extra: Iterable[tuple[str, str]] = ()) -> ArcWarcRecord:
    return _record("response", uri, date, rid, HTTP_RESPONSE, head + body, extra, payload_digest=payload_digest)


def revisit_record(uri: str, date: str, rid: str, head: bytes, payload_digest: str, refers_to: tuple[str, str, str],
                   extra: Iterable[tuple[str, str]] = ()) -> ArcWarcRecord:
    """A response whose payload is byte for byte an earlier one's: its own status line
    and headers only, the payload named by digest and by the record it repeats
    (*refers_to*: record ID, target URI, date)."""
    original, original_uri, original_date = refers_to
    return _record("revisit", uri, date, rid, HTTP_RESPONSE, head, [
        ("WARC-Profile", REVISIT_PROFILE), ("WARC-Refers-To", original),
        ("WARC-Refers-To-Target-URI", original_uri), ("WARC-Refers-To-Date", original_date),
        *extra,
    ], payload_digest=payload_digest)


def warc_fields(fields: Iterable[tuple[str, str]]) -> bytes:
    """``application/warc-fields``: one ``name: value`` line each (line breaks in a
    value folded to spaces: a hostile page cannot forge another field)."""
    lines = []
    for name, value in fields:
        text = " ".join(str(value).split("\n")).replace("\r", " ")
        lines.append(f"{name}: {text}\r\n")
    return "".join(lines).encode("utf-8")


def metadata_record(uri: str, date: str, fields: Iterable[tuple[str, str]], concurrent_to: str | None = None,
                    rid: str | None = None) -> ArcWarcRecord:
    return _record("metadata", uri, date, rid or record_id(), WARC_FIELDS, warc_fields(fields),
                   [("WARC-Concurrent-To", concurrent_to or "")])


def resource_record(uri: str, date: str, content_type: str, data: bytes, concurrent_to: str | None = None,
                    rid: str | None = None) -> ArcWarcRecord:
    return _record("resource", uri, date, rid or record_id(), content_type, data,
                   [("WARC-Concurrent-To", concurrent_to or "")], payload_digest=sha1_digest(data))


def warcinfo_record(filename: str, fields: Iterable[tuple[str, str]]) -> ArcWarcRecord:
    return _record("warcinfo", "", warc_date(), record_id(), WARC_FIELDS, warc_fields(fields),
                   [("WARC-Filename", filename)])
