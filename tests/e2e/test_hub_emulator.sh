#!/usr/bin/env bash
# The Hub emulator (tests/hub-emulator), which hfsync's Hub tests run against:
# - the official JavaScript client @huggingface/hub (tests/hub/node_modules, installed by
#   scripts/install-deps.sh) drives it through tests/hub/conformance.mjs: createRepo, uploadFiles
#   (regular, basic LFS, multipart LFS), listFiles, downloadFile, fileExists, pathsInfo,
#   deleteFiles, listCommits, parentCommit conflicts, access control;
# - tests/hub/check_emulator.py checks at the HTTP level what a C client relies on: fault knobs
#   (429 + Retry-After, dropped connections, delays, cut bodies, a lost commit reply), Range and
#   LFS redirects, commit rules, auth answers, history, super-squash and storage accounting;
# - the state survives a restart on the same --data.
. "$(dirname "$0")/lib.sh"

EMULATOR=$REPO_ROOT/tests/hub-emulator
HUB_DIR=$REPO_ROOT/tests/hub
DATA=$T/hub-data
LOG=$T/hub.log
CHECK_TIMEOUT=${CHECK_TIMEOUT:-300}
EMU_PID=
EMU_URL=

stop_emulator() {
    [ -n "$EMU_PID" ] || return 0
    kill "$EMU_PID" 2>/dev/null
    wait "$EMU_PID"
    local rc=$?
    EMU_PID=
    return "$rc"
}
trap 'stop_emulator; _e2e_cleanup' EXIT

start_emulator() {
    rm -f "$T/hub.port"
    "$EMULATOR" --port 0 --data "$DATA" --port-file "$T/hub.port" \
        --token hf_test --token hf_other=other --read-token hf_reader --private-default \
        --lfs-chunk-size 1M --page-size 4 >>"$LOG" 2>&1 &
    EMU_PID=$!
    # the port file appears once the socket listens
    for _ in $(seq 100); do
        [ -s "$T/hub.port" ] && break
        kill -0 "$EMU_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ ! -s "$T/hub.port" ]; then
        stop_emulator
        return 1
    fi
    EMU_URL=http://127.0.0.1:$(cat "$T/hub.port")
}

log_tail() { printf 'emulator log (last lines):\n%s\n' "$(tail -n 20 "$LOG" | cut -c 1-300)"; }

# Runs a checker that prints "PASS name" / "FAIL name" + "  | detail" lines, and reports each
# line as one TAP test. A checker that exits non-zero without a FAIL line counts as one failure.
run_checker() { # what, command...
    local what=$1
    shift
    local out rc line name="" fails=0
    local -a detail=()
    out=$(timeout -k 5 "$CHECK_TIMEOUT" "$@" 2>"$T/checker.err")
    rc=$?
    flush() {
        [ -n "$name" ] || return 0
        fail "$name" "${detail[@]}"
        name=
        detail=()
    }
    while IFS= read -r line; do
        case $line in
        "PASS "*) flush; pass "${line#PASS }" ;;
        "FAIL "*) flush; name=${line#FAIL }; fails=$((fails + 1)) ;;
        "  | "*) [ -n "$name" ] && detail+=("${line#  | }") ;;
        esac
    done <<<"$out"
    flush
    if [ "$rc" -ne 0 ] && [ "$fails" -eq 0 ]; then
        fail "$what ran to completion" "exit status $rc" \
            "stderr: $(tail -n 15 "$T/checker.err" | cut -c 1-300)" "$(log_tail)"
    fi
}

# --- a bad option is refused with a message naming it
out=$("$EMULATOR" --data "$T/unused" --lfs-chunk-size 0 2>&1)
rc=$?
[ "$rc" = 2 ] || problem "--lfs-chunk-size 0: expected exit status 2, got $rc"
printf '%s' "$out" | grep -q -- '--lfs-chunk-size' || problem "--lfs-chunk-size 0: message does not name the option: $out"
report "hub-emulator refuses a bad option, naming it"

# --- start
if ! start_emulator; then
    fail "hub-emulator starts and announces its port" "$(log_tail)"
    finish
fi
grep -q "listening on $EMU_URL" "$LOG" || problem "no 'listening on $EMU_URL' line in the log"
report "hub-emulator starts on a free port and announces it"

# --- the official JavaScript client
if ! command -v node >/dev/null 2>&1; then
    skip "@huggingface/hub conformance" "node is not installed (install nodejs and npm, then run make deps)"
elif [ ! -f "$HUB_DIR/node_modules/@huggingface/hub/package.json" ]; then
    fail "@huggingface/hub is installed in tests/hub/node_modules" \
        "run 'make deps' (scripts/install-deps.sh runs 'npm ci' in tests/hub)"
else
    run_checker "conformance.mjs" node "$HUB_DIR/conformance.mjs" "$EMU_URL" hf_test hf_other
fi

# --- HTTP-level checks of the knobs a C client relies on
run_checker "check_emulator.py" python3 "$HUB_DIR/check_emulator.py" "$EMU_URL" "$T/hub-state.json"

# --- restart on the same data
stop_emulator
rc=$?
[ "$rc" = 0 ] || problem "SIGTERM: expected exit status 0, got $rc"
report "hub-emulator stops cleanly on SIGTERM"
if [ -f "$T/hub-state.json" ]; then
    if start_emulator; then
        run_checker "check_emulator.py --after-restart" \
            python3 "$HUB_DIR/check_emulator.py" "$EMU_URL" "$T/hub-state.json" --after-restart
    else
        fail "hub-emulator restarts on its data directory" "$(log_tail)"
    fi
else
    fail "state kept for the restart check" "check_emulator.py wrote no $T/hub-state.json"
fi

finish
