"""``scrapy view``: the catalogue as a web app for a person, and its JSON API.

* ``app.py``    the aiohttp application: routes, the token, the security headers
* ``pages.py``  HTML pages (escaped strings, no template engine)
* ``html.py``   the page frame and small HTML helpers
* ``files.py``  files of a snapshot under ``PATH_DATA`` (never outside it)
* ``diff.py``   the visible text of a page, and a diff between two visits
* ``chart.py``  pages over time as inline SVG, drawn on the server
* ``static/``   the viewer's CSS and JavaScript (no CDN: it works offline)

Crawled content is hostile: the viewer shows it escaped, or in a sandboxed frame
served with a CSP that forbids scripts and network access, and fetches no crawled
URL itself.
"""
