#!/usr/bin/env bash
# shellcheck disable=SC2034 # variables are read by lib.sh
# A fresh container: the local cache (HFSYNC_CACHE_DIR) is gone, so the previous manifest must
# come from the target. The next backup after a change is still an incremental of the chain,
# nothing-changed is still detected, and restores (into --to and into missing live paths) work.
. "$(dirname "$0")/lib.sh"
require_hfsync

LIVE=$T/live
mkdir -p "$LIVE"
$TREE gen "$LIVE/state" --seed 21 --files 1200 --big 1
$TREE gen "$LIVE/config" --seed 22 --files 100 --big 0
SOURCES="state:$LIVE/state,config:$LIVE/config"
VOL=(HFSYNC_VOLUME_SIZE=128K)

names=()
backup_expect F "${VOL[@]}" && names+=("$BK")
$TREE snap "$LIVE" "$T/snap0.json"
for step in 1 2; do
    $TREE mutate "$LIVE/state" --seed 21 --step "$step"
    $TREE mutate "$LIVE/config" --seed 22 --step "$step"
    backup_expect I "${VOL[@]}" && names+=("$BK")
    $TREE snap "$LIVE" "$T/snap$step.json"
done
report "a chain of 1 full + 2 incrementals with a warm cache"
if [ "${#names[@]}" -ne 3 ]; then
    fail "chain was made" "backups: ${names[*]:-none}"
    finish
fi

# --- wipe the cache: nothing changed must still be detected from the target's manifest
rm -rf "$CACHE_DIR"
hf "${VOL[@]}" -- backup
expect_rc 0 "backup with an empty cache and no change" &&
    { [ -z "$OUT" ] || problem "backup with a wiped cache and no change made '$OUT', expected nothing (the previous manifest is on the target)"; }
report "after wiping the cache, an unchanged tree makes no backup"

# --- wipe again, change, back up: an incremental whose parent is the previous latest
rm -rf "$CACHE_DIR"
$TREE mutate "$LIVE/state" --seed 21 --step 3
$TREE mutate "$LIVE/config" --seed 22 --step 3
if backup_expect I "${VOL[@]}"; then
    names+=("$BK")
    par=$($RTOOL meta "$REPO_DIR" "$BK" parent)
    [ "$par" = "backups/${names[2]}.meta.json" ] ||
        problem "incremental $BK after a cache wipe has parent '$par', expected 'backups/${names[2]}.meta.json'"
    cnt=$($RTOOL meta "$REPO_DIR" "$BK" incremental_count)
    [ "$cnt" = 3 ] || problem "incremental_count of $BK is '$cnt', expected 3"
    stored=$($RTOOL meta "$REPO_DIR" "$BK" file_count)
    [ "${stored:-99999}" -lt 400 ] ||
        problem "incremental $BK after a cache wipe stored $stored files: it re-sent unchanged files"
fi
$TREE snap "$LIVE" "$T/snap3.json"
report "after wiping the cache, a changed tree makes an incremental of the same chain"

if [ "${#names[@]}" -eq 4 ]; then
    if msg=$($RTOOL check-format "$REPO_DIR" --snap "$T/snap3.json" --backup "${names[3]}" 2>&1); then
        pass "the incremental made with a fresh cache follows docs/FORMAT.md and matches the tree"
    else
        fail "the incremental made with a fresh cache follows docs/FORMAT.md and matches the tree" "$(printf '%s' "$msg" | head -n 30)"
    fi
fi

# --- restores with an empty cache
rm -rf "$CACHE_DIR"
hf -- restore --to "$T/r-latest"
expect_rc 0 "restore --to latest with an empty cache" &&
    expect_tree "$T/snap3.json" "$T/r-latest" "restore of the latest backup"
report "restore of the latest backup with an empty cache matches its snapshot"

rm -rf "$CACHE_DIR"
hf -- restore --to "$T/r-1" --backup "${names[1]}"
expect_rc 0 "restore --to --backup ${names[1]} with an empty cache" &&
    expect_tree "$T/snap1.json" "$T/r-1" "restore of ${names[1]}"
report "restore of an earlier incremental with an empty cache matches its snapshot"

# --- the real fresh container: no cache and no live data; restore creates the source paths
rm -rf "$CACHE_DIR" "$LIVE/state" "$LIVE/config"
hf -- restore
expect_rc 0 "in-place restore into missing source paths" &&
    expect_tree "$T/snap3.json" "$LIVE" "live tree restored from nothing" &&
    expect_no_staging "$LIVE/state"
report "in-place restore into missing source paths recreates them exactly"

hf "${VOL[@]}" -- backup
expect_rc 0 "backup after a fresh-container restore" &&
    { [ -z "$OUT" ] || problem "backup right after the fresh-container restore made '$OUT', expected nothing"; }
report "after a fresh-container restore, nothing needs backing up"

finish
