"""Small pieces shared by the darkweb spider's parts (its meta keys are in darkcrawl.meta)."""

from __future__ import annotations

from darkcrawl.items import now_iso
from darkcrawl.meta import BACKREF_KEY, BOOTSTRAP_KEY, HOOK_KEY, LINK_KEY, RENDER_KEY, VISIT_KEY

__all__ = ["BACKREF_KEY", "BOOTSTRAP_KEY", "BOOTSTRAP_PRIORITY", "HOOK_KEY", "LINK_KEY", "RENDER_KEY", "VISIT_KEY",
           "now_iso"]

#: Bootstrap fetches (robots.txt, sitemaps) go before pages: the new_host record
#: and the robots rules are wanted early.
BOOTSTRAP_PRIORITY = 100
