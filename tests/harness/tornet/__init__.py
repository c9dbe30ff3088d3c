"""A real private Tor network on loopback with real v3 onion services, for tests.

See :mod:`.network` for how it is built and :mod:`.fixtures` for the pytest
fixture.  A test starts an onion service of its own, with its own options, and stops
it when it likes: ``onion = tor_network.add_onion(site.port, {"HiddenServiceExportCircuitID":
"haproxy"})`` (``onion.address``, ``onion.url``, ``onion.close_circuit(id)``,
``onion.stop()``). Requires Debian's ``tor`` package (``/usr/sbin/tor``, ``tor-gencert``).
"""

from __future__ import annotations

from .network import ExtraOnion, OnionService, TorNetwork, TorNetworkError, free_ports

__all__ = ["ExtraOnion", "OnionService", "TorNetwork", "TorNetworkError", "free_ports"]
