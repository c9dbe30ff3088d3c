"""The files of a snapshot, read from ``PATH_DATA`` only.

The catalogue names files relative to ``PATH_DATA``; a row could name anything
(``../../etc/passwd``, an absolute path, a symlink out), so every path is
resolved and must stay inside ``PATH_DATA`` before it is read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from darkcrawl.storage.paths import host_base

#: bytes of a document shown inline as source; the rest is one click away
SOURCE_LIMIT = 256 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def inside(path_data: Path, relative: str | None) -> Path | None:
    """``PATH_DATA/relative`` when it is a file inside ``PATH_DATA``, else None."""
    if not relative:
        return None
    root = path_data.resolve()
    try:
        path = (root / relative).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if not path.is_relative_to(root) or path == root or not path.is_file():
        return None
    return path


def read_text(path: Path | None, limit: int = SOURCE_LIMIT) -> tuple[str, bool]:
    """The text of *path* (undecodable bytes replaced), and whether it was cut."""
    if path is None:
        return "", False
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    return data[:limit].decode("utf-8", "replace"), len(data) > limit


def headers_record(path_data: Path, row: dict[str, Any]) -> dict[str, Any]:
    """The snapshot's headers JSON (request, response, cookies, history), or {}."""
    path = inside(path_data, row.get("headers_path"))
    if path is None:
        return {}
    try:
        record = json.loads(read_text(path, 4 * 1024 * 1024)[0])
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def robots_txt(path_data: Path, network: str, scheme: str, host: str) -> str | None:
    """The host's saved robots.txt (``<network>/<scheme>/<host>/robots.txt``)."""
    path = inside(path_data, str(host_base(network, scheme, host) / "robots.txt"))
    return read_text(path, 64 * 1024)[0] if path else None
