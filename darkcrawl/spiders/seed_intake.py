"""The spider's seeds: read from ``-a seeds=FILE`` and ``-a urls=...`` (a bad line is
reported with its place and the rest still run), and why seeds that were given queued
nothing, said plainly."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from darkcrawl.seeds import SeedError, parse_seed_lines, read_seed_file, split_inline

logger = logging.getLogger("darkcrawl.spiders.darkweb")

#: The setting behind each admission refusal, for a message a person can act on.
REFUSAL_SETTINGS = {
    "network": "PROXY_WHITE_LIST/PROXY_BLACK_LIST",
    "host": "LINK_WHITE_LIST/LINK_BLACK_LIST",
    "depth": "DEPTH_LIMIT",
    "host_budget": "the host page budget (DARKCRAWL_HOST_PAGE_LIMIT)",
    "url_too_long": "URLLENGTH_LIMIT",
    "loopback": "the address guard (DARKCRAWL_ALLOW_LOOPBACK=1 allows loopback and private addresses)",
    "private": "the address guard (DARKCRAWL_ALLOW_LOOPBACK=1 allows loopback and private addresses)",
    "link_local": "the address guard (DARKCRAWL_ALLOW_LOOPBACK=1 allows loopback and private addresses)",
    "invalid_address": "the address guard (a host that is no valid address)",
    "too_many_subdomains": "DARKCRAWL_MAX_SUBDOMAINS",
    "query_variants": "DARKCRAWL_MAX_QUERY_VARIANTS",
    "calendar": "DARKCRAWL_MAX_DATE_VARIANTS",
    "host_depth": "DARKCRAWL_MAX_HOST_DEPTH",
    "repeated_path_segment": "DARKCRAWL_MAX_SEGMENT_REPEAT",
}


class SeedIntake:
    """Mixed into DarkwebSpider (uses its options, stats, seed arguments and revisits)."""

    def _load_seeds(self) -> list[str]:
        urls: list[str] = []
        errors: list[SeedError] = []
        for path in self.seed_files:
            try:
                more, more_errors = read_seed_file(path, self.options.gateways)
            except (OSError, UnicodeDecodeError) as exc:
                logger.error("cannot read seeds file %s: %s", path, exc)
                self.stats.inc_value("darkcrawl/seeds/unreadable_files")
                continue
            urls += more
            errors += more_errors
        if self.seed_urls:
            more, more_errors = parse_seed_lines(split_inline(self.seed_urls), "urls", self.options.gateways)
            urls += more
            errors += more_errors
        for error in errors:
            logger.warning("bad seed skipped: %s", error)
        self.stats.set_value("darkcrawl/seeds/accepted", len(urls))
        self.stats.set_value("darkcrawl/seeds/rejected", len(errors))
        return urls

    def _log_seeds_not_queued(self, seeds: list[str], before: dict[str, Any]) -> None:
        """Why seeds that were given queued nothing: said plainly, not "nothing to crawl"."""
        after = self.stats.get_stats()

        def delta(key: str) -> int:
            return int(after.get(key, 0) or 0) - int(before.get(key, 0) or 0)

        seen = delta("darkcrawl/links/duplicate")
        if seen:
            self.stats.set_value("darkcrawl/seeds/not_due", seen)  # fresh, not failed: exit code 0
            due = [d for d in (self.revisits.due(url) for url in seeds) if d is not None]
            if due:
                when = datetime.fromtimestamp(min(due), timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
                logger.info("%d seeds were fetched recently and are not due again yet (TIME_CACHE %g s, "
                            "each URL's interval adapted to its changes): next due at %s",
                            seen, self.options.time_cache, when)
            else:
                logger.info("%d seeds were fetched already by this job (%s): nothing is due; a new PATH_DATA "
                            "or JOBDIR starts afresh", seen,
                            "DARC_REBOOT=1" if self.options.reboot else f"TIME_CACHE={self.options.time_cache:g}")
        refused = {key.rsplit("/", 1)[-1]: delta(key) for key in after
                   if key.startswith("darkcrawl/refused/") and delta(key) > 0}
        if refused:
            logger.warning("%d seeds refused: %s", sum(refused.values()),
                           ", ".join(f"{n} by {REFUSAL_SETTINGS.get(why, why)}" for why, n in sorted(refused.items())))
