"""Which hook handles which host: built once per crawl from the settings and the
``darkcrawl.site_hooks`` entry points (first match wins, settings first)."""

from __future__ import annotations

import logging
import re
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured
from scrapy.utils.misc import build_from_crawler, load_object

from darkcrawl.config import get_option
from darkcrawl.hooks.base import SiteHook

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "darkcrawl.site_hooks"


class HookRegistry:
    def __init__(self, rules: list[tuple[re.Pattern[str], SiteHook]]) -> None:
        self.rules = rules
        self._by_host: dict[str, SiteHook | None] = {}
        self.hooks = list(dict.fromkeys(hook for _, hook in rules))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HookRegistry:
        instances: dict[str, SiteHook] = {}

        def hook(path: str) -> SiteHook:
            if path not in instances:
                try:
                    instances[path] = build_from_crawler(load_object(path), crawler)
                except NotConfigured as exc:
                    raise NotConfigured(f"site hook {path}: {exc}") from None
            return instances[path]

        rules: list[tuple[re.Pattern[str], SiteHook]] = []
        for pattern, path in crawler.settings.getdict("DARKCRAWL_SITE_HOOKS").items():
            rules.append((re.compile(pattern, re.IGNORECASE), hook(path)))
        if get_option(crawler.settings, "DARKCRAWL_SITE_HOOK_ENTRY_POINTS"):
            for entry in entry_points(group=ENTRY_POINT_GROUP):
                path = entry.value.replace(":", ".")
                instance = hook(path)
                for pattern in type(instance).hosts:
                    rules.append((re.compile(pattern, re.IGNORECASE), instance))
        for pattern, instance in rules:
            logger.info("site hook %s for hosts %s", type(instance).__name__, pattern.pattern)
        return cls(rules)

    def for_host(self, host: str) -> SiteHook | None:
        try:
            return self._by_host[host]
        except KeyError:
            found = next((hook for pattern, hook in self.rules if pattern.fullmatch(host)), None)
            self._by_host[host] = found
            return found

    def by_name(self, name: str) -> SiteHook | None:
        return next((hook for hook in self.hooks if type(hook).__name__ == name), None)
