"""Host intelligence: what a host's answers say about it (liveness, gates, clones), as
pure functions: no database and no crawl machinery (the catalogue's facets, the gate
middleware and the spider call them).

* ``liveness.py``   a host's state from its attempts
* ``gates.py``      interstitials recognised from one answer: DDoS queues, captchas, ban
  pages, login walls, proxy error pages (table-driven); the crawl's gated hosts are
  ``darkcrawl/policy/gates.py`` and ``gatebook.py``
* ``cookiefiles.py`` cookie jars exported from a browser (Netscape ``cookies.txt``,
  JSON), read for ``scrapy cookies import``
* ``signatures.py`` a host's page -> its signatures: Shodan's favicon hash, a
  perceptual hash of the screenshot, a simhash of the visible text, its title
* ``clusters.py``   signatures -> clusters of clones and mirrors (candidate pairs
  from LSH buckets, then the measured thresholds), and the phishing flag
* ``favicon.py``    which favicon a page declares, and where it is kept
"""
