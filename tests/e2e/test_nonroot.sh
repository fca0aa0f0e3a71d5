#!/usr/bin/env bash
# shellcheck disable=SC2034 # variables are read by lib.sh
# hfsync as an ordinary user (a Hugging Face Space runs as uid 1000): read-only files and
# directories (0444, 0400, 0555, 0500) must back up, restore exactly into --to, and restore in
# place over a live tree that has read-only directories itself (the old tree must still be
# removable). As root, hfsync runs as 'nobody' through setpriv; as a user, as that user.
. "$(dirname "$0")/lib.sh"
require_hfsync

if [ "$(id -u)" = 0 ]; then
    if ! command -v setpriv >/dev/null 2>&1 || ! id nobody >/dev/null 2>&1; then
        skip "hfsync as a non-root user" "running as root without setpriv or user nobody"
        finish
    fi
    AS=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
    chmod 755 "$T"
else
    AS=()
fi

LIVE=$T/live
mkdir -p "$LIVE"
$TREE gen "$LIVE/state" --seed 41 --files 300 --big 0
S=$LIVE/state
mkdir -p "$S/ro-dir/inner" "$S/ro-dir/inner-empty"
printf 'read only\n' >"$S/ro-dir/ro-file.txt"
printf 'owner read only\n' >"$S/ro-dir/inner/owner-only.txt"
chmod 444 "$S/ro-dir/ro-file.txt"
chmod 400 "$S/ro-dir/inner/owner-only.txt"
chmod 500 "$S/ro-dir/inner" "$S/ro-dir/inner-empty"
chmod 555 "$S/ro-dir"
touch -h -d @1700000123.456789 "$S/ro-dir/inner" "$S/ro-dir/inner-empty" "$S/ro-dir"

own() { [ "$(id -u)" = 0 ] && chown -R -h nobody "$@"; return 0; }
own "$T/repo" "$T/cache" "$T/work" "$T/home" "$LIVE"

# hfn: hf as the unprivileged user
hfn() {
    local -a envs=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    LAST_CMD="$* (as $([ "${#AS[@]}" -gt 0 ] && echo nobody || id -un))"
    timeout -k 5 "$HF_TIMEOUT" "${AS[@]}" env -i PATH="$PATH" HOME="$T/home" HFSYNC_REPO="$REPO_URL" \
        HFSYNC_SOURCES="state:$S" HFSYNC_CACHE_DIR="$T/cache" HFSYNC_WORK_DIR="$T/work" \
        HFSYNC_VOLUME_SIZE=64K "${envs[@]}" "$HFSYNC" "$@" >"$T/last.out" 2>"$T/last.err"
    RC=$?
    OUT=$(cat "$T/last.out")
    ERR=$(cat "$T/last.err")
}

hfn -- backup
expect_rc 0 "backup as a non-root user" && { [[ "$OUT" =~ ^[0-9]{8}-[0-9]{6}F$ ]] || problem "backup printed '$OUT'"; }
F=$OUT
$TREE snap "$LIVE" "$T/snap0.json"
report "a non-root user backs up a tree with read-only files and directories"

$TREE mutate "$S" --seed 41 --step 1
own "$LIVE"
hfn -- backup
expect_rc 0 "incremental as a non-root user" && { [[ "$OUT" =~ ^[0-9]{8}-[0-9]{6}I$ ]] || problem "incremental printed '$OUT'"; }
$TREE snap "$LIVE" "$T/snap1.json"
report "a non-root user makes an incremental"

mkdir -p "$T/dest" && own "$T/dest"
hfn -- restore --to "$T/dest/r0" --backup "$F"
expect_rc 0 "restore --to of the full as a non-root user" &&
    expect_tree "$T/snap0.json" "$T/dest/r0" "restore --to of $F as a non-root user"
report "a non-root user restores read-only files and directories exactly (--to)"

hfn -- restore --to "$T/dest/r1"
expect_rc 0 "restore --to of the latest as a non-root user" &&
    expect_tree "$T/snap1.json" "$T/dest/r1" "restore --to of the latest as a non-root user"
report "a non-root user restores the latest incremental exactly (--to)"

# in place: the live tree has read-only directories with content that must be replaced
printf 'junk\n' >"$S/junk.txt"
own "$LIVE"
hfn -- restore
expect_rc 0 "in-place restore as a non-root user" &&
    expect_tree "$T/snap1.json" "$LIVE" "live tree after an in-place restore as a non-root user" &&
    expect_no_staging "$S"
report "a non-root user restores in place over a tree with read-only directories"

# a second in-place restore of the older backup (the live tree now came from a restore)
hfn -- restore --backup "$F"
expect_rc 0 "in-place restore of the full as a non-root user" &&
    expect_tree "$T/snap0.json" "$LIVE" "live tree after restoring $F in place" &&
    expect_no_staging "$S"
report "a non-root user restores an older backup in place"

finish
