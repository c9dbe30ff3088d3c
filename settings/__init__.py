"""Deployment profiles (environment facts only: code wiring lives in darkcrawl.addon).

- ``settings.local``: one machine, the default (``scrapy.cfg``).
- ``settings.distributed``: a fleet of workers sharing one frontier in Redis
  (``SCRAPY_PROJECT=distributed``).
"""
