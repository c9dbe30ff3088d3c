"""darc 1.0.3's submission payloads, built from darkcrawl's items: pure functions.

The shapes follow what ``darc/submit.py`` *sends*, not its published JSON Schema
(which disagrees with the code, see the reference §4.5), with two deliberate
differences:

* ``new_host.URL`` is the host's root URL; darc sent the bare host name there,
  which loses the scheme and (for ZeroNet/Freenet) the gateway path.
* ``new_host`` carries ``$RELOAD$`` (the schema's name of the force flag) next to
  ``$FORCE$`` (the code's), with the same value, so receivers written against
  either one work.

``requests`` is the headers record itself (:func:`darkcrawl.records.headers_record`)
plus the document, so it is bounded by the same caps and carries the same
``cut`` note: the spider bounded the item once, when it was built.

Only ``new_host`` reads files (the saved robots.txt, sitemaps and hosts.txt, paths
relative to ``root`` = PATH_DATA); the other two take the bytes they submit.

A payload that will not be sent now (its event has no API URL: it waits in the
spool for ``scrapy resubmit``) names its saved files instead of carrying them
(*inline* false): ``{"path": ..., "data": null, "$file": ...}``, filled in from
PATH_DATA when it is sent (:func:`darkcrawl.submission.spool.materialize`).  The
receiver gets the same payload; the spool is not a second copy of the crawl.
"""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from darkcrawl.records import headers_record, metadata_dict
from darkcrawl.storage import paths

if TYPE_CHECKING:
    from darkcrawl.items import LinkMetadata, NewHostItem, PageItem


#: the key of a spooled file reference (darkcrawl.submission.spool.materialize)
FILE_REF = "$file"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def file_field(relative: str, data: bytes | None, inline: bool) -> dict[str, Any]:
    """darc's ``{"path", "data"}`` of a file saved under PATH_DATA: with its bytes, or
    (not *inline*) naming it, for the spool to fill in when it is sent."""
    if inline and data is not None:
        return {"path": relative, "data": b64(data)}
    return {"path": relative, "data": None, FILE_REF: relative}


def link_base(link: LinkMetadata) -> str:
    """darc's ``Link.base``: the host's folder relative to PATH_DATA."""
    return str(paths.host_base(link.network, link.scheme, link.host))


def _saved_file(root: Path, relative: str | None, inline: bool = True) -> dict[str, Any] | None:
    """``{"path", "data"}`` of a file saved under PATH_DATA, or None when there is none.

    A listed file that cannot be read keeps its path with ``data: null`` rather
    than vanishing: the receiver still learns the host had one.
    """
    if not relative:
        return None
    if not inline:
        return file_field(relative, None, False)
    try:
        data: str | None = b64((root / relative).read_bytes())
    except OSError:
        data = None
    return {"path": relative, "data": data}


def new_host_payload(item: NewHostItem, root: Path, inline: bool = True) -> dict[str, Any]:
    link = item.link
    sitemaps = [entry for entry in (_saved_file(root, path, inline) for path in item.sitemaps) if entry]
    return {
        "$PARTIAL$": item.partial,
        "$FORCE$": item.force,
        "$RELOAD$": item.force,
        "[metadata]": metadata_dict(link, link_base(link), paths.url_hash(link.url)),
        "Timestamp": item.timestamp,
        "URL": item.url,
        "Robots": _saved_file(root, item.robots, inline),
        # darc sent null, not [], for a host without sitemaps
        "Sitemaps": sitemaps or None,
        "Hosts": _saved_file(root, item.hosts, inline),
    }


def document_path(item: PageItem) -> str:
    """Where the storage pipeline saved (or would save) the raw document."""
    if item.document_path:
        return item.document_path
    base = paths.host_base(item.link.network, item.link.scheme, item.link.host)
    when = datetime.fromisoformat(item.timestamp)
    return str(base / paths.document_name(item.link.url, when, item.content_type))


def requests_payload(item: PageItem, root: Path, inline: bool = True) -> dict[str, Any]:
    """darc's ``submit_requests``: the headers record plus the document itself (or,
    not *inline*, the saved document named).

    *root* is unused (the body is in the item) but kept so that the three builders
    share one calling convention.
    """
    del root
    link = item.link
    payload = headers_record(item, link_base(link), paths.url_hash(link.url))
    # darc's headers file names the final URL; its requests payload the requested one.
    payload["URL"] = link.url
    # the render is its own event (selenium); darc's payload has no such key
    del payload["Rendered"]
    # A duplicate's content was sent with the page that had it first (Duplicate-Of).
    if item.duplicate_of:
        payload["Document"] = None
    else:  # a document the files pipeline did not save goes inline whatever *inline* says
        payload["Document"] = file_field(document_path(item), item.body, inline or not item.document_path)
    return payload


def selenium_payload(
    link: LinkMetadata,
    timestamp: str,
    html: bytes,
    html_path: str,
    screenshot: bytes | None = None,
    screenshot_path: str | None = None,
    inline: bool = True,
) -> dict[str, Any]:
    """darc's ``submit_selenium``: the rendered HTML (UTF-8 bytes) and the PNG
    screenshot (None when the render produced none), with their saved paths (or,
    not *inline*, the saved files named)."""
    shot = None
    if screenshot is not None and screenshot_path:
        shot = file_field(screenshot_path, screenshot, inline)
    return {
        "[metadata]": metadata_dict(link, link_base(link), paths.url_hash(link.url)),
        "Timestamp": timestamp,
        "URL": link.url,
        "Document": file_field(html_path, html, inline),
        "Screenshot": shot,
    }
