"""Host intelligence: what a host's answers say about the host itself, beyond its content.

- :mod:`darkcrawl.intel.gates`: interstitials (DDoS queues, captchas, ban pages, login
  walls, proxy error pages) recognised from one response, pure and table-driven;
- :mod:`darkcrawl.intel.book`: every host's gate as the crawl meets it (waiting a
  queue out, "needs a person", the pace of a gated host), for the middleware and
  the spider alike;
- :mod:`darkcrawl.intel.cookiefiles`: cookie jars an analyst exports from a browser
  (Netscape ``cookies.txt``, JSON), read for ``scrapy cookies import``;
- :mod:`darkcrawl.intel.imports`: the imported cookies a crawl uses, from the
  store (``PATH_DATA`` or a fleet's Redis).
"""
