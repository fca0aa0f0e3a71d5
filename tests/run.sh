#!/usr/bin/env bash
# Runs the whole test suite: every unit test binary (built with ASan+UBSan by `make unit`) and
# every end-to-end script in tests/e2e/ against ./hfsync. Each prints TAP lines ("ok N - name",
# "not ok N - name"); a binary or script that dies without reporting counts as one failure.
# The last line is "N passed, N failed"; the exit status is non-zero on any failure.
set -u
cd "$(dirname "$0")/.."

passed=0
failed=0
failures=()
log_dir=build/test-logs
mkdir -p "$log_dir"

run_one() { # name, command...
    local name=$1
    shift
    local log="$log_dir/${name//\//_}.log"
    local rc
    "$@" >"$log" 2>&1
    rc=$?
    local ok notok
    ok=$(grep -cE '^ok [0-9]+' "$log")
    notok=$(grep -cE '^not ok [0-9]+' "$log")
    passed=$((passed + ok))
    failed=$((failed + notok))
    if [ "$notok" -gt 0 ]; then
        while IFS= read -r line; do failures+=("$name: $line"); done < <(grep -E '^not ok [0-9]+' "$log")
    fi
    if [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
        failed=$((failed + 1))
        failures+=("$name: exited with status $rc without reporting a failure")
    fi
    printf '%-40s %3d passed, %d failed%s\n' "$name" "$ok" "$notok" \
        "$([ "$rc" -ne 0 ] && echo " (exit $rc, see $log)")"
}

if [ "${1:-}" != "--e2e-only" ]; then
    export CMOCKA_MESSAGE_OUTPUT=TAP
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    for bin in build/unit/test_*; do
        [ -x "$bin" ] || continue
        run_one "unit/$(basename "$bin")" "$bin"
    done
fi

for script in tests/e2e/test_*.sh; do
    [ -f "$script" ] || continue
    run_one "e2e/$(basename "$script" .sh)" bash "$script"
done

if [ "${#failures[@]}" -gt 0 ]; then
    echo
    echo "failures:"
    printf '  %s\n' "${failures[@]}"
fi
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
