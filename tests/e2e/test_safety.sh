#!/usr/bin/env bash
# Data-safety rules of backup: a source that vanishes (a missing mount, a wrong path) must not be
# recorded as "everything deleted", and a target with nothing to back up gets no empty backup.
. "$(dirname "$0")/lib.sh"
require_hfsync

mkdir -p "$T/a/sub" "$T/b"
echo one >"$T/a/sub/f"
echo two >"$T/b/g"
SOURCES="a:$T/a,b:$T/b"

backup_expect F
report "set-up: a full backup of two sources"
first=$BK

mv "$T/b" "$T/b.away"
hf -- backup
expect_rc 1 "backup with source b missing" &&
    expect_err_contains "source 'b' was in the previous backup" "backup with source b missing" &&
    expect_err_contains "--full" "the hint names the way out"
hf -- list --json
printf '%s' "$OUT" | grep -q "\"latest\":[[:space:]]*\"backups/$first.meta.json\"" ||
    problem "the pointer moved although the backup was refused: $OUT"
report "a source that vanished stops the backup; the pointer stays on the last good backup"

hf -- restore --to "$T/r1"
expect_rc 0 "restore after the refused backup"
[ "$(cat "$T/r1/b/g" 2>/dev/null)" = two ] || problem "source b is not in the restored latest backup"
report "the latest backup still holds the vanished source"

backup_full
hf -- restore --to "$T/r2"
expect_rc 0 "restore after --full"
[ -e "$T/r2/b" ] && problem "source b was restored after a --full backup without it"
[ "$(cat "$T/r2/a/sub/f" 2>/dev/null)" = one ] || problem "source a is missing after --full"
report "--full confirms the removal: a new chain without the source"

mv "$T/a" "$T/a.away"
hf -- backup --full
expect_rc 1 "backup with no source present" &&
    expect_err_contains "none of the configured sources exists" "backup with no source present"
report "nothing to back up at all is an error, even with --full"

finish
