"""An EndGame-style DDoS-protected test site (queue, cookie, ban on early return, rate
limits, captcha), on loopback or behind an onion service of the private Tor network."""

from __future__ import annotations

from .site import BAN_TEXT, BANNED, PAGES, EndGameSite, Visit

__all__ = ["BANNED", "BAN_TEXT", "PAGES", "EndGameSite", "Visit"]
