#!/usr/bin/env bash
# Make sure a system Chromium exists: kaleido (static figure export) and the end-to-end tests drive it.
# As root we install Debian's package; otherwise we say how, and everything but static export still works.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian chromium (static figure export, browser tests)..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "NOTE: no Chromium found. Install it with: sudo apt-get install chromium" >&2
  echo "      (needed for PNG/SVG/PDF figure export and the browser tests)" >&2
fi
