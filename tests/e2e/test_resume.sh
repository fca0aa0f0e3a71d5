#!/usr/bin/env bash
# shellcheck disable=SC2034 # variables are read by lib.sh
# Checkpoints and resume after a kill -9 (HFSYNC_TEST_CRASH kills hfsync with SIGKILL at a chosen
# point), on file://, on S3 (moto_server) and on the Hub emulator:
# - killed between volumes, inside a volume, and just before the pointer write: the pointer has
#   not moved; the next backup resumes the same backup, keeps the volumes whose files did not
#   change (uploading less than the whole), and the result restores exactly and verifies;
# - a file changed since the kill makes its volume (and the rest) be written again;
# - encrypted: resumed under the same password; under another one it starts afresh;
# - afterwards the target holds only the objects of complete backups (no checkpoint, no stray
#   volume); on the Hub checkpoints are commits at most every HFSYNC_CHECKPOINT_INTERVAL.
. "$(dirname "$0")/lib.sh"
require_hfsync

MOTO_PID=
EMU_PID=
stop_servers() {
    local p
    for p in $MOTO_PID $EMU_PID; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
}
trap 'stop_servers; _e2e_cleanup' EXIT

TREE="python3 $E2E_DIR/tree.py"
VOL=(HFSYNC_VOLUME_SIZE=1M HFSYNC_COMPRESSION_LEVEL=1 HFSYNC_THREADS=1 HFSYNC_PRUNE=off HFSYNC_FULL_RATIO=0)
BACKEND=
ENV=()

objects() { # target-relative paths of every object but the lease
    case $BACKEND in
    file) (cd "$REPO_DIR" && find . -type f ! -name hfsync-lease.json | sed 's|^\./||' | sort) ;;
    s3) $S3TOOL "$EP" keys hfsync-e2e "$S3_PREFIX/" | cut -f1 | sed "s|^$S3_PREFIX/||" | grep -vx hfsync-lease.json | sort ;;
    hub) hub_tree "$HUB_REPO" ;;
    esac
}

# Every object must belong to a complete backup (its .meta.json lists it) or be the pointer.
only_complete_backups() { # what
    local want
    hf "${ENV[@]}" -- list --json
    want=$(printf '%s' "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for b in d["backups"]:
    n = b["name"]
    print("backups/%s.meta.json" % n)
    print("backups/%s.manifest.zst%s" % (n, ".enc" if b["encrypted"] else ""))
    for v in range(1, b["volumes"] + 1):
        print("backups/%s.vol-%04d.tar.zst%s" % (n, v, ".enc" if b["encrypted"] else ""))
print("latest-backup.json")' | sort)
    if [ "$(objects)" != "$want" ]; then
        problem "$1: the target holds objects of no complete backup:"
        problem "$(diff <(printf '%s\n' "$want") <(objects) | grep '^[<>]' | head -n 10)"
    fi
}

latest_of() { # the pointer's backup
    hf "${ENV[@]}" -- list --json
    printf '%s' "$OUT" | python3 -c 'import json, sys; print(json.load(sys.stdin)["latest"])'
}

uploaded_of() { # backup name: "uploaded size" from list --json
    hf "${ENV[@]}" -- list --json
    printf '%s' "$OUT" | python3 -c '
import json, sys
for b in json.load(sys.stdin)["backups"]:
    if b["name"] == sys.argv[1]:
        print(b["uploaded"], b["size"])' "$1"
}

restores_exactly() { # what
    rm -rf "$T/out" && mkdir -p "$T/out"
    $TREE snap "$LIVE" "$T/snap.json"
    hf "${ENV[@]}" -- restore --to "$T/out"
    expect_rc 0 "$1: restore" && expect_tree "$T/snap.json" "$T/out" "$1"
    hf "${ENV[@]}" -- verify
    expect_rc 0 "$1: verify"
}

# Kill at `point`, then back up again: it resumes, keeping at least `min_kept` volumes.
# BACKUP_ARGS: flags of both backups (--full).
BACKUP_ARGS=()
crash_and_resume() { # label point min_kept [VAR=value...]
    local label=$1 point=$2 min_kept=$3
    shift 3
    local before after kept up size
    before=$(latest_of)
    hf "${ENV[@]}" "${VOL[@]}" "$@" "HFSYNC_TEST_CRASH=$point" -- backup "${BACKUP_ARGS[@]}"
    expect_rc 137 "$label: the backup killed at $point" || return 1
    after=$(latest_of)
    [ "$before" = "$after" ] || problem "$label: killed at $point, yet the pointer moved ($before -> $after)"
    objects | grep -q 'checkpoint\.json$' || problem "$label: no checkpoint after the kill at $point"
    [ -n "${BEFORE_RESUME:-}" ] && $BEFORE_RESUME
    hf "${ENV[@]}" "${VOL[@]}" "$@" -- backup "${BACKUP_ARGS[@]}"
    expect_rc 0 "$label: the backup after the kill" || return 1
    local name=$OUT
    expect_err_contains "resuming backup $name from its checkpoint" "$label: it resumes" || return 1
    [ -n "${EXPECT_LOG:-}" ] && expect_err_contains "$EXPECT_LOG" "$label: the log says it"
    kept=$(printf '%s' "$ERR" | sed -n 's/.*from its checkpoint: \([0-9]*\) of its.*/\1/p' | head -n 1)
    LAST_KEPT=${kept:-0}
    [ "$LAST_KEPT" -ge "$min_kept" ] || problem "$label: kept $LAST_KEPT volumes, expected at least $min_kept"
    read -r up size <<<"$(uploaded_of "$name")"
    if [ "$LAST_KEPT" -gt 0 ] && [ "${up:-0}" -ge "${size:-0}" ]; then
        problem "$label: the resumed backup uploaded $up bytes of $size: nothing was saved"
    fi
    restores_exactly "$label"
}

TOUCHES=0
touch_all() { # every file gets a new mtime: all of them are stored again
    TOUCHES=$((TOUCHES + 1))
    find "$LIVE/state" -type f -exec touch -m -d "@$(($(date +%s) + 60 * TOUCHES))" {} +
}

scenario() { # label
    local label=$1
    LIVE=$T/live-$label
    rm -rf "$LIVE" && mkdir -p "$LIVE"
    $TREE gen "$LIVE/state" --seed 17 --files 120 --big 4 >/dev/null
    SOURCES="state:$LIVE/state"
    CACHE_DIR=$T/cache-$label
    rm -rf "$CACHE_DIR"

    crash_and_resume "$label" volume:2 2
    report "$label: killed between volumes, the next backup resumes it, keeps the volumes done and restores exactly"

    touch_all
    crash_and_resume "$label" inside:2 1
    report "$label: killed inside a volume (an incremental), it resumes from the volumes before it"

    BACKUP_ARGS=(--full)
    crash_and_resume "$label" pointer 1
    report "$label: killed just before the pointer write, the volumes are kept"

    BEFORE_RESUME=touch_all
    EXPECT_LOG="from its checkpoint: 0 of its 1 volume kept"
    crash_and_resume "$label" volume:1 0
    report "$label: a file changed since the kill makes its volume be written again"
    BEFORE_RESUME=
    EXPECT_LOG=
    BACKUP_ARGS=()

    only_complete_backups "$label"
    report "$label: no checkpoint and no stray object remain"
}

# ================================ file:// ================================
BACKEND=file
REPO_DIR=$T/repo-file
REPO_URL=file://$REPO_DIR
mkdir -p "$REPO_DIR"
scenario file

# Encrypted: resumed under the same password; another password starts afresh.
LIVE=$T/live-crypt
$TREE gen "$LIVE/state" --seed 23 --files 80 --big 3 >/dev/null
SOURCES="state:$LIVE/state"
REPO_DIR=$T/repo-crypt
REPO_URL=file://$REPO_DIR
mkdir -p "$REPO_DIR"
ENV=(HFSYNC_PASSWORD=correct-horse)
crash_and_resume crypt volume:1 1
hf "${VOL[@]}" HFSYNC_PASSWORD=correct-horse HFSYNC_TEST_CRASH=volume:1 -- backup --full
expect_rc 137 "crypt: killed again" && {
    hf "${VOL[@]}" HFSYNC_PASSWORD=battery-staple -- backup --full
    expect_rc 0 "crypt: a full under another password" &&
        expect_err_contains "does not open the unfinished backup" "crypt: the checkpoint is not resumed under another password"
    ENV=(HFSYNC_PASSWORD=battery-staple)
    restores_exactly "crypt: new password"
}
ENV=()
report "encrypted: resumed under the same password, started afresh under another"

# The resumed backup ends with fewer volumes than the killed one had written: those go too.
BACKEND=file
LIVE=$T/live-shrink
$TREE gen "$LIVE/state" --seed 29 --files 60 --big 4 >/dev/null
SOURCES="state:$LIVE/state"
REPO_DIR=$T/repo-shrink
REPO_URL=file://$REPO_DIR
mkdir -p "$REPO_DIR"
shrink() { find "$LIVE/state" -type f -size +64k -delete; }
BEFORE_RESUME=shrink
crash_and_resume shrink pointer 0
BEFORE_RESUME=
only_complete_backups shrink
report "a resumed backup with fewer volumes than the killed one removes the volumes it no longer has"

# ================================ S3 (moto_server) ================================
S3TOOL="python3 $E2E_DIR/s3_tool.py"
if ! command -v moto_server >/dev/null 2>&1 || ! python3 -c 'import boto3' 2>/dev/null; then
    skip "resume on S3" "moto_server or boto3 is not installed"
else
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    moto_server -H 127.0.0.1 -p "$port" >"$T/moto.log" 2>&1 &
    MOTO_PID=$!
    EP=http://127.0.0.1:$port
    if $S3TOOL "$EP" wait && AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test $S3TOOL "$EP" mkbucket hfsync-e2e; then
        export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
        BACKEND=s3
        S3_PREFIX=team/resume
        ENV=(AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "AWS_ENDPOINT_URL=$EP")
        REPO_URL=s3://hfsync-e2e/$S3_PREFIX
        scenario s3
    else
        fail "moto_server starts on loopback" "$(tail -n 20 "$T/moto.log")"
    fi
fi

# ================================ Hub emulator ================================
if ! python3 -c 'import flask' 2>/dev/null; then
    skip "resume on the Hub" "Flask is not installed"
    finish
fi
"$REPO_ROOT/tests/hub-emulator" --port 0 --data "$T/hub-data" --port-file "$T/hub.port" \
    --token hf_test --quiet >>"$T/hub.log" 2>&1 &
EMU_PID=$!
for _ in $(seq 100); do
    [ -s "$T/hub.port" ] && break
    sleep 0.1
done
if [ ! -s "$T/hub.port" ]; then
    fail "the Hub emulator starts on loopback" "$(tail -n 20 "$T/hub.log")"
    finish
fi
EMU_URL=http://127.0.0.1:$(cat "$T/hub.port")
commits() { curl -s "$EMU_URL/_emulator/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['commits']['by_repo'].get('$1', 0))"; }
hub_tree() { # repo: its files
    curl -sf -H "Authorization: Bearer hf_test" "$EMU_URL/api/$1/tree/main?recursive=true" |
        python3 -c 'import json,sys; [print(e["path"]) for e in json.load(sys.stdin) if e["type"]=="file" and e["path"]!=".gitattributes"]' | sort
}
BACKEND=hub
HUB_REPO=datasets/user/resume
REPO_URL=hf://$HUB_REPO
ENV=(HF_ENDPOINT="$EMU_URL" HF_TOKEN=hf_test HFSYNC_CHECKPOINT_INTERVAL=0)
scenario hub

# With the default interval a short backup makes no checkpoint commit: one commit per backup.
$TREE mutate "$LIVE/state" --seed 17 --step 9 >/dev/null
c0=$(commits "$HUB_REPO")
hf HF_ENDPOINT="$EMU_URL" HF_TOKEN=hf_test "${VOL[@]}" -- backup
expect_rc 0 "hub: a backup with the default checkpoint interval" &&
    [ "$(commits "$HUB_REPO")" = $((c0 + 1)) ] || problem "hub: $(($(commits "$HUB_REPO") - c0)) commits, expected 1"
report "hub: with HFSYNC_CHECKPOINT_INTERVAL (300 s) a short backup is still one commit"

# Checkpoint commits are this writer's own: the backup's last commit goes over them without a
# 412 and a rebase, and leaves no members object behind.
s412() { curl -s "$EMU_URL/_emulator/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['requests']['by_status'].get('412', 0))"; }
touch_all
r0=$(s412)
c0=$(commits "$HUB_REPO")
hf "${ENV[@]}" "${VOL[@]}" -- backup --full
expect_rc 0 "hub: a full backup with a checkpoint after every volume" && {
    [ "$(s412)" = "$r0" ] || problem "hub: $(($(s412) - r0)) commits answered 412 (a rebase over its own checkpoints)"
    [ "$(($(commits "$HUB_REPO") - c0))" -ge 3 ] || problem "hub: expected checkpoint commits, got $(($(commits "$HUB_REPO") - c0)) commits"
    only_complete_backups "hub: checkpoints"
}
report "hub: the backup's commit goes over its own checkpoint commits without a rebase; no members object left"

hf "${ENV[@]}" HFSYNC_CHECKPOINT_INTERVAL=often -- backup
expect_rc 2 "HFSYNC_CHECKPOINT_INTERVAL=often" && expect_err_contains "HFSYNC_CHECKPOINT_INTERVAL" "the variable is named"
report "a bad HFSYNC_CHECKPOINT_INTERVAL stops with exit 2"

finish
