#!/usr/bin/env bash
# Install Debian's chromium and chromium-driver for the browser test (tests/test_report.py),
# only when /usr/bin/chromium or /usr/bin/chromedriver is missing. Safe to run again: a
# machine that has both is left untouched. Needs root, or sudo without a password.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    echo "chromium.sh: chromium and chromedriver already installed"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo -n)
else
    echo "chromium.sh: need root (or sudo) to apt-get install chromium chromium-driver" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium.sh: apt-get not found; install chromium and chromedriver at /usr/bin by hand" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
${as_root[@]+"${as_root[@]}"} apt-get update -qq
${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver >/dev/null

for tool in /usr/bin/chromium /usr/bin/chromedriver; do
    if [ ! -x "$tool" ]; then
        echo "chromium.sh: $tool still missing after apt-get install" >&2
        exit 1
    fi
done
echo "chromium.sh: installed $(/usr/bin/chromium --version 2>/dev/null | head -1)"
