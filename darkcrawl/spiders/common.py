"""Meta keys and small helpers shared by the darkweb spider's parts."""

from __future__ import annotations

from datetime import datetime, timezone

#: Bootstrap fetches (robots.txt, sitemaps) go before pages: the new_host record
#: and the robots rules are wanted early.
BOOTSTRAP_PRIORITY = 100
LINK_KEY = "darkcrawl_link"  # (network, host, service) of the request's URL
BACKREF_KEY = "darkcrawl_backref"  # the page the link was found on
BOOTSTRAP_KEY = "darkcrawl_bootstrap"  # the state of a host's bootstrap chain
HOOK_KEY = "darkcrawl_hook"  # (hook class name, method name) of a hook's callback
RENDER_KEY = "darkcrawl_render_of"  # the plain-stage URL a render belongs to
#: the plain fetch's timestamp a render belongs to: one visit's files share it
VISIT_KEY = "darkcrawl_visit"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()
