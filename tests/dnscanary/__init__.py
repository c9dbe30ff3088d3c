"""DNS canary: a recording DNS server plus a way to make a child process use only it.

Used to prove that the crawler never hands ``.onion``/``.i2p`` names to the
system resolver (a privacy leak: the local resolver, and whoever it forwards
to, would learn which hidden services are being visited).
"""

from __future__ import annotations

from .isolate import canary_supported, isolated_command
from .server import DnsCanary

__all__ = ["DnsCanary", "canary_supported", "isolated_command"]
