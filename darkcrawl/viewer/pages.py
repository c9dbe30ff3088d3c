"""The viewer's HTML pages: each reads the catalogue (one page of rows) and
returns a whole document.  Crawled values are escaped; crawled HTML is shown as
escaped source, or in the sandboxed frame ``/frame/<id>/<kind>`` (see app.py)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from darkcrawl.catalog import liveness_queries as live_queries
from darkcrawl.catalog import queries
from darkcrawl.catalog.db import CatalogDB
from darkcrawl.viewer import clusters, files, liveness
from darkcrawl.viewer.chart import bar_chart
from darkcrawl.viewer.diff import text_diff, visible_text
from darkcrawl.viewer.layout import (
    badge, copyable, e, frame, host_link, pager, short_time, size, snapshot_link, table,
)

#: seconds the pages-per-day chart is reused (it reads the whole timestamp index)
CHART_TTL = 60.0
#: seconds the overview's counts are reused: every open overview polls them
OVERVIEW_TTL = 2.0


@dataclass
class View:
    db: CatalogDB
    path_data: Path
    _chart: tuple[float, str] = field(default=(0.0, ""))
    _overview: tuple[float, dict[str, Any]] = field(default=(0.0, {}))

    def overview(self) -> dict[str, Any]:
        made, data = self._overview
        if time.monotonic() - made > OVERVIEW_TTL or not data:
            data = queries.overview(self.db)
            self._overview = (time.monotonic(), data)
        return data

    def chart(self) -> str:
        made, svg = self._chart
        if time.monotonic() - made > CHART_TTL or not svg:
            svg = bar_chart(queries.pages_per_day(self.db))
            self._chart = (time.monotonic(), svg)
        return svg


def _thumb(snapshot_id: Any, alt: str = "screenshot") -> str:
    if snapshot_id is None:
        return '<span class="thumb none">no screenshot</span>'
    return (f'<a href="/snapshot/{int(snapshot_id)}"><img class=thumb loading=lazy alt="{e(alt)}" '
            f'src="/file/{int(snapshot_id)}/screenshot"></a>')


# -- overview -------------------------------------------------------------------------


def overview_page(view: View) -> str:
    data = view.overview()
    cards = "".join(
        f'<div class=card><div class=num data-live="{key}">{data[key]}</div><div class=muted>{label}</div></div>'
        for key, label in (("pages", "pages"), ("hosts", "hosts"), ("up", "hosts up"), ("down", "hosts down")))
    rows = [[badge(name, "net"), f'<a href="/hosts?network={e(quote(name))}">{n["hosts"]}</a>',
             f'<a href="/hosts?network={e(quote(name))}&amp;state=up">{n["up"]}</a>',
             f'<a href="/hosts?network={e(quote(name))}&amp;state=down">{n["down"]}</a>',
             str(n["pages"]), str(n["failures"])]
            for name, n in data["networks"].items()]
    latest = data["latest"]
    newest = (f'<p class=muted>Newest page: {snapshot_link(latest["id"], latest["url"])} at '
              f'{short_time(latest["timestamp"])}</p>') if latest else ""
    body = (f"<h1>Overview</h1><div class=cards>{cards}</div>"
            '<p class="muted live">Counts refresh every few seconds while a crawl runs. '
            '<span data-live="status"></span></p>'
            f"<h2>Networks</h2>{table(['network', 'hosts', 'up', 'down', 'pages', 'failures'], rows)}"
            f"<h2>Pages per day</h2>{view.chart()}{newest}")
    return frame("Overview", body, "/")


# -- hosts ----------------------------------------------------------------------------


def _filters(view: View, params: dict[str, str]) -> str:
    options = "".join(f'<option value="{e(n)}"{" selected" if n == params.get("network") else ""}>{e(n)}</option>'
                      for n in queries.networks(view.db))
    states = "".join(f'<option value="{s}"{" selected" if s == params.get("state") else ""}>{s}</option>'
                     for s in ("up", "gated", "down", "gone", "unknown"))
    return ('<form class=filters method=get action="/hosts">'
            f'<select name=network><option value="">all networks</option>{options}</select>'
            f'<select name=state><option value="">any state</option>{states}</select>'
            f'<input name=q value="{e(params.get("q", ""))}" placeholder="host or title">'
            "<button>Filter</button></form>")


def hosts_page(view: View, params: dict[str, str]) -> str:
    number, limit = queries.bounded(params.get("page"), params.get("limit"), 50)
    found = queries.hosts(view.db, network=params.get("network", ""), state=params.get("state", ""),
                          q=params.get("q", ""), page=number, limit=limit)
    states = live_queries.liveness_of(view.db, [h["host"] for h in found.rows])
    rows = [[_thumb(h["screenshot_id"], h["host"]),
             f'{host_link(h["host"])}<div class=muted>{e(h["title"] or "")}</div>',
             badge(h["network"], "net"), _state_cell(h, states.get(h["host"])), str(h["pages"]),
             short_time(h["first_seen"]), short_time(h["last_seen"]),
             f'<span class=muted>{e(h["last_reason"] or "")}</span>']
            for h in found.rows]
    body = ("<h1>Hosts</h1>" + _filters(view, params)
            + f'<p class=muted><a href="/api/hosts.csv">All hosts with their liveness as CSV</a></p>'
            + table(["", "host", "network", "state · uptime 7d", "pages", "first seen", "last seen", "last failure"],
                    rows, "No host matches.", "hosts")
            + pager("/hosts", params, number, found.more))
    return frame("Hosts", body, "/hosts")


def _state_cell(host: dict[str, Any], state: dict[str, Any] | None) -> str:
    cell = badge(host["state"], "state")
    if state:
        cell += f' <span class=muted>{liveness.percent((state.get("uptime") or {}).get("7d"))}</span>'
        if state.get("gate"):
            cell += " " + badge(state["gate"]["kind"], "gate")
    return cell


# -- one host -------------------------------------------------------------------------


def _headers_table(values: Any) -> str:
    if not isinstance(values, dict) or not values:
        return '<p class="muted">none</p>'
    rows = [[f"<code>{e(k)}</code>", f"<code>{e(v if isinstance(v, str) else json.dumps(v))}</code>"]
            for k, v in values.items()]
    return table(["name", "value"], rows)


def _record_section(record: dict[str, Any]) -> str:
    if not record:
        return '<p class="muted">No headers record.</p>'
    cookies = record.get("Cookies")
    return (f'<h3>Response headers <span class=muted>status {e(record.get("Status-Code"))}</span></h3>'
            + _headers_table(record.get("Response"))
            + "<h3>Cookies</h3>" + _headers_table(cookies if isinstance(cookies, dict) else {})
            + "<h3>Request headers</h3>" + _headers_table(record.get("Request")))


def _host_sections(view: View, name: str, row: dict[str, Any]) -> str:
    shots = "".join(f'<figure>{_thumb(s["id"])}<figcaption>{short_time(s["timestamp"])}</figcaption></figure>'
                    for s in queries.host_screenshots(view.db, name))
    latest = queries.latest_snapshot(view.db, name)
    robots = files.robots_txt(view.path_data, row["network"], row["scheme"], name)
    outs = [[copyable(link["target"]), host_link(link["target_host"]) if link["target_host"] else ""]
            for link in queries.links_out(view.db, name)]
    ins = [[host_link(link["host"]), str(link["links"])] for link in queries.links_in(view.db, name)]
    ents = [[badge(x["kind"], "kind"), f'<a href="/entity/{int(x["id"])}">{e(x["value"])}</a>', str(x["pages"])]
            for x in queries.host_entities(view.db, name)]
    fails = [[short_time(f["timestamp"]), e(f["stage"]), copyable(f["url"]), e(f["reason"])]
             for f in queries.host_failures(view.db, name)]
    return (f"<h2>Screenshots</h2><div class=shots>{shots or '<p class=muted>none</p>'}</div>"
            f"<h2>Latest headers and cookies</h2>{_record_section(files.headers_record(view.path_data, latest or {}))}"
            "<h2>robots.txt</h2>" + (f"<pre class=source>{e(robots)}</pre>" if robots is not None
                                     else '<p class="muted">not saved</p>')
            + f"<h2>Links out <span class=muted>of its {queries.RECENT_PAGES} newest pages</span></h2>"
            + table(['target', 'host'], outs, 'No links.')
            + f"<h2>Links in</h2>{table(['from host', 'links'], ins, 'No host links here.')}"
            + f"<h2>Entities <span class=muted>on its {queries.RECENT_PAGES} newest pages</span></h2>"
            + table(['kind', 'value', 'pages'], ents, 'No entities.')
            + f"<h2>Failures</h2>{table(['time', 'stage', 'url', 'reason'], fails, 'No failures.')}")


def duration(seconds: Any) -> str:
    """A revisit interval for people: ``45 s``, ``12 min``, ``3.5 h``, ``2.1 d``."""
    value = float(seconds)
    for unit, size_s in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if value >= size_s:
            return f"{value / size_s:.3g} {unit}"
    return f"{value:.3g} s"


def _url_revisits(view: View, url: str) -> str:
    """``every 2 h, changed 3 of 10 visits, next due ...`` (the revisits facet's row)."""
    row = queries.url_revisits(view.db, url)
    if row is None:
        return ""
    last = f", last on {short_time(row['last_change'])}" if row["last_change"] else ""
    return (f'every {duration(row["every"])}, changed {e(row["changes"])} of {e(row["visits"])} visits{last}, '
            f'next due {short_time(row["next_due"])}')


def _host_revisits(view: View, name: str) -> str:
    row = queries.host_revisits(view.db, name)
    if row is None:
        return '<span class="muted">none</span>'
    every = duration(row["shortest"]) + (f' to {duration(row["longest"])}' if row["longest"] != row["shortest"] else "")
    return (f'{e(row["urls"])} URLs every {every}, changed {e(row["changes"])} of {e(row["visits"])} visits, '
            f'next due {short_time(row["next_due"])}')


def host_page(view: View, name: str, params: dict[str, str]) -> str | None:
    row = queries.host(view.db, name)
    if row is None:
        return None
    number, limit = queries.bounded(params.get("page"), params.get("limit"), 50)
    snaps = queries.host_snapshots(view.db, name, number, limit)
    timeline = [[snapshot_link(s["id"], short_time(s["timestamp"]), markup=True), e(s["status"]), copyable(s["url"]),
                 e(s["title"] or ""), e(s["mime"] or ""), size(s["size"])] for s in snaps.rows]
    state = live_queries.liveness_of(view.db, [name]).get(name)
    facts = (f'<dl class=facts><dt>network</dt><dd>{badge(row["network"], "net")}</dd>'
             f'{liveness.facts(state)}'
             f'<dt>pages</dt><dd>{e(row["pages"])}</dd><dt>failures</dt><dd>{e(row["failures"])}</dd>'
             f'<dt>first seen</dt><dd>{short_time(row["first_seen"])}</dd>'
             f'<dt>last seen</dt><dd>{short_time(row["last_seen"])}</dd>'
             f'<dt>last up</dt><dd>{short_time(row["last_up"])}</dd>'
             f'<dt>last failure</dt><dd>{e(row["last_reason"] or "")}</dd>'
             f'<dt>revisits</dt><dd>{_host_revisits(view, name)}</dd>{clusters.host_line(view, name)}</dl>')
    body = (f'<h1>{copyable(name, "host")}</h1><p class=muted>{e(row["title"] or "")}</p>{facts}'
            f"<h2>Snapshots</h2>{table(['visit', 'status', 'url', 'title', 'type', 'size'], timeline)}"
            + pager(f"/host/{quote(name, safe='')}", params, number, snaps.more)
            + liveness.section(view.db, name)
            + _host_sections(view, name, row))
    return frame(name, body, "/hosts")


# -- one snapshot ---------------------------------------------------------------------


def _textual(mime: Any) -> bool:
    kind = str(mime or "").split(";", 1)[0].strip().lower()
    return not kind or kind.startswith("text/") or kind.endswith(("+xml", "/xml", "/json", "/javascript"))


def _source_section(view: View, row: dict[str, Any]) -> str:
    sid = int(row["id"])
    raw = files.inside(view.path_data, row.get("raw_path"))
    rendered = files.inside(view.path_data, row.get("rendered_path"))
    parts = []
    if rendered or (raw and "html" in str(row.get("mime") or "html")):
        kind = "rendered" if rendered else "raw"
        parts.append(f"<h2>Page ({kind}, made inert and sandboxed: no scripts, no network)</h2>"
                     f'<iframe class=preview sandbox="" referrerpolicy=no-referrer '
                     f'src="/frame/{sid}/{kind}" title="{kind} page, sandboxed"></iframe>')
    for kind, path in (("raw", raw), ("rendered", rendered)):
        if path is None:
            continue
        if kind == "raw" and not _textual(row.get("mime")):
            parts.append(f'<p>Raw document: {e(row.get("mime"))}, {size(row.get("size"))} '
                         f'(<a href="/file/{sid}/raw">as text</a>)</p>')
            continue
        text, cut = files.read_text(path)
        more = f' <a href="/file/{sid}/{kind}">whole file as text</a>' if cut else ""
        parts.append(f'<details{" open" if kind == "raw" else ""}><summary>{kind} source '
                     f'<a href="/file/{sid}/{kind}">as text</a></summary>'
                     f"<pre class=source>{e(text)}</pre>{more}</details>")
    return "".join(parts) or '<p class="muted">No document saved.</p>'


def _text_of(view: View, row: dict[str, Any]) -> str:
    body = queries.page_text(view.db, int(row["id"]))
    if body:
        return body
    if not row.get("rendered_path") and not _textual(row.get("mime")):
        return ""  # a PDF's or an image's bytes are no text to compare
    path = files.inside(view.path_data, row.get("rendered_path") or row.get("raw_path"))
    return visible_text(files.read_text(path)[0]) if path else ""


def _diff_section(view: View, row: dict[str, Any]) -> str:
    before = queries.previous_snapshot(view.db, row)
    if before is None:
        return '<p class="muted">First visit of this URL: nothing to compare.</p>'
    lines = text_diff(_text_of(view, before), _text_of(view, row))
    title = f"<p>Against {snapshot_link(before['id'], short_time(before['timestamp']), markup=True)}</p>"
    if not lines:
        return title + '<p class="muted">The visible text did not change.</p>'
    return title + "<pre class=diff>" + "".join(f'<span class="{k}">{e(line)}</span>\n' for k, line in lines) + "</pre>"


def snapshot_page(view: View, snapshot_id: int) -> str | None:
    row = queries.snapshot(view.db, snapshot_id)
    if row is None:
        return None
    shot = files.inside(view.path_data, row.get("screenshot_path"))
    facts = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in (
        ("url", copyable(row["url"])), ("final url", copyable(row["final_url"])),
        ("host", host_link(row["host"])), ("network", badge(row["network"], "net")),
        ("visited", short_time(row["timestamp"])), ("status", e(row["status"])), ("type", e(row["mime"])),
        ("size", size(row["size"])), ("sha256", f"<code>{e(row['sha256'])}</code>"),
        ("duplicate of", copyable(row["duplicate_of"]) if row["duplicate_of"] else ""),
        ("revisit", _url_revisits(view, row["url"])),
        ("found on", copyable(row["source"]) if row["source"] else "")) if value)
    links = [[copyable(x["target"]), host_link(x["target_host"]) if x["target_host"] else ""]
             for x in queries.snapshot_links(view.db, snapshot_id)]
    ents = [[badge(x["kind"], "kind"), f'<a href="/entity/{int(x["id"])}">{e(x["value"])}</a>']
            for x in queries.snapshot_entities(view.db, snapshot_id)]
    screenshot = (f'<a href="/file/{snapshot_id}/screenshot"><img class=screenshot alt="screenshot" '
                  f'src="/file/{snapshot_id}/screenshot"></a>') if shot else '<p class="muted">No screenshot.</p>'
    body = (f"<h1>{e(row['title'] or row['url'])}</h1><dl class=facts>{facts}</dl>"
            f"<h2>Screenshot</h2>{screenshot}{_source_section(view, row)}"
            f"<h2>Changes since the previous visit</h2>{_diff_section(view, row)}"
            f"<h2>Links</h2>{table(['target', 'host'], links, 'No links.')}"
            f"<h2>Entities</h2>{table(['kind', 'value'], ents, 'No entities.')}")
    return frame(row["title"] or row["url"], body, "/hosts")


# -- search and entities --------------------------------------------------------------


def search_page(view: View, params: dict[str, str]) -> str:
    q = params.get("q", "").strip()
    number, limit = queries.bounded(params.get("page"), params.get("limit"), 20)
    best = params.get("sort") == "rank"
    form = (f'<form class=filters method=get action="/search"><input name=q value="{e(q)}" '
            'placeholder="words in titles and text" autofocus><select name=sort>'
            f'<option value=new>newest first</option><option value=rank{" selected" if best else ""}>'
            "best first</option></select><button>Search</button></form>")
    if not q:
        return frame("Search", f"<h1>Search</h1>{form}", "/search")
    found = queries.search(view.db, q, number, limit, best=best)
    hits = "".join(
        f'<li class=hit><div>{snapshot_link(h["id"], h["title"] or h["url"])} {badge(h["network"], "net")}'
        f' <span class=muted>{short_time(h["timestamp"])}</span></div>{copyable(h["url"])}'
        f'<p class=snippet>{queries.snippet_html(h["snippet"])}</p></li>' for h in found.rows)
    results = f"<ol class=hits>{hits}</ol>" if hits else '<p class="muted">No page matches.</p>'
    return frame(f"Search: {q}", f"<h1>Search</h1>{form}{results}"
                 + pager("/search", params, number, found.more), "/search")


def entities_page(view: View, params: dict[str, str]) -> str:
    q, kind = params.get("q", "").strip(), params.get("kind", "").strip()
    number, limit = queries.bounded(params.get("page"), params.get("limit"), 50)
    found = queries.entities(view.db, q, kind, number, limit)
    rows = [[badge(x["kind"], "kind"), f'<a href="/entity/{int(x["id"])}">{e(x["value"])}</a>'] for x in found.rows]
    form = (f'<form class=filters method=get action="/entities"><input name=q value="{e(q)}" '
            f'placeholder="value starts with"><input name=kind value="{e(kind)}" placeholder="kind">'
            "<button>Find</button></form>")
    return frame("Entities", f"<h1>Entities</h1>{form}{table(['kind', 'value'], rows, 'No entity matches.')}"
                 + pager("/entities", params, number, found.more), "/entities")


def entity_page(view: View, entity_id: int, params: dict[str, str]) -> str | None:
    row = queries.entity(view.db, entity_id)
    if row is None:
        return None
    number, limit = queries.bounded(params.get("page"), params.get("limit"), 100)
    hosts = [[host_link(h["host"]), badge(h["network"], "net"), short_time(h["first_seen"]),
              short_time(h["last_seen"]), str(h["pages"])] for h in queries.entity_hosts(view.db, entity_id)]
    seen = queries.entity_pages(view.db, entity_id, number, limit)
    pages = [[snapshot_link(p["id"], short_time(p["timestamp"]), markup=True), copyable(p["url"]), host_link(p["host"]),
              e(p["title"] or "")] for p in seen.rows]
    body = (f'<h1>{badge(row["kind"], "kind")} {copyable(row["value"], "value")}</h1>'
            f"<h2>Hosts</h2>{table(['host', 'network', 'first seen', 'last seen', 'pages'], hosts)}"
            f"<h2>Pages</h2>{table(['visit', 'url', 'host', 'title'], pages)}"
            + pager(f"/entity/{entity_id}", params, number, seen.more))
    return frame(f"{row['kind']} {row['value']}", body, "/entities")
