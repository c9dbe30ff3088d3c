"""``data:`` URI decoding (RFC 2397), without a third-party package."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_to_bytes


def decode_data_uri(uri: str) -> tuple[str, bytes] | None:
    """(media type, payload) of a ``data:`` URI, or None when it is malformed."""
    if not uri[:5].lower() == "data:":
        return None
    header, sep, payload = uri[5:].partition(",")
    if not sep:
        return None
    params = [p.strip() for p in header.split(";")]
    is_base64 = bool(params) and params[-1].lower() == "base64"
    if is_base64:
        params.pop()
    media_type = (params[0] if params and "/" in params[0] else "text/plain").lower()
    raw = unquote_to_bytes(payload)
    if is_base64:
        try:
            raw = base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=False)
        except (binascii.Error, ValueError):
            return None
    return media_type, raw
