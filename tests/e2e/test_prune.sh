#!/usr/bin/env bash
# shellcheck disable=SC2034 # variables are read by lib.sh
# Retention end to end (hfsync prune), on file://, on S3 (moto_server) and on the Hub emulator:
# - a target with 9 chains (18 backups) spanning two months, made at chosen times with the
#   test-only clock HFSYNC_TEST_NOW, plus objects of an abandoned backup, of one in progress,
#   and a file that is not hfsync's;
# - `prune --dry-run` prints the expected plan (each chain kept by the expected rules, or
#   deleted) and deletes nothing;
# - `prune` deletes exactly the planned objects, every remaining backup restores exactly, verify
#   passes, a second prune finds nothing to do;
# - file: HFSYNC_PRUNE_MAX stops part-way leaving whole chains; another writer's lease stops
#   prune; the prune after each backup (HFSYNC_PRUNE=auto) and --no-prune; bad settings;
# - S3: the deletions go through DeleteObjects; Hub: they are one commit, the squash after it
#   gives the storage back, and a failed prune after a backup is only a warning.
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

# The target's chains: letter:day:backups (a full at 10:00, incrementals an hour apart).
CHAINS=(A:2026-09-01:3 B:2026-09-15:2 C:2026-09-30:2 D:2026-10-05:1 E:2026-10-07:2
    F:2026-10-20:2 G:2026-10-28:2 H:2026-10-29:2 I:2026-10-30:2)
NOW=$(date -u -d '2026-10-31 12:00:00' +%s)
RULES=(HFSYNC_KEEP_FULL=2 HFSYNC_KEEP_DAILY=3 HFSYNC_KEEP_WEEKLY=3 HFSYNC_KEEP_MONTHLY=2
    HFSYNC_KEEP_LAST=0 HFSYNC_KEEP_WITHIN=0 "HFSYNC_TEST_NOW=$NOW")
# What each chain's line of the plan ends with (restic's counting: days, ISO weeks, months).
declare -A WANT=(
    [I]="keep: latest, full-1, daily-1 (2026-10-30), weekly-1 (2026-W44), monthly-1 (2026-10)"
    [H]="keep: full-2, daily-2 (2026-10-29)"
    [G]="keep: daily-3 (2026-10-28)"
    [F]="keep: weekly-2 (2026-W43)"
    [E]="keep: weekly-3 (2026-W41)"
    [D]="delete"
    [C]="keep: monthly-2 (2026-09)"
    [B]="delete"
    [A]="delete"
)
OLD_JUNK=20261001-090000F   # no .meta.json, a month old: deleted
YOUNG_JUNK=20261031-113000I # no .meta.json, 30 minutes old: an upload in progress, kept

# ---- backends: list objects (target-relative paths) and put an object ----
BACKEND=
ENV=()
objects() {
    case $BACKEND in
    file) (cd "$REPO_DIR" && find . -type f ! -name '.*' ! -name hfsync-lease.json | sed 's|^\./||' | sort) ;;
    s3) $S3TOOL "$EP" keys hfsync-e2e team/prune/ | cut -f1 | sed 's|^team/prune/||' | grep -vx hfsync-lease.json | sort ;;
    hub) hub_tree datasets/user/prune-e2e team ;;
    esac
}
put_object() { # path content
    case $BACKEND in
    file) mkdir -p "$(dirname "$REPO_DIR/$1")" && printf '%s' "$2" >"$REPO_DIR/$1" ;;
    s3)
        rm -rf "$T/up" && mkdir -p "$(dirname "$T/up/$1")" && printf '%s' "$2" >"$T/up/$1"
        $S3TOOL "$EP" upload "$T/up" hfsync-e2e team/prune
        ;;
    hub)
        local b64
        b64=$(printf '%s' "$2" | base64 -w0)
        curl -sf -X POST -H "Authorization: Bearer hf_test" -H 'Content-Type: application/x-ndjson' \
            --data-binary "{\"key\":\"header\",\"value\":{\"summary\":\"someone's file\"}}
{\"key\":\"file\",\"value\":{\"path\":\"team/$1\",\"content\":\"$b64\",\"encoding\":\"base64\"}}" \
            "$EMU_URL/api/datasets/user/prune-e2e/commit/main" >/dev/null
        ;;
    esac
}

stamp() { date -u -d "@$1" +%Y%m%d-%H%M%S; }

# The line of the plan for the chain starting with backup $1 (its first column).
plan_line() { printf '%s\n' "$OUT" | grep -E "^$1 " | head -n 1; }

# Build the chains. Sets FULL[letter] (the chain's first backup), NAMES (all, oldest first),
# CHAIN_OF[name].
declare -A FULL CHAIN_OF
NAMES=()
build_target() { # label
    local label=$1 spec letter day count t0 k t want step=0
    LIVE=$T/live-$label
    rm -rf "$LIVE" && mkdir -p "$LIVE"
    $TREE gen "$LIVE/state" --seed 71 --files 40 --big 0
    SOURCES="state:$LIVE/state"
    CACHE_DIR=$T/cache-$label
    mkdir -p "$CACHE_DIR"
    NAMES=()
    FULL=()
    CHAIN_OF=()
    for spec in "${CHAINS[@]}"; do
        IFS=: read -r letter day count <<<"$spec"
        t0=$(date -u -d "$day 10:00:00" +%s)
        for ((k = 0; k < count; k++)); do
            step=$((step + 1))
            $TREE mutate "$LIVE/state" --seed 71 --step "$step"
            t=$((t0 + k * 3600))
            if [ "$k" = 0 ]; then
                backup_full "${ENV[@]}" HFSYNC_PRUNE=off "HFSYNC_TEST_NOW=$t" || return 1
                want=$(stamp "$t")F
                FULL[$letter]=$BK
            else
                # mutate changes every file: HFSYNC_FULL_RATIO=0 keeps the chain going
                backup_expect I "${ENV[@]}" HFSYNC_PRUNE=off HFSYNC_FULL_RATIO=0 \
                    "HFSYNC_TEST_NOW=$t" || return 1
                want=$(stamp "$t")I
            fi
            [ "$BK" = "$want" ] || { problem "HFSYNC_TEST_NOW=$t made backup '$BK', expected '$want'"; return 1; }
            NAMES+=("$BK")
            CHAIN_OF[$BK]=$letter
            $TREE snap "$LIVE" "$T/snap-$label-$BK.json"
        done
    done
    put_object "backups/$OLD_JUNK.vol-0001.tar.zst" "abandoned volume"
    put_object "backups/$OLD_JUNK.manifest.zst" "abandoned manifest"
    put_object "backups/$YOUNG_JUNK.vol-0001.tar.zst" "volume of a backup in progress"
    put_object "backups/notes.txt" "not hfsync's"
}

# Objects expected after the prune: everything but the deleted chains' and the old junk's.
expected_after() { # objects-before-file
    local pats=() n
    for n in "${NAMES[@]}"; do
        [[ ${WANT[${CHAIN_OF[$n]}]} == delete ]] && pats+=("backups/$n.")
    done
    pats+=("backups/$OLD_JUNK.")
    grep -vF "$(printf '%s\n' "${pats[@]}")" "$1"
}

kept_names() {
    local n
    for n in "${NAMES[@]}"; do
        [[ ${WANT[${CHAIN_OF[$n]}]} == delete ]] || echo "$n"
    done
}

scenario() { # label; BACKEND and ENV set
    local label=$1 l line n want
    build_target "$label"
    report "$label: 18 backups in 9 chains over two months, named by HFSYNC_TEST_NOW"
    [ "${#NAMES[@]}" = 18 ] || return

    objects >"$T/$label-before.txt"
    [ "$(wc -l <"$T/$label-before.txt")" = 59 ] ||
        problem "expected 59 objects on the target (18 backups of 3, the pointer, 4 others), found: $(cat "$T/$label-before.txt")"
    hf "${ENV[@]}" "${RULES[@]}" -- prune --dry-run
    if expect_rc 0 "prune --dry-run"; then
        for l in I H G F E D C B A; do
            line=$(plan_line "${FULL[$l]}")
            [[ $line == *"  ${WANT[$l]}" ]] ||
                problem "chain $l (${FULL[$l]}): expected its plan to end with '${WANT[$l]}', got: '$line'"
        done
        [[ $(plan_line "${FULL[A]}") =~ ^${FULL[A]}\ +[0-9a-f]{8}\ +3\ +2026-09-01\ 10:00:00\ +2026-09-01\ 12:00:00 ]] ||
            problem "chain A's line does not show its id, 3 backups and its dates: '$(plan_line "${FULL[A]}")'"
        expect_err_contains "incomplete $OLD_JUNK: 2 objects" "the abandoned backup is listed" &&
            expect_err_contains "started 2026-10-01 09:00:00 UTC: delete (no .meta.json" "the abandoned backup goes"
        printf '%s\n' "$OUT" | grep -F "incomplete $YOUNG_JUNK" | grep -qF "keep (in progress" ||
            problem "the backup in progress is not kept: $(printf '%s\n' "$OUT" | grep -F "$YOUNG_JUNK")"
        expect_err_contains "would delete 3 chains (6 backups" "summary" &&
            expect_err_contains "and 1 incomplete backup" "summary" &&
            expect_err_contains "keep 6 chains (12 backups" "summary"
        expect_err_contains "rules: full 2, daily 3, weekly 3, monthly 2" "the rules are printed"
        if printf '%s\n' "$OUT" | grep -qF notes.txt; then problem "notes.txt (not hfsync's) is in the plan"; fi
    fi
    objects >"$T/$label-dry.txt"
    cmp -s "$T/$label-before.txt" "$T/$label-dry.txt" ||
        problem "--dry-run changed the target: $(diff "$T/$label-before.txt" "$T/$label-dry.txt" | head -n 10)"
    report "$label: prune --dry-run prints the expected plan and deletes nothing"

    if [ "$BACKEND" = file ]; then
        # HFSYNC_PRUNE_MAX=2: the abandoned backup, then the newest backup of the oldest chain A;
        # what is left of A is a whole chain of 2 backups that still restores.
        hf "${ENV[@]}" "${RULES[@]}" HFSYNC_PRUNE_MAX=2 -- prune
        expect_rc 0 "prune with HFSYNC_PRUNE_MAX=2" &&
            expect_err_contains "deleted 1 backup of 1 chain and 1 incomplete backup" "a bounded run" &&
            expect_err_contains "delete: its newest 1 of 3 backups in this run" "the plan says so" &&
            expect_err_contains "more next run (HFSYNC_PRUNE_MAX)" "the plan says more is left"
        [ -e "$REPO_DIR/backups/${NAMES[2]}.meta.json" ] && problem "A's newest backup ${NAMES[2]} is still there"
        rm -rf "$CACHE_DIR" && mkdir -p "$CACHE_DIR"
        hf "${ENV[@]}" -- restore --to "$T/r-partial" --backup "${NAMES[1]}"
        expect_rc 0 "restore of ${NAMES[1]}, the newest backup left of chain A" &&
            expect_tree "$T/snap-$label-${NAMES[1]}.json" "$T/r-partial" "restore of ${NAMES[1]}"
        rm -rf "$T/r-partial"
        report "$label: HFSYNC_PRUNE_MAX stops part-way, newest first: what is left of a chain restores"
    fi

    local commits0 squash0 bytes0
    if [ "$BACKEND" = hub ]; then
        commits0=$(commits datasets/user/prune-e2e)
        squash0=$(stat_of "d['squashes']")
        bytes0=$(stat_of "d['storage']['by_repo'].get('datasets/user/prune-e2e', 0)")
    fi
    [ "$BACKEND" = s3 ] && MOTO_LINES0=$(wc -l <"$MOTO_LOG")
    hf "${ENV[@]}" "${RULES[@]}" -- prune
    if expect_rc 0 "prune"; then
        if [ "$BACKEND" = file ]; then
            expect_err_contains "deleted 5 backups of 3 chains and 0 incomplete backups" "prune's result"
        else
            expect_err_contains "deleted 6 backups of 3 chains and 1 incomplete backup" "prune's result"
        fi
    fi
    objects >"$T/$label-after.txt"
    expected_after "$T/$label-before.txt" >"$T/$label-want.txt"
    cmp -s "$T/$label-want.txt" "$T/$label-after.txt" ||
        problem "objects after prune differ from the plan (< expected, > found): $(diff "$T/$label-want.txt" "$T/$label-after.txt" | head -n 20)"
    grep -qx "backups/$YOUNG_JUNK.vol-0001.tar.zst" "$T/$label-after.txt" || problem "the backup in progress was deleted"
    grep -qx "backups/notes.txt" "$T/$label-after.txt" || problem "notes.txt was deleted"
    hf "${ENV[@]}" -- list --json
    printf '%s' "$OUT" | python3 -c 'import json,sys; [print(b["name"]) for b in json.load(sys.stdin)["backups"]]' |
        sort >"$T/$label-listed.txt"
    kept_names | sort >"$T/$label-kept.txt"
    cmp -s "$T/$label-kept.txt" "$T/$label-listed.txt" ||
        problem "hfsync list after prune: $(diff "$T/$label-kept.txt" "$T/$label-listed.txt" | head)"
    report "$label: prune deletes exactly the planned chains and the abandoned backup, nothing else"

    case $BACKEND in
    hub)
        local commits1 squash1 bytes1
        commits1=$(commits datasets/user/prune-e2e)
        squash1=$(stat_of "d['squashes']")
        bytes1=$(stat_of "d['storage']['by_repo'].get('datasets/user/prune-e2e', 0)")
        [ "$commits1" = $((commits0 + 1)) ] || problem "the deletions took $((commits1 - commits0)) commits, expected 1"
        [ "$squash1" = $((squash0 + 1)) ] || problem "expected one super-squash after the prune, got $((squash1 - squash0))"
        [ "$bytes1" -lt "$bytes0" ] || problem "stored bytes did not fall: $bytes0 before, $bytes1 after prune and squash"
        report "$label: the deletions are one commit, and after the squash the repo's stored bytes fall ($bytes0 -> $bytes1)"
        ;;
    s3)
        local deletes singles
        deletes=$(tail -n +"$((MOTO_LINES0 + 1))" "$MOTO_LOG" | grep -cE '"POST /hfsync-e2e/?\?delete')
        singles=$(tail -n +"$((MOTO_LINES0 + 1))" "$MOTO_LOG" | grep -cE '"DELETE /hfsync-e2e/team/prune/backups/')
        # two batches (every .meta.json, then the other objects), then the lease's release
        { [ "$deletes" = 3 ] && [ "$singles" = 0 ]; } ||
            problem "expected 3 DeleteObjects requests (.meta.json files, the rest, the lease) and no single DELETEs, got $deletes and $singles"
        report "$label: the deletions are DeleteObjects batches"
        ;;
    esac

    for n in $(kept_names); do
        rm -rf "$CACHE_DIR" && mkdir -p "$CACHE_DIR"
        hf "${ENV[@]}" -- restore --to "$T/r-$n" --backup "$n"
        expect_rc 0 "restore $n after prune" && expect_tree "$T/snap-$label-$n.json" "$T/r-$n" "restore of $n"
        rm -rf "$T/r-$n"
    done
    hf "${ENV[@]}" -- verify --deep
    expect_rc 0 "verify --deep after prune"
    report "$label: every remaining backup restores exactly, and verify --deep passes"

    [ "$BACKEND" = hub ] && commits0=$(commits datasets/user/prune-e2e)
    hf "${ENV[@]}" "${RULES[@]}" -- prune
    expect_rc 0 "a second prune" && expect_err_contains "to delete 0 chains (0 backups, 0 B) and 0 incomplete backups" "nothing left"
    if printf '%s' "$OUT" | grep -q '^deleted'; then problem "the second prune deleted something: $OUT"; fi
    [ "$BACKEND" = hub ] && [ "$(commits datasets/user/prune-e2e)" != "$commits0" ] && problem "a prune with nothing to delete made a commit"
    report "$label: a second prune has nothing to do"
}

# ================================ file:// ================================
BACKEND="file"
ENV=()
scenario file

# Another writer's live lease: prune refuses (exit 4) and deletes nothing; --dry-run says why.
BACKEND="file"
REPO_DIR=$T/repo-lease
REPO_URL=file://$REPO_DIR
mkdir -p "$REPO_DIR"
t=$(date -u -d '2026-10-01 10:00:00' +%s)
backup_full HFSYNC_PRUNE=off "HFSYNC_TEST_NOW=$t"
backup_full HFSYNC_PRUNE=off HFSYNC_TEST_NOW=$((t + 86400))
printf '{"owner":"ffffffffffffffffffffffffffffffff","host":"elsewhere","pid":7,"mode":"entrypoint","expires":%s}' \
    $(($(date +%s) + 600)) >"$REPO_DIR/hfsync-lease.json"
objects >"$T/lease-before.txt"
hf HFSYNC_KEEP_FULL=1 HFSYNC_KEEP_DAILY=0 HFSYNC_KEEP_WEEKLY=0 HFSYNC_KEEP_MONTHLY=0 HFSYNC_LOCK_TIMEOUT=0 -- prune
expect_rc 4 "prune while another writer holds the lease" && expect_err_contains "elsewhere" "the holder is named"
hf HFSYNC_KEEP_FULL=1 HFSYNC_KEEP_DAILY=0 HFSYNC_KEEP_WEEKLY=0 HFSYNC_KEEP_MONTHLY=0 -- prune --dry-run
expect_rc 0 "prune --dry-run while another writer holds the lease" &&
    expect_err_contains "holds the writer lease: prune deletes nothing while another writer is active" "the plan says why"
objects >"$T/lease-after.txt"
cmp -s "$T/lease-before.txt" "$T/lease-after.txt" || problem "something was deleted under another writer's lease"
rm -f "$REPO_DIR/hfsync-lease.json"
report "file: another writer's live lease stops prune (exit 4); --dry-run says why"

# HFSYNC_PRUNE=auto: each backup that wrote something is followed by a prune; stdout stays the
# backup's name; --no-prune skips it. OPENCLAW_BACKUP_KEEP_COUNT is HFSYNC_KEEP_LAST.
REPO_DIR=$T/repo-auto
REPO_URL=file://$REPO_DIR
mkdir -p "$REPO_DIR"
AUTO=(HFSYNC_KEEP_FULL=1 HFSYNC_KEEP_DAILY=0 HFSYNC_KEEP_WEEKLY=0 HFSYNC_KEEP_MONTHLY=0)
backup_full "${AUTO[@]}" "HFSYNC_TEST_NOW=$t" && first=$BK
backup_full "${AUTO[@]}" HFSYNC_TEST_NOW=$((t + 60))
expect_err_contains "prune: deleted 1 backup of 1 chain" "the prune after the backup logs what it deleted"
[ -e "$REPO_DIR/backups/$first.meta.json" ] && problem "the first chain survived HFSYNC_KEEP_FULL=1"
hf "${AUTO[@]}" HFSYNC_TEST_NOW=$((t + 180)) -- backup --full --no-prune
expect_rc 0 "backup --no-prune" && [ "$(find "$REPO_DIR/backups" -name '*.meta.json' | wc -l)" = 2 ] ||
    problem "--no-prune pruned: $(ls "$REPO_DIR/backups")"
hf "${AUTO[@]}" HFSYNC_TEST_NOW=$((t + 240)) HFSYNC_PRUNE=off -- backup --full
expect_rc 0 "backup with HFSYNC_PRUNE=off" && [ "$(find "$REPO_DIR/backups" -name '*.meta.json' | wc -l)" = 3 ] ||
    problem "HFSYNC_PRUNE=off pruned"
hf "${AUTO[@]}" OPENCLAW_BACKUP_KEEP_COUNT=2 -- prune --dry-run
expect_rc 0 "dry run with OPENCLAW_BACKUP_KEEP_COUNT=2" && expect_err_contains "rules: full 1, last 2" "KEEP_COUNT maps to last" &&
    expect_err_contains "would delete 1 chain (1 backup" "one of three chains goes"
report "file: HFSYNC_PRUNE=auto prunes after a backup (stdout stays the name), --no-prune and =off do not; OPENCLAW_BACKUP_KEEP_COUNT is HFSYNC_KEEP_LAST"

hf HFSYNC_KEEP_DAILY=often -- prune --dry-run
expect_rc 2 "HFSYNC_KEEP_DAILY=often" && expect_err_contains "HFSYNC_KEEP_DAILY: 'often' is not a count" "bad count"
hf HFSYNC_PRUNE=sometimes -- prune --dry-run
expect_rc 2 "HFSYNC_PRUNE=sometimes" && expect_err_contains "use auto (after each backup) or off" "bad mode"
hf HFSYNC_STALE_AFTER=5s -- prune --dry-run
expect_rc 2 "HFSYNC_STALE_AFTER=5s" && expect_err_contains "HFSYNC_STALE_AFTER" "too short"
hf -- prune --now
expect_rc 2 "prune --now" && expect_err_contains "unknown option '--now'" "unknown flag"
report "bad retention settings and flags stop with exit 2 naming what is wrong"

# ================================ S3 (moto_server) ================================
S3TOOL="python3 $E2E_DIR/s3_tool.py"
if ! command -v moto_server >/dev/null 2>&1 || ! python3 -c 'import boto3' 2>/dev/null; then
    skip "prune on S3" "moto_server or boto3 is not installed"
else
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    MOTO_LOG=$T/moto.log
    moto_server -H 127.0.0.1 -p "$port" >"$MOTO_LOG" 2>&1 &
    MOTO_PID=$!
    EP=http://127.0.0.1:$port
    if $S3TOOL "$EP" wait && AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test $S3TOOL "$EP" mkbucket hfsync-e2e; then
        export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
        BACKEND=s3
        ENV=(AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "AWS_ENDPOINT_URL=$EP")
        REPO_URL=s3://hfsync-e2e/team/prune
        scenario s3
    else
        fail "moto_server starts on loopback" "$(tail -n 20 "$MOTO_LOG")"
    fi
fi

# ================================ Hub emulator ================================
if ! python3 -c 'import flask' 2>/dev/null && ! /usr/bin/python3 -c 'import flask' 2>/dev/null; then
    skip "prune on the Hub" "Flask is not installed"
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
stat_of() { curl -s "$EMU_URL/_emulator/stats" | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
commits() { stat_of "d['commits']['by_repo'].get('$1', 0)"; }
hub_tree() { # repo folder: files under folder, relative to it
    curl -sf -H "Authorization: Bearer hf_test" "$EMU_URL/api/$1/tree/main/$2?recursive=true" |
        python3 -c 'import json,sys; f=sys.argv[1]+"/"; [print(e["path"][len(f):]) for e in json.load(sys.stdin) if e["type"]=="file" and e["path"].startswith(f) and e["path"]!=f+"hfsync-lease.json"]' "$2" | sort
}

BACKEND=hub
ENV=(HF_ENDPOINT="$EMU_URL" HF_TOKEN=hf_test HFSYNC_HF_SQUASH=always)
REPO_URL=hf://datasets/user/prune-e2e/team
scenario hub

# HFSYNC_PRUNE=auto on the Hub: the prune's deletions are part of the backup's own commit, planned
# on the repo as that commit leaves it (the new backup counts for HFSYNC_KEEP_FULL=1).
ONE=(HFSYNC_KEEP_FULL=1 HFSYNC_KEEP_DAILY=0 HFSYNC_KEEP_WEEKLY=0 HFSYNC_KEEP_MONTHLY=0)
$TREE mutate "$LIVE/state" --seed 71 --step 98
commits0=$(commits datasets/user/prune-e2e)
backup_full "${ENV[@]}" "${ONE[@]}" && expect_err_contains "prune: deleted" "the folded prune logs what it deleted"
[ "$(commits datasets/user/prune-e2e)" = $((commits0 + 1)) ] ||
    problem "backup + prune took $(($(commits datasets/user/prune-e2e) - commits0)) commits, expected 1"
metas=$(hub_tree datasets/user/prune-e2e team | grep -c '\.meta\.json$')
[ "$metas" = 1 ] || problem "after the folded prune $metas backups remain, expected 1 (the new one)"
hub_tree datasets/user/prune-e2e team | grep -qF "$BK.meta.json" || problem "the new backup is not the one left"
rm -rf "$T/r-fold" && mkdir -p "$T/r-fold"
hf "${ENV[@]}" -- restore --to "$T/r-fold"
$TREE snap "$LIVE" "$T/snap-fold.json"
expect_rc 0 "restore after the folded prune" &&
    expect_tree "$T/snap-fold.json" "$T/r-fold" "the backup left by the folded prune"
report "hub: HFSYNC_PRUNE=auto folds the deletions into the backup's one commit; the latest still restores"

# A prune that cannot be planned (its listing refused) is a warning: the backup lands (exit 0).
$TREE mutate "$LIVE/state" --seed 71 --step 99
curl -s -X POST -H 'Content-Type: application/json' \
    -d '{"route": "tree", "status": 403, "count": 3}' "$EMU_URL/_emulator/faults" >/dev/null
backup_full "${ENV[@]}" "${ONE[@]}" &&
    expect_err_contains "prune with the backup failed (the backup goes on without it)" "the warning"
curl -s -X DELETE "$EMU_URL/_emulator/faults" >/dev/null
hf "${ENV[@]}" -- list --json
printf '%s' "$OUT" | grep -qF "\"$BK\"" || problem "the backup '$BK' is not on the target"
report "hub: a prune that fails with the backup is a warning, not a failed backup"

finish
