"""darc's configuration names, their types, and how they map onto Scrapy settings.

Scrapy settings are the single source of truth.  darc was configured only through
environment variables; :func:`apply_environment` copies the ones that are set into
the settings (once, when the add-on loads the settings), and :func:`normalise`
parses and validates every known option wherever its value came from (settings
module, ``-s NAME=value``, environment), so a malformed value stops start-up with
a message that names it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from scrapy.settings import BaseSettings

T = TypeVar("T")

#: Priority of values taken from the environment: above a settings profile
#: ("project", 20) so that a per-run variable wins, below ``-s`` ("cmdline", 40).
ENV_PRIORITY = 25


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the option."""


# --- parsers: raw (str from the environment or -s, or a Python value) -> typed value


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return bool(value)
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected 0 or 1")


def _int(value: Any) -> int:
    """A count or a limit: every integer option of darc's and darkcrawl's is one, and a
    negative one (``DARKCRAWL_HOST_PAGE_LIMIT=-5``) silently refused every page."""
    if isinstance(value, bool):
        raise ValueError("expected a whole number (0 or more)")
    if isinstance(value, int):
        number = value
    else:
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError("expected a whole number (0 or more)") from None
    if number < 0:
        raise ValueError("expected a whole number (0 or more), not a negative one")
    return number


def _port(value: Any) -> int:
    port = _int(value)
    if not 0 < port < 65536:
        raise ValueError("expected a TCP port (1-65535)")
    return port


def _seconds(value: Any) -> float:
    """Seconds as a float; ``inf`` (or darc's ``None``) means "never/forever"."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        text = str(value).strip().lower()
        if text in {"inf", "infinity", "none", "forever"}:
            return math.inf
        try:
            number = float(text)
        except ValueError:
            raise ValueError("expected a number of seconds or 'inf'") from None
    if math.isnan(number) or number < 0:
        raise ValueError("expected a non-negative number of seconds")
    return number


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg} at column {exc.colno})") from None


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str) and not value.strip():
        return []  # an empty variable: no list
    if isinstance(value, str) and value.strip() and value.strip()[0] != "[":
        # the commonest slip: a bare pattern where darc wants a JSON list of them
        raise ValueError(f'expected a JSON list of strings, e.g. {json.dumps([value.strip()])}')
    value = _json(value)
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a JSON list of strings")
    return list(value)


def _regex_list(value: Any) -> list[str]:
    patterns = _str_list(value)
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
    return patterns


def _fallback(value: Any) -> str:
    """darc's ``*_FALLBACK``: "" (unset), "0" (keep) or "1" (drop)."""
    if value is None or str(value).strip() == "":
        return ""
    return "1" if _bool(value) else "0"


def _dict(value: Any) -> dict[str, Any]:
    value = _json(value)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return dict(value)


def _url_patterns(value: Any) -> list[list[Any]]:
    value = _json(value)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("expected a JSON list of [scheme, regex, flags]")
    checked: list[list[Any]] = []
    for index, entry in enumerate(value):
        if not (isinstance(entry, (list, tuple)) and len(entry) in (2, 3)):
            raise ValueError(f"entry {index}: expected [scheme, regex, flags]")
        scheme, pattern = entry[0], entry[1]
        flags = entry[2] if len(entry) == 3 else 0
        if not isinstance(scheme, str) or not isinstance(pattern, str) or not isinstance(flags, int):
            raise ValueError(f"entry {index}: expected [str, str, int]")
        try:
            compiled = re.compile(pattern, flags)
        except re.error as exc:
            raise ValueError(f"entry {index}: bad regular expression: {exc}") from None
        if "url" not in compiled.groupindex:
            raise ValueError(f"entry {index}: the regex needs a named group 'url'")
        checked.append([scheme, pattern, flags])
    return checked


@dataclass(frozen=True, slots=True)
class Option:
    """One darc/darkcrawl option: its name (= environment variable), parser and default."""

    name: str
    parse: Callable[[Any], Any]
    default: Any
    #: the Scrapy setting it maps onto, when Scrapy already has one
    setting: str | None = None
    #: turns the option's value into that setting's value
    to_setting: Callable[[Any], Any] | None = None
    help: str = ""


def _opt(name: str, parse: Callable[[Any], Any], default: Any, help: str, **kw: Any) -> Option:
    return Option(name, parse, default, help=help, **kw)


#: Every option darkcrawl reads.  darc's names are kept so that its users find them.
OPTIONS: tuple[Option, ...] = (
    # general
    _opt("DARC_REBOOT", _bool, False, "stop after one round: every reachable URL fetched once"),
    _opt("DARC_DEBUG", _bool, False, "debug logging", setting="LOG_LEVEL",
         to_setting=lambda on: "DEBUG" if on else None),
    _opt("DARC_VERBOSE", _bool, False, "verbose (debug) logging", setting="LOG_LEVEL",
         to_setting=lambda on: "DEBUG" if on else None),
    _opt("DARC_FORCE", _bool, False, "ignore robots.txt rules (robots.txt is still fetched and saved)",
         setting="ROBOTSTXT_OBEY", to_setting=lambda force: not force),
    _opt("DARC_CHECK", _bool, False, "accepted for compatibility: lists are always checked before a request exists"),
    _opt("DARC_CHECK_CONTENT_TYPE", _bool, False,
         "accepted for compatibility: MIME lists are checked when the response headers arrive"),
    _opt("DARC_URL_PAT", _url_patterns, [], "extra text-URL regexes [[scheme, regex, flags], ...]"),
    _opt("DARC_WAIT", _seconds, 60.0, "how often (s) a continuous crawl looks for URLs falling due"),
    _opt("PATH_DATA", _str, "data", "root folder of everything the crawl saves"),
    _opt("TIME_CACHE", _seconds, 60.0, "seconds during which a fetched URL is not fetched again ('inf': never)"),
    _opt("SE_WAIT", _seconds, 0.0, "extra seconds to wait after a page loads in the browser"),
    # adaptive revisits (darkcrawl.frontier.revisit_policy)
    _opt("DARKCRAWL_REVISIT_ADAPTIVE", _bool, True,
         "adapt each URL's revisit interval to what its visits saw (0: every URL every TIME_CACHE s, as darc)"),
    _opt("DARKCRAWL_REVISIT_MAX", _seconds, 604800.0,
         "longest revisit interval (s, at least TIME_CACHE): a page that never changes is still visited this often"),
    _opt("DARKCRAWL_REVISIT_PROBE", _seconds, 3600.0,
         "first wait (s) before a down host is probed again, doubled at each failed probe up to DARKCRAWL_REVISIT_MAX"),
    # white / black lists
    _opt("LINK_WHITE_LIST", _regex_list, [], "host regexes (fullmatch, ignore case) to crawl"),
    _opt("LINK_BLACK_LIST", _regex_list, [], "host regexes (fullmatch, ignore case) never to crawl"),
    _opt("LINK_FALLBACK", _fallback, "", "1: drop hosts no list matches; 0: keep them; unset: drop them only if a white list is set"),
    _opt("MIME_WHITE_LIST", _regex_list, [], "content-type regexes to keep"),
    _opt("MIME_BLACK_LIST", _regex_list, [], "content-type regexes to drop"),
    _opt("MIME_FALLBACK", _fallback, "", "as LINK_FALLBACK, for content types"),
    _opt("PROXY_WHITE_LIST", _regex_list, [], "network regexes to crawl (clearnet, tor, tor2web, i2p, zeronet, freenet; 'null' = clearnet)"),
    _opt("PROXY_BLACK_LIST", _regex_list, [], "network regexes never to crawl"),
    _opt("PROXY_FALLBACK", _fallback, "", "as LINK_FALLBACK, for networks"),
    # submission (render/submission issue)
    _opt("API_RETRY", _int, 3, "submission retries"),
    _opt("API_NEW_HOST", _str, "", "URL receiving new_host submissions"),
    _opt("API_REQUESTS", _str, "", "URL receiving requests submissions"),
    _opt("API_SELENIUM", _str, "", "URL receiving selenium submissions"),
    # networks (network issue)
    _opt("DARC_TOR", _bool, True, "launch and manage Tor through stem"),
    _opt("TOR_PORT", _port, 9050, "Tor SocksPort"),
    _opt("TOR_CTRL", _port, 9051, "Tor ControlPort"),
    _opt("TOR_PASS", _str, "", "Tor control password (cookie authentication when empty; never prompted)"),
    _opt("TOR_RETRY", _int, 3, "Tor bootstrap retries"),
    _opt("TOR_WAIT", _seconds, 90.0, "Tor bootstrap timeout (s)"),
    _opt("TOR_CFG", _dict, {}, "extra torrc options (JSON object)"),
    _opt("DARC_I2P", _bool, True, "launch I2P"),
    _opt("I2P_PORT", _port, 4444, "I2P HTTP proxy port"),
    _opt("I2P_RETRY", _int, 3, "I2P bootstrap retries"),
    _opt("I2P_WAIT", _seconds, 90.0, "I2P bootstrap timeout (s)"),
    _opt("I2P_ARGS", _str, "", "extra arguments for the I2P router"),
    _opt("DARC_ZERONET", _bool, True, "launch ZeroNet"),
    _opt("ZERONET_PORT", _port, 43110, "ZeroNet UI gateway port"),
    _opt("ZERONET_RETRY", _int, 3, "ZeroNet bootstrap retries"),
    _opt("ZERONET_WAIT", _seconds, 90.0, "ZeroNet bootstrap timeout (s)"),
    _opt("ZERONET_PATH", _str, "/usr/local/src/zeronet", "ZeroNet install folder"),
    _opt("ZERONET_ARGS", _str, "", "extra arguments for ZeroNet"),
    _opt("DARC_FREENET", _bool, True, "launch Freenet"),
    _opt("FREENET_PORT", _port, 8888, "Freenet FProxy gateway port"),
    _opt("FREENET_RETRY", _int, 3, "Freenet bootstrap retries"),
    _opt("FREENET_WAIT", _seconds, 90.0, "Freenet bootstrap timeout (s)"),
    _opt("FREENET_PATH", _str, "/usr/local/src/freenet", "Freenet install folder"),
    _opt("FREENET_ARGS", _str, "", "extra arguments for Freenet"),
    # darkcrawl's own (no darc equivalent)
    _opt("DARKCRAWL_HOST_PAGE_LIMIT", _int, 10000, "most pages fetched per host in a round (0: no limit)"),
    _opt("DARKCRAWL_MAX_SEGMENT_REPEAT", _int, 3, "a URL path with one segment repeated this often is a trap (0: off)"),
    _opt("DARKCRAWL_MAX_SUBDOMAINS", _int, 6, "a host name with more labels than this is a trap (0: off)"),
    _opt("DARKCRAWL_MAX_SITEMAPS", _int, 50, "most sitemap files read per host"),
    _opt("DARKCRAWL_STATS_FILE", _str, "", "write the final crawl stats as JSON to this file"),
    _opt("DARKCRAWL_SUMMARY_FILE", _str, "", "the end-of-crawl summary as JSON (default PATH_DATA/crawl-summary.json; 'none': not written)"),
    _opt("DARKCRAWL_PROGRESS_INTERVAL", _seconds, 60.0, "seconds between progress lines (0: none)"),
    _opt("DARKCRAWL_ALLOW_LOOPBACK", _bool, False, "allow crawling loopback/private addresses (tests, benchmarks)"),
    _opt("DARKCRAWL_TOR_POOL", _int, 4, "SocksPorts in the Tor pool: TOR_PORT upwards, skipping TOR_CTRL"),
    _opt("DARKCRAWL_TOR_CMD", _str, "tor", "the tor binary darkcrawl launches"),
    _opt("DARKCRAWL_TOR_DATA_DIR", _str, "", "DataDirectory of a launched tor (default PATH_DATA/.tor)"),
    _opt("DARKCRAWL_I2P_CMD", _str, "", "command launching I2P (default: i2prouter start, else i2pd, + I2P_ARGS)"),
    _opt("DARKCRAWL_CLEARNET_VIA_TOR", _bool, False, "send the clear web through Tor as well"),
    _opt("DARKCRAWL_RENDER", _bool, True, "render HTML pages in Chromium (darc's selenium stage): rendered DOM + screenshot"),
    _opt("DARKCRAWL_RENDER_RETRIES", _int, 2, "retries of a page that renders empty"),
    _opt("DARKCRAWL_SCREENSHOT_MAX_HEIGHT", _int, 12000, "full-page screenshots are cut at this height (px)"),
    _opt("DARKCRAWL_SCREENSHOT_TIMEOUT", _seconds, 30.0, "a screenshot taking longer falls back to the viewport"),
    _opt("DARKCRAWL_CHROMIUM", _str, "",
         "the Chromium binary of the render stage (unset: Debian's chromium-headless-shell if installed, "
         "else /usr/bin/chromium)"),
    _opt("DARKCRAWL_SUBMIT_ENABLED", _bool, True, "build, spool and submit darc's API payloads"),
    _opt("DARKCRAWL_API_MAX_INFLIGHT", _int, 16, "most API POSTs at once; more stay spooled until a slot frees"),
    _opt("DARKCRAWL_API_CLOSE_TIMEOUT", _seconds, 30.0, "seconds the crawl's close waits for API deliveries"),
    _opt("DARKCRAWL_SPOOL_WITHOUT_API", _bool, True,
         "keep the payloads of an event with no API URL in PATH_DATA/api (darc did: a second copy of the crawl)"),
    _opt("DARKCRAWL_API_TIMEOUT", _seconds, 30.0, "timeout of one API POST"),
    _opt("DARKCRAWL_SEEN_CAPACITY", _int, 10_000_000, "URLs the compact seen set is planned for"),
    _opt("DARKCRAWL_SEEN_FP", _seconds, 1e-5, "false-positive rate of the compact seen set"),
    _opt("DARKCRAWL_SEEN_PATH", _str, "", "file of the compact seen set (default JOBDIR/seen.filter; none without JOBDIR)"),
    _opt("DARKCRAWL_SEEN_SAVE_INTERVAL", _seconds, 300.0, "seconds between saves of the compact seen set"),
    _opt("DARKCRAWL_SEEN_CLASS", _str, "darkcrawl.seen.memory.MemorySeenSet",
         "the seen set: which URLs were queued already (the distributed profile: Redis's)"),
    _opt("DARKCRAWL_HOST_LEDGER_CLASS", _str, "darkcrawl.frontier.store.StoredHostLedger",
         "the host ledger: hosts bootstrapped and their page counts (the distributed profile: Redis's)"),
    _opt("DARKCRAWL_FRONTIER_COMMIT_DELAY", _seconds, 0.05, "seconds of frontier changes grouped into one commit"),
    _opt("DARKCRAWL_CONTENT_SEEN_ENABLED", _bool, True,
         "record a 2xx page whose content another URL had first as its duplicate (no body stored, no links)"),
    _opt("DARKCRAWL_CONTENT_SEEN_CLASS", _str, "darkcrawl.seen.content.MemoryContentSeen",
         "the content-seen store (digest -> first URL)"),
    _opt("DARKCRAWL_SITE_HOOKS", _dict, {}, "site hooks: {host regex: class path} (JSON object)"),
    _opt("DARKCRAWL_SITE_HOOK_ENTRY_POINTS", _bool, True,
         "also load the site hooks installed packages declare (darkcrawl.site_hooks entry points)"),
    _opt("NAVER_STOCK_LIST", _str, "", "the Naver hook's stock list: a SQLite file with a master table, or a CSV"),
    _opt("NAVER_BASE_URL", _str, "https://finance.naver.com", "the origin the Naver hook fetches from (a mirror, a replica)"),
    _opt("DARKCRAWL_TABLES_DB", _str, "", "SQLite file of the rows site hooks produce (default PATH_DATA/tables.sqlite)"),
    _opt("DARKCRAWL_BACKOFF_ENABLED", _bool, True, "back off hosts that keep failing (exponentially, bounded)"),
    _opt("DARKCRAWL_BACKOFF_AFTER", _int, 3, "failures in a row after which a host is backed off"),
    _opt("DARKCRAWL_BACKOFF_BASE", _seconds, 10.0, "first backoff wait (s), doubled at every further failure"),
    _opt("DARKCRAWL_BACKOFF_MAX", _seconds, 600.0, "longest backoff wait (s); a given-up host is probed this often"),
    _opt("DARKCRAWL_BACKOFF_GIVE_UP", _int, 10, "failures in a row after which a host's requests fail at once (0: never)"),
    _opt("DARKCRAWL_BACKOFF_JITTER", _seconds, 0.25, "backoff waits are shortened by a random fraction up to this"),
    # hostile web: slow and dead hosts
    _opt("DARKCRAWL_CONNECT_TIMEOUT", _seconds, 15.0,
         "clear web: seconds to open a connection (TCP, or an HTTP proxy's tunnel); DOWNLOAD_TIMEOUT bounds the whole download"),
    _opt("DARKCRAWL_CONNECT_TIMEOUT_DARKNET", _seconds, 60.0,
         "Tor, I2P, ZeroNet, Freenet: seconds to open a connection, the SOCKS handshake (a Tor circuit build) included"),
    _opt("DARKCRAWL_MIN_RATE", _int, 512,
         "bytes/s a download must average over DARKCRAWL_MIN_RATE_WINDOW once connected, else it is cut (0: no minimum)"),
    _opt("DARKCRAWL_MIN_RATE_WINDOW", _seconds, 30.0, "seconds over which DARKCRAWL_MIN_RATE is averaged"),
    _opt("DARKCRAWL_BACKOFF_DEAD_AFTER", _int, 3,
         "connection failures (refused, timed out, unresolvable) in a row after which a host is given up at once (0: off)"),
    # hostile web: cookie and header bombs
    _opt("DARKCRAWL_COOKIES_PER_HOST", _int, 180, "most cookies kept per cookie domain (Chromium's 180); the least recently set go first (0: no cap)"),
    _opt("DARKCRAWL_COOKIES_TOTAL", _int, 3000, "most cookies kept in a cookie jar; the least recently set go first (0: no cap)"),
    _opt("DARKCRAWL_COOKIE_MAX_SIZE", _int, 4096, "a cookie whose name + value is longer (bytes) is dropped, as browsers do (0: no cap)"),
    _opt("DARKCRAWL_COOKIE_HEADER_MAX", _int, 8192, "longest Cookie: header sent (bytes); cookies past it are left out (0: no cap)"),
    _opt("DARKCRAWL_MAX_RESPONSE_HEADERS_SIZE", _int, 262144, "a response whose headers are longer (bytes) fails, as in Chromium (direct HTTP/1.1; 0: no cap)"),
    _opt("DARKCRAWL_RECORD_MAX_HEADERS", _int, 100, "header lines kept per request/response in a headers record and API payload (0: no cap)"),
    _opt("DARKCRAWL_RECORD_MAX_HEADER_VALUE", _int, 8192, "longest header value (characters) kept in a headers record (0: no cap)"),
    _opt("DARKCRAWL_RECORD_MAX_COOKIES", _int, 180, "cookies listed per list (Cookies, Session, a hop's Cookies) in a headers record (0: no cap)"),
    _opt("DARKCRAWL_MAX_HEADERS_RECORD", _int, 262144, "largest headers record / requests payload without its document (bytes, JSON) (0: no cap)"),
    # hostile web: traps and sitemaps
    _opt("DARKCRAWL_MAX_LINKS_PER_PAGE", _int, 1000,
         "most new links followed from one page; the rest are counted in misc/traps.jsonl (0: no limit)"),
    _opt("DARKCRAWL_MAX_QUERY_VARIANTS", _int, 500,
         "most distinct queries followed per host, path and set of parameter names (0: no limit)"),
    _opt("DARKCRAWL_MAX_DATE_VARIANTS", _int, 100,
         "most dated URLs followed per host and calendar-like path (/cal/2024/01 = /cal/{date}) (0: no limit)"),
    _opt("DARKCRAWL_MAX_HOST_DEPTH", _int, 100,
         "most links followed inside one host, counted from where the crawl entered it (0: no limit)"),
    _opt("DARKCRAWL_MAX_SITEMAP_URLS", _int, 50000, "most URLs taken from one host's sitemaps (0: no limit)"),
    # hostile web: shutdown
    _opt("DARKCRAWL_SHUTDOWN_TIMEOUT", _seconds, 20.0,
         "a closing crawl waits this long (s) for downloads in flight, then cancels them back into the "
         "frontier; network launches are aborted at once (inf: wait for every request)"),
    # hostile web: render bounds
    _opt("DARKCRAWL_RENDER_TIMEOUT", _seconds, 90.0, "one deadline per render (navigation, load, page actions, SE_WAIT, "
         "DOM read, screenshot); at it the page is captured as it stands and closed"),
    _opt("DARKCRAWL_RENDER_GRACE", _seconds, 5.0, "seconds to capture a cut render as it stands, and again to close its page"),
    _opt("DARKCRAWL_RENDER_REQUEST_BUDGET", _int, 200, "requests one render may make; past it the page's requests are "
         "aborted, at 3x it the render is cut (0: no budget)"),
    _opt("DARKCRAWL_RENDER_MAX_NAVIGATIONS", _int, 5, "main-frame navigations a render follows after the first (meta "
         "refresh, window.location, script redirects); one more cuts it (0: no limit)"),
    # gates: interstitials in front of a host's content (darkcrawl/intel/, darkcrawl/policy/gates.py)
    _opt("DARKCRAWL_GATES", _bool, True, "recognise interstitials (DDoS queues, captchas, ban pages, login walls, "
         "proxy errors): saved as the host's gate, never as its content; a queue is waited out as it asks"),
    _opt("DARKCRAWL_GATE_MARGIN", _seconds, 1.0, "seconds added to the delay a queue page asks for"),
    _opt("DARKCRAWL_GATE_MAX_WAIT", _seconds, 300.0, "longest delay a gate may ask for; a longer one gives the host up"),
    _opt("DARKCRAWL_GATE_MAX_ROUNDS", _int, 6, "queue pages (or bans) in a row, after the first, before a gated "
         "host is given up (its URLs then fail with the reason)"),
    _opt("DARKCRAWL_GATE_BAN_WAIT", _seconds, 30.0, "seconds before a fresh start (the host's cookies dropped) after a ban"),
    _opt("DARKCRAWL_GATE_REST", _seconds, 3600.0, "seconds a given-up gated host is left alone before it is tried again"),
    _opt("DARKCRAWL_GATE_RATE", _seconds, 2.0, "requests per second to a host that showed a gate, the plain stage and "
         "the browser's resources together (EndGame bans above 6; 0: not paced)"),
    _opt("DARKCRAWL_GATE_BURST", _int, 3, "of those, how many may leave at once"),
    _opt("DARKCRAWL_COOKIE_STORE", _str, "darkcrawl.storage.cookiestore.FileCookieStore",
         "where `scrapy cookies import` keeps imported cookies and crawls read them (the distributed profile: "
         "the fleet's Redis)"),
    # the catalogue (darkcrawl/catalog/) and its viewer
    _opt("DARKCRAWL_CATALOG", _bool, True, "keep the crawl catalogue (PATH_DATA/catalog.sqlite, or DARKCRAWL_CATALOG_URL) "
         "up to date while the crawl runs"),
    _opt("DARKCRAWL_CATALOG_URL", _str, "", "a fleet's shared catalogue: postgresql://user@host/db (empty: "
         "PATH_DATA/catalog.sqlite)"),
    _opt("DARKCRAWL_CATALOG_BATCH", _int, 500, "items written to the catalogue per transaction"),
    _opt("DARKCRAWL_CATALOG_INTERVAL", _seconds, 2.0, "longest time (s) an item waits before the catalogue writes it"),
    _opt("DARKCRAWL_CATALOG_MAX_TEXT", _int, 100_000, "characters of a page's visible text kept for full-text search"),
    _opt("DARKCRAWL_LIVENESS_WINDOW", _seconds, 600.0, "a host's attempts within this many seconds make one check "
         "(its state and uptime are counted in checks)"),
    _opt("DARKCRAWL_GONE_AFTER", _seconds, 30 * 86400.0, "a host down this long (s) since it last answered is 'gone' "
         "(0: never)"),
    _opt("DARKCRAWL_VIEW_TOKEN", _str, "", "token `scrapy view` requires of every request (needed to bind a "
         "non-loopback address)"),
    # the archive (darkcrawl/archive/): WARC files and WACZ packages
    _opt("DARKCRAWL_WARC", _bool, False, "write WARC 1.1 files of both stages (every exchange as sent and received, "
         "revisits, metadata, screenshots) under PATH_DATA/archive/warc"),
    _opt("DARKCRAWL_WARC_MAX_SIZE", _int, 1_000_000_000, "a WARC file past this many bytes (gzipped) is closed and "
         "the next one begun"),
    _opt("DARKCRAWL_WARC_PREFIX", _str, "darkcrawl", "the crawl's name: first part of each WARC file name and of "
         "the WACZ's (PATH_DATA/archive/<prefix>-<round>.wacz)"),
    _opt("DARKCRAWL_WARC_DEDUP", _bool, True, "a response whose payload is byte for byte one archived before is a "
         "revisit record pointing at it (identical-payload-digest profile)"),
    _opt("DARKCRAWL_WACZ", _bool, True, "package the round's WARCs as a WACZ when a one-round crawl ends "
         "(not on a fleet's workers: `scrapy wacz` merges theirs)"),
    # the distributed profile (settings/distributed.py)
    _opt("DARKCRAWL_DISTRIBUTED", _bool, False, "a worker of a distributed crawl (set by the distributed add-on)"),
    _opt("DARKCRAWL_REDIS_URL", _str, "", "the fleet's Redis (else REDIS_URL, else redis://127.0.0.1:6379/0)"),
    _opt("REDIS_URL", _str, "", "scrapy-redis's Redis URL, used when DARKCRAWL_REDIS_URL is unset"),
    _opt("DARKCRAWL_REDIS_PREFIX", _str, "darkcrawl:%(spider)s", "prefix of the shared frontier's Redis keys"),
    _opt("DARKCRAWL_WORKER_ID", _str, "", "this worker's name in Redis (default <host>/<pid>/<random>)"),
    _opt("DARKCRAWL_REDIS_RETRY_TIMEOUT", _seconds, 300.0, "seconds a worker keeps retrying an unreachable Redis (inf: for ever)"),
    _opt("DARKCRAWL_REDIS_WORKER_TTL", _seconds, 30.0, "a worker silent this long (s) is dead: its requests go back to the queue"),
    _opt("DARKCRAWL_REDIS_POLL_INTERVAL", _seconds, 0.2, "how often (s) an idle worker looks for work, and a worker flushes its writes"),
    _opt("DARKCRAWL_REDIS_POP_BATCH", _int, 8, "requests taken per call (one per host)"),
    _opt("DARKCRAWL_REDIS_SEED_BATCH", _int, 100, "seeds taken per call from the pushed list"),
    _opt("DARKCRAWL_REDIS_SEEN_CACHE", _int, 262_144, "URLs a worker remembers as seen without asking Redis"),
)

OPTIONS_BY_NAME: Mapping[str, Option] = {option.name: option for option in OPTIONS}

#: darc names of earlier releases, still seen in deployments, and what they became.
LEGACY_NAMES: Mapping[str, str] = {"TOR_STEM": "DARC_TOR", "I2P_ARG": "I2P_ARGS",
                                   "ZERONET_ARG": "ZERONET_ARGS", "FREENET_ARG": "FREENET_ARGS"}

#: darc variables that have no meaning in an asynchronous Scrapy process.
IGNORED_NAMES: Mapping[str, str] = {
    "DARC_CPU": "Scrapy is asynchronous: use CONCURRENT_REQUESTS",
    "DARC_MULTIPROCESSING": "Scrapy is asynchronous: run more processes on the distributed profile",
    "DARC_MULTITHREADING": "Scrapy is asynchronous",
    "DARC_MAX_POOL": "the scheduler holds the whole frontier",
    "SAVE_DB": "files, link.csv and API submissions are the outputs",
}


def parse_option(name: str, value: Any) -> Any:
    option = OPTIONS_BY_NAME[name]
    try:
        return option.parse(value)
    except ValueError as exc:
        raise ConfigError(f"{name}={value!r}: {exc}") from None


def get_option(settings: BaseSettings, name: str) -> Any:
    """One option's typed value: the settings' (already parsed once the add-on has
    run), else the table's default (a crawler built without the add-on)."""
    if settings.getpriority(name) is None:
        return parse_option(name, OPTIONS_BY_NAME[name].default)
    return parse_option(name, settings[name])


def options_into(cls: Callable[..., T], settings: BaseSettings, **fields: str) -> T:
    """*cls* (a limits or policy dataclass) built from darkcrawl's options: each
    keyword is a field, its value the option that sets it."""
    return cls(**{field: get_option(settings, name) for field, name in fields.items()})


def load(settings: BaseSettings, environ: Mapping[str, str]) -> list[str]:
    """The one loader of the add-ons and commands: darc's environment into *settings*,
    then every option parsed.  Returns the warnings of :func:`apply_environment`."""
    warnings = apply_environment(settings, environ)
    normalise(settings)
    return warnings


def apply_environment(settings: BaseSettings, environ: Mapping[str, str]) -> list[str]:
    """Copy the darc variables present in *environ* into *settings*.

    Returns warnings for variables that are accepted but unused.  Raises
    :class:`ConfigError` naming the first malformed variable.
    """
    warnings: list[str] = []
    for legacy, name in LEGACY_NAMES.items():
        if legacy in environ and name not in environ:
            settings.set(name, parse_option(name, environ[legacy]), priority=ENV_PRIORITY)
    for name in IGNORED_NAMES:
        if name in environ:
            warnings.append(f"{name} is ignored: {IGNORED_NAMES[name]}")
    for option in OPTIONS:
        if option.name in environ:
            settings.set(option.name, parse_option(option.name, environ[option.name]),
                         priority=ENV_PRIORITY)
    return warnings


def read_option(settings: BaseSettings, name: str, environ: Mapping[str, str]) -> Any:
    """One option's value for components built before the add-on runs (the reactor's
    DNS resolver): the same precedence as :func:`apply_environment` gives."""
    priority = settings.getpriority(name) or 0
    if name in environ and priority < ENV_PRIORITY:
        return parse_option(name, environ[name])
    if priority:
        return parse_option(name, settings[name])
    return OPTIONS_BY_NAME[name].default


def normalise(settings: BaseSettings) -> None:
    """Parse every known option in place (keeping its priority) and derive Scrapy settings."""
    for option in OPTIONS:
        priority = settings.getpriority(option.name)
        if priority is None:
            settings.set(option.name, option.default, priority="default")
            continue
        value = parse_option(option.name, settings[option.name])
        settings.set(option.name, value, priority=priority)
        if option.setting and option.to_setting:
            derived = option.to_setting(value)
            if derived is not None:
                settings.set(option.setting, derived, priority=priority)


def fallback_drops(setting_value: str, white_list: list[str]) -> bool:
    """darc's ``*_FALLBACK``: whether an item that no list matches is dropped.

    darc kept unmatched items unless ``*_FALLBACK=1``, which made a white list
    silently ineffective; unset, darkcrawl drops them exactly when a white list is set.
    """
    if setting_value == "":
        return bool(white_list)
    return setting_value == "1"
