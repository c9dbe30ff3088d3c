"""Links mentioned in page *text* (darc's ``extract_links_from_text``, bugs fixed).

darc turned ``www.x`` into ``http:www.x`` and ``a@b.c`` into ``mailto::a@b.c``, and
took any 40-hex string (a SHA-1) for an Ethereum address; here every candidate
address is checksum-validated and every result is an absolute URL.

This runs over the text of every fetched page (~15 KB), so every scan is anchored
on a literal that the C regex engine skips to quickly (``://``, ``@``, ``.onion``,
``0x``, ``1``…); a character class or an alternation at the start of a pattern
costs about ten times more per character of text.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any, TypeAlias

from darkcrawl.links.crypto import is_bitcoin_address, is_ethereum_address, is_monero_address
from darkcrawl.links.onion import onion_identity

__all__ = ["find_text_links", "compile_extra_patterns", "ExtraPatterns"]

#: Compiled DARC_URL_PAT: ``(fallback scheme, pattern with a "url" group)`` pairs.
ExtraPatterns: TypeAlias = Sequence[tuple[str, re.Pattern[str]]]

# Each regex starts with a literal (or a one-character class) so that the C
# matcher can skip ahead with a fast search; word boundaries are therefore checked
# with a lookbehind placed *after* that first literal, not before it.

# URL schemes found in text, longest first so "https" wins over "http" and "wss"
# over "ws".  "http(s)" needs no left boundary because text extraction often
# glues words ("Visithttp://…"); the others do, or "news://" would give "ws://".
_TEXT_SCHEMES = ("https", "http", "ircs", "irc", "wss", "ws", "ftp")
_GLUEABLE_SCHEMES = frozenset(("http", "https"))
# GFM-autolink style: a URL runs until whitespace or "<"; quotes (straight,
# curly, guillemets) also end it, as they delimit URLs in text far more often
# than they occur inside one.
_URL_BODY_RE = re.compile(r"""[^\s<>"\u201c\u201d\u00ab\u00bb]+""")
_SCHEME_SEP_RE = re.compile(r"://")
_WWW_RES = (re.compile(r"www\."), re.compile(r"WWW\."))
_TRAILING = frozenset(".,;:!?)]'\"")
_WWW_DOMAIN_RE = re.compile(r"[\w-]+(?:\.[\w-]+)+")
# A "www." that is part of a word, a domain, a path or an e-mail is not a link.
_WWW_BLOCKERS = re.compile(r"[\w.@/-]")
_SCHEME_BLOCKERS = re.compile(r"[\w+.-]")
# GFM extended e-mail autolink, except that the top-level domain must start with
# a letter and be 2+ characters, which drops "icon@2x.3" style noise.
_EMAIL_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+_-")
_EMAIL_LOCAL_MAX = 64  # RFC 5321; also bounds the backwards scan
_EMAIL_DOMAIN_RE = re.compile(
    r"(?:[A-Za-z0-9-]+\.)+[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9](?![A-Za-z0-9_-]|\.[A-Za-z0-9])"
)
_AT_RE = re.compile(r"@")
# Candidates only: the checksum test in crypto.py decides.  They must stand
# alone as a word, or pieces of longer base58/hex blobs would match.  One regex
# per leading literal: a "[13]" class scan is ~10x slower than two literal scans.
_B58 = "[1-9A-HJ-NP-Za-km-z]"
_BITCOIN_RES = (
    re.compile(rf"1(?<![A-Za-z0-9]1){_B58}{{25,34}}(?![A-Za-z0-9])"),
    re.compile(rf"3(?<![A-Za-z0-9]3){_B58}{{25,34}}(?![A-Za-z0-9])"),
    # bech32 is single-case; mixed case is invalid anyway (BIP-173).
    re.compile(r"bc1(?<![A-Za-z0-9]bc1)[02-9ac-hj-np-z]{6,87}(?![A-Za-z0-9])"),
    re.compile(r"BC1(?<![A-Za-z0-9]BC1)[02-9AC-HJ-NP-Z]{6,87}(?![A-Za-z0-9])"),
)
# The "0x" is required: a bare 40-hex word is almost always a SHA-1 digest.
_ETHEREUM_RE = re.compile(r"0x(?<![A-Za-z0-9]0x)[0-9a-fA-F]{40}(?![A-Za-z0-9])")
# Monero: 95 base58 characters ("4..." standard, "8..." subaddress) or 106
# ("4..." integrated); a digit is a cheap anchor, the 94-character run fails fast.
_MONERO_RES = (
    re.compile(rf"4(?<![A-Za-z0-9]4){_B58}{{94}}(?:{_B58}{{11}})?(?![A-Za-z0-9])"),
    re.compile(rf"8(?<![A-Za-z0-9]8){_B58}{{94}}(?![A-Za-z0-9])"),
)
_ONION_SUFFIX_RE = re.compile(r"\.onion", re.IGNORECASE)
_ONION_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
# 253 is the DNS name limit; it bounds the backwards scan.
_ONION_HOST_MAX = 253
_ONION_HOST_RE = re.compile(r"(?:[a-z0-9-]+\.)*[a-z2-7]{56}\.onion")
_V3_LABEL_LENGTH = 56
_V3_LABEL_RE = re.compile(r"[a-z2-7]{56}", re.IGNORECASE)
# ".onion.sh" and friends are tor2web gateways (already found as URLs), and a
# host running on into "_" or letters is something else.
_ONION_END_RE = re.compile(r"\.?[\w-]")

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_HAS_AUTHORITY_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_HAS_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# Schemes recognised as already present on an extra-pattern match: a generic
# "word:" test would take "localhost:8080" or "example.com:81" for a scheme.
_KNOWN_SCHEMES = frozenset(
    ("http", "https", "ftp", "ws", "wss", "irc", "ircs", "bitcoin", "btc", "ethereum", "eth", "monero", "data",
     "ed2k", "magnet", "mailto", "tel", "javascript")
)  # fmt: skip
# Schemes whose URLs carry "//" before the host; others are "scheme:opaque".
_AUTHORITY_SCHEMES = frozenset(("http", "https", "ftp", "ws", "wss", "irc", "ircs", "ed2k"))
# re.DEBUG is left out on purpose: it makes re.compile print to stdout.
_RE_FLAGS_MASK = int(re.ASCII | re.IGNORECASE | re.LOCALE | re.MULTILINE | re.DOTALL | re.UNICODE | re.VERBOSE)


def _trim_url(url: str) -> str:
    """Drop trailing punctuation that ends the sentence rather than the URL."""
    end = len(url)
    while end and url[end - 1] in _TRAILING:
        char = url[end - 1]
        # Like GFM, keep a closing bracket that closes one opened inside the URL
        # ("…/wiki/Foo_(bar)"), drop one that closes the prose "(see http://…)".
        if char == ")" and url.count("(", 0, end) >= url.count(")", 0, end):
            break
        if char == "]" and url.count("[", 0, end) >= url.count("]", 0, end):
            break
        end -= 1
    return url[:end]


def _find_scheme_urls(text: str, found: list[tuple[int, str]], spans: list[tuple[int, int]]) -> None:
    # Anchored on the rare "://" and looking back for the scheme: far cheaper
    # than a scheme-alternation regex tried at every position of the page.
    last_end = 0
    for sep in _SCHEME_SEP_RE.finditer(text):
        pos = sep.start()
        if pos < last_end:
            continue  # "http://a/?next=http://b" is one URL
        head = text[max(0, pos - 5) : pos].lower()
        scheme = next((s for s in _TEXT_SCHEMES if head.endswith(s)), None)
        if scheme is None:
            continue
        start = pos - len(scheme)
        if scheme not in _GLUEABLE_SCHEMES and start and _SCHEME_BLOCKERS.match(text, start - 1):
            continue
        body = _URL_BODY_RE.match(text, pos + 3)
        if body is None:
            continue
        url = _trim_url(text[start : body.end()])
        if len(url) <= len(scheme) + 3:
            continue  # nothing but punctuation after "://"
        last_end = start + len(url)
        spans.append((start, last_end))
        found.append((start, url))


def _find_www_urls(text: str, found: list[tuple[int, str]], spans: list[tuple[int, int]]) -> None:
    # Two literal scans; a mixed-case "Www." is not worth a slower one.
    scheme_starts = [start for start, _ in spans]
    scheme_ends = [end for _, end in spans]
    for www_re in _WWW_RES:
        for www in www_re.finditer(text):
            pos = www.start()
            if (pos and _WWW_BLOCKERS.match(text, pos - 1)) or _inside(scheme_starts, scheme_ends, pos):
                continue
            body = _URL_BODY_RE.match(text, pos)
            url = _trim_url(body.group()) if body else ""
            # Needs a real domain after "www.": "www." or "www.x" is prose.
            if _WWW_DOMAIN_RE.match(url, 4):
                spans.append((pos, pos + len(url)))
                found.append((pos, "http://" + url))


def _inside(starts: list[int], ends: list[int], pos: int) -> bool:
    i = bisect_right(starts, pos) - 1
    return i >= 0 and pos < ends[i]


def _find_emails(text: str, found: list[tuple[int, str]], starts: list[int], ends: list[int]) -> None:
    for at in _AT_RE.finditer(text):
        pos = at.start()
        # Scan back over the local part: a backwards regex search would rescan
        # the window once per start position.
        begin = pos
        limit = max(0, pos - _EMAIL_LOCAL_MAX - 1)
        while begin > limit and text[begin - 1] in _EMAIL_LOCAL_CHARS:
            begin -= 1
        if pos - begin > _EMAIL_LOCAL_MAX:
            continue
        while begin < pos and text[begin] == ".":
            begin += 1
        if begin == pos:
            continue
        domain = _EMAIL_DOMAIN_RE.match(text, pos + 1)
        if domain is None or _inside(starts, ends, begin):
            continue
        found.append((begin, f"mailto:{text[begin:pos]}@{domain.group()}"))


def _find_onions(text: str, found: list[tuple[int, str]], starts: list[int], ends: list[int]) -> None:
    for suffix in _ONION_SUFFIX_RE.finditer(text):
        end = suffix.end()
        if _ONION_END_RE.match(text, end):
            continue
        # The v3 label is exactly the 56 characters before ".onion": check them
        # in place, and only walk further back (in Python) for subdomains.
        label_start = suffix.start() - _V3_LABEL_LENGTH
        if label_start < 0 or not _V3_LABEL_RE.fullmatch(text, label_start, suffix.start()):
            continue
        begin = label_start
        if begin and text[begin - 1] == ".":
            limit = max(0, begin - _ONION_HOST_MAX)
            while begin > limit and text[begin - 1] in _ONION_HOST_CHARS:
                begin -= 1
            while text[begin] in ".-":
                begin += 1
        if begin and (text[begin - 1] == "_" or text[begin - 1].isalnum()):
            continue  # glued to a longer word (a 57-char "label", "x_…"), or too long
        host = text[begin:end].lower()
        if begin != label_start and not _ONION_HOST_RE.fullmatch(host):
            continue
        if _inside(starts, ends, begin):
            continue
        if onion_identity(host)[0] is not None:
            found.append((begin, f"http://{host}/"))


def _with_scheme(scheme: str, url: str) -> str:
    if _HAS_AUTHORITY_RE.match(url):
        return url
    match = _HAS_SCHEME_RE.match(url)
    if match is not None:
        name = match.group(1).lower()
        if name == scheme or name in _KNOWN_SCHEMES:
            return url
    if url.startswith("//"):
        return f"{scheme}:{url}"
    # darc's bug was "http:" + "www.x": hierarchical schemes need the "//".
    return f"{scheme}://{url}" if scheme in _AUTHORITY_SCHEMES else f"{scheme}:{url}"


def find_text_links(text: str, extra: ExtraPatterns = ()) -> list[str]:
    """Absolute links mentioned in ``text``, de-duplicated, in order of appearance.

    Finds URLs (http, https, ftp, ws, wss, irc, ircs and bare ``www.`` hosts),
    e-mail addresses (as ``mailto:``), checksum-valid Bitcoin, Ethereum and Monero
    addresses (as ``bitcoin:``/``ethereum:``/``monero:``), bare v3 onion hosts (as
    ``http://<host>/``) and whatever the ``extra`` (DARC_URL_PAT) patterns match.
    E-mail addresses and onion hosts inside a found URL are part of that URL and
    not reported again; crypto addresses are, as they are worth recording anyway.
    """
    found: list[tuple[int, str]] = []
    spans: list[tuple[int, int]] = []
    # No `"://" in text` prefilters: for needles longer than one character
    # CPython's str search is slower than a literal-prefixed regex scan.
    _find_scheme_urls(text, found, spans)
    _find_www_urls(text, found, spans)
    spans.sort()
    starts = [start for start, _ in spans]
    ends = [end for _, end in spans]
    if "@" in text:  # one-character `in` is a memchr: nearly free
        _find_emails(text, found, starts, ends)
    for bitcoin_re in _BITCOIN_RES:
        for match in bitcoin_re.finditer(text):
            if is_bitcoin_address(match.group()):
                found.append((match.start(), "bitcoin:" + match.group()))
    for match in _ETHEREUM_RE.finditer(text):
        if is_ethereum_address(match.group()):
            found.append((match.start(), "ethereum:" + match.group()))
    for monero_re in _MONERO_RES:
        for match in monero_re.finditer(text):
            if is_monero_address(match.group()):
                found.append((match.start(), "monero:" + match.group()))
    _find_onions(text, found, starts, ends)
    for scheme, pattern in extra:
        for match in pattern.finditer(text):
            url = match.group("url")
            if url:
                found.append((match.start("url"), _with_scheme(scheme, url)))
    # Stable sort: at equal positions the earlier pass (the URL) comes first.
    found.sort(key=lambda item: item[0])
    return list(dict.fromkeys(url for _, url in found))


def compile_extra_patterns(spec: list[Any]) -> list[tuple[str, re.Pattern[str]]]:
    """Compile darc's DARC_URL_PAT: a list of ``[scheme, regex, flags]`` entries.

    ``scheme`` is prefixed to matches that carry none; ``regex`` must define a
    named group ``url``; ``flags`` is an int of ``re`` flags and may be left out
    (0).  Raises ``ValueError`` naming the entry and the problem, so a bad setting
    fails at start-up rather than silently matching nothing; callers add the
    setting's name.
    """
    if not isinstance(spec, list):
        raise ValueError(f"expected a list of [scheme, regex, flags], got {type(spec).__name__}")
    compiled: list[tuple[str, re.Pattern[str]]] = []
    for index, entry in enumerate(spec):
        where = f"entry {index} {entry!r}"
        if not isinstance(entry, (list, tuple)) or len(entry) not in (2, 3):
            raise ValueError(f"{where}: expected [scheme, regex, flags]")
        scheme, regex = entry[0], entry[1]
        flags = entry[2] if len(entry) == 3 else 0
        if not isinstance(scheme, str) or not _SCHEME_RE.fullmatch(scheme):
            raise ValueError(f"{where}: scheme must be a URL scheme such as 'http'")
        if not isinstance(regex, str):
            raise ValueError(f"{where}: regex must be a string")
        # bool is an int subclass, but true/false in JSON is surely a mistake.
        if not isinstance(flags, int) or isinstance(flags, bool) or flags < 0 or flags & ~_RE_FLAGS_MASK:
            raise ValueError(f"{where}: flags must be a non-negative int of re flags (re.DEBUG excluded)")
        try:
            pattern = re.compile(regex, flags)
        except (re.error, ValueError) as exc:  # ValueError: e.g. re.LOCALE on a str pattern
            raise ValueError(f"{where}: invalid regex: {exc}") from exc
        if "url" not in pattern.groupindex:
            raise ValueError(f"{where}: regex needs a named group 'url', e.g. (?P<url>...)")
        compiled.append((scheme.lower(), pattern))
    return compiled
