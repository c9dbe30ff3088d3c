"""Deployment profiles (environment facts only: code wiring lives in darkcrawl.addon).

- ``settings.local``: one machine, the default (``scrapy.cfg``).
"""
