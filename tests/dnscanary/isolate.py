"""Run a command whose only DNS resolver is a :class:`DnsCanary`.

How: the command runs in a private mount namespace (``unshare --mount``) in
which two files are bind-mounted over the machine's:

* ``/etc/resolv.conf`` -> ``nameserver <canary>`` with one attempt and a
  one-second timeout, so every resolver that reads resolv.conf (glibc's
  ``getaddrinfo``/``gethostbyname``, hence Twisted's threaded resolver and
  asyncio's ``getaddrinfo``; also twisted.names, c-ares, dnspython) asks the
  canary and nobody else;
* ``/etc/nsswitch.conf`` -> ``hosts: files dns``, so no other NSS module
  (``resolve``, ``mdns*``, ``myhostname``...) answers or leaks a name around
  the canary, while ``/etc/hosts`` still answers ``localhost``.

The mounts exist only in the child's namespace and vanish with it; the
machine's files are never written.  The wrapper script checks that its mount
namespace differs from the caller's before it mounts anything, so a lost
``unshare`` can never turn into a bind mount over the machine's resolv.conf.  If ``nscd`` runs, glibc would ask it
instead of reading resolv.conf, so its socket directory is hidden under an
empty tmpfs in the namespace as well.

When not root, ``--user --map-root-user`` adds a user namespace, which gives
the (unprivileged) caller the right to mount inside it; the canary itself
still needs to bind port 53 in the caller, see :func:`canary_supported`.

This does not catch a process that talks to a hard-coded resolver address
(DoH, ``8.8.8.8``) without reading resolv.conf: that would need a network
namespace, which would also cut the child off the test web.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .server import DnsCanary

__all__ = ["NSSWITCH_CONF", "REFUSED_EXIT", "canary_supported", "isolated_command", "resolv_conf_text"]

RESOLV_CONF = "/etc/resolv.conf"
NSSWITCH_PATH = "/etc/nsswitch.conf"
NSCD_DIRS = ("/run/nscd", "/var/run/nscd")
NSSWITCH_CONF = "# dnscanary: only /etc/hosts and the canary answer host lookups\nhosts: files dns\n"

# Exit status of the wrapper when it refuses to mount (not in a private
# mount namespace); chosen to be distinguishable from the command's own.
REFUSED_EXIT = 125

# Prefix of every script that mounts.  $1 is the caller's mount namespace
# (readlink /proc/self/ns/mnt).  A bind mount made in the caller's namespace
# would change /etc/resolv.conf for the whole machine, so unless this shell
# demonstrably runs in another mount namespace it refuses before mounting
# anything (this guard exists because a broken prefix once did exactly that).
_GUARD = f"""\
set -e
ns=$(readlink /proc/self/ns/mnt)
if [ -z "$ns" ] || [ -z "$1" ] || [ "$ns" = "$1" ]; then
  echo "dnscanary: not in a private mount namespace ($ns); refusing to mount" >&2
  exit {REFUSED_EXIT}
fi
shift
"""

# Run inside the new namespace, after the guard: $1 resolv.conf,
# $2 nsswitch.conf, the rest is the command.  `set -e`: if any mount fails,
# the command does NOT run against the real resolver (a test that "passes"
# because nothing was intercepted would be worse than useless).
_SCRIPT = _GUARD + """\
mount --bind "$1" /etc/resolv.conf
mount --bind "$2" /etc/nsswitch.conf
for d in {nscd_dirs}; do
  if [ -d "$d" ] && [ ! -L "$d" ]; then mount -t tmpfs -o size=4k,mode=755 dnscanary "$d"; fi
done
shift 2
exec "$@"
""".format(nscd_dirs=" ".join(NSCD_DIRS))

_PROBE_SCRIPT = _GUARD + """\
mount --bind "$1" /etc/resolv.conf
cat /etc/resolv.conf
"""

# How long the support probe may take (it is a couple of milliseconds here).
_PROBE_TIMEOUT = 30.0


def resolv_conf_text(canary: DnsCanary, options: Sequence[str] = ()) -> str:
    # attempts:1 timeout:1 -> a lookup the canary somehow misses fails fast
    # instead of hanging a test; no "search" line -> no search-domain noise
    # beyond what glibc derives from the host name.
    return (
        "# dnscanary: every lookup goes to the recording canary, nowhere else\n"
        f"nameserver {canary.address}\n"
        f"options {' '.join(['attempts:1', 'timeout:1', *options])}\n"
    )


def _unshare_prefix() -> list[str]:
    unshare = shutil.which("unshare") or "unshare"
    prefix = [unshare]
    if os.geteuid() != 0:
        # Unprivileged: a user namespace in which we are "root" may mount.
        prefix += ["--user", "--map-root-user"]
    return [*prefix, "--mount", "--propagation", "private"]


def isolated_command(
    argv: list[str],
    canary: DnsCanary,
    workdir: Path,
    *,
    resolv_options: Sequence[str] = (),
) -> list[str]:
    """Wrap ``argv`` so it runs with ``canary`` as its only DNS resolver.

    Writes ``resolv.conf``/``nsswitch.conf`` into ``workdir`` (which must
    outlive the child) and returns the argv to hand to :func:`subprocess.run`.
    ``resolv_options`` adds resolv.conf options (e.g. ``use-vc`` for TCP).
    Anything appended to the returned argv reaches the command as arguments.
    """
    if not argv:
        raise ValueError("empty command")
    workdir = Path(workdir)
    conf_dir = workdir / "dnscanary-etc"
    conf_dir.mkdir(parents=True, exist_ok=True)
    resolv = conf_dir / "resolv.conf"
    nsswitch = conf_dir / "nsswitch.conf"
    resolv.write_text(resolv_conf_text(canary, resolv_options))
    nsswitch.write_text(NSSWITCH_CONF)
    # Mode 0644 whatever the umask: the child may drop privileges and must
    # still be able to read its resolver configuration.
    resolv.chmod(0o644)
    nsswitch.chmod(0o644)
    sh = shutil.which("sh") or "/bin/sh"
    return [
        *_unshare_prefix(), sh, "-c", _SCRIPT, "dnscanary",
        _caller_mount_namespace(), str(resolv), str(nsswitch), *argv,
    ]


def _caller_mount_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/mnt")
    except OSError:
        # Unknown: an empty id makes the guard refuse (fail closed).
        return ""


@functools.cache
def canary_supported() -> str | None:
    """None if canary + isolation can work on this machine, else why not (a skip reason).

    Checks the *capabilities* by doing them, not by guessing: bind a canary on
    port 53, and bind-mount a file over /etc/resolv.conf in a private mount
    namespace.  It deliberately does not use :func:`isolated_command`: a bug
    there must make the canary tests fail, not skip.  Cached per session.
    """
    if not sys.platform.startswith("linux"):
        return f"DNS canary isolation needs Linux namespaces (platform {sys.platform})"
    for tool in ("unshare", "mount", "sh"):
        if shutil.which(tool) is None:
            return f"DNS canary isolation needs {tool!r} on PATH"
    try:
        DnsCanary().start().stop()
    except OSError as error:
        return f"cannot start the DNS canary: {error}"
    with tempfile.TemporaryDirectory(prefix="dnscanary-probe-") as tmp:
        marker = f"# dnscanary probe {os.getpid()}"
        probe = Path(tmp) / "resolv.conf"
        probe.write_text(marker + "\n")
        probe.chmod(0o644)
        argv = [*_unshare_prefix(), "sh", "-c", _PROBE_SCRIPT, "dnscanary-probe", _caller_mount_namespace(), str(probe)]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=_PROBE_TIMEOUT, cwd=tmp)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"cannot run {argv[0]}: {error}"
        if proc.returncode != 0:
            return (
                f"private mount namespace with a bind mount over {RESOLV_CONF} refused "
                f"(exit {proc.returncode}): {(proc.stdout + proc.stderr).strip()[-300:]}"
            )
        if marker not in proc.stdout:
            return f"bind mount over {RESOLV_CONF} not visible inside the namespace: {proc.stdout[-300:]!r}"
    return None
