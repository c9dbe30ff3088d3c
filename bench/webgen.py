"""Deterministic synthetic web used by the benchmark.

Layout of the generated directory::

    <root>/manifest.json          parameters + totals; written last, so its
                                  presence means the web is complete
    <root>/static/app.css|app.js|logo.png   shared by every host
    <root>/h000/index.html        host 0 (served on base_port + 0)
    <root>/h000/p/<n>.html        its pages, n in [0, pages)
    <root>/h000/robots.txt
    <root>/h000/sitemap.xml
    ...

Every page is roughly 15 KB of ordinary-looking markup with ~30 links:
~22 to pages of the same host (in every spelling a crawler must normalise:
relative, ``./``, ``../``, root-relative, absolute, with ``#fragments``, and
repeated), ~4 absolute links to other hosts, ~4 non-HTTP links a crawler
must ignore, plus ``<link>``/``<script>``/``<img>`` references to the
static files.

Reachability from host 0's ``/index.html`` is guaranteed by construction
(each index links to ``p/0`` and to the next host's index; each ``p/n``
links to ``p/n+1``) and checked by a BFS over the generated links.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Bump whenever the page format changes, so stale webs get regenerated.
GENERATOR_VERSION = 3
MANIFEST_NAME = "manifest.json"
LOOPBACK = "127.0.0.1"
INDEX = -1  # page id used for a host's /index.html in the link graph

_SPECIAL_LINKS = (
    ("mailto:admin{h}@example.onion", "Contact the admin"),
    ("bitcoin:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa?amount=0.0{n}", "Donate BTC"),
    (
        "magnet:?xt=urn:btih:{btih}&dn=archive-{h}-{n}.tar",
        "Mirror (magnet)",
    ),
    ("tel:+1555{n:07d}", "Call us"),
    ("javascript:void(0)", "Toggle theme"),
    ("irc://irc.example/x{h}", "IRC channel"),
)

_CSS = """\
/* Shared stylesheet of the synthetic web. */
html { font-family: sans-serif; line-height: 1.45; }
body { margin: 0 auto; max-width: 62rem; padding: 0 1rem; color: #222; }
header, footer { border-bottom: 1px solid #ccc; padding: .5rem 0; }
footer { border-top: 1px solid #ccc; border-bottom: 0; font-size: .85rem; }
nav ul { list-style: none; display: flex; gap: 1rem; padding: 0; }
table.data { border-collapse: collapse; width: 100%; margin: 1rem 0; }
table.data td, table.data th { border: 1px solid #ddd; padding: .25rem .5rem; }
aside { background: #f6f6f6; padding: .5rem 1rem; }
a { color: #0645ad; }
"""

_JS = """\
// Shared script of the synthetic web; crawlers should never need to run it.
document.addEventListener("DOMContentLoaded", function () {
  var t = document.querySelector("[data-theme-toggle]");
  if (t) { t.addEventListener("click", function () {
    document.body.classList.toggle("dark");
  }); }
});
"""

# A valid 1x1 transparent PNG, so <img src> points at a real image.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@dataclass(frozen=True)
class WebParams:
    """Everything that determines the bytes of the generated web."""

    hosts: int = 50
    pages: int = 400
    base_port: int = 18000
    seed: int = 20240501
    page_bytes: int = 15_000
    version: int = GENERATOR_VERSION

    @property
    def html_pages(self) -> int:
        """HTML documents per web: every /p/<n>.html plus each host's index."""
        return self.hosts * (self.pages + 1)

    def port(self, host: int) -> int:
        return self.base_port + host

    def seed_url(self) -> str:
        return f"http://{LOOPBACK}:{self.base_port}/index.html"


@dataclass
class WebInfo:
    """Result of :func:`ensure_web`."""

    root: Path
    params: WebParams
    html_pages: int
    total_bytes: int
    links: int
    generated: bool
    seconds: float


def host_dir(root: Path, host: int) -> Path:
    return root / f"h{host:03d}"


def _vocabulary(seed: int, size: int = 3000) -> list[str]:
    """Pronounceable pseudo-words, so text compresses/tokenises like prose."""
    rng = random.Random(f"vocab:{seed}")
    onsets = [*"bcdfghjklmnprstvwz", "br", "cr", "dr", "gr", "pl", "st", "tr", "sh", "ch", "th"]
    vowels = [*"aeiou", "ai", "ea", "io", "ou"]
    codas = ["", "", "", "n", "r", "s", "t", "l", "nd", "st", "rk"]
    words: set[str] = set()
    while len(words) < size:
        syll = rng.choice((1, 2, 2, 2, 3, 3, 4))
        words.add("".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(syll)))
    return sorted(words)


def _same_host_href(rng: random.Random, port: int, target: int, at_root: bool) -> str:
    """One of the many spellings of a same-host link, as found in the wild."""
    if target == INDEX:
        path, leaf = "index.html", ("index.html" if at_root else "../index.html")
    else:
        path, leaf = f"p/{target}.html", (f"p/{target}.html" if at_root else f"{target}.html")
    r = rng.random()
    if r < 0.30:
        href = f"/{path}"
    elif r < 0.50:
        href = f"http://{LOOPBACK}:{port}/{path}"
    elif r < 0.75:
        href = leaf
    elif r < 0.88:
        href = f"./{leaf}" if not leaf.startswith("../") else leaf
    else:
        href = f"./{path}" if at_root else f"../{path}"
    if rng.random() < 0.15:
        href += f"#s{rng.randrange(1, 6)}"
    return href


class _PageWriter:
    """Builds the pages of one host; one instance per worker process."""

    def __init__(self, params: WebParams) -> None:
        self.p = params
        self.vocab = _vocabulary(params.seed)

    def _words(self, rng: random.Random, n: int) -> list[str]:
        return rng.choices(self.vocab, k=n)

    def _sentence_text(self, rng: random.Random, words: list[str]) -> str:
        # Sentences of 7-16 words with capitals and full stops, roughly prose.
        out: list[str] = []
        i = 0
        while i < len(words):
            k = rng.randint(7, 16)
            chunk = words[i : i + k]
            chunk[0] = chunk[0].capitalize()
            out.append(" ".join(chunk) + ".")
            i += k
        return " ".join(out)

    def page(self, host: int, page: int) -> tuple[str, list[tuple[int, int]]]:
        """Return the HTML of one page and the (host, page) nodes it links to."""
        p = self.p
        rng = random.Random(f"page:{p.seed}:{host}:{page}")
        port = p.port(host)
        at_root = page == INDEX
        edges: list[tuple[int, int]] = []

        def same(target: int) -> str:
            edges.append((host, target))
            return _same_host_href(rng, port, target, at_root)

        title_words = self._words(rng, rng.randint(3, 6))
        title = " ".join(w.capitalize() for w in title_words)
        name = "index" if at_root else f"page {page}"

        # Navigation: the same hub pages on every page, as real sites do,
        # which also makes many links globally redundant.
        nav_targets = [INDEX] + [t for t in range(4) if t < p.pages]
        nav = "".join(
            f'<li><a href="{same(t)}">{"Home" if t == INDEX else self._words(rng, 1)[0].capitalize()}</a></li>'
            for t in nav_targets
        )

        # Body links: a "next" link that guarantees reachability, random
        # same-host pages, then a few repeats of already-used targets.
        chain = 0 if at_root else (page + 1) % p.pages
        body_targets = [chain] + [rng.randrange(p.pages) for _ in range(13)]
        body_targets += rng.sample(body_targets, 3)
        rng.shuffle(body_targets)
        body_links = [f'<a href="{same(t)}">{" ".join(self._words(rng, rng.randint(1, 3)))}</a>' for t in body_targets]

        # Cross-host links are absolute; each index also links to the next
        # host's index so every host is reachable from host 0.
        cross: list[tuple[int, int]] = []
        if at_root and p.hosts > 1:
            cross.append(((host + 1) % p.hosts, INDEX))
        while len(cross) < 4 and p.hosts > 1:
            other = rng.randrange(p.hosts - 1)
            other = other + 1 if other >= host else other
            cross.append((other, rng.randrange(p.pages)))
        edges.extend(cross)
        aside = "".join(
            f'<li><a href="http://{LOOPBACK}:{p.port(h)}/'
            f'{"index.html" if t == INDEX else f"p/{t}.html"}">'
            f"{' '.join(self._words(rng, 2)).title()} (host {h})</a></li>"
            for h, t in cross
        )

        specials = rng.sample(_SPECIAL_LINKS, 4)
        btih = f"{rng.getrandbits(160):040x}"
        footer_links = " | ".join(
            f'<a href="{href.format(h=host, n=max(page, 0), btih=btih)}"'
            f"{' data-theme-toggle' if href.startswith('javascript:') else ''}>{label}</a>"
            for href, label in specials
        )

        rows = "".join(
            "<tr>"
            + f"<td>{rng.randint(1000, 99999)}</td>"
            + "".join(f"<td>{w}</td>" for w in self._words(rng, 3))
            + f"<td>{rng.random() * 100:.2f}</td></tr>\n"
            for _ in range(rng.randint(6, 10))
        )
        table = (
            '<table class="data">\n<thead><tr><th>ID</th><th>Name</th><th>Vendor</th>'
            f"<th>Category</th><th>Score</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n"
        )

        head = (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{title} | host {host} {name}</title>\n"
            f'<meta name="description" content="{" ".join(self._words(rng, 18))}">\n'
            f'<meta name="keywords" content="{", ".join(self._words(rng, 6))}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<link rel="stylesheet" href="/static/app.css">\n'
            '<link rel="icon" type="image/png" href="/static/logo.png">\n'
            '<script src="/static/app.js" defer></script>\n'
            "</head>\n<body>\n"
            '<header><a href="/index.html"><img src="/static/logo.png" alt="logo" width="32" height="32"></a>\n'
            f"<nav><ul>{nav}</ul></nav></header>\n"
            f"<main>\n<article>\n<h1>{title}</h1>\n"
        )
        tail = (
            "</article>\n"
            f"<aside><h3>Elsewhere</h3><ul>{aside}</ul></aside>\n</main>\n"
            f"<footer><p>{footer_links}</p>\n"
            f"<p>&copy; {' '.join(self._words(rng, 4))}. Host {host}.</p></footer>\n"
            "</body>\n</html>\n"
        )
        # Anchor text and tags are counted approximately; the body is filled
        # with paragraphs until the page reaches its (jittered) target size.
        target = rng.randint(int(p.page_bytes * 0.9), int(p.page_bytes * 1.1))
        budget = target - len(head) - len(tail) - len(table)
        parts: list[str] = []
        size = 0
        section = 0
        pending = list(body_links)
        while size < budget or pending:
            if len(parts) % 3 == 0 and section < 5:
                section += 1
                h2 = f'<h2 id="s{section}">{" ".join(self._words(rng, rng.randint(2, 5))).capitalize()}</h2>\n'
                parts.append(h2)
                size += len(h2)
                if section == 3:
                    parts.append(table)
            words = self._words(rng, rng.randint(50, 110))
            # Spread links over the paragraphs that fit in the budget; any
            # left when it runs out go into the last paragraph.
            n_links = len(pending) if size >= budget else min(len(pending), rng.randint(0, 3))
            for pos in rng.sample(range(len(words)), n_links):
                words[pos] = pending.pop()
            para = f"<p>{self._sentence_text(rng, words)}</p>\n"
            parts.append(para)
            size += len(para)
        return head + "".join(parts) + tail, edges


def _write_host(args: tuple[Path, WebParams, int]) -> tuple[int, int, list[list[tuple[int, int]]]]:
    """Write one host's files; return (bytes, links, adjacency by page)."""
    root, params, host = args
    writer = _PageWriter(params)
    hdir = host_dir(root, host)
    (hdir / "p").mkdir(parents=True, exist_ok=True)
    port = params.port(host)
    total = 0
    links = 0
    # adjacency[i] for page i; adjacency[pages] for the index.
    adjacency: list[list[tuple[int, int]]] = []
    for page in [*range(params.pages), INDEX]:
        html, edges = writer.page(host, page)
        data = html.encode()
        path = hdir / ("index.html" if page == INDEX else f"p/{page}.html")
        path.write_bytes(data)
        total += len(data)
        links += len(edges)
        adjacency.append(edges)
    robots = f"User-agent: *\nDisallow: /private/\n\nSitemap: http://{LOOPBACK}:{port}/sitemap.xml\n"
    (hdir / "robots.txt").write_text(robots)
    locs = [f"http://{LOOPBACK}:{port}/index.html"] + [
        f"http://{LOOPBACK}:{port}/p/{i}.html" for i in range(params.pages)
    ]
    sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        + "".join(f"  <url><loc>{u}</loc><changefreq>daily</changefreq></url>\n" for u in locs)
        + "</urlset>\n"
    )
    (hdir / "sitemap.xml").write_text(sitemap)
    return total, links, adjacency


def _reachable(params: WebParams, adjacency: list[list[list[tuple[int, int]]]]) -> int:
    """Count HTML nodes reachable from host 0's index (BFS over the links)."""

    def slot(page: int) -> int:
        return params.pages if page == INDEX else page

    seen = [[False] * (params.pages + 1) for _ in range(params.hosts)]
    queue: deque[tuple[int, int]] = deque([(0, INDEX)])
    seen[0][slot(INDEX)] = True
    count = 1
    while queue:
        h, pg = queue.popleft()
        for h2, pg2 in adjacency[h][slot(pg)]:
            if not seen[h2][slot(pg2)]:
                seen[h2][slot(pg2)] = True
                count += 1
                queue.append((h2, pg2))
    return count


def read_manifest(root: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((root / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def ensure_web(root: Path, params: WebParams, workers: int | None = None) -> WebInfo:
    """Generate the web into ``root`` unless an identical one is already there."""
    manifest = read_manifest(root)
    if manifest is not None and manifest.get("params") == asdict(params):
        return WebInfo(
            root=root,
            params=params,
            html_pages=int(manifest["html_pages"]),
            total_bytes=int(manifest["total_bytes"]),
            links=int(manifest["links"]),
            generated=False,
            seconds=0.0,
        )

    started = time.perf_counter()
    # Build next to the target and swap in at the end, so an interrupted
    # run never leaves a half-written web that looks complete.
    tmp = root.with_name(root.name + f".tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    static = tmp / "static"
    static.mkdir(parents=True)
    (static / "app.css").write_text(_CSS)
    (static / "app.js").write_text(_JS)
    (static / "logo.png").write_bytes(_PNG)

    jobs = [(tmp, params, h) for h in range(params.hosts)]
    n_workers = max(1, min(workers or os.cpu_count() or 1, params.hosts))
    total_bytes = 0
    links = 0
    adjacency: list[list[list[tuple[int, int]]]] = []
    try:
        if n_workers == 1:
            results = map(_write_host, jobs)
            for b, n, adj in results:
                total_bytes, links = total_bytes + b, links + n
                adjacency.append(adj)
        else:
            with ProcessPoolExecutor(max_workers=n_workers) as pool:
                for b, n, adj in pool.map(_write_host, jobs, chunksize=1):
                    total_bytes, links = total_bytes + b, links + n
                    adjacency.append(adj)

        reachable = _reachable(params, adjacency)
        if reachable != params.html_pages:
            raise RuntimeError(f"link graph broken: {reachable} of {params.html_pages} pages reachable from the seed")
        manifest_data = {
            "params": asdict(params),
            "html_pages": params.html_pages,
            "total_bytes": total_bytes,
            "links": links,
            "seed_url": params.seed_url(),
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest_data, indent=2) + "\n")
        if root.exists():
            shutil.rmtree(root)
        tmp.rename(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return WebInfo(
        root=root,
        params=params,
        html_pages=params.html_pages,
        total_bytes=total_bytes,
        links=links,
        generated=True,
        seconds=time.perf_counter() - started,
    )
