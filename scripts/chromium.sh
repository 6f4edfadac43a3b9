#!/usr/bin/env bash
# Chromium from Debian's packages, for the dashboard's browser test (tests/it/dashboard.rs).
# Unlike Redis it cannot run unpacked (it needs ~100 shared libraries from other packages), so
# it is installed with apt-get: as root, or through passwordless sudo. Nothing is started here:
# the test runs one headless Chromium per page it renders and waits for it to exit.
#
#   scripts/chromium.sh install     install Debian's chromium unless /usr/bin/chromium exists;
#                                   prints the path on success, exits 1 (saying why) otherwise
set -euo pipefail

CHROMIUM=/usr/bin/chromium

install() {
    if [ -x "$CHROMIUM" ]; then
        echo "$CHROMIUM"
        return 0
    fi
    local as_root=()
    if [ "$(id -u)" != 0 ]; then
        sudo -n true 2>/dev/null || { echo "not root and no passwordless sudo: cannot install Chromium" >&2; return 1; }
        as_root=(sudo -n)
    fi
    command -v apt-get >/dev/null || { echo "apt-get unavailable: cannot install Chromium" >&2; return 1; }
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
        || { "${as_root[@]}" apt-get update -qq >/dev/null 2>&1 \
            && "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; } \
        || { echo "apt-get could not install chromium" >&2; return 1; }
    [ -x "$CHROMIUM" ] || { echo "chromium installed but $CHROMIUM is missing" >&2; return 1; }
    echo "$CHROMIUM"
}

case "${1:-}" in
    install) install ;;
    *) echo "usage: scripts/chromium.sh install" >&2; exit 2 ;;
esac
