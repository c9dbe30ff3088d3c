"""Site hooks: per-host customisation of the crawl (see :class:`SiteHook`)."""

from darkcrawl.hooks.base import LinkNoReturn, SiteHook

__all__ = ["LinkNoReturn", "SiteHook"]
