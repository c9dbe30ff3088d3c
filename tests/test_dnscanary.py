"""The DNS canary itself: it must see every system lookup of a wrapped child.

These are the controls for the leak tests of the crawler: if the canary could
miss a lookup, "the canary recorded no .onion name" would prove nothing.  So
here a wrapped child *does* resolve names (ordinary, .onion, via Twisted and
asyncio) and each must show up; and the machine's own resolver configuration
must be untouched while that happens.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.components import needs, require
from tests.dnscanary import DnsCanary, isolated_command
from tests.dnscanary.isolate import NSSWITCH_CONF, REFUSED_EXIT
from tests.dnscanary.server import build_query, parse_query

# Generous: a child is a cold Python (plus Twisted) start and at most a few
# one-second resolver timeouts; a hang must fail the test, not the session.
CHILD_TIMEOUT = 60
ANSWERED = {"answered.example": "10.20.30.40", "twisted-answer.example": "10.9.8.7"}


@pytest.fixture
def canary() -> Iterator[DnsCanary]:
    require("dns-canary")
    with DnsCanary(answers=ANSWERED) as running:
        yield running


def run_isolated(
    code: str, canary: DnsCanary, workdir: Path, resolv_options: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    argv = isolated_command(
        [sys.executable, "-c", textwrap.dedent(code)], canary, workdir, resolv_options=resolv_options
    )
    return subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=CHILD_TIMEOUT, env=dict(os.environ))


def _lookup_code(*names: str, family: str = "AF_UNSPEC") -> str:
    # Prints one JSON line: name -> sorted addresses, or the gaierror text.
    return f"""
        import json, socket
        out = {{}}
        for name in {list(names)!r}:
            try:
                out[name] = sorted({{ai[4][0] for ai in socket.getaddrinfo(name, 80, socket.{family}, socket.SOCK_STREAM)}})
            except socket.gaierror as error:
                out[name] = "gaierror: " + str(error)
        print(json.dumps(out))
    """


def _last_json(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# -- the server on its own (no namespaces needed beyond binding port 53) ------


def _ask_udp(canary: DnsCanary, packet: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(packet, (canary.address, canary.port))
        return sock.recv(4096)


def _ask_tcp(canary: DnsCanary, *packets: bytes) -> list[bytes]:
    replies = []
    with socket.create_connection((canary.address, canary.port), timeout=5) as sock:
        for packet in packets:
            sock.sendall(struct.pack("!H", len(packet)) + packet)
            (length,) = struct.unpack("!H", _recv(sock, 2))
            replies.append(_recv(sock, length))
    return replies


def _recv(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "canary closed the connection early"
        data += chunk
    return data


def _rcode_and_a(reply: bytes) -> tuple[int, int, list[str]]:
    """(ident, rcode, A-record addresses) of a canary reply."""
    ident, flags, qdcount, ancount = struct.unpack_from("!HHHH", reply)
    assert flags & 0x8000, "not a response"
    # Skip the echoed question(s), then read answers (name is a 2-byte pointer).
    offset = 12
    for _ in range(qdcount):
        while reply[offset]:
            offset += 1 + reply[offset]
        offset += 1 + 4
    addresses = []
    for _ in range(ancount):
        rtype, _class, _ttl, rdlength = struct.unpack_from("!HHIH", reply, offset + 2)
        rdata = reply[offset + 12 : offset + 12 + rdlength]
        if rtype == 1:
            addresses.append(socket.inet_ntoa(rdata))
        offset += 12 + rdlength
    return ident, flags & 0x000F, addresses


def test_parse_query_reads_names_types_and_compression() -> None:
    query = parse_query(build_query("Abcdef.Onion.", qtype=28, ident=7))
    assert query.ident == 7
    assert [(q.name, q.qtype_name) for q in query.questions] == [("Abcdef.Onion", "AAAA")]
    # A second question that is only a pointer back to the first name (offset 12).
    packet = bytearray(build_query("a.example"))
    packet[4:6] = struct.pack("!H", 2)
    packet += b"\xc0\x0c" + struct.pack("!HH", 16, 1)
    assert [(q.name, q.qtype_name) for q in parse_query(bytes(packet)).questions] == [
        ("a.example", "A"), ("a.example", "TXT"),
    ]
    # A pointer loop must be rejected, not spin.
    looping = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c"
    with pytest.raises(ValueError):
        parse_query(looping)


@needs("dns-canary")
def test_canary_answers_and_records_udp_and_tcp() -> None:
    canary = DnsCanary(answers={"Known.Example.": "192.0.2.7"}).start()
    with canary:
        ident, rcode, addresses = _rcode_and_a(_ask_udp(canary, build_query("known.example", ident=11)))
        assert (ident, rcode, addresses) == (11, 0, ["192.0.2.7"])
        assert _rcode_and_a(_ask_udp(canary, build_query("unknown.onion", ident=12))) == (12, 3, [])
        # AAAA for an answered name: NOERROR, no data (so AF_UNSPEC lookups succeed).
        assert _rcode_and_a(_ask_udp(canary, build_query("known.example", qtype=28, ident=13))) == (13, 0, [])
        # Garbage is answered with FORMERR and not recorded, and the canary survives it.
        garbage = struct.pack("!HHHHHH", 14, 0, 1, 0, 0, 0) + b"\x3fabc"
        assert _rcode_and_a(_ask_udp(canary, garbage))[:2] == (14, 1)
        # TCP, two length-prefixed queries on one connection (as glibc does).
        replies = _ask_tcp(canary, build_query("KNOWN.example.", ident=21), build_query("x.i2p", qtype=28, ident=22))
        assert [_rcode_and_a(r) for r in replies] == [(21, 0, ["192.0.2.7"]), (22, 3, [])]
        assert canary.queries == [
            ("known.example", "A"), ("unknown.onion", "A"), ("known.example", "AAAA"),
            ("KNOWN.example", "A"), ("x.i2p", "AAAA"),
        ]
        assert canary.names == {"known.example", "unknown.onion", "x.i2p"}
        canary.reset()
        assert canary.queries == [] and canary.names == set()
    with pytest.raises(RuntimeError):
        canary.address  # noqa: B018 - stopped canaries have no address


@needs("dns-canary")
def test_two_canaries_get_different_addresses() -> None:
    # Parallel test sessions must not share (and split) one canary's queries.
    first = DnsCanary().start()
    with first, DnsCanary() as second:
        assert first.address != second.address
        _ask_udp(second, build_query("second.example"))
        assert first.names == set() and second.names == {"second.example"}


# -- wrapped children -------------------------------------------------------------


def test_positive_control_plain_lookup_reaches_canary(canary: DnsCanary, tmp_path: Path) -> None:
    out = _last_json(run_isolated(_lookup_code("leak-check.example"), canary, tmp_path))
    assert str(out["leak-check.example"]).startswith("gaierror"), out  # NXDOMAIN, not the real resolver's answer
    assert "leak-check.example" in canary.names
    assert ("leak-check.example", "A") in canary.queries


def test_answers_resolve_in_child_and_hosts_file_still_works(canary: DnsCanary, tmp_path: Path) -> None:
    code = _lookup_code("answered.example", "ANSWERED.example.", "localhost")
    out = _last_json(run_isolated(code, canary, tmp_path))
    assert out["answered.example"] == ["10.20.30.40"]
    assert out["ANSWERED.example."] == ["10.20.30.40"]
    assert "127.0.0.1" in out["localhost"]  # type: ignore[operator]
    # /etc/hosts answered localhost, so it never became a DNS query.
    assert "localhost" not in canary.names
    assert canary.names == {"answered.example"}


def test_tcp_lookups_reach_canary(canary: DnsCanary, tmp_path: Path) -> None:
    # use-vc makes glibc use TCP only: the canary must see those lookups too.
    code = _lookup_code("answered.example", "tcp-check.example", family="AF_INET")
    out = _last_json(run_isolated(code, canary, tmp_path, resolv_options=["use-vc"]))
    assert out["answered.example"] == ["10.20.30.40"]
    assert {"answered.example", "tcp-check.example"} <= canary.names


def _mounts_of(paths: tuple[str, ...]) -> list[str]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return sorted(line for line in lines if any(f" {p} " in line for p in paths))


def _fingerprint(path: str) -> tuple[bytes, int, int, int]:
    st = os.stat(path)
    return Path(path).read_bytes(), st.st_ino, st.st_size, st.st_mtime_ns


def test_machine_resolver_config_untouched_during_and_after(canary: DnsCanary, tmp_path: Path) -> None:
    watched = ("/etc/resolv.conf", "/etc/nsswitch.conf")
    before = {p: _fingerprint(p) for p in watched}
    mounts_before = _mounts_of(watched)
    code = """
        import sys
        for path in ('/etc/resolv.conf', '/etc/nsswitch.conf'):
            print(open(path).read().replace('\\n', '|'), flush=True)
        sys.stdin.readline()  # hold the namespace open while the parent looks
    """
    argv = isolated_command([sys.executable, "-c", textwrap.dedent(code)], canary, tmp_path)
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as child:
        # The child blocks on stdin by design: a watchdog turns any hang
        # (child never printing, a failed assert below) into a failure.
        watchdog = threading.Timer(CHILD_TIMEOUT, child.kill)
        watchdog.start()
        try:
            assert child.stdout is not None and child.stdin is not None
            seen_by_child = child.stdout.readline()
            assert f"nameserver {canary.address}" in seen_by_child, seen_by_child
            nsswitch_seen = child.stdout.readline()
            assert NSSWITCH_CONF.replace("\n", "|") in nsswitch_seen, nsswitch_seen
            # The child's view differs; ours (the machine's) must not.
            assert {p: _fingerprint(p) for p in watched} == before
            assert f"nameserver {canary.address}" not in Path("/etc/resolv.conf").read_text()
            assert _mounts_of(watched) == mounts_before
            child.stdin.write("\n")
            child.stdin.flush()
            assert child.wait(timeout=CHILD_TIMEOUT) == 0
        finally:
            watchdog.cancel()
            if child.poll() is None:
                child.kill()
    assert {p: _fingerprint(p) for p in watched} == before
    assert _mounts_of(watched) == mounts_before


def test_onion_and_i2p_lookups_are_recorded(canary: DnsCanary, tmp_path: Path) -> None:
    # What a leak looks like: the crawler must never produce these queries.
    out = _last_json(run_isolated(_lookup_code("abcdef.onion", "Some-Site.I2P"), canary, tmp_path))
    assert all(str(v).startswith("gaierror") for v in out.values()), out
    assert {"abcdef.onion", "some-site.i2p"} <= canary.names
    assert ("abcdef.onion", "A") in canary.queries


@pytest.mark.parametrize("reactor_name", ["default", "asyncio"])
def test_twisted_resolvers_are_caught(canary: DnsCanary, tmp_path: Path, reactor_name: str) -> None:
    # reactor.resolve -> ThreadedResolver (gethostbyname); reactor.nameResolver
    # -> GAIResolver (getaddrinfo), which TCP endpoints and Scrapy use.
    # "asyncio" is the reactor Scrapy installs by default.
    install = (
        "from twisted.internet import asyncioreactor; asyncioreactor.install()"
        if reactor_name == "asyncio" else "pass"
    )
    code = f"""
        import json
        {install}
        from twisted.internet import reactor
        from twisted.internet.interfaces import IResolutionReceiver
        from zope.interface import implementer

        results = {{}}

        def maybe_stop(_=None):
            if len(results) == 2 and reactor.running:
                reactor.stop()

        @implementer(IResolutionReceiver)
        class Receiver:
            def __init__(self):
                self.hosts = []
            def resolutionBegan(self, resolution):
                pass
            def addressResolved(self, address):
                self.hosts.append(address.host)
            def resolutionComplete(self):
                results["getaddrinfo"] = sorted(set(self.hosts))
                maybe_stop()

        d = reactor.resolve("twisted-check.example")
        d.addCallbacks(
            lambda ip: results.__setitem__("gethostbyname", ip),
            lambda failure: results.__setitem__("gethostbyname", failure.type.__name__),
        )
        d.addBoth(maybe_stop)
        reactor.nameResolver.resolveHostName(Receiver(), "twisted-answer.example", 80)
        reactor.callLater(20, reactor.stop)
        reactor.run()
        print(json.dumps({{"reactor": type(reactor).__name__, **results}}))
    """
    out = _last_json(run_isolated(code, canary, tmp_path))
    assert out["gethostbyname"] == "DNSLookupError", out
    assert out["getaddrinfo"] == ["10.9.8.7"], out
    if reactor_name == "asyncio":
        assert out["reactor"] == "AsyncioSelectorReactor"
    assert {"twisted-check.example", "twisted-answer.example"} <= canary.names


def test_asyncio_getaddrinfo_is_caught(canary: DnsCanary, tmp_path: Path) -> None:
    code = """
        import asyncio, json, socket

        async def main():
            loop = asyncio.get_running_loop()
            try:
                await loop.getaddrinfo("asyncio-check.example", 80)
                return "resolved"
            except socket.gaierror as error:
                return "gaierror"

        print(json.dumps({"asyncio": asyncio.run(main())}))
    """
    assert _last_json(run_isolated(code, canary, tmp_path)) == {"asyncio": "gaierror"}
    assert "asyncio-check.example" in canary.names


def test_command_does_not_run_if_isolation_fails(canary: DnsCanary, tmp_path: Path) -> None:
    # Fail closed: if a bind mount fails the command must not run unisolated.
    sentinel = tmp_path / "ran"
    argv = isolated_command(["touch", str(sentinel)], canary, tmp_path)
    resolv_arg = argv.index(str(tmp_path / "dnscanary-etc" / "resolv.conf"))
    argv[resolv_arg] = str(tmp_path / "missing" / "resolv.conf")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=CHILD_TIMEOUT)
    assert proc.returncode != 0
    assert not sentinel.exists(), "command ran although the resolver was not replaced"


def test_wrapper_refuses_to_mount_in_the_callers_namespace(canary: DnsCanary, tmp_path: Path) -> None:
    # If the unshare prefix were lost, the bind mounts would hit the whole
    # machine's /etc/resolv.conf.  Prove the wrapper script refuses to mount
    # when its namespace is the caller's -- exercised inside a throwaway
    # namespace (which then plays "the caller"), so that even a broken guard
    # cannot touch the real machine.
    sentinel = tmp_path / "ran"
    argv = isolated_command(["touch", str(sentinel)], canary, tmp_path)
    split = argv.index("-c") - 1
    unshare_prefix, inner = argv[:split], argv[split:]  # inner: sh -c SCRIPT $0 CALLER_NS resolv nsswitch cmd...
    relaunch = 'sh_=$1; script=$3; name=$4; shift 5; exec "$sh_" -c "$script" "$name" "$(readlink /proc/self/ns/mnt)" "$@"'
    outer = [*unshare_prefix, "sh", "-c", relaunch, "outer", *inner]
    before = Path("/etc/resolv.conf").read_bytes()
    proc = subprocess.run(outer, capture_output=True, text=True, timeout=CHILD_TIMEOUT)
    assert proc.returncode == REFUSED_EXIT, proc.stdout + proc.stderr
    assert "refusing to mount" in proc.stderr
    assert not sentinel.exists()
    assert Path("/etc/resolv.conf").read_bytes() == before


def test_extra_arguments_reach_the_command(canary: DnsCanary, tmp_path: Path) -> None:
    # conftest.run_crawl appends arguments to `command`; they must arrive intact.
    argv = isolated_command([sys.executable, "-c", "import sys, json; print(json.dumps(sys.argv[1:]))"], canary, tmp_path)
    tricky = ["-s", "A=b c", "$HOME", "'quoted'", ""]
    proc = subprocess.run([*argv, *tricky], capture_output=True, text=True, timeout=CHILD_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == tricky
