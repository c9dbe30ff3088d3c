"""The viewer's clones and mirrors: the clusters (suspected phishing first), one
cluster (its members' screenshots side by side, the addresses each shows with
those that differ highlighted), the cluster line of a host page, and the JSON of
``/api/clusters``.  Crawled values are escaped (layout.e)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from darkcrawl.catalog import queries
from darkcrawl.viewer.layout import badge, copyable, e, frame, host_link, pager, table

if TYPE_CHECKING:
    from darkcrawl.viewer.pages import View


def _addresses(text: str | None) -> list[tuple[str, str]]:
    try:
        return [(str(kind), str(value)) for kind, value in json.loads(text or "[]")]
    except (ValueError, TypeError):
        return []


def cluster_link(cluster_id: str, text: str | None = None) -> str:
    return f'<a href="/cluster/{quote(cluster_id, safe="")}">{e(text or cluster_id)}</a>'


def _flag(row: dict[str, Any]) -> str:
    return '<span class="badge phishing">suspected phishing</span>' if row["suspected_phishing"] else ""


def _thumb(snapshot_id: Any, alt: str) -> str:
    if snapshot_id is None:
        return '<span class="thumb none">no screenshot</span>'
    return (f'<a href="/snapshot/{int(snapshot_id)}"><img class=thumb loading=lazy alt="{e(alt)}" '
            f'src="/file/{int(snapshot_id)}/screenshot"></a>')


def clusters_page(view: View, params: dict[str, str]) -> str:
    number, limit = queries.bounded(params.get("page"), params.get("limit"), 50)
    flagged = params.get("flagged") == "1"
    found = queries.clusters(view.db, flagged=flagged, page=number, limit=limit)
    rows = [[cluster_link(c["cluster"]) + " " + _flag(c), host_link(c["representative"]),
             f'<span class=muted>{e(c["title"] or "")}</span>', str(c["size"]),
             " ".join(f"<code class=differ>{e(value)}</code>" for _kind, value in _addresses(c["addresses"])[:4])]
            for c in found.rows]
    choice = ('<p class=filters><a href="/clusters">all clusters</a> · '
              '<a href="/clusters?flagged=1">suspected phishing only</a></p>')
    body = ("<h1>Clones and mirrors</h1>"
            '<p class=muted>Hosts whose root pages look alike (screenshot, text, title, favicon). A cluster whose '
            "members show different cryptocurrency addresses is a suspected phishing clone.</p>" + choice
            + table(["cluster", "representative", "title", "hosts", "addresses that differ"], rows,
                    "No clusters: no two hosts look alike (yet).", "clusters")
            + pager("/clusters", params, number, found.more))
    return frame("Clusters", body, "/clusters")


def _member(row: dict[str, Any], differing: set[tuple[str, str]]) -> str:
    shown = _addresses(row["addresses"])
    addresses = "".join(
        f'<li class="{"differ" if a in differing else "same"}">{badge(a[0], "kind")} '
        f'{"<mark class=differ>" + copyable(a[1], "address") + "</mark>" if a in differing else copyable(a[1], "address")}'
        "</li>" for a in shown) or '<li class="muted">no address seen</li>'
    image, text = row["image_distance"], row["text_distance"]
    if image is None and text is None:
        distance = "nothing to compare" if not row["duplicate_of"] else "the same page"
    elif image == 0 and text == 0:
        distance = "identical signatures"
    else:
        distance = (f'screenshot {e("-" if image is None else image)} bits, '
                    f'text {e("-" if text is None else text)} bits apart')
    names = ", ".join(n for n, same in (("same favicon", row["same_favicon"]), ("same title", row["same_title"]))
                      if same)
    copy = (f'<div class=muted>byte for byte the page of {copyable(row["duplicate_of"])} (its screenshot)</div>'
            if row["duplicate_of"] else "")
    return (f'<figure class=member>{_thumb(row["screenshot_id"], row["host"])}'
            f'<figcaption>{host_link(row["host"])} {badge(row["network"], "net")} {badge(row["state"], "state")}'
            f'<div class=muted>{e(row["title"] or "")}</div><div class=muted>{distance}{"; " + names if names else ""}'
            f"</div>{copy}<ul class=addresses>{addresses}</ul></figcaption></figure>")


def cluster_page(view: View, cluster_id: str) -> str | None:
    row = queries.cluster(view.db, cluster_id)
    if row is None:
        return None
    differing = set(_addresses(row["addresses"]))
    members = queries.cluster_members(view.db, cluster_id)
    more = f'<p class=muted>{row["size"] - len(members)} more hosts not shown.</p>' if row["size"] > len(members) else ""
    flag = ""
    if row["suspected_phishing"]:
        listed = "".join(f"<li>{badge(k, 'kind')} <mark class=differ>{copyable(v, 'address')}</mark></li>"
                         for k, v in sorted(differing))
        flag = (f'<div class="alert phishing"><b>Suspected phishing clone.</b> Its members show different '
                f"cryptocurrency addresses:<ul>{listed}</ul></div>")
    body = (f'<h1>Cluster {e(cluster_id)} {_flag(row)}</h1><p class=muted>{e(row["title"] or "")}</p>'
            f'<dl class=facts><dt>hosts</dt><dd>{e(row["size"])}</dd><dt>representative</dt>'
            f'<dd>{host_link(row["representative"])}</dd></dl>{flag}'
            "<h2>Members <span class=muted>their signed pages' screenshots, side by side</span></h2>"
            f'<div class="shots cluster">{"".join(_member(m, differing) for m in members)}</div>{more}')
    return frame(f"Cluster {cluster_id}", body, "/clusters")


def host_line(view: View, name: str) -> str:
    """The ``<dt>/<dd>`` of a host page's facts: its cluster, or nothing."""
    found = queries.host_clusters(view.db, [name]).get(name)
    if found is None:
        return ""
    others = int(found["size"]) - 1
    return (f"<dt>cluster</dt><dd>{cluster_link(found['cluster'])} {_flag(found)} "
            f"<span class=muted>with {others} other host{'s' if others != 1 else ''}</span></dd>")


def api_clusters(view: View, params: dict[str, str]) -> dict[str, Any]:
    number, limit = queries.bounded(params.get("page"), params.get("limit"), 50)
    found = queries.clusters(view.db, flagged=params.get("flagged") == "1", page=number, limit=limit)
    for row in found.rows:
        row["suspected_phishing"] = bool(row["suspected_phishing"])
        row["addresses"] = [list(a) for a in _addresses(row["addresses"])]
        row["members"] = [{"host": m["host"], "addresses": [list(a) for a in _addresses(m["addresses"])],
                           "image_distance": m["image_distance"], "text_distance": m["text_distance"],
                           "url": m["url"], "visited": m["timestamp"]}
                          for m in queries.cluster_members(view.db, row["cluster"])]
    return found.as_json()
