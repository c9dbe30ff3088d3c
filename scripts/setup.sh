#!/usr/bin/env bash
# Everything a fresh Debian machine needs for darkcrawl: system packages, then a
# project virtualenv (.venv) with the pinned Python packages and darkcrawl itself.
# Idempotent and quiet when there is nothing to do.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages used by the crawl, the tests and the benchmark.  The render stage
# runs chromium-headless-shell (less CPU and memory per page, bench/README.md);
# chromium is its fallback, and the browser of scripts/viewer_screenshot.py.
APT_PACKAGES=(nginx tor i2pd chromium chromium-headless-shell redis-server postgresql)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # --no-install-recommends: no daemons we did not ask for; policy-rc.d keeps
  # installed services (nginx, tor, redis, postgresql) from starting: darkcrawl starts its own.
  if [ -d /usr/sbin ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want="$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q -r requirements.txt
  .venv/bin/pip install -q --no-deps -e .
  echo "$want" > "$stamp"
fi

# The archive's replay tests (tests/test_archive.py) run pywb, a real replay engine,
# and py-wacz's validator.  pywb pins redis 2.x (darkcrawl uses redis 8): they live in
# their own venv, used by the tests only, as subprocesses (tests/replay.py).
REPLAY_REQUIREMENTS=requirements-replay.txt
replay_stamp=.venv-replay/.requirements.sha256
replay_want="$(sha256sum "$REPLAY_REQUIREMENTS" | cut -d' ' -f1)"
if [ "$(cat "$replay_stamp" 2>/dev/null)" != "$replay_want" ]; then
  [ -x .venv-replay/bin/python ] || "$PYTHON" -m venv .venv-replay
  .venv-replay/bin/pip install -q -r "$REPLAY_REQUIREMENTS"
  echo "$replay_want" > "$replay_stamp"
fi
