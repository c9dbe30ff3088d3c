"""Free loopback ports, and runs of loopback addresses (one host each)."""

from __future__ import annotations

import contextlib
import socket

__all__ = ["LOOPBACK", "free_port", "free_ports", "loopback_address"]

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port free on *host* right now (the kernel's pick; another process may take it)."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """*count* distinct free TCP ports on *host*: all bound at once, so no two are the same."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in socks:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def loopback_address(subnet: tuple[int, int, int], index: int) -> str:
    """Address number *index* (1-based) of a run of loopback addresses from ``subnet.1``:
    ``subnet.1`` ... ``subnet.254``, then on into the next /24 (the whole of 127/8 is loopback on Linux)."""
    third, fourth = divmod(index - 1, 254)
    return f"{subnet[0]}.{subnet[1]}.{subnet[2] + third}.{fourth + 1}"
