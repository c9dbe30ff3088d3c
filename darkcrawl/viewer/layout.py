"""The page frame (nav bar, CSS, script) and the small HTML pieces every page uses.

Everything that came from the catalogue goes through :func:`e` (``html.escape``,
quotes too); crawled URLs are text with a copy button, never links.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote, urlencode

NAV = (("/", "Overview"), ("/hosts", "Hosts"), ("/search", "Search"), ("/entities", "Entities"),
       ("/clusters", "Clusters"))


def e(value: Any) -> str:
    return "" if value is None else escape(str(value), quote=True)


def frame(title: str, body: str, active: str = "") -> str:
    links = "".join(f'<a href="{href}"{" class=active" if href == active else ""}>{name}</a>'
                    for href, name in NAV)
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            '<meta name=referrer content=no-referrer>'
            f"<title>{e(title)} · darkcrawl</title>"
            '<link rel=stylesheet href="/static/viewer.css"><script src="/static/viewer.js" defer></script>'
            f'</head><body><header class=nav><span class=brand>darkcrawl</span><nav>{links}</nav>'
            '<form class=quick action="/search" method=get><input name=q placeholder="Search pages" '
            'aria-label="search"></form></header>'
            f"<main>{body}</main></body></html>")


def badge(value: Any, kind: str = "") -> str:
    text = e(value or "?")
    return f'<span class="badge {kind} {kind}-{text}">{text}</span>'


def copyable(value: Any, kind: str = "url") -> str:
    """Crawled text (a URL, an address) shown as text with a copy button: never fetched."""
    text = e(value)
    return f'<span class="copyable"><code class={kind}>{text}</code><button type=button class=copy ' \
           f'data-copy="{text}" title="copy">copy</button></span>'


def host_link(name: str) -> str:
    return f'<a href="/host/{quote(name, safe="")}">{e(name)}</a>'


def snapshot_link(snapshot_id: Any, text: Any, *, markup: bool = False) -> str:
    """A link to a snapshot, its text escaped (or already HTML when *markup*)."""
    return f'<a href="/snapshot/{int(snapshot_id)}">{text if markup else e(text)}</a>'


def table(headers: list[str], rows: list[list[str]], empty: str = "Nothing here.", cls: str = "") -> str:
    """*rows* are cells of ready HTML (escape before)."""
    if not rows:
        return f'<p class="muted">{e(empty)}</p>'
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<div class=scroll><table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def pager(path: str, params: dict[str, Any], page: int, more: bool) -> str:
    keep = {k: v for k, v in params.items() if v not in ("", None) and k != "page"}
    parts = []
    if page > 1:
        parts.append(f'<a href="{path}?{e(urlencode({**keep, "page": page - 1}))}">← previous</a>')
    parts.append(f"<span>page {page}</span>")
    if more:
        parts.append(f'<a href="{path}?{e(urlencode({**keep, "page": page + 1}))}">next →</a>')
    return f'<nav class=pager>{"".join(parts)}</nav>'


def short_time(value: Any) -> str:
    """``2026-01-02T03:04:05...`` as ``2026-01-02 03:04``."""
    text = str(value or "")
    return f"<time>{e(text[:16].replace('T', ' '))}</time>" if text else ""


def size(value: Any) -> str:
    if value is None:
        return ""
    number = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if number < 1024 or unit == "GB":
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1024
    return ""
