"""Host intelligence: what a host's answers say about it (liveness, gates, clones), as
pure functions: no database and no crawl machinery (the catalogue's facets call them).

* ``liveness.py``   a host's state from its attempts
* ``signatures.py`` a host's page -> its signatures: Shodan's favicon hash, a
  perceptual hash of the screenshot, a simhash of the visible text, its title
* ``clusters.py``   signatures -> clusters of clones and mirrors (candidate pairs
  from LSH buckets, then the measured thresholds), and the phishing flag
* ``favicon.py``    which favicon a page declares, and where it is kept
"""
