"""Many workers, one frontier: darkcrawl on scrapy-redis with a real Redis.

``SCRAPY_PROJECT=distributed scrapy crawl darkweb`` (``settings/distributed.py``)
runs one worker; start as many as you like, on one machine or many, against one
Redis (``DARKCRAWL_REDIS_URL``).  They share:

- the request queue, leased and acknowledged (:mod:`.scheduler`, :mod:`.queue`,
  :mod:`.frontier`): a killed worker's requests go back to the queue;
- the URL-seen set (:mod:`.seen`) and the host ledger (:mod:`.hosts`): each URL is
  admitted once, each host bootstrapped once;
- politeness: ``DOWNLOAD_DELAY`` per host across all workers (:mod:`.polite`);
- seeds pushed with ``scrapy pushseeds`` and the decision to stop (:mod:`.extension`).

The Redis layout and every atomic step are in :mod:`.scripts`.
"""
