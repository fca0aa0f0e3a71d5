#!/usr/bin/env bash
# shellcheck disable=SC2034 # variables are read by lib.sh
# A full backup and three incrementals of two sources with small volumes; every backup of the
# chain restores exactly to the state it was taken from (content, type, mode, mtime ns, link
# targets, deleted paths absent). Also: no-change backups, --full, list --json, verify, and an
# in-place restore over a damaged live tree.
. "$(dirname "$0")/lib.sh"
require_hfsync

LIVE=$T/live
mkdir -p "$LIVE"
$TREE gen "$LIVE/state" --seed 11 --files 3000 --big 3
$TREE gen "$LIVE/config" --seed 12 --files 150 --big 0
chmod 700 "$LIVE/config"
SOURCES="state:$LIVE/state,config:$LIVE/config"
VOL=(HFSYNC_VOLUME_SIZE=256K)

names=()
types=()

# --- full backup, several volumes
backup_expect F "${VOL[@]}" && names+=("$BK") && types+=(full)
$TREE snap "$LIVE" "$T/snap0.json"
if [ -n "$BK" ]; then
    nvol=$($RTOOL meta "$REPO_DIR" "$BK" volumes 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null)
    [ "${nvol:-0}" -ge 3 ] || problem "full backup with HFSYNC_VOLUME_SIZE=256K has ${nvol:-no} volumes, expected several (>= 3)"
fi
report "full backup of two sources makes a full backup in several volumes"

# --- three incrementals
for step in 1 2 3; do
    $TREE mutate "$LIVE/state" --seed 11 --step "$step"
    $TREE mutate "$LIVE/config" --seed 12 --step "$step"
    backup_expect I "${VOL[@]}" && names+=("$BK") && types+=(incremental)
    $TREE snap "$LIVE" "$T/snap$step.json"
    report "incremental backup $step after changes prints a new I backup"
done

# --- no change: nothing printed, exit 0, the log says so
hf "${VOL[@]}" -- backup
expect_rc 0 "backup with no change" &&
    { [ -z "$OUT" ] || problem "backup with no change printed '$OUT' on stdout, expected nothing"; } &&
    expect_err_matches 'nothing (has )?changed|no changes?' "backup with no change"
report "a backup with nothing changed prints nothing and says nothing changed"

if [ "${#names[@]}" -ne 4 ]; then
    fail "chain of 1 full + 3 incrementals was made" "backups made: ${names[*]:-none}"
    finish
fi

# --- list --json
hf -- list --json
if expect_rc 0 "list --json"; then
    printf '%s' "$OUT" >"$T/list.json"
    msg=$(python3 - "$T/list.json" "${names[@]}" <<'EOF'
import json, sys
path, names = sys.argv[1], sys.argv[2:]
try:
    doc = json.load(open(path))
except Exception as e:
    print(f"not JSON: {e}"); sys.exit(1)
b = doc.get("backups")
if not isinstance(b, list):
    print("no 'backups' array"); sys.exit(1)
got = [x.get("name") for x in b]
want = list(reversed(names))
errs = []
if got != want:
    errs.append(f"names newest first: got {got}, expected {want}")
else:
    for i, x in enumerate(b):
        n = x["name"]
        exp_type = "full" if n.endswith("F") else "incremental"
        exp_parent = None if i == len(b) - 1 else b[i + 1]["name"]
        if x.get("type") != exp_type:
            errs.append(f"{n}: type {x.get('type')!r}, expected {exp_type!r}")
        if x.get("parent") != exp_parent:
            errs.append(f"{n}: parent {x.get('parent')!r}, expected {exp_parent!r}")
        if x.get("latest") is not (i == 0):
            errs.append(f"{n}: latest {x.get('latest')!r}, expected {i == 0}")
        for k in ("chain_id", "created_at_utc", "file_count", "size", "volumes"):
            if k not in x:
                errs.append(f"{n}: no '{k}'")
        for k in ("file_count", "size", "volumes"):
            if k in x and not (isinstance(x[k], int) and x[k] >= 0):
                errs.append(f"{n}: {k} {x[k]!r} is not a non-negative integer")
    if len({x.get("chain_id") for x in b}) != 1:
        errs.append(f"chain_ids differ within one chain: {[x.get('chain_id') for x in b]}")
    if b[-1].get("volumes", 0) < 3:
        errs.append(f"full backup lists {b[-1].get('volumes')} volumes, expected several")
    if b[-1].get("file_count", 0) < 3000:
        errs.append(f"full backup file_count {b[-1].get('file_count')} < 3000")
print("\n".join(errs))
sys.exit(1 if errs else 0)
EOF
    ) || { problem "list --json: $msg"; problem "$(last_run)"; }
fi
report "list --json shows the 4 backups newest first with types, parents and latest"

# --- verify
hf -- verify
expect_rc 0 "verify"
report "verify passes on an intact chain"
hf -- verify --deep
expect_rc 0 "verify --deep"
report "verify --deep passes on an intact chain"
# 64 KiB of manifest entries in memory: the rest goes through the spool's file in HFSYNC_WORK_DIR
hf HFSYNC_TEST_SPOOL_MEMORY=65536 HFSYNC_LOG_LEVEL=debug -- verify --deep
expect_rc 0 "verify --deep with HFSYNC_TEST_SPOOL_MEMORY=65536" &&
    expect_err_contains "past the spool's memory: kept in a file" "verify --deep with HFSYNC_TEST_SPOOL_MEMORY=65536"
report "verify --deep passes with the manifest spooled to disk"
hf -- verify --backup "${names[1]}" --deep
expect_rc 0 "verify --backup ${names[1]} --deep"
report "verify --backup NAME --deep passes on an earlier backup"

# --- on-target objects follow docs/FORMAT.md
if msg=$($RTOOL check-format "$REPO_DIR" --snap "$T/snap3.json" --backup "${names[3]}" 2>&1); then
    pass "objects on the target follow docs/FORMAT.md (pointer, metas, manifests, volumes)"
else
    fail "objects on the target follow docs/FORMAT.md (pointer, metas, manifests, volumes)" "$(printf '%s' "$msg" | head -n 30)"
fi

# --- restore every backup of the chain into fresh --to directories; the odd ones with 64 KiB of
# manifest entries in memory (3,000 entries need more: the spool's file is used)
for i in 0 1 2 3; do
    dest=$T/restore-$i
    if [ "$i" = 2 ]; then mkdir -p "$dest"; fi # an existing empty directory is fine too
    spool=()
    if [ $((i % 2)) = 1 ]; then spool=(HFSYNC_TEST_SPOOL_MEMORY=65536 HFSYNC_LOG_LEVEL=debug); fi
    hf "${spool[@]}" -- restore --to "$dest" --backup "${names[$i]}"
    expect_rc 0 "restore --to --backup ${names[$i]}" &&
        expect_tree "$T/snap$i.json" "$dest" "restore of ${names[$i]}"
    [ "${#spool[@]}" = 0 ] || expect_err_contains "kept in a file" "restore of ${names[$i]} (spooled)"
    report "restore --backup ${names[$i]} (${types[$i]} $i of the chain) --to DIR matches its snapshot exactly"
    rm -rf "$dest"
done

hf -- restore --to "$T/restore-latest"
expect_rc 0 "restore --to (latest)" &&
    expect_tree "$T/snap3.json" "$T/restore-latest" "restore of the latest backup"
report "restore --to DIR without --backup restores the latest backup"
rm -rf "$T/restore-latest"

expect_tree "$T/snap3.json" "$LIVE" "live tree after restores with --to"
report "restores with --to leave the live sources untouched"

# --- in-place restore over a damaged live tree
victim=$(find "$LIVE/state" -type f -name 'f0*' | sort | head -n 1)
echo "scribble" >>"$victim"
find "$LIVE/state" -type f -name 'f01*' -delete
rm -rf "$LIVE/state/deep0/deep1/deep2"
echo "new junk" >"$LIVE/state/junk-added-after-backup.txt"
mkdir -p "$LIVE/config/junk dir"
chmod 777 "$LIVE/state"
ln -sfn /nowhere "$LIVE/state/link-rel"
hf -- restore
expect_rc 0 "in-place restore" &&
    expect_tree "$T/snap3.json" "$LIVE" "live tree after in-place restore" &&
    expect_no_staging "$LIVE/state" "$LIVE/config"
report "in-place restore brings the damaged live tree back exactly to the latest backup"

# the restored tree has the latest backup's metadata, so nothing needs backing up
hf "${VOL[@]}" -- backup
expect_rc 0 "backup after in-place restore" &&
    { [ -z "$OUT" ] || problem "backup right after restoring the latest backup made '$OUT', expected no backup (nothing changed)"; }
report "a backup right after an in-place restore finds nothing changed"

# --- --full forces a new chain
backup_full "${VOL[@]}" && {
    f2=$BK
    cid_old=$($RTOOL meta "$REPO_DIR" "${names[0]}" chain_id)
    cid_new=$($RTOOL meta "$REPO_DIR" "$f2" chain_id)
    [ "$cid_old" != "$cid_new" ] || problem "new full backup $f2 kept chain_id $cid_old"
    par=$($RTOOL meta "$REPO_DIR" "$f2" parent)
    [ "$par" = null ] || problem "new full backup $f2 has parent $par"
    [ "$($RTOOL latest "$REPO_DIR")" = "$f2" ] || problem "latest-backup.json does not point to $f2"
}
report "backup --full with no change still makes a full backup starting a new chain"

hf -- restore --to "$T/restore-full2"
expect_rc 0 "restore --to of the second full" &&
    expect_tree "$T/snap3.json" "$T/restore-full2" "restore of the second full backup"
report "the second full backup restores the same state"
hf -- restore --to "$T/restore-old" --backup "${names[2]}"
expect_rc 0 "restore of an incremental of the old chain" &&
    expect_tree "$T/snap2.json" "$T/restore-old" "restore of ${names[2]} after a new chain began"
report "backups of the previous chain still restore after a new full"

finish
