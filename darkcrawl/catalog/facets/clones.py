"""The clones facet: each host's signatures, and the clusters of clones and mirrors.

Each host is signed by one page: its root page (the latest visit of ``/``), else
the first page the crawl took from it (a host known by a deep link only).  As a
batch brings that page, :meth:`ClonesFacet.write` signs it (title, text simhash,
the icon it declares; then, when its render comes, the pHash of the screenshot):
on the catalogue's writer thread, off the crawl's reactor, and only for hosts whose
signed page changed.  :meth:`ClonesFacet.finish` (after a rebuild, when a crawl's
catalogue closes, and every :data:`CLUSTER_INTERVAL` seconds of a long crawl)
hashes the favicons the bootstrap saved, clusters every signed host
(:mod:`darkcrawl.intel.clusters`) and flags the clusters whose members show
different cryptocurrency addresses.

A page that content-seen found to be byte for byte another URL's (a mirror's
root) has no text nor render of its own: it is signed by that URL's host.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from lxml import html as lxml_html

from darkcrawl.catalog.facets import Batch, Facet, split_statements
from darkcrawl.catalog.schema import dialect_types
from darkcrawl.intel import clusters as clustering
from darkcrawl.intel.favicon import DEFAULT_ICON, FAVICON_MAX_SIZE, declared_icon, is_root_url
from darkcrawl.intel.signatures import favicon_hash, from_hex, image_hash, text_simhash, title_key, to_hex
from darkcrawl.links.classify import classify
from darkcrawl.storage import paths
from darkcrawl.storage.datauri import decode_data_uri

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings
    from typing_extensions import Self

    from darkcrawl.catalog.db import CatalogDB
    from darkcrawl.catalog.rows import Visit

logger = logging.getLogger(__name__)

#: seconds between two clusterings while a crawl writes (finish() clusters at its end)
CLUSTER_INTERVAL = 600.0
#: bytes of a page read for the icon it declares (it is in the <head>)
HEAD_BYTES = 256 * 1024

_DDL = """
CREATE TABLE IF NOT EXISTS clone_signatures (
    host TEXT PRIMARY KEY,
    url TEXT NOT NULL,              -- the page that signs the host: its root page, else its first page
    timestamp TEXT NOT NULL,        -- that page's visit
    root INTEGER NOT NULL,          -- 1: the root page
    title TEXT,                     -- its title, case-folded, white space collapsed
    icon_url TEXT,                  -- the icon the page declares (a URL, or an inline data: URI)
    favicon_hash INTEGER,           -- Shodan's http.favicon.hash of the host's favicon
    favicon_path TEXT,              -- that favicon's file under PATH_DATA ("inline": a data: URI)
    image_hash TEXT,                -- 16 hex digits: pHash of the screenshot's top
    screenshot_path TEXT,
    text_hash TEXT,                 -- 16 hex digits: simhash of the visible text
    text_features INTEGER NOT NULL DEFAULT 0,
    duplicate_of TEXT               -- the page is byte for byte this URL's (content-seen)
);
CREATE TABLE IF NOT EXISTS clone_clusters (
    cluster TEXT PRIMARY KEY,       -- 12 hex digits of its representative's BLAKE2b: stable
    representative TEXT NOT NULL,   -- its smallest host
    size INTEGER NOT NULL,
    suspected_phishing INTEGER NOT NULL,
    addresses TEXT NOT NULL,        -- JSON [[coin, address], ...]: the addresses that differ
    title TEXT                      -- the title of its first member that has one
);
CREATE INDEX IF NOT EXISTS clone_clusters_flagged ON clone_clusters (suspected_phishing, size);
CREATE TABLE IF NOT EXISTS clone_members (
    host TEXT PRIMARY KEY,
    cluster TEXT NOT NULL,
    image_distance INTEGER,         -- bits from the representative's signatures (NULL: not comparable)
    text_distance INTEGER,
    same_favicon INTEGER NOT NULL,
    same_title INTEGER NOT NULL,
    addresses TEXT NOT NULL         -- JSON [[coin, address], ...] the host shows, on any of its pages
);
CREATE INDEX IF NOT EXISTS clone_members_cluster ON clone_members (cluster, host);
"""

_SIGNATURE_COLUMNS = ("host", "url", "timestamp", "root", "title", "icon_url", "favicon_hash", "favicon_path",
                      "image_hash", "screenshot_path", "text_hash", "text_features", "duplicate_of")


@dataclass(slots=True)
class _Signed:
    """One row of ``clone_signatures`` as the facet works on it."""

    host: str
    url: str
    timestamp: str
    root: int
    title: str | None = None
    icon_url: str | None = None
    favicon_hash: int | None = None
    favicon_path: str | None = None
    image_hash: str | None = None
    screenshot_path: str | None = None
    text_hash: str | None = None
    text_features: int = 0
    duplicate_of: str | None = None

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, column) for column in _SIGNATURE_COLUMNS)


def _signs(visit: Visit) -> bool:
    """Whether *visit* can sign its host: an HTML page that answered, or its render;
    not an interstitial (a gate: a DDoS queue, a captcha), which is no site's page."""
    if visit.gate:
        return False
    if visit.render:
        return bool(visit.columns.get("screenshot_path")) or visit.text is not None
    status = visit.columns.get("status")
    if status is None or status >= 400:
        return False
    return visit.text is not None or visit.columns.get("duplicate_of") is not None


def _better(visit: Visit, root: bool, current: _Signed | None) -> bool:
    """Whether *visit* signs its host rather than *current*: a root page beats any
    other, the latest root page the earlier ones; without one, the first page."""
    if current is None:
        return True
    if root != bool(current.root):
        return root
    if root:
        return visit.timestamp > current.timestamp
    return (visit.timestamp, visit.url) < (current.timestamp, current.url)


@dataclass
class ClonesFacet(Facet):
    root_dir: Path | None = None
    limits: clustering.Thresholds = field(default_factory=clustering.Thresholds)
    _clustered: float = field(default_factory=time.monotonic)
    _dirty: bool = False

    tables: ClassVar[tuple[str, ...]] = ("clone_members", "clone_clusters", "clone_signatures")
    dump_queries: ClassVar[dict[str, str]] = {
        "clone_signatures": "SELECT host, url, timestamp, root, title, icon_url, favicon_hash, favicon_path, "
                            "image_hash, screenshot_path, text_hash, text_features, duplicate_of FROM clone_signatures",
        "clone_clusters": "SELECT cluster, representative, size, suspected_phishing, addresses, title "
                          "FROM clone_clusters",
        "clone_members": "SELECT host, cluster, image_distance, text_distance, same_favicon, same_title, addresses "
                         "FROM clone_members",
    }

    @classmethod
    def from_settings(cls, settings: BaseSettings | None) -> Self:
        return cls(Path(settings["PATH_DATA"]) if settings is not None and settings.get("PATH_DATA") else None)

    def statements(self, dialect: str) -> list[str]:
        return split_statements(_DDL.format(**dialect_types(dialect)))

    def _files(self, db: CatalogDB) -> Path | None:
        """PATH_DATA: the settings', else the folder of a SQLite catalogue (where it lives
        by default); None for a PostgreSQL catalogue read without settings."""
        if self.root_dir is not None:
            return self.root_dir
        if db.dialect == "sqlite":
            return Path(db.location).parent
        return None

    # -- per batch: sign the pages that sign their hosts ----------------------------------

    def write(self, db: CatalogDB, batch: Batch) -> None:
        candidates = [v for v in batch.visits if _signs(v)]
        if candidates:
            current = self._current(db, {v.host for v in candidates})
            changed: dict[str, _Signed] = {}
            files = self._files(db)
            for visit in candidates:
                try:
                    signed = self._sign(visit, current.get(visit.host), files)
                except Exception as exc:  # a signature is derived: this host's waits for a rebuild, the batch goes on
                    logger.warning("clones: cannot sign %s (%r)", visit.url, exc)
                    continue
                if signed is not None:
                    current[visit.host] = changed[visit.host] = signed
            if changed:
                self._dirty = True
                db.executemany(
                    f"INSERT INTO clone_signatures ({', '.join(_SIGNATURE_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(_SIGNATURE_COLUMNS))}) ON CONFLICT (host) DO UPDATE SET "
                    + ", ".join(f"{c} = excluded.{c}" for c in _SIGNATURE_COLUMNS[1:]),
                    [row.values() for row in changed.values()])
        if self._dirty and time.monotonic() - self._clustered > CLUSTER_INTERVAL:
            self.cluster(db)  # a long crawl's clusters, between its start and its finish

    @staticmethod
    def _current(db: CatalogDB, hosts: set[str]) -> dict[str, _Signed]:
        found: dict[str, _Signed] = {}
        ordered = sorted(hosts)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            rows = db.execute(f"SELECT {', '.join(_SIGNATURE_COLUMNS)} FROM clone_signatures "
                              f"WHERE host IN ({', '.join('?' * len(chunk))})", chunk).fetchall()
            found.update((row["host"], _Signed(**dict(row))) for row in rows)
        return found

    def _sign(self, visit: Visit, current: _Signed | None, files: Path | None) -> _Signed | None:
        """The host's signature once *visit* is in, or None when it does not change."""
        same = current is not None and (current.url, current.timestamp) == (visit.url, visit.timestamp)
        if not same:
            root = is_root_url(visit.url, visit.network)
            if visit.render or not _better(visit, root, current):
                return None  # a render signs only the visit whose fetch was chosen
            return self._signed_fetch(visit, int(root), files)
        assert current is not None
        if not visit.render:
            return None  # the same fetch, written again: its render's signatures stay
        return self._signed_render(visit, current, files)

    @staticmethod
    def _signed_fetch(visit: Visit, root: int, files: Path | None) -> _Signed:
        text, features = text_simhash(visit.text)
        icon = None
        raw = visit.columns.get("raw_path")
        if root and raw and files is not None:
            icon = _declared(files / raw, visit.columns.get("final_url") or visit.url)
        return _Signed(visit.host, visit.url, visit.timestamp, root, title_key(visit.title), icon,
                       text_hash=to_hex(text), text_features=features,
                       duplicate_of=visit.columns.get("duplicate_of"))

    @staticmethod
    def _signed_render(visit: Visit, current: _Signed, files: Path | None) -> _Signed:
        """*current* with its render's screenshot hash, rendered text and title."""
        signed = replace(current)
        shot = visit.columns.get("screenshot_path")
        if shot and files is not None:
            try:
                png = (files / shot).read_bytes()
            except OSError:
                png = None
            digest = image_hash(png) if png else None
            signed.image_hash, signed.screenshot_path = to_hex(digest), shot if digest is not None else None
        if visit.text is not None:  # the rendered text, as the full-text index keeps it
            text, features = text_simhash(visit.text)
            signed.text_hash, signed.text_features = to_hex(text), features
        if visit.title:
            signed.title = title_key(visit.title)
        return signed

    # -- at the end: favicons, clusters, flags ----------------------------------------------

    def finish(self, db: CatalogDB) -> None:
        self.cluster(db)

    def cluster(self, db: CatalogDB) -> None:
        """Hash the favicons, cluster every signed host, flag the clusters; the
        clusters are rewritten whole (inside the caller's transaction)."""
        started = time.monotonic()
        if db.dialect == "postgresql":  # two workers closing at once: one clusters after the other
            db.execute("SELECT pg_advisory_xact_lock(7340034)")
        self._hash_favicons(db)
        signatures = self._signatures(db)
        found = clustering.clusters(signatures.values(), self.limits)
        shown = _addresses(db, [host for c in found for host in c.members])
        clusters_rows, member_rows = [], []
        titles = _titles(db, [host for c in found for host in c.members])
        for cluster in found:
            differing = clustering.differing_addresses({h: shown.get(h, set()) for h in cluster.members})
            title = next((titles[h] for h in cluster.members if titles.get(h)), None)  # a copy's page has none
            clusters_rows.append((cluster.id, cluster.representative, len(cluster.members), int(bool(differing)),
                                  _json(differing), title))
            lead = signatures[cluster.representative]
            for host in cluster.members:
                seen = clustering.evidence(signatures[host], lead, self.limits.min_features)
                member_rows.append((host, cluster.id, seen.image, seen.text, int(seen.favicon), int(seen.title),
                                    _json(shown.get(host, set()))))
        db.execute("DELETE FROM clone_members")
        db.execute("DELETE FROM clone_clusters")
        db.insert_many("clone_clusters", ("cluster", "representative", "size", "suspected_phishing", "addresses",
                                          "title"), clusters_rows)
        db.insert_many("clone_members", ("host", "cluster", "image_distance", "text_distance", "same_favicon",
                                         "same_title", "addresses"), member_rows)
        self._clustered, self._dirty = time.monotonic(), False
        logger.info("clones: %d hosts signed, %d clusters (%d suspected phishing) in %.1f s", len(signatures),
                    len(found), sum(row[3] for row in clusters_rows), time.monotonic() - started)

    def _signatures(self, db: CatalogDB) -> dict[str, clustering.Signature]:
        rows = db.all("SELECT host, title, favicon_hash, image_hash, text_hash, text_features, duplicate_of "
                      "FROM clone_signatures")
        duplicated = _hosts_of(db, sorted({row["duplicate_of"] for row in rows if row["duplicate_of"]}))
        return {row["host"]: clustering.Signature(
            row["host"], image=from_hex(row["image_hash"]), text=from_hex(row["text_hash"]),
            features=int(row["text_features"] or 0), title=row["title"], favicon=row["favicon_hash"],
            same_as=duplicated.get(row["duplicate_of"])) for row in rows}

    def _hash_favicons(self, db: CatalogDB) -> None:
        """Each signed host's favicon (the declared one when saved or inline, else
        /favicon.ico), hashed: the bootstrap saves them while the crawl runs.  A
        page byte for byte another's was not read (nor its declared icon fetched):
        without a /favicon.ico of its own, it has that page's favicon."""
        files = self._files(db)
        rows = db.all("SELECT s.host, s.icon_url, s.duplicate_of, s.favicon_hash, s.favicon_path, h.network, "
                      "h.scheme FROM clone_signatures s JOIN hosts h ON h.host = s.host")
        found: dict[str, tuple[int | None, str | None]] = {}
        for row in rows:
            icon = _favicon(files, row) if files is not None else None
            found[row["host"]] = (favicon_hash(icon[0]), icon[1]) if icon else (None, None)
        duplicated = _hosts_of(db, sorted({row["duplicate_of"] for row in rows if row["duplicate_of"]}))
        updates = []
        for row in rows:
            value, where = found[row["host"]]
            if value is None and row["duplicate_of"] in duplicated:
                value, where = found.get(duplicated[row["duplicate_of"]], (None, None))
            if (value, where) != (row["favicon_hash"], row["favicon_path"]):
                updates.append((value, where, row["host"]))
        db.executemany("UPDATE clone_signatures SET favicon_hash = ?, favicon_path = ? WHERE host = ?", updates)


# -- helpers ------------------------------------------------------------------------------------


def _json(addresses: set[tuple[str, str]]) -> str:
    return json.dumps(sorted([list(a) for a in addresses]))


def _declared(path: Path, url: str) -> str | None:
    """The icon the stored page at *path* declares (read from its head)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
        return declared_icon(lxml_html.document_fromstring(head), url) if head.strip() else None
    except (OSError, ValueError, lxml_html.etree.ParserError):
        return None


def _favicon(files: Path, row: dict[str, Any]) -> tuple[bytes, str] | None:
    """(bytes, where) of the favicon that signs the host of *row*, or None."""
    icon: str | None = row["icon_url"]
    if icon and icon[:5].lower() == "data:":
        decoded = decode_data_uri(icon)
        if decoded and decoded[1]:
            return decoded[1][:FAVICON_MAX_SIZE], "inline"
        icon = None
    base = paths.host_base(row["network"], row["scheme"], row["host"])
    names = [paths.favicon_name(classify(icon).url)] if icon else []
    names.append(DEFAULT_ICON)  # what the bootstrap fetched: /favicon.ico
    for name in names:
        try:
            data = (files / base / name).read_bytes()
        except OSError:
            continue
        if data:
            return data[:FAVICON_MAX_SIZE], str(base / name)
    return None


def _hosts_of(db: CatalogDB, urls: list[str]) -> dict[str, str]:
    """The host of each URL (a snapshot's), for pages that duplicate them."""
    found: dict[str, str] = {}
    for url in urls:
        host = db.value("SELECT host FROM snapshots WHERE url = ? LIMIT 1", [url])
        if host is not None:
            found[url] = host
    return found


def _titles(db: CatalogDB, hosts: list[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for start in range(0, len(hosts), 500):
        chunk = hosts[start : start + 500]
        for row in db.all(f"SELECT host, title FROM hosts WHERE host IN ({', '.join('?' * len(chunk))})", chunk):
            found[row["host"]] = row["title"]
    return found


def _addresses(db: CatalogDB, hosts: list[str]) -> dict[str, set[tuple[str, str]]]:
    """The coin addresses each host shows, on any of its pages."""
    found: dict[str, set[tuple[str, str]]] = {}
    coins = ", ".join("?" * len(clustering.COINS))
    for start in range(0, len(hosts), 500):
        chunk = hosts[start : start + 500]
        rows = db.all("SELECT DISTINCT s.host, e.kind, e.value FROM snapshots s "
                      "JOIN sightings g ON g.snapshot_id = s.id JOIN entities e ON e.id = g.entity_id "
                      f"WHERE s.host IN ({', '.join('?' * len(chunk))}) AND e.kind IN ({coins})",
                      [*chunk, *clustering.COINS])
        for row in rows:
            found.setdefault(row["host"], set()).add((row["kind"], row["value"]))
    return found
