#!/usr/bin/env bash
# shellcheck disable=SC2034 # variables are read by lib.sh
# The backup strategy end to end on a file:// target, with the test clock (HFSYNC_TEST_NOW):
# a change below HFSYNC_MIN_CHANGED_FILES / _SIZE is skipped (nothing written, one decision line
# in the log), at most HFSYNC_MAX_SKIPS times in a row, then backed up; the final backup (--final)
# is never skipped; HFSYNC_FULL_INTERVAL after the full makes a full; an incremental larger than
# HFSYNC_FULL_RATIO of a full is made full; a fixed HFSYNC_COMPRESSION_LEVEL is used; and
# `backup --dry-run` prints the decision and what would be uploaded without touching the target.
. "$(dirname "$0")/lib.sh"
require_hfsync

LIVE=$T/live
mkdir -p "$LIVE/state/sub"
for i in $(seq -w 1 20); do
    head -c 2000 /dev/urandom | base64 >"$LIVE/state/sub/f$i.txt"
done
head -c 300000 /dev/urandom >"$LIVE/state/big.bin"
SOURCES="state:$LIVE/state"
T0=$(date -u -d '2026-11-02 10:00:00' +%s)
RULES=(HFSYNC_PRUNE=off HFSYNC_MIN_CHANGED_FILES=5 HFSYNC_MIN_CHANGED_SIZE=100K
    HFSYNC_MAX_SKIPS=2 HFSYNC_FULL_INTERVAL=2h)
at() { echo "HFSYNC_TEST_NOW=$((T0 + $1))"; }
touch_file() { echo "change $1" >>"$LIVE/state/sub/f$1.txt"; }
# What is on the target: every file with its size, time and content hash.
target_state() { (cd "$REPO_DIR" && find . -type f -printf '%p %s %T@\n' -exec sha256sum {} \; | sort); }
decision_line() { printf '%s\n' "$ERR" | grep -F 'decision: ' | head -n 1; }

# --- the first backup: a full, and its decision in one log line
backup_expect F "${RULES[@]}" "$(at 0)" && FULL=$BK
expect_err_contains "decision: full (no backup exists yet; 21 files" "the first backup"
[ "$(printf '%s\n' "$ERR" | grep -cF 'decision: ')" = 1 ] ||
    problem "expected exactly one decision line, got: $(printf '%s\n' "$ERR" | grep -F 'decision: ')"
report "the first backup is a full, explained in one decision line"

# --- below the thresholds: skipped twice (HFSYNC_MAX_SKIPS=2), then backed up
before=$(target_state)
touch_file 01
hf "${RULES[@]}" "$(at 300)" -- backup
expect_rc 0 "backup below the thresholds" &&
    { [ -z "$OUT" ] || problem "a skipped backup printed '$OUT'"; }
expect_err_contains "decision: skip (below HFSYNC_MIN_CHANGED_FILES 5 and HFSYNC_MIN_CHANGED_SIZE 100.0 KiB; skip 1 of at most 2 in a row; 1 file / " "first skip"
[ "$(target_state)" = "$before" ] || problem "a skipped backup changed the target"
hf -- status --json
printf '%s' "$OUT" | python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["backup"]["result"] != "skipped")' || problem "status does not say the backup was skipped: $OUT"
report "a change below HFSYNC_MIN_CHANGED_FILES and _SIZE is skipped: nothing written"

touch_file 02
hf "${RULES[@]}" "$(at 600)" -- backup
expect_rc 0 "second skip" && { [ -z "$OUT" ] || problem "the second skip printed '$OUT'"; }
expect_err_contains "skip 2 of at most 2 in a row; 2 files / " "second skip"
[ "$(target_state)" = "$before" ] || problem "the second skip changed the target"
report "the second skip in a row is counted"

touch_file 03
backup_expect I "${RULES[@]}" "$(at 900)" && {
    expect_err_contains "decision: incremental (below HFSYNC_MIN_CHANGED_FILES 5 and HFSYNC_MIN_CHANGED_SIZE 100.0 KiB, but 2 backups in a row were skipped (HFSYNC_MAX_SKIPS 2); 3 files / " "skip cap"
    n=$($RTOOL meta "$REPO_DIR" "$BK" file_count)
    [ "$n" = 3 ] || problem "the backup after the skips stored $n files, expected the 3 changed"
}
report "the skip cap reached: the pending changes are backed up"

# the count starts again after a backup
touch_file 04
hf "${RULES[@]}" "$(at 1200)" -- backup
expect_rc 0 "skip after a backup" && expect_err_contains "skip 1 of at most 2 in a row" "the count restarts"
report "after a backup the skips are counted from 1 again"

# --- the final backup (what the agent runs at a stop) is never skipped by the thresholds
hf "${RULES[@]}" "$(at 1260)" -- backup --final
expect_rc 0 "backup --final"
printf '%s' "$OUT" | grep -qxE '[0-9]{8}-[0-9]{6}I' || problem "backup --final printed '$OUT', expected an incremental's name"
expect_err_contains "but the final backup is never skipped" "backup --final"
report "the final backup is made although below the thresholds"

# --- nothing changed: skipped, even for the final backup
hf "${RULES[@]}" "$(at 1300)" -- backup --final
expect_rc 0 "no change" && { [ -z "$OUT" ] || problem "no change, yet '$OUT' was made"; }
expect_err_contains "decision: skip (nothing changed since the latest backup" "no change"
report "nothing changed: skipped"

# --- --dry-run: the decision and what would be uploaded; the target untouched
for i in 05 06 07 08 09 10 11 12; do touch_file "$i"; done
before=$(target_state)
latest_before=$(cat "$REPO_DIR/latest-backup.json")
hf "${RULES[@]}" HFSYNC_COMPRESSION_LEVEL=7 "$(at 1500)" -- backup --dry-run
expect_rc 0 "backup --dry-run"
printf '%s\n' "$OUT" | grep -qE '^decision: incremental \(the chain continues; 8 files / .*level 7 \(HFSYNC_COMPRESSION_LEVEL\)' ||
    problem "--dry-run did not print the decision on stdout: $OUT"
printf '%s\n' "$OUT" | grep -qE '^would store: 8 files, ' || problem "--dry-run did not print what it would store: $OUT"
printf '%s\n' "$OUT" | grep -qE '^would upload: about .* in 1 volume \(zstd level 7, volume size ' ||
    problem "--dry-run did not print what it would upload: $OUT"
printf '%s\n' "$OUT" | grep -qE '^[0-9]{8}-[0-9]{6}[FI]$' && problem "--dry-run printed a backup name: $OUT"
expect_err_contains "[dry run]" "the dry run's log line"
[ "$(target_state)" = "$before" ] || problem "--dry-run changed the target: $(diff <(echo "$before") <(target_state) | head -n 5)"
[ "$(cat "$REPO_DIR/latest-backup.json")" = "$latest_before" ] || problem "--dry-run moved the pointer"
report "backup --dry-run prints the decision and the upload, and writes nothing on the target"

# the same backup for real: the level and the decision it printed
backup_expect I "${RULES[@]}" HFSYNC_COMPRESSION_LEVEL=7 "$(at 1560)" && {
    lvl=$($RTOOL meta "$REPO_DIR" "$BK" hfsync.compression_level)
    [ "$lvl" = 7 ] || problem "HFSYNC_COMPRESSION_LEVEL=7 made a backup of level $lvl"
    expect_err_contains "level 7 (HFSYNC_COMPRESSION_LEVEL)" "fixed level"
}
report "a fixed HFSYNC_COMPRESSION_LEVEL is used and recorded"

# --- HFSYNC_FULL_INTERVAL (2h) after the full: a full
for i in 13 14 15 16 17 18; do touch_file "$i"; done
backup_expect F "${RULES[@]}" "$(at 7260)" &&
    expect_err_contains "decision: full (its full backup is 2h01m old (HFSYNC_FULL_INTERVAL 2h00m)" "full interval"
report "HFSYNC_FULL_INTERVAL since the last full makes a full"

# --- an incremental of more than HFSYNC_FULL_RATIO of a full: a full
head -c 300000 /dev/urandom >"$LIVE/state/big.bin"
backup_expect F "${RULES[@]}" "$(at 7500)" &&
    expect_err_contains "the incremental would be " "full ratio" &&
    expect_err_contains "% of a full (" "full ratio" &&
    expect_err_contains "HFSYNC_FULL_RATIO 50%)" "full ratio"
report "an incremental over HFSYNC_FULL_RATIO of a full is made full"

# every backup made restores and checks out
hf -- verify --deep
expect_rc 0 "verify --deep after the strategy's backups"
report "the backups the strategy made verify"

finish
