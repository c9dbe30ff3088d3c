"""What the tests and the benchmarks share: services, ports, local servers.

No pytest here: ``bench/`` imports this package too.

- :mod:`tests.harness.service`: :class:`Service`, the start/stop/context-manager
  base every local server derives from (Redis, scrapyd, i2pd, the Tor network,
  the darknet, the hostile web, nginx for the benchmarks ...), :func:`wait_until`
  and :func:`serve_until_interrupt`.
- :mod:`tests.harness.ports`: :func:`free_port`, :func:`free_ports`.
- :mod:`tests.harness.http`: :class:`HttpService`, a threaded HTTP server on a
  free loopback port that the small fake servers subclass (a handler class
  each), :class:`QuietHandler`, :class:`TrackingHTTPServer`.
- :mod:`tests.harness.redisserver`: a real redis-server in a private folder.
- :mod:`tests.harness.postgres`: a real PostgreSQL server (its pytest fixtures in
  :mod:`tests.harness.postgres_fixtures`).
- :mod:`tests.harness.scrapydserver`: a throw-away scrapyd.
- :mod:`tests.harness.procs`: process trees from /proc.
"""

from tests.harness.ports import free_port, free_ports
from tests.harness.service import Service, wait_until

__all__ = ["Service", "free_port", "free_ports", "wait_until"]
