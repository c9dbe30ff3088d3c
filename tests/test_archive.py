"""The archive (DARKCRAWL_WARC): WARC files of both stages, WACZ packages, replayed in
pywb and opened in Chromium; byte-exact plain-stage records; a killed crawl's WARCs."""

from __future__ import annotations

import asyncio
import gzip
import os
import signal
import subprocess
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from darkcrawl.archive import records
from darkcrawl.archive.crawl import network_fields
from darkcrawl.archive.wacz import package, resource_name, select_round
from darkcrawl.archive.writer import Dedup, WarcWriter, complete_length, seal
from darkcrawl.storage.paths import WARC_NAME, warc_name
from tests.archiveweb import CHUNKS, RESPONSES, ArchiveWeb
from tests.components import chromium_path, needs
from tests.conftest import crawl_argv
from tests.harness.service import wait_until
from tests.replay import Pywb, tool

ROOT = Path(__file__).resolve().parent.parent
WARC = {"DARKCRAWL_WARC": 1}


def warc_records(folder: Path) -> list[tuple[str, dict[str, str], bytes]]:
    """(type, WARC headers, block) of every record of every WARC file under *folder*."""
    out = []
    for path in sorted(folder.rglob("*.warc.gz")):
        with open(path, "rb") as handle:
            for record in ArchiveIterator(handle, no_record_parse=True):
                out.append((record.rec_type, dict(record.rec_headers.headers), record.raw_stream.read()))
    return out


def by_uri(found: list[tuple[str, dict[str, str], bytes]], kind: str, uri: str) -> list[tuple[dict[str, str], bytes]]:
    return [(headers, block) for rec_type, headers, block in found
            if rec_type == kind and headers.get("WARC-Target-URI") == uri]


def fields_of(block: bytes) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in block.decode().splitlines():
        name, _, value = line.partition(": ")
        out.setdefault(name, []).append(value)
    return out


# -- pure parts --------------------------------------------------------------------


def test_warc_names_differ_per_process_and_parse_back():
    when = datetime(2026, 12, 7, 6, 15, 0, 123456, tzinfo=timezone.utc)
    one, two = warc_name("darkcrawl", when, 1, 100, "box-1"), warc_name("darkcrawl", when, 1, 101, "box-1")
    assert one == "darkcrawl-20261207061500123-00001-100-box-1.warc.gz" and one != two
    parts = WARC_NAME.search(one + ".open")
    assert (parts["pid"], parts["host"], parts["serial"]) == ("100", "box-1", "00001")


@pytest.mark.parametrize(("path", "name"), [
    ("archive/darkcrawl-20261207061500123-00001-100-Box~1.warc.gz",
     "darkcrawl-20261207061500123-00001-100-box-1.warc.gz"),
    ("indexes/index.cdx.gz", "index.cdx.gz"),
])
def test_resource_names_fit_a_data_package(path, name):
    assert resource_name(path) == name


@pytest.mark.parametrize(("network", "proxy", "host", "via", "expected"), [
    ("tor", "socks5h://127.0.0.1:9050", "abc.onion", "http://x/", [
        ("stage", "plain"), ("network", "tor"), ("proxy", "socks5h://127.0.0.1:9050"),
        ("onion-address", "abc.onion"), ("via", "http://x/")]),
    ("i2p", "http://127.0.0.1:4444", "site.i2p", None, [
        ("stage", "plain"), ("network", "i2p"), ("proxy", "http://127.0.0.1:4444"), ("i2p-address", "site.i2p")]),
    ("clearnet", None, "example.org", None, [
        ("stage", "plain"), ("network", "clearnet"), ("proxy", "none (direct)")]),
])
def test_network_fields(network, proxy, host, via, expected):
    assert network_fields("plain", network, proxy, host, via) == expected


def test_metadata_values_cannot_forge_fields():
    assert records.warc_fields([("title", "a\r\nvia: http://evil/")]) == b"title: a  via: http://evil/\r\n"


def _write(folder: Path, count: int, dedup: bool = True, max_size: int = 10**9) -> list[Path]:
    writer = WarcWriter(folder, "t", max_size, [("software", "test")], Dedup(dedup), "host")
    for i in range(count):
        uri, date, rid = f"http://h/{i}", records.warc_date(), records.record_id()
        body = b"<p>same</p>"
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
        assert writer.write_batch([lambda d, uri=uri, date=date, rid=rid, head=head, body=body: [
            records.revisit_record(uri, date, rid, head, records.sha1_digest(body), seen)
            if (seen := d.seen(records.sha1_digest(body), rid, uri, date))
            else records.response_record(uri, date, rid, head, body, records.sha1_digest(body))]]) == [None]
    return writer.close()


def test_the_writer_process_writes_jobs_keeps_revisits_and_says_when_a_record_is_on_disk(tmp_path):
    """The crawl's writer: jobs pickled to a process of its own (the crawl's thread
    keeps the GIL), payload digests remembered there, a waited job told once written."""
    import os
    from functools import partial

    from darkcrawl.archive.jobs import exchange_records, metadata_records
    from darkcrawl.archive.writer_process import WarcWriterProcess

    writer = WarcWriterProcess(tmp_path, "t", 10**9, [("software", "test")], Dedup(True), "host")
    body = b"<p>same</p>"
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    rids = []
    for i in range(3):
        rid = records.record_id()
        rids.append(rid)
        writer.submit(partial(exchange_records, f"http://h/{i}", records.warc_date(), rid,
                              b"GET / HTTP/1.1\r\n\r\n", head, body, 200, [], None))
    done = writer.submit(partial(metadata_records, "http://h/0", records.warc_date(), [("title", "t")], rids[0]),
                         wait=True)
    done.result(timeout=30)  # on disk: readable while the file is still open
    [open_file] = list(tmp_path.glob("*.open"))
    with open(open_file, "rb") as handle:
        assert [r.rec_type for r in ArchiveIterator(handle)][-1] == "metadata"
    files = writer.close()
    assert len(files) == 1 and not list(tmp_path.glob("*.open"))
    kinds = [kind for kind, _, _ in warc_records(tmp_path)]
    assert kinds == ["warcinfo", "response", "request", "revisit", "request", "revisit", "request", "metadata"]
    assert writer.records == 8 and writer.bytes == files[0].stat().st_size
    assert f"-{os.getpid()}-host." in files[0].name  # named after the crawl's process, not the writer's


def test_a_dead_writer_process_fails_its_waiters_and_never_hangs_the_crawl(tmp_path):
    """The writer process killed (the OOM killer, a bug): a crawl with more captures than
    the queue holds neither blocks on the full queue nor waits forever for a record."""
    import threading
    from functools import partial

    from darkcrawl.archive.jobs import metadata_records
    from darkcrawl.archive.writer_process import QUEUE_SIZE, WarcWriterProcess

    writer = WarcWriterProcess(tmp_path, "t", 10**9, [("software", "test")], Dedup(True), "host")
    writer._process.kill()
    writer._process.join(10)
    # a page waiting for its records learns at once, not when the crawl closes
    first = writer.submit(partial(metadata_records, "http://h/first", records.warc_date(), [], None), wait=True)
    assert isinstance(first.exception(timeout=10), OSError)
    futures = []

    def crawl() -> None:
        for i in range(QUEUE_SIZE + 8):  # no event loop here: one batch a job, past the queue's size
            futures.append(writer.submit(partial(metadata_records, f"http://h/{i}", records.warc_date(),
                                                 [("title", "t")], None), wait=True))
        writer.close()

    worker = threading.Thread(target=crawl, daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the crawl hangs on a dead writer"
    assert len(futures) == QUEUE_SIZE + 8
    assert all(f.done() and isinstance(f.exception(), OSError) for f in futures)


def test_writer_rotates_and_every_file_starts_with_warcinfo(tmp_path):
    files = _write(tmp_path, 40, max_size=2000)
    assert len(files) > 1
    for path in files:
        with open(path, "rb") as handle:
            assert next(iter(ArchiveIterator(handle))).rec_type == "warcinfo"
    kinds = [kind for kind, _, _ in warc_records(tmp_path)]
    assert kinds.count("response") == 1 and kinds.count("revisit") == 39


def test_revisits_can_be_switched_off(tmp_path):
    _write(tmp_path, 3, dedup=False)
    assert [kind for kind, _, _ in warc_records(tmp_path)].count("response") == 3


def test_a_torn_last_record_is_cut_and_the_rest_kept(tmp_path):
    [path] = _write(tmp_path, 5)
    whole = path.stat().st_size
    torn = path.with_name(path.name + ".open")
    torn.write_bytes(path.read_bytes()[:-7])  # a write cut short by a kill
    path.unlink()
    good = complete_length(torn)
    assert 0 < good < whole - 7
    sealed = seal(torn)
    assert sealed.stat().st_size == good and not torn.exists()
    with open(sealed, "rb") as handle:
        assert len(list(ArchiveIterator(handle))) == 5  # warcinfo + 4 of the 5


def test_rounds_are_told_apart_by_their_warcinfo(tmp_path):
    old = WarcWriter(tmp_path, "t", 10**9, [("darkcrawl-round", "20261201000000")], Dedup(True), "h")
    new = WarcWriter(tmp_path, "t", 10**9, [("darkcrawl-round", "20261207000000")], Dedup(True), "h", pid=1)
    for writer in (old, new):
        writer.write_batch([lambda d: [records.resource_record("urn:x", records.warc_date(), "text/plain", b"x")]])
    files = old.close() + new.close()
    assert select_round(files, "latest") == ("20261207000000", files[1:])
    assert select_round(files, "20261201000000") == ("20261201000000", files[:1])


# -- a crawl, its WARC files, its WACZ -------------------------------------------------


def test_plain_stage_records_are_the_bytes_on_the_wire(crawl):
    with ArchiveWeb() as site:
        base = f"http://127.0.0.1:{site.port}"
        result = crawl("-a", f"urls={base}/", settings=WARC)
    assert result.returncode == 0, result.log[-3000:]
    found = warc_records(result.data / "archive" / "warc")
    for path in ("/", "/gzip.html", "/chunked.html", "/odd.html", "/original.html", "/moved", "/robots.txt"):
        responses = by_uri(found, "response", base + path)  # robots.txt: the bootstrap's and the rules'
        assert responses and all(block == RESPONSES[path] for _, block in responses), path
        headers, block = responses[0]  # status line, header spelling, gzip, chunk framing: as sent
        assert headers["WARC-Payload-Digest"] == records.sha1_digest(block.split(b"\r\n\r\n", 1)[1])
        requests = by_uri(found, "request", base + path)  # /original.html twice: also reached by /moved
        assert all(sent.startswith(f"GET {path} HTTP/1.1\r\n".encode()) for _, sent in requests)
        assert headers["WARC-Record-ID"] in {request["WARC-Concurrent-To"] for request, _ in requests}
    assert CHUNKS[1] in by_uri(found, "response", base + "/chunked.html")[0][1]
    # /copy.html is /original.html byte for byte: a revisit naming it
    [(revisit, head)] = by_uri(found, "revisit", base + "/copy.html")
    [(original, _)] = by_uri(found, "response", base + "/original.html")
    assert revisit["WARC-Refers-To"] == original["WARC-Record-ID"]
    assert revisit["WARC-Refers-To-Target-URI"] == base + "/original.html"
    assert revisit["WARC-Profile"].endswith("/revisit/identical-payload-digest") and head.endswith(b"\r\n\r\n")
    # what only darkcrawl knows, concurrent to the response
    [(meta, block)] = by_uri(found, "metadata", base + "/")
    [(index, _)] = by_uri(found, "response", base + "/")
    fields = fields_of(block)
    assert meta["WARC-Concurrent-To"] == index["WARC-Record-ID"]
    assert fields["network"] == ["clearnet"] and fields["title"] == ["Archive test index"]
    assert fields["page"] == ["yes"] and fields["proxy"] == ["none (direct)"]
    [(hop, hop_block)] = by_uri(found, "metadata", base + "/moved")
    assert fields_of(hop_block)["redirect-to"] == ["/original.html"]
    checked = subprocess.run([sys.executable, "-m", "warcio.cli", "check", "-v",
                              *map(str, (result.data / "archive" / "warc").glob("*.warc.gz"))],
                             capture_output=True, text=True)
    assert checked.returncode == 0 and "digest pass" in checked.stdout, checked.stdout


def test_failures_are_metadata_records(crawl):
    with ArchiveWeb() as site:
        dead = site.port
    result = crawl("-a", f"urls=http://127.0.0.1:{dead}/", settings={**WARC, "RETRY_TIMES": 0})
    found = warc_records(result.data / "archive" / "warc")
    [(_, block)] = by_uri(found, "metadata", f"http://127.0.0.1:{dead}/")
    fields = fields_of(block)
    assert fields["stage"] == ["plain"] and fields["error"] == ["ConnectionRefused"]
    assert "refused" in fields["failure"][0]


def test_warc_off_writes_no_archive(crawl):
    with ArchiveWeb() as site:
        result = crawl("-a", f"urls=http://127.0.0.1:{site.port}/")
    assert result.returncode == 0 and not (result.data / "archive").exists()


async def _content_frame(page):
    """The replayed document: pywb shows it in a frame under its banner."""
    for _ in range(200):
        frame = next((f for f in page.frames if "mp_/" in f.url), None)
        if frame is not None:
            return frame
        await asyncio.sleep(0.05)
    raise AssertionError(f"no replay frame in {page.url}")


async def _replayed(pywb: Pywb, urls: list[str]) -> dict[str, dict[str, object]]:
    """Each URL replayed in Chromium: its text, its images' natural widths, its links."""
    from playwright.async_api import async_playwright

    seen: dict[str, dict[str, object]] = {}
    async with async_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=args)
        page = await browser.new_page()
        for url in urls:
            await page.goto(pywb.url(url))
            frame = await _content_frame(page)
            await frame.wait_for_load_state("load")
            seen[url] = await frame.evaluate("""() => ({
                text: document.body.innerText,
                images: [...document.images].map(i => i.complete ? i.naturalWidth : -1),
                links: [...document.links].map(a => a.id + ' ' + a.textContent),
            })""")
        await browser.close()
    return seen


def _replay(tmp_path: Path, wacz: Path, urls: list[str]) -> dict[str, dict[str, object]]:
    validated = tool("wacz", "validate", "-f", str(wacz))
    assert validated.returncode == 0 and "is valid" in validated.stdout, validated.stdout
    with Pywb(tmp_path / "pywb", wacz) as pywb:
        return asyncio.run(_replayed(pywb, urls))


@needs("chromium", "pywb")
def test_a_rendered_crawl_replays_in_pywb(crawl, tmp_path):
    with ArchiveWeb() as site:
        base = f"http://127.0.0.1:{site.port}"
        result = crawl("-a", f"urls={base}/", settings={**WARC, "DARKCRAWL_RENDER": 1}, timeout=240)
    assert result.returncode == 0, result.log[-3000:]
    # the site is gone: what follows comes from the archive alone
    [wacz] = result.files("archive/*.wacz")
    with zipfile.ZipFile(wacz) as package_file:
        names = set(package_file.namelist())
        pages = package_file.read("pages/pages.jsonl").decode()
    assert {"datapackage.json", "datapackage-digest.json", "indexes/index.cdx.gz", "pages/pages.jsonl"} <= names
    assert '"title": "Archive test index"' in pages and '"title": "Chunked"' in pages
    found = warc_records(result.data / "archive" / "warc")
    assert by_uri(found, "resource", f"urn:fullPage:{base}/")[0][1].startswith(b"\x89PNG")
    assert b"made by javascript" in by_uri(found, "resource", f"urn:dom:{base}/")[0][1]
    assert by_uri(found, "response", f"{base}/js-made.html")  # the link only the render found
    seen = _replay(tmp_path, wacz, [f"{base}/", f"{base}/gzip.html", f"{base}/chunked.html", f"{base}/copy.html"])
    index = seen[f"{base}/"]
    assert "The quick brown fox was archived here." in index["text"]
    assert index["images"] == [2]  # the PNG, decoded
    assert "jslink made by javascript" in index["links"]  # the page's script ran from the archive
    assert "sent compressed" in seen[f"{base}/gzip.html"]["text"]
    assert "in three chunks" in seen[f"{base}/chunked.html"]["text"]
    assert "twice the same" in seen[f"{base}/copy.html"]["text"]  # a revisit, resolved


@needs("chromium", "pywb")
def test_an_onion_crawl_replays_in_pywb(tor_network, crawl, tmp_path):
    main = tor_network.onions[0]
    result = crawl("-a", f"urls={main.url}", timeout=300, settings={
        **WARC, "DARKCRAWL_RENDER": 1, "TOR_PORT": tor_network.socks_port, "TOR_CTRL": tor_network.control_port,
        "DARC_TOR": 0, "DARKCRAWL_TOR_POOL": 1, "DOWNLOAD_TIMEOUT": 60}, env={"DARKCRAWL_ALLOW_LOOPBACK": "0"})
    assert result.returncode == 0, result.log[-3000:]
    found = warc_records(result.data / "archive" / "warc")
    [fields] = [f for f in map(fields_of, (b for _, b in by_uri(found, "metadata", main.url)))
                if f["stage"] == ["plain"]]
    assert fields["network"] == ["tor"] and fields["onion-address"] == [main.address]
    assert fields["proxy"] == [f"socks5h://127.0.0.1:{tor_network.socks_port}"]
    [wacz] = result.files("archive/*.wacz")
    seen = _replay(tmp_path, wacz, [main.url, f"http://{main.address}/b.html"])
    assert "tornet main site" in seen[main.url]["text"]
    assert any("other onion" in link for link in seen[f"http://{main.address}/b.html"]["links"])


def test_a_killed_crawl_leaves_valid_warcs_and_scrapy_wacz_packages_them(tmp_path):
    with ArchiveWeb() as site:
        argv = crawl_argv(tmp_path, "-a", f"urls=http://127.0.0.1:{site.port}/",
                          settings={**WARC, "DARC_REBOOT": 0, "TIME_CACHE": 0.5, "DARC_WAIT": 0.5})
        process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env={**os.environ, "DARKCRAWL_ALLOW_LOOPBACK": "1"})
        folder = tmp_path / "data" / "archive" / "warc"
        try:  # a continuous crawl: it re-visits the site until it is killed
            assert wait_until(lambda: any(f.stat().st_size > 20_000 for f in folder.glob("*.open")), 120)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    [left] = folder.glob("*.warc.gz.open")
    assert complete_length(left) == left.stat().st_size or complete_length(left) > 0
    with open(left, "rb") as handle:
        read = list(_complete_records(handle, complete_length(left)))
    assert read[0] == "warcinfo" and "response" in read and "metadata" in read
    packaged = subprocess.run([sys.executable, "-m", "scrapy", "wacz", "-s", f"PATH_DATA={tmp_path / 'data'}"],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert packaged.returncode == 0, packaged.stdout + packaged.stderr
    [wacz] = (tmp_path / "data" / "archive").glob("*.wacz")
    with zipfile.ZipFile(wacz) as package_file:
        assert any(n.startswith("archive/") and n.endswith(".warc.gz") for n in package_file.namelist())


def _complete_records(handle, length: int):
    from io import BytesIO

    for record in ArchiveIterator(BytesIO(handle.read(length))):
        yield record.rec_type


def test_scrapy_wacz_merges_workers_folders(tmp_path):
    folders = []
    with ArchiveWeb() as site:
        for worker in ("w1", "w2"):
            data = tmp_path / worker
            argv = crawl_argv(tmp_path / f"{worker}-run", "-a", f"urls=http://127.0.0.1:{site.port}/",
                              settings={**WARC, "PATH_DATA": data, "DARKCRAWL_WACZ": 0})
            (tmp_path / f"{worker}-run").mkdir()
            done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=180,
                                  env={**os.environ, "DARKCRAWL_ALLOW_LOOPBACK": "1"})
            assert done.returncode == 0, done.stderr[-2000:]
            folders.append(data)
    output = tmp_path / "fleet.wacz"
    merged = subprocess.run([sys.executable, "-m", "scrapy", "wacz", *map(str, folders), "-o", str(output)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    with zipfile.ZipFile(output) as package_file:
        warcs = [n for n in package_file.namelist() if n.startswith("archive/")]
        index = gzip.decompress(package_file.read("indexes/index.cdx.gz")).decode()
    assert len(warcs) == 2 and len({WARC_NAME.search(n)["pid"] for n in warcs}) == 2
    assert all(n.split("/", 1)[1] in index for n in warcs)  # both workers' records are indexed


def test_package_of_nothing_says_so(tmp_path):
    with pytest.raises(ValueError, match="no WARC record"):
        package([], tmp_path / "x.wacz")
    assert not (tmp_path / "x.wacz").exists()
