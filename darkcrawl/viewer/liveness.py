"""The liveness of a host in the viewer: its state and uptime, the gate in front of it,
a timeline of its checks, its changes of state and its latest attempts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from html import escape
from typing import Any
from urllib.parse import quote

from darkcrawl.catalog import liveness_queries as live
from darkcrawl.intel.liveness import parse_time
from darkcrawl.viewer.layout import badge, copyable, e, short_time, snapshot_link, table

WIDTH, HEIGHT = 960, 44
DAYS = 30


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def uptime_text(uptime: dict[str, float | None] | None) -> str:
    uptime = uptime or {}
    return " · ".join(f"{name} {percent(uptime.get(name))}" for name, _ in live.UPTIME_PERIODS)


def gate_text(gate: dict[str, Any] | None) -> str:
    if not gate:
        return '<span class=muted>none seen</span>'
    evidence = gate["evidence"]
    shown = (snapshot_link(evidence["snapshot_id"], "evidence") if evidence.get("snapshot_id") is not None
             else copyable(evidence["url"]))
    return (f'{badge(gate["kind"], "gate")} since {short_time(gate["first_seen"])}, last '
            f'{short_time(gate["last_seen"])}: {e(evidence.get("text") or "")} ({shown})')


def facts(state: dict[str, Any] | None) -> str:
    """The liveness lines of a host's facts (inside its ``<dl>``)."""
    if not state:
        return '<dt>liveness</dt><dd class=muted>never tried (no attempt reached the network)</dd>'
    reason = f' <span class=muted>{e(state["reason"])}</span>' if state.get("reason") else ""
    return (f'<dt>liveness</dt><dd>{badge(state["state"], "state")} since {short_time(state["since"])}{reason}</dd>'
            f'<dt>last answered</dt><dd>{short_time(state.get("last_answer"))}</dd>'
            f'<dt>uptime</dt><dd>{uptime_text(state.get("uptime"))} <span class=muted>(share of its '
            f'{e(state["checks"])} checks that found it answering)</span></dd>'
            f'<dt>gate</dt><dd>{gate_text(state.get("gate"))}</dd>')


def timeline_svg(checks: list[dict[str, Any]], now: datetime | None = None, days: int = DAYS) -> str:
    """The host's checks of the last *days* days on a time axis, one tick per check."""
    if not checks:
        return '<p class="muted">No checks in the last 30 days.</p>'
    end = now or datetime.now(timezone.utc)
    start = end - timedelta(days=days)
    span = (end - start).total_seconds()
    ticks = []
    for check in checks:
        x = (parse_time(check["bucket"]) - start).total_seconds() / span * WIDTH
        title = f'{check["bucket"][:16].replace("T", " ")}: {check["outcome"]}'
        if check.get("reason"):
            title += f' ({check["reason"]})'
        ticks.append(f'<rect class="tick tl-{escape(check["outcome"])}" x="{max(0.0, x - 1):.1f}" y="4" width="3" '
                     f'height="26"><title>{escape(title)}</title></rect>')
    return (f'<svg class="timeline" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="checks of the last '
            f'{days} days">{"".join(ticks)}<line class="axis" x1="0" y1="32" x2="{WIDTH}" y2="32"/>'
            f'<text class="label" x="0" y="43">{escape(start.strftime("%Y-%m-%d"))}</text>'
            f'<text class="label end" x="{WIDTH}" y="43">{escape(end.strftime("%Y-%m-%d"))}</text></svg>')


def section(db: Any, name: str) -> str:
    """The host page's Liveness section."""
    changes = [[short_time(t.at), badge(t.before, "state"), badge(t.after, "state"), e(t.reason or "")]
               for t in live.host_transitions(db, name)]
    attempts = live.host_attempts(db, name, 1, 30).rows
    rows = [[short_time(a["timestamp"]), e(a["stage"]), copyable(a["url"]), badge(a["outcome"], "state"),
             e(a["status"] if a["status"] is not None else ""), e(a["reason"] or ""),
             e(a["connect_ms"] if a["connect_ms"] is not None else ""), e(a["ttfb_ms"] if a["ttfb_ms"] is not None else "")]
            for a in attempts]
    csv_link = f'/api/host/{quote(name, safe="")}/attempts.csv'
    return ("<h2>Liveness <span class=muted>checks of the last 30 days</span></h2>"
            + timeline_svg(live.host_checks(db, name))
            + '<p class="muted legend"><span class="key tl-up"></span>up <span class="key tl-gated"></span>gated '
              '<span class="key tl-down"></span>down</p>'
            + "<h3>Changes of state</h3>" + table(["at", "from", "to", "reason"], changes, "No change of state.")
            + f'<h3>Latest attempts <a class=muted href="{e(csv_link)}">all as CSV</a></h3>'
            + table(["time", "stage", "url", "outcome", "status", "reason", "connect ms", "first byte ms"], rows,
                    "No attempt."))
