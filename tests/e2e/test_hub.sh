#!/usr/bin/env bash
# shellcheck disable=SC2034 # variables are read by lib.sh
# The Hugging Face Hub backend against the Hub emulator (tests/hub-emulator) on loopback:
# - a full backup and incrementals with deletions, several volumes each (basic and multipart LFS
#   uploads), every backup restored exactly from a fresh cache;
# - exactly one commit per backup, none when nothing changed;
# - the official client @huggingface/hub lists and downloads what hfsync uploaded, same bytes;
# - a commit by someone else between plan and publish (412): an unrelated one is committed over,
#   another writer's backup is never overwritten, and the next cycle succeeds;
# - a lost commit reply does not make a second commit; a broken download resumes;
# - bad token, read-only token, another namespace, anonymous: one clear error each, no token shown.
. "$(dirname "$0")/lib.sh"
require_hfsync

EMULATOR=$REPO_ROOT/tests/hub-emulator
HUB_DIR=$REPO_ROOT/tests/hub
if ! python3 -c 'import flask' 2>/dev/null; then
    skip "Hub backend against the emulator" "Flask is not installed (it comes with the machine image's python)"
    finish
fi

EMU_PID=
EMU_URL=
start_emulator() {
    rm -f "$T/hub.port"
    "$EMULATOR" --port 0 --data "$T/hub-data" --port-file "$T/hub.port" \
        --token hf_test --token hf_other=other --read-token hf_reader \
        --lfs-chunk-size 1M --page-size 7 --quiet >>"$T/hub.log" 2>&1 &
    EMU_PID=$!
    for _ in $(seq 100); do
        [ -s "$T/hub.port" ] && break
        kill -0 "$EMU_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -s "$T/hub.port" ] || return 1
    EMU_URL=http://127.0.0.1:$(cat "$T/hub.port")
}
stop_emulator() { [ -n "$EMU_PID" ] && kill "$EMU_PID" 2>/dev/null && wait "$EMU_PID" 2>/dev/null; EMU_PID=; }
trap 'stop_emulator; _e2e_cleanup' EXIT

start_emulator || { fail "the Hub emulator starts on loopback" "$(tail -n 20 "$T/hub.log")"; finish; }

stat_of() { # python expression over the stats document d
    curl -s "$EMU_URL/_emulator/stats" | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}
commits() { stat_of "d['commits']['by_repo'].get('$1', 0)"; }
fault() { curl -s -X POST -H 'Content-Type: application/json' -d "$1" "$EMU_URL/_emulator/faults" >/dev/null; }
faults_clear() { curl -s -X DELETE "$EMU_URL/_emulator/faults" >/dev/null; }
fetch() { # repo path -> stdout
    curl -sf -H "Authorization: Bearer hf_test" "$EMU_URL/$1/resolve/main/$2"
}

# hf in the background with its own output files: bg_hf DIR args...; then bg_wait DIR sets RC/OUT/ERR
bg_hf() { local d=$1; shift; ( T=$d; mkdir -p "$T"; hf "$@"; echo "$RC" >"$T/rc" ) & BGPID=$!; }
bg_wait() { wait "$BGPID"; RC=$(cat "$1/rc" 2>/dev/null || echo 99); OUT=$(cat "$1/last.out"); ERR=$(cat "$1/last.err"); }

HUB=(HF_ENDPOINT="$EMU_URL" HF_TOKEN=hf_test HFSYNC_VOLUME_SIZE=2M)
REPO_URL=hf://datasets/user/agent-state/team
LIVE=$T/live
mkdir -p "$LIVE"
$TREE gen "$LIVE/state" --seed 41 --files 600 --big 3
$TREE gen "$LIVE/config" --seed 42 --files 50 --big 0
head -c 3500000 /dev/urandom >"$LIVE/state/incompressible.bin"
SOURCES="state:$LIVE/state,config:$LIVE/config"

# --- the full scenario: full + incrementals with deletions, one commit each
names=()
backup_expect F "${HUB[@]}" && names+=("$BK")
$TREE snap "$LIVE" "$T/snap0.json"
c=$(commits datasets/user/agent-state)
[ "$c" = 1 ] || problem "expected 1 commit (the backup), got $c"
parts=$(stat_of "d['lfs']['parts_uploaded']")
basic=$(stat_of "d['lfs']['basic_uploads']")
{ [ "$parts" -ge 2 ] && [ "$basic" -ge 1 ]; } ||
    problem "expected multipart and basic LFS uploads, got $parts parts and $basic basic uploads"
private=$(stat_of "d['repos']['datasets/user/agent-state']['private']")
[ "$private" = True ] || problem "the repo hfsync created is not private"
report "full backup to a new hf:// repo: created private, one commit, basic and multipart LFS uploads"

for step in 1 2; do
    $TREE mutate "$LIVE/state" --seed 41 --step "$step"
    $TREE mutate "$LIVE/config" --seed 42 --step "$step"
    [ "$step" = 2 ] && rm -f "$LIVE/state/incompressible.bin"
    before=$(commits datasets/user/agent-state)
    backup_expect I "${HUB[@]}" && names+=("$BK")
    $TREE snap "$LIVE" "$T/snap$step.json"
    after=$(commits datasets/user/agent-state)
    [ "$after" = $((before + 1)) ] || problem "incremental $step made $((after - before)) commits, expected 1"
    report "incremental backup $step (changes and deletions) is exactly one commit"
done

before=$(commits datasets/user/agent-state)
hf "${HUB[@]}" -- backup
expect_rc 0 "backup with no change" && { [ -z "$OUT" ] || problem "no-change backup made '$OUT'"; }
[ "$(commits datasets/user/agent-state)" = "$before" ] || problem "a backup with nothing changed made a commit"
report "a backup with nothing changed makes no commit"

for i in 0 1 2; do
    [ -n "${names[$i]:-}" ] || continue
    rm -rf "$CACHE_DIR" && mkdir -p "$CACHE_DIR"
    hf "${HUB[@]}" -- restore --to "$T/restore-$i" --backup "${names[$i]}"
    expect_rc 0 "restore ${names[$i]} from hf:// with an empty cache" &&
        expect_tree "$T/snap$i.json" "$T/restore-$i" "restore of ${names[$i]}"
    report "backup $i of the chain restores exactly from hf:// with a fresh cache"
    rm -rf "$T/restore-$i"
done

hf "${HUB[@]}" -- verify --deep
expect_rc 0 "verify --deep on hf://"
report "verify --deep passes on hf://"

# --- the official client reads what hfsync wrote
if command -v node >/dev/null 2>&1 && [ -d "$HUB_DIR/node_modules/@huggingface/hub" ]; then
    if node "$HUB_DIR/readback.mjs" "$EMU_URL" hf_test datasets/user/agent-state team/ >"$T/js.tsv" 2>"$T/js.err"; then
        fetch datasets/user/agent-state "team/backups/${names[2]:-x}.meta.json" >"$T/meta2.json"
        python3 - "$T/js.tsv" "$T/meta2.json" <<'EOF' || problem "$(cat "$T/js.check")"
import json, sys
rows = {l.split("\t")[0]: l.rstrip("\n").split("\t") for l in open(sys.argv[1])}
meta = json.load(open(sys.argv[2]))
bad = []
for v in meta["hfsync"]["volume_info"]:
    r = rows.get("team/backups/" + v["name"])
    if r is None or int(r[1]) != v["size"] or r[2] != v["sha256"]:
        bad.append(f"{v['name']}: meta {v['size']} {v['sha256']}, client {r}")
m = meta["hfsync"]["manifest"]
r = rows.get("team/backups/" + m["name"])
if r is None or r[2] != m["sha256"] or r[3] != m["sha256"]:
    bad.append(f"manifest: meta {m['sha256']}, client {r}")
if "team/latest-backup.json" not in rows:
    bad.append("team/latest-backup.json not listed")
open(sys.argv[1] + ".check", "w").write("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
        [ -s "$T/js.tsv.check" ] && problem "$(cat "$T/js.tsv.check")"
    else
        problem "readback.mjs failed: $(tail -n 5 "$T/js.err")"
    fi
    report "@huggingface/hub lists and downloads hfsync's files with the bytes and sha256 its meta records"
else
    skip "@huggingface/hub reads hfsync's files" "node or tests/hub/node_modules is missing (run make deps)"
fi

# --- a file:// backup uploaded by @huggingface/hub restores with hfsync
if command -v node >/dev/null 2>&1 && [ -d "$HUB_DIR/node_modules/@huggingface/hub" ]; then
    SOURCES_SAVED=$SOURCES
    SOURCES="config:$LIVE/config"
    hf "HFSYNC_REPO=file://$T/localrepo" HFSYNC_VOLUME_SIZE=1M -- backup
    SOURCES=$SOURCES_SAVED
    expect_rc 0 "local file:// backup"
    $TREE snap "$LIVE/config" "$T/snap-local.json"
    if node "$HUB_DIR/upload_dir.mjs" "$EMU_URL" hf_test datasets/user/copied "$T/localrepo" sub >"$T/up.out" 2>&1; then
        rm -rf "$CACHE_DIR" && mkdir -p "$CACHE_DIR"
        hf "${HUB[@]}" HFSYNC_REPO=hf://datasets/user/copied/sub -- restore --to "$T/restore-copied"
        expect_rc 0 "restore of a backup uploaded by @huggingface/hub" &&
            expect_tree "$T/snap-local.json" "$T/restore-copied/config" "restore of the JS-uploaded backup"
    else
        problem "upload_dir.mjs failed: $(tail -n 5 "$T/up.out")"
    fi
    report "a backup whose files @huggingface/hub uploaded restores with hfsync"
    rm -rf "$T/restore-copied"
fi

# --- an unrelated commit between plan and publish: committed over, pointer still ours
$TREE mutate "$LIVE/state" --seed 41 --step 3
fault '{"route": "commit", "delay": 3, "count": 1}'
bg_hf "$T/bg1" "${HUB[@]}" -- backup
sleep 1.5
if command -v node >/dev/null 2>&1 && [ -d "$HUB_DIR/node_modules/@huggingface/hub" ]; then
    node "$HUB_DIR/readback.mjs" "$EMU_URL" hf_test datasets/user/agent-state --commit README.md 2>"$T/js2.err" ||
        curl -s -X POST -H "Authorization: Bearer hf_test" -H 'Content-Type: application/x-ndjson' \
            --data-binary $'{"key":"header","value":{"summary":"unrelated"}}\n{"key":"file","value":{"path":"README.md","content":"aGkK","encoding":"base64"}}' \
            "$EMU_URL/api/datasets/user/agent-state/commit/main" >/dev/null
else
    curl -s -X POST -H "Authorization: Bearer hf_test" -H 'Content-Type: application/x-ndjson' \
        --data-binary $'{"key":"header","value":{"summary":"unrelated"}}\n{"key":"file","value":{"path":"README.md","content":"aGkK","encoding":"base64"}}' \
        "$EMU_URL/api/datasets/user/agent-state/commit/main" >/dev/null
fi
bg_wait "$T/bg1"
expect_rc 0 "backup with an unrelated commit landing before its own" &&
    expect_err_contains "unrelated commit" "the log says the branch moved for an unrelated commit"
fetch datasets/user/agent-state README.md >/dev/null || problem "the unrelated commit's README.md is gone"
ptr=$(fetch datasets/user/agent-state team/latest-backup.json)
printf '%s' "$ptr" | grep -qF "$OUT" || problem "the pointer does not name the new backup '$OUT': $ptr"
report "a commit by someone else between plan and publish (412) is committed over when unrelated"
faults_clear

# --- another writer's backup between plan and publish: never overwritten
$TREE mutate "$LIVE/state" --seed 41 --step 4
mkdir -p "$T/other" && echo "other writer" >"$T/other/file.txt"
fault '{"route": "commit", "delay": 3, "count": 1}'
bg_hf "$T/bg2" "${HUB[@]}" -- backup
sleep 1.5
SOURCES_SAVED=$SOURCES
SOURCES="state:$T/other"
hf "${HUB[@]}" HFSYNC_CACHE_DIR="$T/cache-other" -- backup --full
SOURCES=$SOURCES_SAVED
expect_rc 0 "the other writer's backup"
bg_wait "$T/bg2"
expect_nonzero "the first writer's backup, planned before the other writer's" &&
    expect_err_contains "another writer" "the conflict is explained"
ptr=$(fetch datasets/user/agent-state team/latest-backup.json)
rm -rf "$CACHE_DIR" && mkdir -p "$CACHE_DIR"
hf "${HUB[@]}" -- restore --to "$T/restore-other"
expect_rc 0 "restore after the conflict" && [ -f "$T/restore-other/state/file.txt" ] ||
    problem "the latest backup is not the other writer's: pointer $ptr"
report "another writer's backup between plan and publish is never overwritten (the late one fails)"
faults_clear
# (the other writer's state is tiny: the strategy would rather make a full, HFSYNC_FULL_RATIO=0
# keeps this an incremental over its backup)
backup_expect I "${HUB[@]}" HFSYNC_FULL_RATIO=0
report "the next cycle after a conflict succeeds (an incremental over the other writer's backup)"
rm -rf "$T/restore-other"

# --- a lost commit reply: checked, not repeated
$TREE mutate "$LIVE/state" --seed 41 --step 5
before=$(commits datasets/user/agent-state)
fault '{"route": "commit", "lose_reply": true, "count": 1}'
backup_expect I "${HUB[@]}"
after=$(commits datasets/user/agent-state)
[ "$after" = $((before + 1)) ] || problem "a lost commit reply led to $((after - before)) commits, expected 1"
expect_err_contains "landed" "the log says the lost commit landed"
report "a commit whose reply was lost is checked, not repeated: one commit"
faults_clear
$TREE snap "$LIVE" "$T/snap5.json"

# --- a download cut in the middle resumes with Range
fault '{"route": "resolve", "path": "vol-0001", "drop": "body", "body_bytes": 100000, "count": 2}'
rm -rf "$CACHE_DIR" && mkdir -p "$CACHE_DIR"
hf "${HUB[@]}" -- restore --to "$T/restore-cut"
expect_rc 0 "restore with downloads cut short" && expect_tree "$T/snap5.json" "$T/restore-cut" "restore with cut downloads"
report "downloads cut short resume and the restore is exact"
faults_clear
rm -rf "$T/restore-cut"

# --- throttling and server errors within the budget: retried, logged, counted
$TREE mutate "$LIVE/state" --seed 41 --step 6
fault '[{"route": "lfs_batch", "status": 429, "retry_after": 1, "count": 2},
        {"route": "commit", "status": 503, "count": 1},
        {"route": "lfs_upload", "drop": "before", "count": 1}]'
before=$(commits datasets/user/agent-state)
backup_expect I "${HUB[@]}" HFSYNC_RETRY_BASE=0
[ "$(commits datasets/user/agent-state)" = $((before + 1)) ] || problem "the retried backup did not make exactly one commit"
n=$(printf '%s' "$ERR" | grep -c 'retry: ')
[ "$n" -ge 3 ] || problem "expected at least 3 retry lines in the log, got $n"
expect_err_contains "retried" "the run summary counts the retries"
$TREE snap "$LIVE" "$T/snap6.json"
faults_clear
fault '{"route": "resolve", "status": 500, "count": 2}'
rm -rf "$CACHE_DIR" && mkdir -p "$CACHE_DIR"
hf "${HUB[@]}" HFSYNC_RETRY_BASE=0 -- restore --to "$T/restore-retry"
expect_rc 0 "restore with 500 answers" && expect_tree "$T/snap6.json" "$T/restore-retry" "restore after retries"
report "429 with Retry-After, 503 on the commit, a dropped upload and 500 on downloads are retried within the budget"
faults_clear
rm -rf "$T/restore-retry"

# --- a wait beyond the budget: the backup fails cleanly, saying when to expect success
$TREE mutate "$LIVE/state" --seed 41 --step 7
ptr_before=$(fetch datasets/user/agent-state team/latest-backup.json)
before=$(commits datasets/user/agent-state)
fault '{"route": "commit", "status": 429, "retry_after": 60, "count": 5, "error_message": "You have exceeded our hourly quotas for action: commit. We invite you to retry later."}'
hf "${HUB[@]}" HFSYNC_RETRY_BUDGET=5 -- backup
expect_nonzero "backup when the Hub asks to wait beyond the budget" &&
    expect_err_contains "60 s" "the error says how long the Hub asks to wait" &&
    expect_err_contains "hourly quotas" "the Hub's message is shown"
[ "$(fetch datasets/user/agent-state team/latest-backup.json)" = "$ptr_before" ] || problem "the pointer moved"
[ "$(commits datasets/user/agent-state)" = "$before" ] || problem "a commit was made"
report "a wait beyond HFSYNC_RETRY_BUDGET fails the backup cleanly: pointer unchanged, the wait named"
faults_clear

# --- the agent does not hammer a Hub whose quota is used up: its next cycle waits for the time
# the Hub named (not its own short backoff after a failure)
$TREE mutate "$LIVE/state" --seed 41 --step 8
fault '{"route": "commit", "status": 429, "retry_after": 90, "count": 50, "error_message": "You have exceeded our hourly quotas for action: commit. We invite you to retry later."}'
(exec env -i "PATH=$PATH" "HOME=$E2E_HOME" "HFSYNC_REPO=$REPO_URL" "HFSYNC_SOURCES=$SOURCES" \
    "HFSYNC_CACHE_DIR=$CACHE_DIR" "${HUB[@]}" HFSYNC_RETRY_BUDGET=5 HFSYNC_INTERVAL=2 \
    HFSYNC_BACKUP_ON_START=1 HFSYNC_RESTORE=never HFSYNC_FINAL_BACKUP_TIMEOUT=5 timeout -k 5 40 "$HFSYNC" daemon 2>"$T/daemon.log") &
dpid=$!
for _ in $(seq 150); do
    grep -q "backup failed" "$T/daemon.log" && break
    sleep 0.1
done
line=$(grep "backup failed" "$T/daemon.log" | head -n 1)
wait_s=$(printf '%s' "$line" | sed -n 's/.*retrying in \([0-9]*\)s.*/\1/p')
case $line in
*"when the server said to come back"*) [ "${wait_s:-0}" -ge 80 ] || problem "the agent retries in ${wait_s}s, not after the 90 s the Hub asked for: $line" ;;
*) problem "the agent's retry does not follow the Hub's wait: ${line:-no failed cycle logged}"
   problem "$(head -n 12 "$T/daemon.log")" ;;
esac
[ "$(grep -c "backup failed" "$T/daemon.log")" = 1 ] || problem "the agent tried again before the Hub's time"
kill -TERM "$dpid" 2>/dev/null
wait "$dpid" 2>/dev/null
report "after a quota error the agent postpones its next backup to the time the Hub named"
faults_clear

# --- errors: one clear message each, never the token
check_no_token() {
    if printf '%s\n%s' "$OUT" "$ERR" | grep -qF -- "$1"; then problem "the token appears in the output"; fi
}
hf "${HUB[@]}" HF_TOKEN=hf_wrong_token_123 -- list
expect_nonzero "list with a bad token" && expect_err_contains "Invalid credentials" "bad token" &&
    expect_err_contains "HF_TOKEN" "bad token"
check_no_token hf_wrong_token_123
report "a bad token gives one clear error naming HF_TOKEN, without the token"

hf "${HUB[@]}" HF_TOKEN=hf_reader -- backup --full
expect_nonzero "backup with a read-only token" && expect_err_contains "403" "read-only token" &&
    expect_err_contains "write access" "read-only token"
check_no_token hf_reader
report "a read-only token gives one clear error about write access"

hf "${HUB[@]}" HFSYNC_REPO=hf://datasets/other/theirs -- backup
expect_nonzero "backup into another namespace" && expect_err_contains "datasets/other/theirs" "other namespace"
report "a repo that cannot be created (another namespace) gives one clear error naming it"

hf "${HUB[@]}" -u HF_TOKEN -- list
expect_nonzero "anonymous list of a private repo" && expect_err_contains "HF_TOKEN" "anonymous"
report "no token on a private repo gives one clear error saying to set HF_TOKEN"

mkdir -p "$E2E_HOME/.cache/huggingface" && printf 'hf_test\n' >"$E2E_HOME/.cache/huggingface/token"
hf "${HUB[@]}" -u HF_TOKEN -- list
expect_rc 0 "list with the token file under ~/.cache/huggingface"
rm -f "$E2E_HOME/.cache/huggingface/token"
hf "${HUB[@]}" -u HF_TOKEN HUGGING_FACE_HUB_TOKEN=hf_test -- list
expect_rc 0 "list with HUGGING_FACE_HUB_TOKEN"
report "the token is also read from HUGGING_FACE_HUB_TOKEN and the HF_HOME token file"

hf "${HUB[@]}" HFSYNC_REPO=hf://datasets/user/never-made -- restore --to "$T/none"
expect_rc 0 "restore from a repo that does not exist yet" &&
    expect_err_contains "does not exist yet" "missing repo"
report "a repo that does not exist yet has nothing to restore, and says so"

rm -rf "$CACHE_DIR" && mkdir -p "$CACHE_DIR"
hf "${HUB[@]}" OPENCLAW_RESTORE_DATASET_REPO=user/empty-restore-source -- restore --to "$T/fallback"
expect_rc 0 "restore with an empty OPENCLAW_RESTORE_DATASET_REPO" &&
    expect_err_contains "restoring from hf://datasets/user/agent-state/team instead" "the fallback is logged" &&
    expect_tree "$T/snap6.json" "$T/fallback" "restore through the fallback"
report "OPENCLAW_RESTORE_DATASET_REPO without a backup falls back to the backup repo"

finish
