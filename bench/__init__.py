"""Throughput benchmark for darkcrawl against a plain Scrapy CrawlSpider.

Run it with ``python -m bench.run``; see ``bench/README.md``.
"""
