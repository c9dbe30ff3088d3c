"""Crawled HTML made inert for the sandboxed preview frame: a second wall behind the CSP.

The frame's ``sandbox`` and CSP already stop scripts and requests; this rewrite
means the browser never even *tries* one (a blocked request is still a request,
and a CSP bug would be one wall down).  It keeps the text and the layout, and
drops whatever runs or loads: script, frames, objects, ``<base>``, ``<meta>``,
``<link>``, event handlers, every URL but ``data:`` images and in-page anchors,
and CSS that loads anything.
"""

from __future__ import annotations

import re
from html import escape
from html.parser import HTMLParser

#: dropped with everything inside them
_DROP_WITH_CONTENT = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "template",
                      "noembed", "portal", "fencedframe", "title"}
#: dropped alone (void, or nothing worth keeping)
_DROP = {"base", "meta", "link", "param", "source", "track"}
_VOID = {"area", "br", "col", "hr", "img", "input", "wbr", "image", "use"}
#: attributes that may load or navigate: kept only as a data: image or an in-page anchor
_URL_ATTRS = {"href", "src", "srcset", "poster", "data", "action", "formaction", "background", "xlink:href",
              "ping", "cite", "longdesc", "lowsrc", "dynsrc", "manifest", "codebase", "archive",
              "imagesrcset", "itemtype", "itemid", "profile", "usemap", "attributionsrc"}
_CSS_LOADS = re.compile(r"url\s*\(|image-set\s*\(|image\s*\(|@import|@font-face|expression\s*\(|\\", re.IGNORECASE)
_SAFE_DATA = re.compile(r"^\s*data:image/(png|gif|jpeg|webp);", re.IGNORECASE)


def safe_css(css: str) -> str:
    """*css* when it loads nothing, else empty (CSS escapes could hide a url())."""
    return "" if _CSS_LOADS.search(css) else css


def _safe_attr(name: str, value: str) -> bool:
    if name.startswith("on") or name in {"srcdoc", "http-equiv", "is", "nonce"}:
        return False
    if name in _URL_ATTRS:
        return (name == "href" and value.startswith("#")) or (name == "src" and bool(_SAFE_DATA.match(value)))
    return True


class _Defang(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping: list[str] = []
        self.in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skipping:
            if tag == self.skipping[-1] and tag not in _VOID:
                self.skipping.append(tag)
            return
        if tag in _DROP_WITH_CONTENT:
            self.skipping.append(tag)
            return
        if tag in _DROP:
            return
        kept = []
        for name, value in attrs:
            value = value or ""
            if name == "style":
                value = safe_css(value)
            if _safe_attr(name, value) and re.fullmatch(r"[a-z_:][-a-z0-9_:.]*", name):
                kept.append(f' {name}="{escape(value, quote=True)}"')
        self.out.append(f"<{tag}{''.join(kept)}>")
        self.in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.in_style = False

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if tag == self.skipping[-1]:
                self.skipping.pop()
            return
        if tag in _DROP_WITH_CONTENT or tag in _DROP:
            return
        self.in_style = False
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if self.in_style:
            self.out.append(safe_css(data).replace("<", ""))
        else:
            self.out.append(escape(data, quote=False))


def defang(document: str) -> str:
    """*document* as inert HTML (see the module's docstring)."""
    parser = _Defang()
    parser.feed(document)
    parser.close()
    return "<!doctype html><meta charset=utf-8>" + "".join(parser.out)
