"""The crawl catalogue: what was crawled, as a database people can query.

Derived data: every row comes from what the crawl wrote under ``PATH_DATA``
(headers records, documents, renders, ``misc/failures.jsonl``), so
``scrapy catalog --rebuild`` makes the same catalogue from the files alone.
SQLite (``PATH_DATA/catalog.sqlite``) by default; PostgreSQL for a fleet
(``DARKCRAWL_CATALOG_URL=postgresql://...``), with the same tables.

* ``schema.py``  the tables, per dialect
* ``db.py``      one connection API over both (placeholders, upserts, FTS)
* ``entities.py`` pure: the entities of a page (addresses, e-mail, PGP keys)
* ``rows.py``    pure: items and files -> rows
* ``writer.py``  batches of rows -> one transaction; host aggregates recomputed
* ``rebuild.py`` ``PATH_DATA`` -> rows
* ``queries.py`` what the viewer and the API read
"""
