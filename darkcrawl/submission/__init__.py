"""darc's submission "API": the three events (``new_host``, ``requests``,
``selenium``) built as darc 1.0.3's code sent them (:mod:`.payloads`), and a
durable outbox that spools every payload before it is POSTed (:mod:`.spool`).
"""

from __future__ import annotations

#: event -> the setting holding the URL that receives it (darc's environment names)
API_SETTINGS: dict[str, str] = {
    "new_host": "API_NEW_HOST",
    "requests": "API_REQUESTS",
    "selenium": "API_SELENIUM",
}
EVENTS: tuple[str, ...] = tuple(API_SETTINGS)
