"""The bytes of one plain-stage exchange as they crossed the wire, for the WARC records.

Scrapy hands a spider a response whose header names are normalised (``Headers``
title-cases them and groups repeated ones) and whose body the
HttpCompressionMiddleware may have decoded; neither is what the server sent.

* **Direct transport (Twisted, HTTP/1.1, and HTTP proxies).**  Every byte of a
  response goes through the parser Scrapy swaps into Twisted's protocol
  (:mod:`darkcrawl.headerlimits`): :class:`CapturingHTTPClientParser` keeps a copy
  of what it is fed -- status line, header lines, and the message body with its
  chunked framing, byte for byte.  The request is written again by Twisted's own
  ``Request._writeHeaders`` (the function that wrote it to the socket) into a
  buffer, plus the body Scrapy gave it: the same bytes.
* **SOCKS transport (httpx over h11: Tor).**  h11 parses the response before
  anything of ours sees it.  What is kept is exact where h11 keeps it: the header
  names in their case and order, the values, the reason phrase, and the body as
  sent (content-encoded; ``aiter_raw``).  What is rebuilt: the whitespace around
  each colon (``Name: value``), and a chunked body's framing (h11 removes it: the
  ``Transfer-Encoding`` line is then written ``X-Archive-Orig-Transfer-Encoding``
  so that no reader de-chunks a body that is not chunked any more).

The handlers put an :class:`Exchange` in ``request.meta[WIRE_KEY]``; the archive's
downloader middleware takes it out before any other middleware sees the response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scrapy.core.downloader.handlers import http11

from darkcrawl.headerlimits import BoundedHTTPClientParser

if TYPE_CHECKING:
    import httpx
    from scrapy.http import Request

#: the attribute of Twisted's response object that carries the raw bytes
WIRE_ATTRIBUTE = "_darkcrawl_wire"
_HEAD_END = re.compile(rb"\r?\n\r?\n")


@dataclass(slots=True)
class Exchange:
    """One request and its response, as bytes."""

    #: request line, header lines, blank line, body: as sent
    request: bytes
    #: status line and header lines up to and including the blank line
    response_head: bytes
    #: the message body (with its chunked framing on the direct transport); None:
    #: the body Scrapy received (the SOCKS transport)
    response_body: bytes | None
    #: head and body are the wire's bytes (False: the head is rebuilt, see above)
    exact: bool


class _Recorder:
    """A transport that keeps what Twisted writes to it."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def writeSequence(self, data: list[bytes]) -> None:  # noqa: N802 (Twisted's name)
        self.parts.extend(data)


def twisted_request_bytes(request: Any) -> bytes:
    """What ``Request.writeTo`` sent for a Twisted request whose body is Scrapy's
    (known length) or absent: Twisted's own header writer into a buffer."""
    recorder = _Recorder()
    producer = request.bodyProducer
    if producer is None:
        length = b"Content-Length: 0\r\n" if request.method in (b"PUT", b"POST") else None
        request._writeHeaders(recorder, length)
    else:
        request._writeHeaders(recorder, b"Content-Length: %d\r\n" % producer.length)
        recorder.write(getattr(producer, "body", b""))
    return b"".join(recorder.parts)


class CapturingHTTPClientParser(BoundedHTTPClientParser):
    """The bounded parser, keeping a copy of every byte of the response it parses."""

    _wire: list[bytes] | None = None

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 (Twisted's name)
        if self._wire is None:
            self._wire = []
        self._wire.append(data)
        super().dataReceived(data)

    def statusReceived(self, status: bytes) -> None:  # noqa: N802
        super().statusReceived(status)
        # the response object outlives the parser: it carries the (growing) list
        setattr(self.response, WIRE_ATTRIBUTE, (self.request, self._wire))


def install() -> None:
    """Make the direct transport keep the raw bytes (idempotent; after headerlimits.install)."""
    http11._LenientHTTPClientParser = CapturingHTTPClientParser  # type: ignore[misc]


def from_twisted(txresponse: Any) -> Exchange | None:
    """The exchange a capturing parser recorded for *txresponse*, or None."""
    wire = getattr(txresponse, WIRE_ATTRIBUTE, None)
    if wire is None:
        return None
    txrequest, chunks = wire
    raw = b"".join(chunks or ())
    head, body = split_head(raw)
    try:
        sent = twisted_request_bytes(txrequest)
    except Exception:  # a request Twisted could not have written either
        return None
    return Exchange(request=sent, response_head=head, response_body=body, exact=True)


def split_head(raw: bytes) -> tuple[bytes, bytes]:
    """(status line + headers + blank line, body) of a raw HTTP message."""
    end = _HEAD_END.search(raw)
    if end is None:
        return raw, b""
    return raw[:end.end()], raw[end.end():]


def from_httpx(response: httpx.Response, request: Request) -> Exchange:
    """The exchange of an httpx response, rebuilt from what h11 kept (see above)."""
    sent = response.request
    target = sent.url.raw_path or b"/"
    lines = [b"%s %s HTTP/1.1\r\n" % (sent.method.encode("ascii"), target)]
    lines += [name + b": " + value + b"\r\n" for name, value in sent.headers.raw]
    lines.append(b"\r\n")
    version = (response.http_version or "HTTP/1.1").encode("ascii")
    reason = response.extensions.get("reason_phrase", b"")
    head = [b"%s %d %s\r\n" % (version, response.status_code, reason)]
    for name, value in response.headers.raw:
        if name.lower() == b"transfer-encoding":
            name = b"X-Archive-Orig-" + name
        head.append(name + b": " + value + b"\r\n")
    head.append(b"\r\n")
    return Exchange(request=b"".join(lines) + (request.body or b""), response_head=b"".join(head),
                    response_body=None, exact=False)
