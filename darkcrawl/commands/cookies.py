"""``scrapy cookies``: the cookies a person imports for a host the crawl cannot pass alone.

A host behind a captcha or a login wall "needs a person" (the crawl says so, and
leaves it alone).  Solve the captcha or log in with Tor Browser, export the host's
cookies (a ``cookies.txt`` extension, or Cookie-Editor's JSON), then::

    scrapy cookies import xyz.onion cookies.txt      # Netscape cookies.txt or JSON
    scrapy cookies list                              # hosts, cookie names, when imported
    scrapy cookies remove xyz.onion

The next visit of the host (plain stage and render stage) carries them: a crawl
running with the same ``PATH_DATA`` (or the same fleet: ``SCRAPY_PROJECT=distributed``
keeps them in the fleet's Redis) picks them up within seconds.  Only the file's
cookies for HOST (and its subdomains) are imported, expired ones left out; values
are never printed.  The store is ``PATH_DATA/cookies/imported.json``, written 0600.

Exit status: 0 done; 1 ``remove`` of a host that has no cookies; 2 a file that
cannot be read (the line that could not, in one line), no cookie for HOST in it, a
bad command line, or a store that cannot be reached.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from darkcrawl.command_base import QuietCommand, effective_or_config_error
from darkcrawl.intel.cookiefiles import CookieFileError, StoredCookie, for_host, read_cookie_file
from darkcrawl.storage.cookiestore import CookieStore, load_store
from darkcrawl.report.outcome import ExitCode

if TYPE_CHECKING:
    import argparse

    from scrapy.settings import BaseSettings

USAGE = "usage: scrapy cookies import HOST FILE | list | remove HOST"


def host_name(text: str) -> str | None:
    """The host of ``xyz.onion``, ``http://xyz.onion/page`` or ``example.org:8080``; None
    when *text* names none."""
    text = text.strip()
    try:
        host = urlsplit(text if "://" in text else f"http://{text}").hostname
    except ValueError:
        return None
    if not host or any(c.isspace() for c in host):
        return None
    return host.rstrip(".")


class Command(QuietCommand):
    requires_project = False

    def syntax(self) -> str:
        return "import HOST FILE | list | remove HOST"

    def short_desc(self) -> str:
        return "Import a browser's cookies for a host (a solved captcha, a login), list or remove them"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--spider", default="darkweb", help="the spider of the fleet's Redis keys (distributed)")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        action = args[0] if args else ""
        arity = {"import": 3, "list": 1, "remove": 2}
        if arity.get(action) != len(args):
            self._fail(USAGE)
            return
        settings = effective_or_config_error(self)  # the profile's add-ons too: a fleet's store is Redis
        if settings is None:
            return
        store = self._store(settings, opts.spider)
        if store is None:
            return
        try:
            if action == "import":
                self._import(store, args[1], args[2])
            elif action == "list":
                self._list(store)
            else:
                self._remove(store, args[1])
        except (OSError, RuntimeError) as exc:
            self._fail(f"cookies: {exc}")
        except Exception as exc:  # the store's own errors (Redis): one line, not a traceback
            self._fail(f"cookies: {type(exc).__name__}: {exc}")

    def _store(self, settings: BaseSettings, spider: str) -> CookieStore | None:
        try:
            return load_store(settings, spider)
        except Exception as exc:
            self._fail(f"cookies: cannot open the cookie store (DARKCRAWL_COOKIE_STORE): {exc}")
            return None

    def _fail(self, line: str) -> None:
        print(line, file=sys.stderr)
        self.exitcode = int(ExitCode.CONFIG_ERROR)

    def _import(self, store: CookieStore, host_arg: str, path: str) -> None:
        host = host_name(host_arg)
        if host is None:
            self._fail(f"cookies: not a host name: {host_arg!r}")
            return
        try:
            cookies = read_cookie_file(path)
        except CookieFileError as exc:
            self._fail(f"cookies: {path}: {exc}")
            return
        mine, others, expired = for_host(cookies, host)
        if not mine:
            why = f"{expired} expired" if expired else f"{others} for other hosts: {_domains(cookies)}"
            self._fail(f"cookies: {path} has no cookie for {host} that is still valid ({why})")
            return
        store.put(host, mine, path)
        skipped = [f"{n} {what}" for n, what in ((others, "for other hosts"), (expired, "expired")) if n]
        print(f"imported {_count(mine)} for {host} ({_names(mine)}) from {path} into {store.where}"
              + (f"; left out: {', '.join(skipped)}" if skipped else "")
              + f". The next visit of {host} uses them")
        self.exitcode = 0

    def _list(self, store: CookieStore) -> None:
        entries = store.entries()
        if not entries:
            print(f"no cookies imported ({store.where})")
        for host, entry in sorted(entries.items()):
            cookies = [StoredCookie.from_json(c) for c in entry.get("cookies", ())]
            print(f"{host}: {_count(cookies)} ({_names(cookies)}), imported {entry.get('imported', '?')} "
                  f"from {entry.get('source', '?')}{_expiry(cookies)}")
        self.exitcode = 0

    def _remove(self, store: CookieStore, host_arg: str) -> None:
        host = host_name(host_arg) or host_arg
        if store.remove(host):
            print(f"removed the cookies imported for {host}")
            self.exitcode = 0
        else:
            print(f"cookies: no cookies imported for {host}", file=sys.stderr)
            self.exitcode = 1


def _count(cookies: list[StoredCookie]) -> str:
    return f"{len(cookies)} cookie{'s' if len(cookies) != 1 else ''}"


def _names(cookies: list[StoredCookie], most: int = 5) -> str:
    names = list(dict.fromkeys(cookie.name for cookie in cookies))
    return ", ".join(names[:most]) + (f", ... ({len(names)} names)" if len(names) > most else "")


def _domains(cookies: list[StoredCookie], most: int = 3) -> str:
    domains = list(dict.fromkeys(cookie.domain for cookie in cookies))
    return ", ".join(domains[:most]) + (", ..." if len(domains) > most else "")


def _expiry(cookies: list[Any]) -> str:
    ends = [cookie.expires for cookie in cookies if cookie.expires is not None]
    if not ends:
        return ""
    first = datetime.fromtimestamp(min(ends), timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"; the first expires {first}"
