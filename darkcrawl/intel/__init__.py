"""Host intelligence: what an analyst asks of a crawl beyond its pages.  Pure code,
no database and no crawl machinery: the catalogue's facets call it.

* ``signatures.py`` a host's page -> its signatures: Shodan's favicon hash, a
  perceptual hash of the screenshot, a simhash of the visible text, its title
* ``clusters.py``   signatures -> clusters of clones and mirrors (candidate pairs
  from LSH buckets, then the measured thresholds), and the phishing flag
* ``favicon.py``    which favicon a page declares, and where it is kept
"""
