"""The darkcrawl add-on: wires every component and reads darc's environment once.

A settings profile only needs ``ADDONS = {"darkcrawl.addon.Addon": 0}``; tests build
crawlers the same way.  Values set here use the "addon" priority, so a profile or
``-s`` still overrides them.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from scrapy.settings import get_settings_priority

from darkcrawl import config
from darkcrawl.render.browser import chromium_binary

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

#: Our replacements for Scrapy's components, and Scrapy's that we switch off.
DOWNLOADER_MIDDLEWARES = {
    "darkcrawl.downloadermiddlewares.routing.NetworkRoutingMiddleware": 50,
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "darkcrawl.downloadermiddlewares.robots.DarcRobotsTxtMiddleware": 100,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "darkcrawl.downloadermiddlewares.history.HistoryRedirectMiddleware": 600,
    "darkcrawl.downloadermiddlewares.backoff.HostBackoffMiddleware": 650,  # above retry/redirect: sees every attempt
    # gates (DDoS queues, captchas...): read before robots.txt's rules release a host's pages
    "darkcrawl.downloadermiddlewares.gates.GateMiddleware": 660,
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware": None,
    "darkcrawl.downloadermiddlewares.cookies.OfflineCookiesMiddleware": 700,
    # next to the download handler: every exchange as it came, before any decoding (DARKCRAWL_WARC)
    "darkcrawl.archive.capture.ArchiveCaptureMiddleware": 950,
}
SPIDER_MIDDLEWARES = {
    # the spider applies depth and URL-length limits before a Request exists,
    # and sends no Referer: it would tell every site the crawl's path.
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
    "scrapy.spidermiddlewares.referer.RefererMiddleware": None,
}
ITEM_PIPELINES = {
    "darkcrawl.pipelines.files.StoragePipeline": 100,
    "darkcrawl.pipelines.linkcsv.LinkCsvPipeline": 200,
    "darkcrawl.pipelines.misc.MiscLinksPipeline": 300,
    "darkcrawl.pipelines.traps.TrapPipeline": 350,
    "darkcrawl.pipelines.submit.SubmitPipeline": 400,
    "darkcrawl.pipelines.tables.TablePipeline": 500,
    "darkcrawl.pipelines.failures.FailurePipeline": 600,
    "darkcrawl.pipelines.archive.ArchivePipeline": 650,  # metadata, screenshots, DOM (DARKCRAWL_WARC)
    # after every file is named: the catalogue records where each one is
    "darkcrawl.pipelines.catalog.CatalogPipeline": 700,
}
EXTENSIONS = {
    "scrapy.extensions.telnet.TelnetConsole": None,
    "darkcrawl.extensions.statsfile.StatsFile": 900,
    "darkcrawl.extensions.shutdown.ShutdownGuard": 100,
    "darkcrawl.extensions.transfer.TransferMeter": 500,  # body byte counts for failure reasons
    "darkcrawl.extensions.reasonlog.ReasonLog": 510,  # those reasons in Scrapy's own log lines
    # its periodic line counts renders as pages: the report's line replaces it
    "scrapy.extensions.logstats.LogStats": None,
    "darkcrawl.extensions.report.CrawlReport": 800,  # before StatsFile: it adds the exit code
}

#: ``scrapy shell`` (darkcrawl.commands.shell) saves nothing and reports at once.
SHELL_EXTENSIONS = {
    "scrapy.extensions.telnet.TelnetConsole": None,
    "darkcrawl.extensions.transfer.TransferMeter": 500,
    "darkcrawl.extensions.reasonlog.ReasonLog": 510,
}
SHELL_DEFAULTS = {
    "JOBDIR": "",  # no frontier under PATH_DATA
    "RETRY_TIMES": 0,
    "DARKCRAWL_BACKOFF_ENABLED": False,
}

#: Scrapy defaults that do not fit a dark-web crawler.
DEFAULTS = {
    "TELNETCONSOLE_ENABLED": False,
    "REMOTE_CONTROL_ENABLED": False,
    "ROBOTSTXT_OBEY": True,
    "ROBOTSTXT_USER_AGENT": "darkcrawl",
    # Tor Browser's user agent: the crowd every onion visitor hides in.
    "USER_AGENT": "Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0",
    "HTTPERROR_ALLOW_ALL": True,  # 4xx/5xx pages are evidence too (darc saved them)
    "DOWNLOAD_TIMEOUT": 90,  # darc had none: a stalled onion blocked a worker forever
    "DOWNLOAD_MAXSIZE": 8 * 1024 * 1024,
    "DOWNLOAD_WARNSIZE": 4 * 1024 * 1024,
    "RETRY_TIMES": 2,
    "CONCURRENT_REQUESTS": 32,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
    "DOWNLOAD_DELAY": 0.5,
    "REDIRECT_MAX_TIMES": 10,
    # a meta refresh target is extracted as a link like any other
    "METAREFRESH_ENABLED": False,
    "SCHEDULER_PRIORITY_QUEUE": "scrapy.pqueues.DownloaderAwarePriorityQueue",
    "LOG_LEVEL": "INFO",
    # the crawl report's summary replaces Scrapy's 75-key dump at the end
    # (DARKCRAWL_STATS_FILE keeps every stat as JSON; -s STATS_DUMP=1 brings the dump back)
    "STATS_DUMP": False,
    # Scrapy starts CONCURRENT_ITEMS worker tasks for *every* callback's output
    # (100 by default): most of a page's CPU here, for a spider that yields a few
    # outputs per page into synchronous pipelines.
    "CONCURRENT_ITEMS": 4,
    "DOWNLOAD_HANDLERS": {
        "http": "darkcrawl.download_handler.NetworkDownloadHandler",
        "https": "darkcrawl.download_handler.NetworkDownloadHandler",
    },
}


#: Chromium flags of the render stage.  Everything that could reach the network
#: around the context's proxy is off: background services, QUIC (UDP is not
#: proxied), WebRTC's non-proxied UDP; .onion/.i2p names never go to the local
#: resolver (a proxied context sends names to its proxy instead).
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--host-resolver-rules=MAP *.onion ~NOTFOUND, MAP *.i2p ~NOTFOUND",
]


def playwright_settings(chromium: str, user_agent: str | None = None) -> dict[str, object]:
    args = list(CHROMIUM_ARGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to start as root with its sandbox
    if user_agent:
        # The crawl's user agent on every request of the browser and in navigator.userAgent,
        # not only on the documents scrapy-playwright sends with Scrapy's headers.
        args.append(f"--user-agent={user_agent}")
    return {
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        # Debian's Chromium: playwright cannot download its own browser here
        "PLAYWRIGHT_LAUNCH_OPTIONS": {"executable_path": chromium, "headless": True, "args": args},
        "PLAYWRIGHT_MAX_CONTEXTS": 8,
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 4,
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": 60_000,
        "PLAYWRIGHT_RESTART_DISCONNECTED_BROWSER": True,
    }


class Addon:
    def __init__(self, quiet: bool = False) -> None:
        #: a trial run (darkcrawl.preflight) does not repeat the warnings
        self.quiet = quiet

    def update_settings(self, settings: BaseSettings) -> None:
        for name, value in DEFAULTS.items():
            settings.set(name, value, priority="addon")
        shell = settings.getbool("DARKCRAWL_SHELL")
        for setting, components in (
            ("DOWNLOADER_MIDDLEWARES", DOWNLOADER_MIDDLEWARES),
            ("SPIDER_MIDDLEWARES", SPIDER_MIDDLEWARES),
            ("ITEM_PIPELINES", {} if shell else ITEM_PIPELINES),
            ("EXTENSIONS", SHELL_EXTENSIONS if shell else EXTENSIONS),
        ):
            for path, order in components.items():
                settings[setting].set(path, order, priority="addon")
        if shell:
            for name, value in SHELL_DEFAULTS.items():
                settings.set(name, value, priority="addon")
        for warning in config.load(settings, os.environ):
            if not self.quiet:
                logger.warning(warning)
        self._frontier(settings)
        chromium = chromium_binary(settings["DARKCRAWL_CHROMIUM"])
        for name, value in playwright_settings(chromium, settings["USER_AGENT"]).items():
            settings.set(name, value, priority="addon")

    @staticmethod
    def _frontier(settings: BaseSettings) -> None:
        # Crash-proof by default: the frontier lives in JOBDIR (PATH_DATA/job unless
        # set; ``-s JOBDIR=`` keeps it in memory).  A profile that picks its own
        # scheduler (settings/distributed.py: scrapy-redis) keeps it.
        if (settings.getpriority("SCHEDULER") or 0) > get_settings_priority("addon"):
            return
        if settings.get("JOBDIR") is None:
            settings.set("JOBDIR", os.path.join(settings["PATH_DATA"], "job"), priority="addon")
        if settings.get("JOBDIR"):
            settings.set("SCHEDULER", "darkcrawl.frontier.scheduler.FrontierScheduler", priority="addon")
