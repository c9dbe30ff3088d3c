"""What darkcrawl keeps in ``Request.meta``: every key's name, and the slot and host keys.

Each ``darkcrawl_*`` key is spelled here once; components import the constant
(tests/test_meta.py checks that no module spells one itself).

A request's network travels in two keys, which differ only after a redirect:
:data:`LINK_KEY` is the link the spider admitted (the page's records name it),
:data:`NETWORK_KEY` the network of the URL being fetched now, set by the routing
middleware on every attempt, redirects included.  The downloader middlewares go
by :func:`network_of`, never by the admitted link.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

#: (network, host, service) of the link the spider admitted (the first URL, before any redirect)
LINK_KEY = "darkcrawl_link"
#: the network of the URL being fetched (the routing middleware's classification)
NETWORK_KEY = "darkcrawl_network"
#: the page the link was found on
BACKREF_KEY = "darkcrawl_backref"
#: the state of a host's bootstrap chain (:class:`BootstrapState`)
BOOTSTRAP_KEY = "darkcrawl_bootstrap"
#: the bootstrap step of a request: "robots", "sitemap", "hosts" or "favicon"
STEP_KEY = "darkcrawl_step"
#: (hook class name, method name) of a hook's callback
HOOK_KEY = "darkcrawl_hook"
#: the plain-stage URL a render belongs to
RENDER_KEY = "darkcrawl_render_of"
#: how many times a render was tried
RENDER_TRY_KEY = "darkcrawl_render_try"
#: a render's guard (set by the render handler; never serialised: the spider strips
#: it from the requests it builds again)
RENDER_GUARD_KEY = "darkcrawl_render_guard"
#: the plain fetch's timestamp a render belongs to: one visit's files share it
VISIT_KEY = "darkcrawl_visit"
#: every redirect hop's status, headers and cookies
HISTORY_KEY = "darkcrawl_history"
#: on a bootstrap robots.txt request: the netloc whose rules it brings (kept through redirects)
ROBOTS_FOR_KEY = "darkcrawl_robots_for"
#: a host-backoff probe's token
BACKOFF_PROBE_KEY = "darkcrawl_backoff_probe"
#: a request already counted in darkcrawl/backoff/delayed
BACKOFF_DELAYED_KEY = "darkcrawl_backoff_delayed"
#: a request that went through the scheduler (not ``engine.download_async``)
BACKOFF_SCHEDULED_KEY = "darkcrawl_backoff_scheduled"
#: a handed-out request's row in the frontier store
FRONTIER_ROW_KEY = "darkcrawl_frontier_row"
#: a fleet's revisit request: its URL's revisit state (a JSON list), for the worker that fetches it
REVISIT_STATE_KEY = "darkcrawl_revisit_state"
#: a popped request's lease in the shared queue (a number local to the worker that holds it)
LEASE_KEY = "darkcrawl_lease"
#: a fleet's page request whose URL (this value) the shared queue admits when it writes it:
#: queued only if no worker saw the URL yet (:meth:`~darkcrawl.distributed.redis_frontier.RedisFrontier.admit`)
ADMIT_KEY = "darkcrawl_admit"
#: filled by the TransferMeter during a download (reset at every attempt)
BODY_RECEIVED_KEY = "darkcrawl_body_received"
BODY_EXPECTED_KEY = "darkcrawl_body_expected"
#: the connect deadline of a request (seconds), read by the transports of darkcrawl.download_handler
CONNECT_TIMEOUT_KEY = "darkcrawl_connect_timeout"
#: the last attempt's times in ms ({"connect_ms", "ttfb_ms", "elapsed_ms"}: darkcrawl.timing)
TIMING_KEY = "darkcrawl_timing"
#: a request given back to the scheduler by a shutdown
SHUTDOWN_REQUEUED_KEY = "darkcrawl_shutdown_requeued"
#: a request downloaded outside the scheduler (``engine.download_async``: robots.txt):
#: it cannot be put back, its caller gets the cancellation
SHUTDOWN_DIRECT_KEY = "darkcrawl_shutdown_direct"
#: a request whose callback was cut by a shutdown: the frontier does not mark it done
#: (see FrontierScheduler._done), so the next start takes it again
SHUTDOWN_ABANDONED_KEY = "darkcrawl_shutdown_abandoned"

#: the gate this attempt's answer showed (darkcrawl.intel.gates.Gate.as_dict(), plus what
#: the crawl does about it), set by the gate middleware
GATE_KEY = "darkcrawl_gate"
#: the gate middleware looked at this attempt's answer (the spider need not look again)
GATE_CHECKED_KEY = "darkcrawl_gate_checked"
#: the probe token of a request that tries a gated host after its wait
GATE_PROBE_KEY = "darkcrawl_gate_probe"
#: a render's pacer for the resources the browser loads from a gated host (set by the gate
#: middleware; a live object: never serialised, the render handler strips it)
GATE_PACER_KEY = "darkcrawl_gate_pacer"
#: the cookies of a render's host, for the browser context (Playwright's cookie dicts)
BROWSER_COOKIES_KEY = "darkcrawl_browser_cookies"
#: the bytes of a plain-stage exchange as sent and received (darkcrawl.archive.wire.Exchange),
#: set by the download handler when the archive is on, taken out at once by the archive's
#: downloader middleware (never serialised)
WIRE_KEY = "darkcrawl_wire"
#: a render's browser-traffic capture (darkcrawl.archive.browser), a live object like the guard
BROWSER_CAPTURE_KEY = "darkcrawl_browser_capture"

#: Scrapy's key: requests with the same slot share politeness (delay, concurrency)
SLOT_KEY = "download_slot"
#: the network part of a render's slot: renders have their own politeness
RENDER_SLOT_NETWORK = "render"


class BootstrapState(TypedDict, total=False):
    """The shape of ``meta[BOOTSTRAP_KEY]``: JSON-able, so it survives the frontier."""

    network: str
    scheme: str
    host: str
    service: str
    root: str
    force: bool
    partial: bool
    robots: str | None
    sitemaps: list[str]
    hosts: str | None
    todo: list[str]
    visited: list[str]
    hosts_done: bool
    favicon_done: bool
    declared: bool  # a root page's declared icon: no chain after it
    timestamp: str
    sitemap_urls: int


def slot_key(network: str, service: str) -> str:
    """The download slot of a network's service: ``tor@xyz.onion:80``."""
    return f"{network}@{service}"


def render_slot(service: str) -> str:
    """The download slot of a service's renders: ``render@xyz.onion:80``."""
    return slot_key(RENDER_SLOT_NETWORK, service)


def gate_key(meta: Mapping[str, Any]) -> str | None:
    """The gate key of a request (its host's download slot: ``tor@xyz.onion``), the same for a
    render as for the plain fetch of its page; None before routing gave it a slot."""
    slot = meta.get(SLOT_KEY)
    if not slot:
        return None
    network, _, service = slot.partition("@")
    if network == RENDER_SLOT_NETWORK:
        actual = network_of(meta)
        return slot_key(actual, service) if actual else None
    return slot


def host_key(network: str, host: str) -> str:
    """A host's key in the host ledgers (page budget, bootstrap): ``tor|xyz.onion``."""
    return f"{network}|{host}"


def bootstrap_host(meta: Mapping[str, Any]) -> str | None:
    """The host key of the bootstrap a request belongs to, or None for a page."""
    state = meta.get(BOOTSTRAP_KEY)
    return host_key(state["network"], state["host"]) if state else None


def network_of(meta: Mapping[str, Any]) -> str | None:
    """The network of the URL a request fetches: the routing middleware's, else the
    admitted link's (a request routing has not seen yet)."""
    network = meta.get(NETWORK_KEY)
    if network:
        return network
    link = meta.get(LINK_KEY)
    return link[0] if link else None
