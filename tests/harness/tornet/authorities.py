"""The private network's directory authorities: their identity keys, generated once
and cached between runs (generating them is most of a cold start), and each run's
certificates for its own ports."""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

_log = logging.getLogger("tests.harness.tornet.network")

AUTHORITY_COUNT = 5
HOST = "127.0.0.1"


class TorNetworkError(RuntimeError):
    """The private network did not come up (message includes tor log tails)."""


@dataclass(frozen=True)
class _Authority:
    nickname: str
    data_dir: Path
    or_port: int
    dir_port: int
    v3ident: str  # fingerprint of the authority identity key (from its certificate)
    fingerprint: str  # relay RSA identity fingerprint

    @property
    def dir_authority_line(self) -> str:
        return (
            f"{self.nickname} orport={self.or_port} no-v2 v3ident={self.v3ident} "
            f"{HOST}:{self.dir_port} {self.fingerprint}"
        )


# Files kept between runs. The relay identity keys are cached too so that the
# relay fingerprint (part of the DirAuthority line) stays valid with the cache.
_CACHED_KEYS = (
    "authority_identity_key",
    "authority_signing_key",
    "secret_id_key",
    "ed25519_master_id_public_key",
    "ed25519_master_id_secret_key",
)
_CACHE_COMPLETE = "fingerprint"  # written last: its presence marks a usable entry


def _run_gencert(gencert: str, keys_dir: Path, dir_address: str, *, create: bool) -> None:
    argv = [
        gencert,
        *(["--create-identity-key"] if create else ["-r"]),
        "-m", "12",
        "-a", dir_address,
        "-i", str(keys_dir / "authority_identity_key"),
        "-s", str(keys_dir / "authority_signing_key"),
        "-c", str(keys_dir / "authority_certificate"),
        "--passphrase-fd", "0",
    ]
    # tor-gencert reads the passphrase from stdin; an empty line with stdin
    # closed at once means "no passphrase" and no interactive wait.
    proc = subprocess.run(argv, input=b"\n", capture_output=True, timeout=120)
    if proc.returncode != 0:
        raise TorNetworkError(f"{' '.join(argv)} failed: {proc.stderr.decode(errors='replace')}")


def _generate_authority_entry(tor: str, gencert: str, entry: Path, nickname: str, empty: Path) -> None:
    """Create one cache entry (identity keys + relay fingerprint) atomically."""
    tmp = entry.with_name(f".{entry.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    keys = tmp / "keys"
    keys.mkdir(parents=True, mode=0o700)
    # The address in this certificate is a placeholder: every run re-issues
    # the certificate for its own DirPort.
    _run_gencert(gencert, keys, f"{HOST}:1", create=True)
    proc = subprocess.run(
        [
            tor, "--list-fingerprint",
            "-f", str(empty), "--defaults-torrc", str(empty),
            "--DataDirectory", str(tmp),
            "--Nickname", nickname,
            "--ORPort", f"{HOST}:1",
            "--GeoIPFile", str(empty), "--GeoIPv6File", str(empty),
            "--Log", "err stderr",
        ],
        capture_output=True, timeout=60,
    )
    if proc.returncode != 0 or not (tmp / "fingerprint").exists():
        raise TorNetworkError(f"tor --list-fingerprint failed: {proc.stderr.decode(errors='replace')}")
    for leftover in tmp.iterdir():
        if leftover.name not in ("keys", _CACHE_COMPLETE):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    for leftover in keys.iterdir():
        if leftover.name not in _CACHED_KEYS:
            leftover.unlink()
    # An entry without its completion marker (e.g. a hand-edited cache) is
    # replaced whole; os.replace cannot overwrite a non-empty directory.
    shutil.rmtree(entry, ignore_errors=True)
    os.replace(tmp, entry)


def _ensure_key_cache(cache_dir: Path, tor: str, gencert: str, scratch: Path) -> list[Path]:
    """Cache entries for all authorities, generating missing ones in parallel.

    An flock serialises concurrent test runs sharing the cache, so two runs
    never generate (and then disagree about) the same authority's keys.
    """
    cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    entries = [cache_dir / f"auth{i}" for i in range(AUTHORITY_COUNT)]
    empty = scratch / "empty"
    empty.touch()
    with open(cache_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = [e for e in entries if not (e / _CACHE_COMPLETE).exists()]
        if missing:
            _log.info("generating %d authority identities in %s (cold start)", len(missing), cache_dir)
            with ThreadPoolExecutor(len(missing)) as pool:
                futures = [
                    pool.submit(_generate_authority_entry, tor, gencert, e, e.name, empty) for e in missing
                ]
                for f in futures:
                    f.result()
    return entries


def _prepare_authority(
    entry: Path, data_dir: Path, or_port: int, dir_port: int, gencert: str
) -> _Authority:
    """Copy cached keys into a fresh data dir and issue a certificate for this run's DirPort."""
    keys = data_dir / "keys"
    keys.mkdir(parents=True, mode=0o700)
    for name in _CACHED_KEYS:
        shutil.copy2(entry / "keys" / name, keys / name)
    # tor takes an authority's address from its certificate, so a cached
    # certificate from a previous run (other ports) would break this network.
    _run_gencert(gencert, keys, f"{HOST}:{dir_port}", create=False)
    v3ident = _certificate_fingerprint(keys / "authority_certificate")
    nickname, fingerprint = (entry / _CACHE_COMPLETE).read_text().split()
    return _Authority(nickname, data_dir, or_port, dir_port, v3ident, fingerprint)


def _certificate_fingerprint(cert: Path) -> str:
    for line in cert.read_text().splitlines():
        if line.startswith("fingerprint "):
            return line.split()[1]
    raise TorNetworkError(f"no fingerprint line in {cert}")
