import os
import signal
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from darkcrawl.storage import paths
from darkcrawl.storage.atomic import AppendLog, atomic_write
from darkcrawl.storage.datauri import decode_data_uri

WHEN = datetime(2026, 11, 23, 12, 59, 16, 123456, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("example.com", "example.com"),
        ("example.com:8080", "example.com_8080"),
        ("[::1]:8080", "___1__8080"),
        ("USK@abc,def~x", "USK@abc,def~x"),
        ("..", "_.."),
        ("a/b\\c", "a_b_c"),
    ],
)
def test_host_dirname(host, expected):
    assert paths.host_dirname(host) == expected


@pytest.mark.parametrize(
    ("content_type", "suffix"),
    [
        ("text/html; charset=utf-8", "_raw.html"),
        ("application/xhtml+xml", "_raw.html"),
        ("application/pdf", "_raw.pdf"),
        ("image/png", "_raw.png"),
        ("image/jpeg", "_raw.jpg"),
        ("text/plain", "_raw.txt"),
        ("application/x-unknown-thing", "_raw.dat"),
        ("", "_raw.dat"),
    ],
)
def test_document_name(content_type, suffix):
    name = paths.document_name("http://a.org/", WHEN, content_type)
    assert name == f"{paths.url_hash('http://a.org/')}_20261123T125916.123456Z{suffix}"


def test_host_files_layout():
    assert str(paths.host_base("tor", "http", "x.onion")) == "tor/http/x.onion"
    assert str(paths.host_file_path("robots", "http://a.org/robots.txt", "clearnet", "http", "a.org:81")) == (
        "clearnet/http/a.org_81/robots.txt"
    )
    assert paths.host_file_path("sitemap", "http://a.org/s.xml", "clearnet", "http", "a.org").name == (
        f"sitemap_{paths.url_hash('http://a.org/s.xml')}.xml"
    )


def test_timestamp_has_no_colons_and_is_utc():
    local = WHEN.astimezone()
    assert paths.timestamp_token(local) == "20261123T125916.123456Z"


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "deep" / "dir" / "f.bin"
    atomic_write(target, b"one")
    atomic_write(target, b"two!")
    assert target.read_bytes() == b"two!"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.bin"]


def test_append_log_repairs_a_torn_tail(tmp_path):
    path = tmp_path / "link.csv"
    path.write_bytes(b"h\nrow1\nrow2-torn")
    log = AppendLog(path, header=b"h\n")
    log.append(b"row3\n")
    log.close()
    assert path.read_bytes() == b"h\nrow1\nrow3\n"


def test_append_log_writes_header_once(tmp_path):
    path = tmp_path / "x.csv"
    for _ in range(2):
        log = AppendLog(path, header=b"h\n")
        log.append(b"r\n")
        log.close()
    assert path.read_bytes() == b"h\nr\nr\n"


def test_kill_9_never_tears_a_row(tmp_path):
    """A writer killed while appending leaves only whole rows behind."""
    path = tmp_path / "rows.csv"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from darkcrawl.storage.atomic import AppendLog\n"
        "log = AppendLog(Path(sys.argv[1]))\n"
        "row = (b'x' * 3000) + b'\\n'\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    log.append(row)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.stdout.readline() == b"ready\n"
    while not path.exists() or path.stat().st_size < 3_000_000:
        pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the kernel may have stopped the last write part-way; the next open cuts it off
    after = AppendLog(path)
    after.append(b"y" * 3000 + b"\n")
    after.close()
    data = path.read_bytes()
    assert data.endswith(b"\n")
    lines = data.split(b"\n")[:-1]
    assert lines[-1] == b"y" * 3000
    assert all(line == b"x" * 3000 for line in lines[:-1])


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("data:text/plain;base64,SGVsbG8gZGFya2NyYXdsIQ==", ("text/plain", b"Hello darkcrawl!")),
        ("data:,Hello%20World", ("text/plain", b"Hello World")),
        ("DATA:image/png;base64,iVBORw0KGgo", ("image/png", b"\x89PNG\r\n\x1a\n")),
        ("data:text/html;charset=utf-8,%3Cb%3Ex%3C%2Fb%3E", ("text/html", b"<b>x</b>")),
        ("data:no-comma", None),
        ("http://x/", None),
    ],
)
def test_decode_data_uri(uri, expected):
    assert decode_data_uri(uri) == expected
