"""The archive: WARC 1.1 files of both stages and WACZ packages (see crawl.py)."""
