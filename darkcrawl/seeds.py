"""Seed lists: darc's ``-f FILE`` format, one URL per line.

Blank lines and ``#`` comments are skipped; a bare host name (``xyz.onion``) is
taken as ``http://xyz.onion/``; a line that is not a fetchable URL is reported with
its line number and skipped, never fatal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from darkcrawl.links.classify import Gateways, classify

_BARE_HOST = re.compile(r"^[A-Za-z0-9.-]+\.[A-Za-z0-9-]+(:\d+)?(/\S*)?$")
#: inline seeds are comma separated, but URLs may contain commas (Freenet keys):
#: split only on a comma followed by a scheme or by a bare host name.
_INLINE_SPLIT = re.compile(r"\s*,\s*(?=[A-Za-z][A-Za-z0-9+.-]*:|[A-Za-z0-9-]+\.)|\s+")


@dataclass(frozen=True, slots=True)
class SeedError:
    source: str
    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}: {self.text!r}"


def parse_seed_lines(
    lines: list[str], source: str, gateways: Gateways = Gateways()
) -> tuple[list[str], list[SeedError]]:
    urls: list[str] = []
    errors: list[SeedError] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        candidate = text
        if "://" not in text and _BARE_HOST.match(text):
            candidate = "http://" + text
        link = classify(candidate, gateways)
        if link.kind == "invalid":
            errors.append(SeedError(source, number, text, link.reason or "invalid URL"))
        elif not link.fetchable:
            errors.append(SeedError(source, number, text, f"a {link.kind} link is recorded, never fetched"))
        else:
            urls.append(link.url)
    return urls, errors


def read_seed_file(path: str | Path, gateways: Gateways = Gateways()) -> tuple[list[str], list[SeedError]]:
    """Raises OSError for an unreadable file; a line that is not UTF-8 is a bad line."""
    data = Path(path).read_bytes()
    text = data.decode("utf-8-sig", errors="replace")
    lines = text.splitlines()
    urls, errors = parse_seed_lines([line if "\ufffd" not in line else "" for line in lines], str(path), gateways)
    errors += [SeedError(str(path), number, line, "not valid UTF-8")
               for number, line in enumerate(lines, start=1) if "\ufffd" in line]
    errors.sort(key=lambda error: error.line)
    return urls, errors


def split_inline(value: str) -> list[str]:
    return [part for part in _INLINE_SPLIT.split(value.strip()) if part]
