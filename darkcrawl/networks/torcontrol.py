"""A small synchronous client of Tor's control port, and what Tor's bootstrap status means.

Why not stem's ``Controller``: it runs a reader thread, and its ``close()`` closes
the socket file before marking the connection dead, so the woken reader spins on
the closed file logging ``SocketClosed`` dozens of times per close (every failed
launch, every NEWNYM connection).  darkcrawl needs four commands (authenticate,
GETINFO, SIGNAL, TAKEOWNERSHIP), one request and one reply at a time, with a
timeout: no thread, nothing left behind by a close.  stem still launches tor.

:func:`bootstrap_status` parses ``GETINFO status/bootstrap-phase``; tor adds to it
the last problem it met (``WARNING``, ``REASON``, ``COUNT``, ``RECOMMENDATION``,
``HOSTADDR``), which is all :func:`unreachable_reason` needs to say early and in
plain words that tor cannot reach any relay.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

#: ``KEY=value`` or ``KEY="quoted value"`` in a status line
_PAIR = re.compile(r'([A-Z_]+)=("(?:[^"\\]|\\.)*"|\S+)')

#: Tor's bootstrap phases up to here are about reaching a first relay at all
#: ("handshake_done" is 15): a failure there is the network, not a relay.
FIRST_HOP_PROGRESS = 15

#: Tor's OR-connection failure reasons (control-spec "ORConn reasons"), in words.
OR_REASONS: dict[str, str] = {
    "DONE": "the connection was closed during the handshake",
    "CONNECTREFUSED": "connection refused",
    "IDENTITY": "the relay's identity did not match (something intercepts the connection)",
    "CONNECTRESET": "connection reset",
    "TIMEOUT": "timed out",
    "NOROUTE": "no route to host",
    "IOERROR": "I/O error",
    "RESOURCELIMIT": "out of sockets or memory",
    "PT_MISSING": "a pluggable transport is configured but missing",
    "MISC": "connection failed",
}


class ControlError(OSError):
    """Tor answered a control command with an error, or the connection failed."""


def bootstrap_status(phase: str) -> dict[str, str]:
    """The fields of a ``status/bootstrap-phase`` answer; ``SEVERITY`` is its first word.

    >>> bootstrap_status('NOTICE BOOTSTRAP PROGRESS=14 TAG=handshake SUMMARY="Handshaking with a relay"')["TAG"]
    'handshake'
    """
    fields = {key: value[1:-1].replace('\\"', '"') if value.startswith('"') else value
              for key, value in _PAIR.findall(phase)}
    severity = phase.split(" ", 1)[0] if phase else ""
    fields["SEVERITY"] = severity
    return fields


def progress_of(status: dict[str, str]) -> int:
    try:
        return int(status.get("PROGRESS", "0"))
    except ValueError:
        return 0


def tor_says(status: dict[str, str]) -> str:
    """Tor's bootstrap warning in words (its ORConn reason code translated)."""
    reason = status.get("REASON", "")
    said = status.get("WARNING", "")
    words = OR_REASONS.get(reason, said or reason or "connection failed")
    if said and said != reason and said.lower() not in words.lower():
        words = f"{said} ({words})"
    return words


def unreachable_reason(status: dict[str, str], waited_out: bool = False) -> str | None:
    """Why tor cannot reach the Tor network at all, or None while it may still.

    Tor counts its failed connections while bootstrapping and, after enough of
    them, recommends a warning (``RECOMMENDATION=warn``).  Stuck before its first
    relay handshake completed, that is the network (offline, a firewall, a
    censor), which another launch cannot fix.  At the end of the wait
    (*waited_out*), any failure tor noted that early is enough: a whole wait
    without reaching one relay is the network too (a slow machine may not have
    reached tor's count yet)."""
    if progress_of(status) > FIRST_HOP_PROGRESS or "WARNING" not in status:
        return None
    if status.get("RECOMMENDATION") != "warn" and not waited_out:
        return None
    words = tor_says(status)
    tried = []
    if status.get("COUNT"):
        tried.append(f"{status['COUNT']} connections failed")
    if status.get("HOSTADDR"):
        tried.append(f"last relay tried {status['HOSTADDR']}")
    detail = f"; {', '.join(tried)}" if tried else ""
    return (f"tor cannot reach any relay (stuck at {progress_of(status)}% '{status.get('TAG', '?')}', "
            f"tor says: {words}{detail}): no network, or a firewall; bridges may be needed")


class TorControl:
    """One authenticated control connection; every call waits at most *timeout* seconds."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise ControlError(f"cannot connect to the control port {host}:{port}: {exc}") from exc
        self._file = self._sock.makefile("rb")

    @classmethod
    def connect(cls, host: str, port: int, password: str = "", timeout: float = 5.0) -> TorControl:
        control = cls(host, port, timeout)
        try:
            control.authenticate(password)
        except BaseException:
            control.close()
            raise
        return control

    def command(self, line: str) -> list[str]:
        """Send one command; the reply's lines (status code and divider stripped)."""
        try:
            self._sock.sendall(line.encode() + b"\r\n")
            lines: list[str] = []
            while True:
                raw = self._file.readline()
                if not raw:
                    raise ControlError("tor closed the control connection")
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                code, divider, rest = text[:3], text[3:4], text[4:]
                if divider == "+":  # a data block, up to a lone "."
                    data = [rest]
                    while (more := self._file.readline().decode("utf-8", "replace").rstrip("\r\n")) != ".":
                        data.append(more)
                    rest = "\n".join(data)
                if code.startswith("650"):  # an event we did not ask for
                    continue
                if not code.startswith("2"):
                    raise ControlError(f"{line.split()[0]}: {text}")
                lines.append(rest)
                if divider == " ":
                    return lines
        except OSError as exc:
            if isinstance(exc, ControlError):
                raise
            raise ControlError(f"control connection failed: {exc}") from exc

    def authenticate(self, password: str = "") -> None:
        if password:
            self.command(f'AUTHENTICATE "{_quote(password)}"')
            return
        info = " ".join(self.command("PROTOCOLINFO 1"))
        methods = re.search(r"METHODS=(\S+)", info)
        cookie = re.search(r'COOKIEFILE="((?:[^"\\]|\\.)*)"', info)
        offered = methods.group(1).split(",") if methods else []
        if "COOKIE" in offered and cookie:
            self.command(f"AUTHENTICATE {Path(cookie.group(1)).read_bytes().hex()}")
        elif "NULL" in offered:
            self.command("AUTHENTICATE")
        else:
            raise ControlError(f"no usable control authentication (tor offers {','.join(offered) or 'none'}); "
                               "set TOR_PASS")

    def get_info(self, key: str) -> str:
        reply = self.command(f"GETINFO {key}")
        first = reply[0]
        return first.split("=", 1)[1] if "=" in first else first

    def signal(self, name: str) -> None:
        self.command(f"SIGNAL {name}")

    def take_ownership(self) -> None:
        """Tor exits when this connection closes (as stem's take_ownership arranges)."""
        self.command("TAKEOWNERSHIP")
        self.command("RESETCONF __OwningControllerProcess")

    def close(self) -> None:
        for closable in (self._file, self._sock):
            try:
                closable.close()
            except OSError:
                pass


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
