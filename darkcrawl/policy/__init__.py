"""Crawl policy: what is in scope, what is a trap, which hosts are backed off."""
