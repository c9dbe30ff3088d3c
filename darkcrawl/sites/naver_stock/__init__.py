"""Naver Finance daily prices: a product built on the site-hook API.

``DARKCRAWL_SITE_HOOKS='{"finance\\.naver\\.com": "darkcrawl.sites.naver_stock.NaverStockHook"}'``
"""

from darkcrawl.sites.naver_stock.hook import NaverStockHook

__all__ = ["NaverStockHook"]
