"""The torrc of each kind of node in the private network: what lives in this network
rather than the public one, how a tor is run and controlled, an authority's voting."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .authorities import HOST, _Authority

# A first vote this far apart never fires by itself during start-up; we move
# the schedule explicitly once all descriptors are in (reference pitfall 5).
# Must divide 30 minutes. With a 30 s hold, a start that happens to straddle
# the held vote gets an incomplete first consensus, and then the *next* one
# is a whole 30 s interval away (a live consensus fixes the interval).
_HELD_VOTING_INTERVAL = 1800

_Options = list[tuple[str, str]]  # ordered: HiddenServiceDir/Port pairs depend on order


def _render_torrc(options: _Options) -> str:
    return "".join(f"{key} {value}\n" for key, value in options)


def _network_options(dir_authority_lines: Sequence[str], geoip: Path) -> _Options:
    """What any node needs to live in this network rather than the public one."""
    return [
        ("TestingTorNetwork", "1"),
        *(("DirAuthority", line) for line in dir_authority_lines),
        ("UseDefaultFallbackDirs", "0"),
        ("ClientUseIPv6", "0"),
        ("PathsNeededToBuildCircuits", "0.25"),
        # Parsing the real GeoIP database costs ~1.5 s CPU and ~50 MB per tor.
        ("GeoIPFile", str(geoip)),
        ("GeoIPv6File", str(geoip)),
        # KIST adds 70-190 ms per fetch on loopback; Vanilla gives 7-25 ms.
        ("Schedulers", "Vanilla"),
        ("VanguardsLiteEnabled", "0"),
    ]


def _process_options(data_dir: Path, nickname: str) -> _Options:
    """How we run and control a tor; none of this is about the network itself."""
    return [
        ("DataDirectory", str(data_dir)),
        ("Nickname", nickname),
        # "auto" ports cannot clash; tor tells us the port through this file.
        ("ControlPort", "auto"),
        ("ControlPortWriteToFile", str(data_dir / "control_port")),
        ("CookieAuthentication", "1"),
        ("RunAsDaemon", "0"),
        ("ShutdownWaitLength", "0"),
        ("SafeLogging", "0"),
        ("Log", "notice stdout"),
    ]


def _authority_options(auth: _Authority) -> _Options:
    return [
        ("ORPort", f"{HOST}:{auth.or_port}"),
        ("DirPort", f"{HOST}:{auth.dir_port}"),
        ("Address", HOST),
        ("AssumeReachable", "1"),
        ("ContactInfo", "test@example.invalid"),
        ("ExitRelay", "0"),
        ("ExitPolicy", "reject *:*"),
        ("SocksPort", "0"),
        ("AuthoritativeDirectory", "1"),
        ("V3AuthoritativeDirectory", "1"),
        ("TestingV3AuthInitialVotingInterval", str(_HELD_VOTING_INTERVAL)),
        ("TestingV3AuthInitialVoteDelay", "2"),
        ("TestingV3AuthInitialDistDelay", "2"),
        ("V3AuthVotingInterval", "20"),
        ("V3AuthVoteDelay", "2"),
        ("V3AuthDistDelay", "2"),
        ("V3AuthNIntervalsValid", "2"),
        ("MaxConsensusAgeForDiffs", "1 minute"),
        # With 5 relays nobody would earn these flags by measurement in time.
        ("TestingDirAuthVoteHSDir", "*"),
        ("TestingDirAuthVoteGuard", "*"),
        ("TestingDirAuthVoteExit", "*"),
        ("TestingMinExitFlagThreshold", "0"),
    ]


def _client_options() -> _Options:
    return [
        # With only 5 guards-and-HSDirs, guard reuse as an onion circuit's last
        # hop stalled services for 15-20 s in ~1 run of 4 (reference pitfall 7).
        ("UseEntryGuards", "0"),
    ]
