import socket
import threading

import pytest

from darkcrawl.networks.socks import reply_reason, socks5_reply_code


@pytest.mark.parametrize(
    ("code", "reason"),
    [(0x00, "succeeded"), (0x05, "connection refused (the service does not expose this port)"),
     (0xF0, "onion service descriptor not found (unpublished or gone)"), (0xF6, "malformed onion address"),
     (0xAB, "SOCKS reply code 0xab")],
)
def test_reply_reasons(code, reason):
    assert reply_reason(code) == reason


def test_reply_code_is_read_from_a_socks5_server():
    """A one-shot SOCKS5 server that checks the request carries the *name* (ATYP 3)."""
    server = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            assert conn.recv(3) == b"\x05\x01\x00"
            conn.sendall(b"\x05\x00")
            seen.append(conn.recv(300))
            conn.sendall(b"\x05\xf2\x00\x01" + bytes(6))

    thread = threading.Thread(target=serve)
    thread.start()
    code = socks5_reply_code("127.0.0.1", server.getsockname()[1], "abc.onion", 80, timeout=5)
    thread.join()
    server.close()
    assert code == 0xF2
    assert seen[0] == b"\x05\x01\x00\x03\x09abc.onion\x00\x50"
