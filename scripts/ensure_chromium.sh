#!/usr/bin/env bash
# The page's browser tests drive a system Chromium (never Playwright's own download). `make test` calls this
# first: it installs Debian's chromium when it can (root with apt-get), and otherwise stops with the one
# command to run, so that the browser tests are never skipped.
set -euo pipefail
browser="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$browser" ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium for the browser tests (once)..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
    [ -x "$browser" ] && exit 0
fi
echo "make test needs Chromium at $browser for the page's browser tests." >&2
echo "Install it with:  sudo apt-get install chromium fonts-liberation   (or set CHROMIUM=/path/to/chromium)" >&2
exit 1
