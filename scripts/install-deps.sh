#!/usr/bin/env bash
# Installs the Debian packages needed to build, test and benchmark hfsync, but only those that are
# missing. Runs `apt-get update` at most once, and only when something has to be installed.
# Uses sudo when not root (and sudo exists). `make deps` calls this.
#
# Usage: scripts/install-deps.sh [--check]
#   --check   only report what is missing; exit 1 if anything is, install nothing
set -euo pipefail

# Build: compiler, pkg-config and the five libraries hfsync links (DESIGN.md §9).
BUILD_PKGS=(
    build-essential
    pkg-config
    libcurl4-openssl-dev
    libcjson-dev
    libssl-dev
    libarchive-dev
    libzstd-dev
)
# Test: unit tests (cmocka), e2e scripts (zstd CLI, python3), leak checks (valgrind).
TEST_PKGS=(
    libcmocka-dev
    zstd
    python3
    valgrind
)
# Bench (bench/run.sh): GNU time measures each command's peak RSS.
BENCH_PKGS=(
    time
)

check_only=0
case "${1:-}" in
--check) check_only=1 ;;
"") ;;
-h | --help)
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "install-deps.sh: unknown argument '$1' (accepted: --check)" >&2
    exit 2
    ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps.sh: this script needs a Debian-based system (dpkg/apt-get)." >&2
    echo "Install the equivalents of: ${BUILD_PKGS[*]} ${TEST_PKGS[*]} ${BENCH_PKGS[*]}" >&2
    exit 1
fi

# A package counts as present only when dpkg says it is fully installed ("install ok installed");
# `dpkg -s` alone also succeeds for removed packages whose config files remain.
is_installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
    [ "$status" = "install ok installed" ]
}

missing=()
for pkg in "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${BENCH_PKGS[@]}"; do
    if ! is_installed "$pkg"; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps.sh: all build, test and bench packages are already installed."
    exit 0
fi

echo "install-deps.sh: missing: ${missing[*]}"
if [ "$check_only" -eq 1 ]; then
    exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "install-deps.sh: not root and sudo is not available; install as root:" >&2
        echo "  apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
fi

"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"

still=()
for pkg in "${missing[@]}"; do
    is_installed "$pkg" || still+=("$pkg")
done
if [ "${#still[@]}" -gt 0 ]; then
    echo "install-deps.sh: still not installed after apt-get: ${still[*]}" >&2
    exit 1
fi
echo "install-deps.sh: installed: ${missing[*]}"
