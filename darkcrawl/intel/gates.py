"""Interstitials: pages a host puts in front of its content, recognised from one answer.

A *gate* is a state of the host, not its content: a DDoS-protection queue (EndGame's
"You have been placed in a queue", a page that reloads itself after N seconds), a
captcha or a browser check, a ban page ("DDOS fliter killed your path"), a login
wall, or an error page of a proxy in front of the host (a front whose backend is down,
a Tor2web gateway, an I2P router or a Privoxy that answered with a 200).  The crawl
records it (:class:`Gate`: kind, the rule that matched, one sentence of evidence, the
wait the page asks for) and never indexes it as the site's text.

Detection is pure and table-driven: :data:`RULES` is read top to bottom, the first
rule that matches wins.  It runs on :class:`PageSignals`, a few facts of the page
(title, the visible text if the page is short, forms, password inputs, links, a
refresh to itself, ``Retry-After``, ``WWW-Authenticate``) built from the parsed tree
(:func:`markup_signals`) or from plain text (:func:`text_signals`).  Every gate is a
*short* page: one whose visible text is longer than :data:`SHORT_TEXT` characters is
content, whatever words it contains, so an article about captchas or a forum page
with a login box in its sidebar is never a gate.  Login and captcha rules also
leave alone a page that was asked for as such (``/login``, ``/register``...): that
is the site's login page, not a wall in front of the page asked for.

:func:`worth_checking` is the cheap test on the raw answer that decides whether the
full check is worth a parse, for every response of the crawl: an error status, a
refresh, a small body, a gate-like title.  The error pages of the crawl's own proxies
and gateways with an error status (i2pd's "Host not found", Privoxy's) are failures of
the request, told apart before this (:mod:`darkcrawl.networks.proxy_errors`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import etree

from darkcrawl.links.extract import page_title, refresh_parts, refreshes, visible_text

#: The kinds of gate, and those the crawl cannot pass by itself ("needs a person").
GATE_KINDS = ("queue", "captcha", "ban", "login", "proxy_error")
NEEDS_PERSON = frozenset({"captcha", "login"})

#: Characters of visible text past which a page is content, not a gate.
SHORT_TEXT = 1500
#: ...and of visible text outside its forms past which a page with a password box is
#: a page with a login box, not a login wall.
LOGIN_WALL_TEXT = 800
#: A login wall links to a few places (register, forgot password, home), not to a site.
LOGIN_WALL_LINKS = 15
#: A page that reloads itself sooner than this is a refresh loop (the render's navigation
#: limit bounds it), not a queue asking to wait.
MIN_QUEUE_DELAY = 1.0
#: Characters of a matched phrase quoted in the evidence.
QUOTE_CHARS = 80

#: Bodies larger than this are never gates (nor worth a look).
MAX_GATE_BODY = 1024 * 1024
#: A body this small is checked whatever it says: a parse of it is cheap.
SMALL_BODY = 8192
#: Bytes of the start of a page searched for a refresh or a gate-like title.
HEAD_BYTES = 8192
_CHECKED_TYPES = frozenset({"", "text/html", "application/xhtml+xml", "text/plain"})
_GATE_TITLE = re.compile(
    rb"<title[^>]*>[^<]{0,300}?(?:queue|ddos|captcha|just a moment|attention required|security check|"
    rb"access denied|banned|blocked|verif|human|robot|log ?in|sign ?in|logon|authori[sz]|forbidden|error|"
    rb"unavailable|please wait|waiting|protect|proxy|gateway|limit)",
    re.IGNORECASE,
)

#: Pages that are the site's own authentication pages when asked for by name.
_AUTH_URL = re.compile(
    r"/(?:\w+[_-])?(?:log-?[io]n|sign-?[io]n|sign-?up|register|registration|auth\w*|account|members?|contact|"
    r"captcha|verify|password|reset|forgot\w*|new-?topic|post(?:ing)?|reply|comment\w*)"
    r"(?:\.(?:php\d?|html?|aspx?|jsp|cgi|pl))?(?=[/?#]|$)"
    r"|[?&](?:action|mode|do|page)=(?:log-?in|sign-?in|register|reply|post|contact)",
    re.IGNORECASE,
)

_WHITESPACE = re.compile(r"\s+")
_PASSWORD_INPUTS = etree.XPath("count(//input[translate(@type,'PASWORD','pasword')='password'])")
_FORMS = etree.XPath("count(//form)")
_LINKS = etree.XPath("count(//a[@href])")
_OUTSIDE_FORMS = etree.XPath(
    "//body//text()[not(ancestor::form)][not(parent::script|parent::style|parent::noscript)]",
    smart_strings=False)


@dataclass(frozen=True, slots=True)
class PageSignals:
    """The facts of one answer that gates are told by."""

    status: int = 200
    title: str = ""
    #: the visible text, white space collapsed, at most SHORT_TEXT characters
    text: str = ""
    #: the visible text is longer than SHORT_TEXT: a page of content
    long: bool = False
    #: characters of visible text outside the page's forms (counted up to LOGIN_WALL_TEXT + 1)
    outside_forms: int = 0
    #: the delay of a refresh that reloads this page (meta refresh or ``Refresh`` header)
    refresh: float | None = None
    password_inputs: int = 0
    forms: int = 0
    links: int = 0
    retry_after: float | None = None
    www_authenticate: bool = False


@dataclass(frozen=True, slots=True)
class Gate:
    kind: str  # one of GATE_KINDS
    rule: str  # the rule of RULES that matched
    evidence: str  # one short sentence: what was recognised
    wait: float | None = None  # seconds the page asks to wait (refresh, Retry-After)
    title: str = ""

    @property
    def needs_person(self) -> bool:
        return self.kind in NEEDS_PERSON

    def as_dict(self) -> dict[str, Any]:
        """The ``gate`` of a PageItem and of a headers record (``"Gate"``)."""
        return {"kind": self.kind, "evidence": self.evidence, "wait": self.wait, "rule": self.rule}


# -- rules ----------------------------------------------------------------------------------

def _r(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Rule:
    """One way to tell a gate.  Every condition given must hold; ``text`` is searched
    in the title and the visible text, lower-cased, white space collapsed."""

    name: str
    kind: str
    #: what it is, for the evidence sentence (the matched phrase is quoted after it)
    what: str
    text: re.Pattern[str] | None = None
    title: re.Pattern[str] | None = None
    status: frozenset[int] | None = None
    #: a status or the text: either is enough (the rate limit: 429, or "too many requests")
    status_or_text: bool = False
    #: a page of any length (the text is specific enough), else short pages only
    any_length: bool = False
    refresh: bool = False  # the page reloads itself after a delay
    form: bool = False  # the page has a form
    login_wall: bool = False  # a password box is what the page is about
    www_authenticate: bool = False
    #: not a gate when the URL asked for is an authentication or posting page
    not_on_auth_pages: bool = False
    #: the wait this gate asks for when the page gives none (seconds)
    wait: float | None = None


RULES: tuple[Rule, ...] = (
    # bans: the host refuses us for a while; a fresh start (new cookie, new circuit) helps
    Rule("endgame-ban", "ban", "EndGame ban page (the cookie is banned)", text=_r(r"ddos f\w{0,4}er killed your path")),
    Rule("endgame-new-identity", "ban", "ban page (a new identity is asked for)",
         text=_r(r"(?:grab|get) a new identity and try again|failed the captcha too many times")),
    Rule("endgame-captcha-ignored", "ban", "EndGame: a captcha was ignored, a new one in about a minute",
         text=_r(r"think of what you have done"), wait=60.0),
    Rule("rate-limited", "ban", "rate limit", status=frozenset({429}), status_or_text=True,
         text=_r(r"too many requests|rate[- ]limit(?:ed| exceeded| reached)|you (?:are|were) (?:being )?rate[- ]limited|"
                 r"(?:request|flood) limit (?:exceeded|reached)")),
    Rule("banned", "ban", "ban page",
         text=_r(r"you(?:'ve| have)? been (?:temporarily |permanently )?(?:banned|blocked|blacklisted)|"
                 r"your (?:ip(?: address)?|circuit|session|cookie|access|identity) (?:has been|is|was|have been) "
                 r"(?:temporarily |permanently )?(?:banned|blocked|blacklisted)|"
                 r"(?:circuit|connection|path) (?:has been |was )?(?:killed|terminated) by (?:the )?(?:anti-?)?ddos")),
    # error pages of a proxy in front of the host: the host's own answer never came
    Rule("i2p-proxy", "proxy_error", "I2P proxy error",
         text=_r(r"proxy error: (?:host|can'?t|cannot|outproxy|invalid|unknown|no )[\w ']{0,30}|"
                 r"not found in router'?s addressbook|(?:website|eepsite) (?:unreachable|unknown|not found)|"
                 r"outproxy not found")),
    Rule("privoxy", "proxy_error", "Privoxy error page",
         text=_r(r"privoxy (?:was unable|encountered|could not|failed)|socks5t?-forward|this is privoxy")),
    Rule("tor2web", "proxy_error", "Tor2web gateway error",
         text=_r(r"tor2web\W.{0,100}?(?:error|unavailable|cannot|can't|not (?:found|reachable|available)|blocked|refused)")),
    Rule("tor-http", "proxy_error", "tor's answer to HTTP on a SocksPort", text=_r(r"tor is not an http proxy")),
    Rule("endgame-backend", "proxy_error", "EndGame front without its backend",
         text=_r(r"front doesn'?t have a stable connection to the backend")),
    Rule("bad-gateway", "proxy_error", "the host's front cannot reach its backend",
         status=frozenset({502, 504}), text=_r(r"bad gateway|gateway time-?out|upstream|backend")),
    # queues: waited out as they ask
    Rule("endgame-queue", "queue", "queue page",
         text=_r(r"placed in a queue|access queue|awaiting forwarding to the platform"), wait=10.0),
    # by its vendor's title or name: "checking your browser" alone is also what a page that
    # merely reloads itself says (a loop the render stage bounds)
    Rule("browser-check", "captcha", "browser check (a JavaScript challenge)",
         title=_r(r"just a moment|attention required|ddos-guard|checking your browser|one more step"),
         text=_r(r"ddos protection by \w+|ddos-guard|cloudflare ray id|enable javascript and cookies to continue")),
    Rule("ddos-queue", "queue", "page that reloads itself to let you in", refresh=True,
         text=_r(r"queue|ddos|anti-?bot|please wait|wait(?:ing)? room|you will be (?:automatically )?redirected|"
                 r"do not refresh|checking your (?:browser|connection)|verifying your (?:browser|connection)|"
                 r"in line|hold on|redirecting you")),
    # what needs a person
    Rule("captcha", "captcha", "captcha", form=True, not_on_auth_pages=True,
         text=_r(r"captcha|prove (?:that )?you(?:'re| are)? (?:a )?human|i(?:'m| am) not a robot|are you (?:a )?human|"
                 r"human verification|verify (?:that )?you(?:'re| are) (?:a )?human|select the time shown|"
                 r"solve the (?:puzzle|challenge)|security (?:check|question)|anti-?bot (?:check|challenge)")),
    Rule("http-auth", "login", "HTTP authentication", status=frozenset({401}), www_authenticate=True,
         any_length=True),
    Rule("login-wall", "login", "login wall", login_wall=True, not_on_auth_pages=True,
         text=_r(r"log ?[io]n|sign ?in|logon|members? only|authenticat\w*|account|password")),
)


def _matches(rule: Rule, signals: PageSignals, hay: str, auth_page: bool) -> str | None:
    """The phrase (or fact) that makes *rule* match, or None."""
    if signals.long and not rule.any_length:
        return None
    if rule.not_on_auth_pages and auth_page:
        return None
    if rule.refresh and (signals.refresh is None or signals.refresh < MIN_QUEUE_DELAY):
        return None
    if rule.form and not signals.forms:
        return None
    if rule.www_authenticate and not signals.www_authenticate:
        return None
    if rule.login_wall and not (signals.password_inputs and signals.links <= LOGIN_WALL_LINKS
                                and signals.outside_forms <= LOGIN_WALL_TEXT):
        return None
    status_hit = rule.status is not None and signals.status in rule.status
    if rule.status is not None and not status_hit and not rule.status_or_text:
        return None
    if status_hit and (rule.status_or_text or rule.text is None):
        return f"HTTP {signals.status}"
    if rule.title is not None:
        found = rule.title.search(signals.title)
        if found:
            return found.group(0)
    if rule.text is not None:
        found = rule.text.search(hay)
        if found:
            return found.group(0)
        return None
    return None if rule.title is not None else "matched"


def _wait_of(rule: Rule, signals: PageSignals) -> float | None:
    if rule.kind == "ban" and signals.retry_after is not None:
        return signals.retry_after
    if rule.kind == "queue" and signals.refresh is not None:
        return signals.refresh
    return rule.wait


def is_auth_page(url: str) -> bool:
    """Whether *url* names a login, registration, contact or posting page."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return bool(_AUTH_URL.search(parts.path + ("?" + parts.query if parts.query else "")))


def detect(signals: PageSignals, requested: str = "") -> Gate | None:
    """The gate this answer is, or None for the host's own content.

    *requested*: the URL the crawl asked for (before redirects); an authentication
    page asked for by name is the site's own page, not a wall."""
    hay = _WHITESPACE.sub(" ", f"{signals.title} \n {signals.text}").lower()
    auth_page = is_auth_page(requested)
    for rule in RULES:
        matched = _matches(rule, signals, hay, auth_page)
        if matched is None:
            continue
        wait = _wait_of(rule, signals)
        quote = matched if matched.startswith("HTTP ") else f'"{matched[:QUOTE_CHARS].strip()}"'
        evidence = f"{rule.what}: {quote}" if matched != "matched" else rule.what
        if wait is not None and rule.kind in ("queue", "ban"):
            evidence += f", wait {wait:g} s"
        return Gate(rule.kind, rule.name, evidence, wait, signals.title)
    return None


# -- signals ----------------------------------------------------------------------------------

def _seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP date: not worth a clock here
    return seconds if seconds >= 0 else None


@dataclass(frozen=True, slots=True)
class AnswerHeaders:
    """The response headers gates are told by."""

    refresh: str | None = None
    retry_after: str | None = None
    www_authenticate: bool = False

    @classmethod
    def read(cls, get: Callable[[bytes], bytes | None]) -> AnswerHeaders:
        """From any header map with ``get(name) -> bytes`` (Scrapy's ``Headers``)."""
        def text(name: bytes) -> str | None:
            value = get(name)
            return value.decode("latin-1") if value else None

        return cls(text(b"Refresh"), text(b"Retry-After"), get(b"WWW-Authenticate") is not None)

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> AnswerHeaders:
        """From a recorded header map (name -> value, any case): a headers record's."""
        lower = {name.lower(): value for name, value in headers.items()}
        return cls(lower.get("refresh"), lower.get("retry-after"), "www-authenticate" in lower)


def _self_refresh(delay: float | None, target: str | None, url: str) -> float | None:
    """The delay of a refresh that reloads *url* itself (a target-less one, or to itself)."""
    if delay is None:
        return None
    if not target:
        return delay
    try:
        same = urljoin(url, target).partition("#")[0] == url.partition("#")[0]
    except ValueError:
        return None
    return delay if same else None


def markup_signals(root: etree._Element, status: int, url: str, headers: AnswerHeaders = AnswerHeaders(),
                   text: str | None = None) -> PageSignals:
    """The signals of a parsed HTML page (*url*: where it was fetched from); *text*:
    its visible text when the caller has it already (the spider's page facts)."""
    refresh = None
    if headers.refresh:
        refresh = _self_refresh(*refresh_parts(headers.refresh), url)
    if refresh is None:
        for delay, target in refreshes(root):
            refresh = _self_refresh(delay, target, url)
            if refresh is not None:
                break
    if text is None:
        text = visible_text(root, 3 * SHORT_TEXT)
    text = _WHITESPACE.sub(" ", text[: 3 * SHORT_TEXT]).strip()
    outside = 0
    for piece in _OUTSIDE_FORMS(root):
        outside += len(piece.strip())
        if outside > LOGIN_WALL_TEXT:
            break
    return PageSignals(
        status=status, title=page_title(root), text=text[:SHORT_TEXT], long=len(text) > SHORT_TEXT,
        outside_forms=outside, refresh=refresh, password_inputs=int(_PASSWORD_INPUTS(root)),
        forms=int(_FORMS(root)), links=int(_LINKS(root)), retry_after=_seconds(headers.retry_after),
        www_authenticate=headers.www_authenticate,
    )


def text_signals(text: str, status: int, headers: AnswerHeaders = AnswerHeaders()) -> PageSignals:
    """The signals of a plain-text answer (EndGame's ban is ``text/plain``)."""
    collapsed = _WHITESPACE.sub(" ", text[: 3 * SHORT_TEXT]).strip()
    refresh = refresh_parts(headers.refresh)[0] if headers.refresh else None
    return PageSignals(status=status, text=collapsed[:SHORT_TEXT], long=len(collapsed) > SHORT_TEXT,
                       outside_forms=min(len(collapsed), LOGIN_WALL_TEXT + 1), refresh=refresh,
                       retry_after=_seconds(headers.retry_after), www_authenticate=headers.www_authenticate)


def worth_checking(status: int, content_type: str, body: bytes, headers: AnswerHeaders = AnswerHeaders()) -> bool:
    """Whether an answer may be a gate: the cheap test every response passes through
    (a few byte searches on its start), before any parse."""
    if status in (401, 403, 407, 429) or status >= 500:
        return True
    if content_type not in _CHECKED_TYPES or len(body) > MAX_GATE_BODY or not body:
        return False
    if headers.refresh is not None or len(body) <= SMALL_BODY:
        return True
    head = body[:HEAD_BYTES]
    return b"efresh" in head or b"EFRESH" in head or _GATE_TITLE.search(head) is not None
