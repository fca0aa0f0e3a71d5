#!/usr/bin/env bash
# shellcheck disable=SC2034 # variables are read by lib.sh
# Damaged targets: a flipped byte in a volume, a missing volume, a corrupt manifest, a broken or
# cyclic parent pointer. Restore must fail with exit 3 naming the damaged object, leave the live
# sources byte-for-byte unchanged, and leave no staging directory behind.
. "$(dirname "$0")/lib.sh"
require_hfsync

LIVE=$T/live
mkdir -p "$LIVE"
$TREE gen "$LIVE/config" --seed 30 --files 60 --big 0
$TREE gen "$LIVE/state" --seed 31 --files 600 --big 1
SOURCES="config:$LIVE/config,state:$LIVE/state"
VOL=(HFSYNC_VOLUME_SIZE=64K)

names=()
backup_expect F "${VOL[@]}" && names+=("$BK")
$TREE mutate "$LIVE/state" --seed 31 --step 1
$TREE mutate "$LIVE/config" --seed 30 --step 1
backup_expect I "${VOL[@]}" && names+=("$BK")
report "set-up: a full and an incremental backup"
if [ "${#names[@]}" -ne 2 ]; then
    finish
fi
F=${names[0]}
I=${names[1]}

# The live tree differs from the backup, so a restore that went through would be visible.
$TREE mutate "$LIVE/state" --seed 31 --step 2
$TREE mutate "$LIVE/config" --seed 30 --step 2
$TREE snap "$LIVE" "$T/live.json"
cp -a "$REPO_DIR" "$T/pristine"

reset_repo() {
    rm -rf "$REPO_DIR"
    cp -a "$T/pristine" "$REPO_DIR"
    rm -rf "$CACHE_DIR" && mkdir -p "$CACHE_DIR"
}

# restore_fails WHAT NEEDLE: in-place restore fails with 3 naming NEEDLE, live unchanged
restore_fails() {
    hf -- restore
    expect_rc 3 "$1: restore" && expect_err_contains "$2" "$1: restore"
    expect_tree "$T/live.json" "$LIVE" "$1: live tree after the failed restore"
    expect_no_staging "$LIVE/state" "$LIVE/config"
}

# --- one flipped byte in a volume the latest state needs
reset_repo
vol=$($RTOOL pick-volume "$REPO_DIR")
$RTOOL flip "$REPO_DIR" "$vol"
restore_fails "flipped byte in $vol" "$vol"
report "restore with one flipped byte in a volume fails with 3 naming the volume, live data unchanged"

hf -- restore --to "$T/dest-flip"
expect_rc 3 "flipped byte: restore --to" && expect_err_contains "$vol" "flipped byte: restore --to"
if [ -e "$T/dest-flip" ] && [ -n "$(ls -A "$T/dest-flip" 2>/dev/null)" ]; then
    problem "failed restore --to left content in $T/dest-flip: $(ls -A "$T/dest-flip" | head -n 5 | tr '\n' ' ')"
fi
expect_no_staging "$T/dest-flip/state"
report "restore --to with one flipped byte fails with 3 and leaves no partial destination"

hf -- verify --deep
expect_rc 3 "flipped byte: verify --deep" && expect_err_contains "$vol" "flipped byte: verify --deep"
report "verify --deep finds the flipped byte and names the volume"

# --- damage in the last volume: the first source ('config') is complete by then, and must
# still not be swapped in
reset_repo
lastvol=$($RTOOL pick-volume "$REPO_DIR" --last)
$RTOOL flip "$REPO_DIR" "$lastvol"
restore_fails "flipped byte in the last volume $lastvol" "$lastvol"
report "a failure late in the restore leaves every source unchanged (no source is swapped in alone)"
reset_repo
vol=$($RTOOL pick-volume "$REPO_DIR")
$RTOOL flip "$REPO_DIR" "$vol"

hf -- restore --to "$T/dest-older" --backup "$I"
expect_rc 3 "flipped byte: restore --backup $I" && expect_err_contains "$vol" "flipped byte: restore --backup $I"
report "restore of a named backup that needs the damaged volume fails too"

# --- a missing volume
reset_repo
vol=$($RTOOL pick-volume "$REPO_DIR")
rm -f "$REPO_DIR/backups/$vol"
restore_fails "missing $vol" "$vol"
report "restore with a missing volume fails with 3 naming the volume, live data unchanged"
hf -- verify
expect_rc 3 "missing volume: verify" && expect_err_contains "$vol" "missing volume: verify"
report "verify finds the missing volume and names it"
hf -- verify --deep
expect_rc 3 "missing volume: verify --deep" && expect_err_contains "$vol" "missing volume: verify --deep"
report "verify --deep finds the missing volume and names it"

# --- a truncated volume (size differs from the meta)
reset_repo
vol=$($RTOOL pick-volume "$REPO_DIR")
truncate -s -100 "$REPO_DIR/backups/$vol"
restore_fails "truncated $vol" "$vol"
report "restore with a truncated volume fails with 3 naming the volume"

# --- a corrupt manifest
reset_repo
$RTOOL flip "$REPO_DIR" "$I.manifest.zst"
restore_fails "corrupt manifest" "$I.manifest.zst"
report "restore with a corrupt manifest fails with 3 naming the manifest, live data unchanged"
hf -- verify --deep
expect_rc 3 "corrupt manifest: verify --deep" && expect_err_contains "$I.manifest.zst" "corrupt manifest: verify --deep"
report "verify --deep finds the corrupt manifest and names it"

# --- a missing manifest
reset_repo
rm -f "$REPO_DIR/backups/$I.manifest.zst"
restore_fails "missing manifest" "$I.manifest.zst"
report "restore with a missing manifest fails with 3 naming the manifest"

# --- a broken parent pointer
reset_repo
$RTOOL set-parent "$REPO_DIR" "$I" "backups/20200101-000000F.meta.json"
restore_fails "broken parent pointer" "20200101-000000F"
report "restore with a parent pointer to a missing backup fails with 3 naming the missing parent"
hf -- verify
expect_rc 3 "broken parent: verify" && expect_err_contains "20200101-000000F" "broken parent: verify"
report "verify finds the missing parent and names it"

# --- the parent's meta deleted
reset_repo
rm -f "$REPO_DIR/backups/$F.meta.json"
restore_fails "parent meta deleted" "$F"
report "restore whose parent .meta.json was deleted fails with 3 naming the parent"

# --- a cycle
reset_repo
$RTOOL set-parent "$REPO_DIR" "$I" "backups/$I.meta.json"
restore_fails "parent cycle" "$I"
report "restore with a meta whose parent is itself fails with 3 (no endless loop)"

# --- the pointer names a missing meta
reset_repo
python3 - "$REPO_DIR/latest-backup.json" <<'EOF'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
d["latest"] = "backups/20300101-000000I.meta.json"
json.dump(d, open(p, "w"))
EOF
restore_fails "pointer to a missing meta" "20300101-000000I"
report "restore when latest-backup.json names a missing backup fails with 3 naming it"

# --- leftovers of an interrupted backup (objects without a .meta.json) are not backups
reset_repo
head -c 5000 /dev/urandom >"$REPO_DIR/backups/20300101-000000F.vol-0001.tar.zst"
head -c 300 /dev/urandom >"$REPO_DIR/backups/20300101-000000F.manifest.zst"
printf '{"version": "3.0", "backup_ty' >"$REPO_DIR/backups/.20300101-000000F.meta.json.tmp-x1y2z3"
hf -- list --json
if expect_rc 0 "list --json with leftovers"; then
    got=$(python3 -c 'import json,sys; print(" ".join(b["name"] for b in json.loads(sys.argv[1])["backups"]))' "$OUT" 2>&1)
    [ "$got" = "$I $F" ] || problem "list --json with leftovers shows '$got', expected '$I $F'"
fi
hf -- verify --deep
expect_rc 0 "verify --deep with leftovers"
hf -- restore --to "$T/dest-leftover"
expect_rc 0 "restore --to with leftovers"
report "objects of an interrupted backup without a .meta.json are ignored by list, verify and restore"

# --- an intact target still restores (the damage above was the only cause)
reset_repo
$TREE mutate "$LIVE/state" --seed 31 --step 3 # make the live tree differ again
hf -- restore --to "$T/dest-ok"
expect_rc 0 "restore --to from the intact target"
report "the undamaged target restores (control)"

finish
