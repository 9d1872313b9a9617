#!/usr/bin/env bash
# Install Debian's chromium for the dashboard's browser tests, unless it is already there.
# Playwright drives this system browser; it never downloads one (no `playwright install`).
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine (or container) may have no package lists yet; install fails without them.
$SUDO apt-get install -y --no-install-recommends chromium \
    || { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends chromium; }
"$CHROMIUM" --version
