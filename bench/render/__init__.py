"""Render-stage benchmark, ``python -m bench.render`` (see :mod:`bench.render.runner`).

- :mod:`.site`: the synthetic pages and the server that serves them from memory;
- :mod:`.variants`: the set-ups compared (naive scrapy-playwright, darkcrawl, experiments);
- :mod:`.worker`: one crawl in a subprocess (``--worker CONFIG.json``);
- :mod:`.verify`: checking the DOMs and screenshots one crawl produced (``--verify DIR``);
- :mod:`.tree`: measuring a subprocess and its whole tree (Chromium included);
- :mod:`.runner`: the rounds, the table and ``main()``.
"""
