# shellcheck shell=bash disable=SC2034
# Helpers for the end-to-end scripts in tests/e2e/. Source it: `. "$(dirname "$0")/lib.sh"`.
#
# - TAP output: `ok N - name` / `not ok N - name`, followed by `# ...` detail lines on failure;
#   finish() prints the plan `1..N` and exits non-zero when anything failed.
# - T: a temp dir under ${TMPDIR:-/tmp}, removed on exit (kept when E2E_KEEP=1).
# - hf [VAR=value ...] [-u VAR ...] [--] ARGS...: runs ./hfsync with a clean environment made of
#   PATH, HOME, HFSYNC_REPO="$REPO_URL", HFSYNC_SOURCES="$SOURCES", HFSYNC_CACHE_DIR="$CACHE_DIR",
#   HFSYNC_WORK_DIR="$WORK_DIR" (each only when non-empty), then the given overrides (`VAR=value`
#   replaces or adds, `-u VAR` removes). Sets RC, OUT (stdout) and ERR (stderr); also keeps them in
#   the files $T/last.out and $T/last.err. Each run is limited to HF_TIMEOUT seconds (default 120).
set -u

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$E2E_DIR/../.." && pwd)
HFSYNC=${HFSYNC:-$REPO_ROOT/hfsync}
TREE="python3 $E2E_DIR/tree.py"
RTOOL="python3 $E2E_DIR/repo_tool.py"
HF_TIMEOUT=${HF_TIMEOUT:-120}

T=$(mktemp -d "${TMPDIR:-/tmp}/hfsync-e2e.XXXXXX") || exit 1
_e2e_cleanup() {
    if [ "${E2E_KEEP:-0}" = 1 ]; then
        echo "# kept $T" >&2
        return
    fi
    # chmod 000 files/dirs of some tests must not stop the removal when not root
    chmod -R u+rwx "$T" 2>/dev/null
    rm -rf "$T"
}
trap _e2e_cleanup EXIT

# Defaults used by hf(); scripts set SOURCES (and may change the others).
REPO_DIR=$T/repo
REPO_URL=file://$REPO_DIR
CACHE_DIR=$T/cache
WORK_DIR=$T/work
E2E_HOME=$T/home
SOURCES=
mkdir -p "$REPO_DIR" "$CACHE_DIR" "$WORK_DIR" "$E2E_HOME"

TEST_NUM=0
TEST_FAILED=0

pass() { # name
    TEST_NUM=$((TEST_NUM + 1))
    echo "ok $TEST_NUM - $1"
}

fail() { # name, detail lines...
    TEST_NUM=$((TEST_NUM + 1))
    TEST_FAILED=$((TEST_FAILED + 1))
    echo "not ok $TEST_NUM - $1"
    shift
    local line
    for line in "$@"; do
        printf '%s\n' "$line" | sed 's/^/#   /'
    done
}

skip() { # name, reason
    TEST_NUM=$((TEST_NUM + 1))
    echo "ok $TEST_NUM - $1 # SKIP $2"
}

# Group helper: collect problems with `problem "..."`, then `report NAME` emits one TAP line.
PROBLEMS=()
problem() { PROBLEMS+=("$*"); }
report() { # name
    if [ "${#PROBLEMS[@]}" -eq 0 ]; then
        pass "$1"
    else
        fail "$1" "${PROBLEMS[@]}"
    fi
    PROBLEMS=()
}

# Detail of the last hf run, for failure messages.
last_run() {
    printf 'command: hfsync %s\n' "$LAST_CMD"
    printf 'exit status: %s\n' "$RC"
    printf 'stdout: %s\n' "$(printf '%s' "$OUT" | head -c 1500)"
    printf 'stderr (last lines):\n%s\n' "$(printf '%s' "$ERR" | tail -n 15 | cut -c 1-400)"
}

finish() {
    echo "1..$TEST_NUM"
    if [ "$TEST_FAILED" -gt 0 ]; then
        echo "# $TEST_FAILED of $TEST_NUM failed"
        exit 1
    fi
    exit 0
}

# Stop early (as one failure) when the binary is missing: every later check would fail anyway.
require_hfsync() {
    if [ ! -x "$HFSYNC" ]; then
        fail "hfsync binary exists at $HFSYNC" "build it with: make hfsync"
        finish
    fi
}

RC=0
OUT=
ERR=
LAST_CMD=
hf() {
    local -a base=() extra=() unset=()
    while [ $# -gt 0 ]; do
        case $1 in
        --) shift; break ;;
        -u) unset+=("$2"); shift 2 ;;
        [A-Z]*=*) extra+=("$1"); shift ;;
        *) break ;;
        esac
    done
    base=("PATH=$PATH" "HOME=$E2E_HOME")
    [ -n "$REPO_URL" ] && base+=("HFSYNC_REPO=$REPO_URL")
    [ -n "$SOURCES" ] && base+=("HFSYNC_SOURCES=$SOURCES")
    [ -n "$CACHE_DIR" ] && base+=("HFSYNC_CACHE_DIR=$CACHE_DIR")
    [ -n "$WORK_DIR" ] && base+=("HFSYNC_WORK_DIR=$WORK_DIR")
    [ -n "${E2E_LOG_LEVEL:-}" ] && base+=("HFSYNC_LOG_LEVEL=$E2E_LOG_LEVEL")
    # apply overrides: a later VAR=... replaces an earlier one, -u VAR drops it
    local -A val=()
    local -a order=() clean=()
    local kv name u
    for kv in "${base[@]}" "${extra[@]}"; do
        name=${kv%%=*}
        [ -z "${val[$name]+x}" ] && order+=("$name")
        val[$name]=${kv#*=}
    done
    for u in "${unset[@]}"; do unset "val[$u]"; done
    for name in "${order[@]}"; do
        [ -n "${val[$name]+x}" ] && clean+=("$name=${val[$name]}")
    done
    LAST_CMD="$* [env: $(printf '%s ' "${extra[@]}")${unset[*]:+unset: ${unset[*]}}]"
    timeout -k 5 "$HF_TIMEOUT" env -i "${clean[@]}" "$HFSYNC" "$@" >"$T/last.out" 2>"$T/last.err"
    RC=$?
    OUT=$(cat "$T/last.out")
    ERR=$(cat "$T/last.err")
    if [ "$RC" = 124 ] || [ "$RC" = 137 ]; then
        ERR="$ERR
[e2e] hfsync timed out after ${HF_TIMEOUT}s"
    fi
    if [ "${E2E_VERBOSE:-0}" = 1 ]; then
        echo "# hfsync $LAST_CMD -> $RC" >&2
        sed 's/^/#   err: /' "$T/last.err" >&2
    fi
    return 0
}

# Assertions that add to PROBLEMS (use them inside a group, then `report NAME`).
expect_rc() { # expected-status, what
    if [ "$RC" != "$1" ]; then
        problem "$2: expected exit status $1, got $RC"
        problem "$(last_run)"
        return 1
    fi
    return 0
}
expect_nonzero() { # what
    if [ "$RC" = 0 ]; then
        problem "$1: expected a non-zero exit status, got 0"
        problem "$(last_run)"
        return 1
    fi
    return 0
}
expect_err_contains() { # substring, what   (fixed string, stderr+stdout)
    if ! printf '%s\n%s' "$ERR" "$OUT" | grep -qF -- "$1"; then
        problem "$2: expected the output to name '$1'"
        problem "$(last_run)"
        return 1
    fi
    return 0
}
expect_err_matches() { # extended-regex (case-insensitive), what
    if ! printf '%s\n%s' "$ERR" "$OUT" | grep -qiE -- "$1"; then
        problem "$2: expected the output to match /$1/i"
        problem "$(last_run)"
        return 1
    fi
    return 0
}

# Backup helpers. backup_expect TYPE(F|I) [hf args...]: runs `hfsync backup`, checks exit 0 and a
# name of that type on stdout; sets BK to the name. Adds problems on failure.
BK=
backup_expect() {
    local want=$1
    shift
    BK=
    hf "$@" -- backup
    expect_rc 0 "backup" || return 1
    if ! printf '%s' "$OUT" | grep -qxE "[0-9]{8}-[0-9]{6}$want"; then
        problem "backup: expected stdout to be exactly one backup name ending in '$want', got '$OUT'"
        problem "$(last_run)"
        return 1
    fi
    BK=$OUT
    return 0
}
# Same with --full.
backup_full() {
    BK=
    hf "$@" -- backup --full
    expect_rc 0 "backup --full" || return 1
    if ! printf '%s' "$OUT" | grep -qxE '[0-9]{8}-[0-9]{6}F'; then
        problem "backup --full: expected stdout to be exactly one backup name ending in 'F', got '$OUT'"
        problem "$(last_run)"
        return 1
    fi
    BK=$OUT
    return 0
}

# Compare a snapshot with a directory; adds the differences as problems.
expect_tree() { # snapshot.json dir what
    local diff
    if ! diff=$($TREE cmp-dir "$1" "$2" 2>&1); then
        problem "$3: tree $2 differs from snapshot $(basename "$1"):"
        problem "$(printf '%s' "$diff" | head -n 40)"
        return 1
    fi
    return 0
}

# No staging leftovers (".hfsync-*") beside any of the given paths, nor inside them at the top.
expect_no_staging() { # dir...
    local d found
    for d in "$@"; do
        found=$(find "$(dirname "$d")" -maxdepth 2 -name '.hfsync-*' 2>/dev/null | head -n 5)
        if [ -n "$found" ]; then
            problem "staging leftovers next to $d: $found"
            return 1
        fi
    done
    return 0
}

# sha256 of a file
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
