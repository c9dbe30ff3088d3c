"""The visible text of a page, and what changed between two visits of one URL."""

from __future__ import annotations

import difflib
import re
from html.parser import HTMLParser

_INVISIBLE = {"script", "style", "noscript", "template", "head", "title", "svg", "iframe", "object"}
_SPACES = re.compile(r"[ \t\r\f\v]+")
MAX_LINES = 5000


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE:
            self.hidden += 1
        elif tag in {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article"}:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE and self.hidden:
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def visible_text(document: str) -> str:
    """The text a reader sees in *document* (HTML), one block per line."""
    parser = _Text()
    parser.feed(document)
    parser.close()
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def text_diff(before: str, after: str, context: int = 3) -> list[tuple[str, str]]:
    """``(kind, line)`` pairs of a unified diff: kind is ``add``, ``del``, ``hunk`` or ``same``."""
    old = before.splitlines()[:MAX_LINES]
    new = after.splitlines()[:MAX_LINES]
    out: list[tuple[str, str]] = []
    for line in difflib.unified_diff(old, new, lineterm="", n=context):
        if line.startswith(("---", "+++")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        out.append((kind, line))
    return out
