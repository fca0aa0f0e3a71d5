#!/usr/bin/env bash
# Installs what is needed to build, test and benchmark hfsync, but only what is missing:
# - Debian packages; `apt-get update` runs at most once, and only when something has to be installed;
# - Node.js and npm (packages nodejs, npm) when `node`/`npm` are not on PATH, and Flask for the Hub
#   emulator (python3-flask) when the python3 on PATH cannot import it;
# - the npm packages of the Hub conformance test (tests/hub: @huggingface/hub, pinned by
#   package-lock.json), with `npm ci`, when tests/hub/node_modules is missing or older than the lock.
# Uses sudo when not root (and sudo exists). `make deps` calls this.
#
# Usage: scripts/install-deps.sh [--check]
#   --check   only report what is missing; exit 1 if anything is, install nothing
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

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
# Test: unit tests (cmocka), e2e scripts (zstd CLI, python3), leak checks (valgrind), the openssl
# CLI (the seed-format crypto tests check interoperability with `openssl enc`). The Hub
# emulator also needs Flask and its conformance test Node.js + npm: those are added below only
# when missing, because they often come from elsewhere (pyenv, NodeSource) and Debian's packages
# would conflict.
TEST_PKGS=(
    libcmocka-dev
    zstd
    python3
    valgrind
    openssl
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
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "install-deps.sh: unknown argument '$1' (accepted: --check)" >&2
    exit 2
    ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps.sh: this script needs a Debian-based system (dpkg/apt-get)." >&2
    echo "Install the equivalents of: ${BUILD_PKGS[*]} ${TEST_PKGS[*]} ${BENCH_PKGS[*]}," >&2
    echo "Node.js with npm, and Flask for python3; then run 'npm ci' in tests/hub." >&2
    exit 1
fi

# A package counts as present only when dpkg says it is fully installed ("install ok installed");
# `dpkg -s` alone also succeeds for removed packages whose config files remain.
is_installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
    [ "$status" = "install ok installed" ]
}

has_flask() {
    python3 -c 'import flask' >/dev/null 2>&1 ||
        { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import flask' >/dev/null 2>&1; }
}

# The conformance test's npm packages are stale when npm's record of the last install
# (node_modules/.package-lock.json) is missing or older than package-lock.json.
HUB_TEST_DIR=$ROOT/tests/hub
npm_stale() {
    [ -f "$HUB_TEST_DIR/package-lock.json" ] || return 1
    [ ! -f "$HUB_TEST_DIR/node_modules/.package-lock.json" ] ||
        [ "$HUB_TEST_DIR/package-lock.json" -nt "$HUB_TEST_DIR/node_modules/.package-lock.json" ]
}

npm_install() {
    echo "install-deps.sh: npm ci in tests/hub (@huggingface/hub for the Hub conformance test)"
    if ! (cd "$HUB_TEST_DIR" && npm ci --no-audit --no-fund); then
        echo "install-deps.sh: 'npm ci' in tests/hub failed; the npm registry must be reachable" >&2
        exit 1
    fi
}

missing=()
for pkg in "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${BENCH_PKGS[@]}"; do
    if ! is_installed "$pkg"; then
        missing+=("$pkg")
    fi
done
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
fi
if ! has_flask && ! is_installed python3-flask; then
    missing+=(python3-flask)
fi

if [ "${#missing[@]}" -eq 0 ]; then
    if npm_stale; then
        if [ "$check_only" -eq 1 ]; then
            echo "install-deps.sh: missing: npm packages of tests/hub (npm ci)"
            exit 1
        fi
        npm_install
    fi
    echo "install-deps.sh: all build, test and bench packages (Debian, Node.js/npm, tests/hub npm) are installed."
    exit 0
fi

echo "install-deps.sh: missing: ${missing[*]}$(npm_stale && echo ', npm packages of tests/hub (npm ci)')"
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
    if [ "$pkg" = nodejs ] || [ "$pkg" = npm ]; then
        # on PATH counts, whichever package brought them
        command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && continue
    fi
    is_installed "$pkg" || still+=("$pkg")
done
if [ "${#still[@]}" -gt 0 ]; then
    echo "install-deps.sh: still not installed after apt-get: ${still[*]}" >&2
    exit 1
fi
echo "install-deps.sh: installed: ${missing[*]}"
if npm_stale; then
    npm_install
fi
