"""WACZ 1.1.1 packages of darkcrawl's WARC files (what ReplayWeb.page and pywb open).

A WACZ is a ZIP (WARCs *stored*, so a replayer reads a record by range):

* ``archive/<name>.warc.gz``: the WARC files, each one whole, or -- a file still
  being written, or left open by a killed crawl -- up to its last complete record;
* ``indexes/index.cdx.gz`` + ``indexes/index.idx``: the CDXJ index made by
  ``cdxj-indexer`` (sorted, gzipped in blocks of 1,024 lines, with its
  ``.idx`` of block offsets: the layout py-wacz writes);
* ``pages/pages.jsonl``: one line per page (URL, capture time, title), taken from
  the pages' metadata records, so a package of a fleet's WARC files lists every
  worker's pages;
* ``datapackage.json`` (every file's SHA-256 and size) and
  ``datapackage-digest.json`` (the SHA-256 of datapackage.json).

py-wacz's own ``create`` is not used: it finds pages by reading every HTML
response (we know them), names WARCs by their base name only, prints to standard
output, and brings a data-package validator (frictionless and its dependencies)
into the crawler's environment; ``wacz validate`` checks these packages in the tests.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import zipfile
from collections.abc import Iterable
from datetime import datetime, timezone
from io import BytesIO, TextIOWrapper
from pathlib import Path
from typing import Any

import darkcrawl
from darkcrawl.archive.writer import complete_length
from darkcrawl.storage.paths import ARCHIVE_DIR, OPEN_SUFFIX, WARC_DIR, wacz_name

logger = logging.getLogger(__name__)

WACZ_VERSION = "1.1.1"
#: CDXJ lines per gzip block of index.cdx.gz (py-wacz's and ArchiveWeb.page's)
INDEX_BLOCK_LINES = 1024
_COPY = 1 << 20
_NAME_UNSAFE = re.compile(r"[^-a-z0-9._/]")


def resource_name(path: str) -> str:
    """A data package's resource name (``^[-a-z0-9._/]+$``) for a file of the package."""
    return _NAME_UNSAFE.sub("-", os.path.basename(path).lower())


class _Hashing:
    """A writable that counts and hashes what goes through it."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()

    def resource(self, path: str) -> dict[str, Any]:
        return {"name": resource_name(path), "path": path,
                "hash": "sha256:" + self.sha256.hexdigest(), "bytes": self.size}


def _staged(warcs: Iterable[Path], scratch: Path) -> list[tuple[str, Path]]:
    """(name in the package, file to read) per WARC: a file still open is cut at its
    last complete record into *scratch*; a name met twice is taken once."""
    out: list[tuple[str, Path]] = []
    names: set[str] = set()
    for path in sorted(warcs, key=lambda p: p.name):
        name = path.name.removesuffix(OPEN_SUFFIX)
        if name in names:
            continue
        names.add(name)
        if path.name.endswith(OPEN_SUFFIX):
            length = complete_length(path)
            if not length:
                continue
            copy = scratch / name
            with open(path, "rb") as source, open(copy, "wb") as target:
                _copy(source, target, length)
            path = copy
        out.append((name, path))
    return out


def _copy(source: Any, target: Any, length: int | None = None) -> None:
    left = length
    while left is None or left > 0:
        chunk = source.read(_COPY if left is None else min(_COPY, left))
        if not chunk:
            return
        target.write(chunk)
        if left is not None:
            left -= len(chunk)


def _entry(package: zipfile.ZipFile, path: str, compress: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, datetime.now(timezone.utc).timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    return info


def package(warcs: Iterable[Path], output: Path, title: str = "", description: str = "") -> dict[str, Any]:
    """Write the WACZ of *warcs* to *output* (atomically); its datapackage."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".wacz-") as scratch:
        staged = _staged(warcs, Path(scratch))
        if not staged:
            raise ValueError("no WARC record to package")
        partial = output.with_name(output.name + ".part")
        with zipfile.ZipFile(partial, "w", allowZip64=True) as zipped:
            resources = _write_contents(zipped, staged)
            datapackage = {
                "profile": "data-package", "resources": resources, "wacz_version": WACZ_VERSION,
                "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "software": f"darkcrawl {darkcrawl.__version__}",
                "title": title or output.stem, "description": description,
            }
            body = json.dumps(datapackage, indent=2).encode("utf-8")
            zipped.writestr(_entry(zipped, "datapackage.json", True), body)
            digest = {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(body).hexdigest()}
            zipped.writestr(_entry(zipped, "datapackage-digest.json", True), json.dumps(digest, indent=2))
        os.replace(partial, output)
    return datapackage


def _write_contents(zipped: zipfile.ZipFile, staged: list[tuple[str, Path]]) -> list[dict[str, Any]]:
    from darkcrawl.archive.page_index import PageIndexer  # here: cdxj-indexer takes ~0.3 s to import

    resources: list[dict[str, Any]] = []
    for name, path in staged:
        with open(path, "rb") as source, zipped.open(_entry(zipped, f"archive/{name}", False), "w") as target:
            hashing = _Hashing(target)
            _copy(source, hashing)
        resources.append(hashing.resource(f"archive/{name}"))
    block_index = BytesIO()
    with zipped.open(_entry(zipped, "indexes/index.cdx.gz", False), "w") as target:
        hashing = _Hashing(target)
        indexer = PageIndexer(TextIOWrapper(block_index, "utf-8", write_through=True), [str(p) for _, p in staged],
                               sort=True, post_append=True, compress=hashing, lines=INDEX_BLOCK_LINES,
                               data_out_name="index.cdx.gz")
        indexer.process_all()
    resources.append(hashing.resource("indexes/index.cdx.gz"))
    for path, data in (("indexes/index.idx", block_index.getvalue()), ("pages/pages.jsonl", _pages(indexer.pages))):
        zipped.writestr(_entry(zipped, path, True), data)
        resources.append({"name": resource_name(path), "path": path,
                          "hash": "sha256:" + hashlib.sha256(data).hexdigest(), "bytes": len(data)})
    return resources


def _pages(pages: dict[tuple[str, str], dict[str, str]]) -> bytes:
    lines = [json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "All Pages"})]
    lines += [json.dumps(page, ensure_ascii=False) for _, page in sorted(pages.items(), key=lambda kv: kv[0][1])]
    return ("\n".join(lines) + "\n").encode("utf-8")


def warc_files(folders: Iterable[Path]) -> list[Path]:
    """Every WARC file (closed, or still open) under *folders*."""
    found: list[Path] = []
    for folder in folders:
        for pattern in ("*.warc.gz", f"*.warc.gz{OPEN_SUFFIX}"):
            found += folder.rglob(pattern)
    return found


def package_round(root: Path, prefix: str, round_id: str, files: list[Path]) -> Path:
    """The WACZ of one round's files: ``PATH_DATA/archive/<prefix>-<round>.wacz``."""
    output = root / ARCHIVE_DIR / wacz_name(prefix, round_id)
    package(files, output, title=f"{prefix} round {round_id}",
            description=f"darkcrawl crawl {prefix}, round started {round_id} UTC, WARCs under {root / WARC_DIR}")
    logger.info("archive: %s (%d WARC files)", output, len(files))
    return output


def file_round(path: Path) -> str | None:
    """The round a WARC file's warcinfo record names (``darkcrawl-round``), or None."""
    from warcio.archiveiterator import ArchiveIterator

    try:
        with open(path, "rb") as handle:
            for record in ArchiveIterator(handle):
                if record.rec_type != "warcinfo":
                    return None
                for line in record.content_stream().read().decode("utf-8", "replace").splitlines():
                    name, _, value = line.partition(": ")
                    if name == "darkcrawl-round":
                        return value.strip()
                return None
    except Exception:  # a file torn before its first record ends
        return None
    return None


def select_round(files: list[Path], wanted: str) -> tuple[str, list[Path]]:
    """The files of round *wanted* (``latest``: the newest round found)."""
    rounds = {path: file_round(path) for path in files}
    if wanted == "latest":
        known = sorted(r for r in rounds.values() if r)
        if not known:
            return wanted, []
        wanted = known[-1]
    return wanted, [path for path, found in rounds.items() if found == wanted]
