#!/usr/bin/env bash
# shellcheck disable=SC2034 # variables are read by lib.sh
# The container entrypoint as PID 1 of its own PID namespace (unshare --pid --fork --mount-proc)
# with an app that writes files over time: periodic backups; SIGTERM passed on and the app's exit
# status returned; a final backup holding the app's last writes (also when the app exits by
# itself); an app that ignores SIGTERM killed after HFSYNC_STOP_TIMEOUT; orphans adopted and
# reaped; other signals passed on, to the whole group with HFSYNC_SIGNAL_GROUP=1; a failing backup
# retried without stopping the app; the daemon. The restore at start: an emptied state, or image
# files in its place, come back exactly; a state whose marker is at the latest backup is left
# alone; a damaged target stops the app or starts it with backups disabled, leaving the good
# backups untouched. No target: the command runs unchanged. Two agents on one target: one writes,
# the other backs off. The local lock.
. "$(dirname "$0")/lib.sh"
require_hfsync

if ! unshare --pid --fork --mount-proc true 2>/dev/null; then
    skip "entrypoint as PID 1" "unshare --pid --fork --mount-proc is not available here (needs root or user namespaces)"
    finish
fi

LIVE=$T/live
STATE=$LIVE/state
mkdir -p "$STATE/sub" "$T/bin"
echo "initial" >"$STATE/sub/seed.txt"
SOURCES="state:$STATE"
# The orphans the app leaves behind run under this name, so they can be told apart in /proc.
ln -s "$(command -v sleep)" "$T/bin/orphanling"

# The app: counts into a file every 0.2 s, leaves an orphan behind each time, and on SIGTERM
# writes one last file and exits 7.
cat >"$T/app.sh" <<'EOF'
#!/bin/sh
[ -n "$RAN_FILE" ] && echo ran >"$RAN_FILE"
trap 'echo "$i" >"$APP_STATE/last-write"; echo TERM >"$APP_STATE/got-term"; exit 7' TERM
i=0
while :; do
    i=$((i + 1))
    echo "$i" >"$APP_STATE/count"
    ( "$APP_BIN/orphanling" 0.3 & )
    sleep 0.2
done
EOF
# An app with a child of its own in its process group; both note the signals they get.
cat >"$T/family.sh" <<'EOF'
#!/bin/sh
trap 'echo USR1 >>"$APP_STATE/app-signals"' USR1
trap 'echo TERM >>"$APP_STATE/app-signals"; wait; exit 3' TERM
sh -c 'trap "" USR1; trap "echo TERM >>\"$APP_STATE/child-signals\"; exit 0" TERM; while :; do sleep 0.1; done' &
echo started >"$APP_STATE/family"
while :; do sleep 0.1; done
EOF
# An app that ends by itself.
cat >"$T/selfexit.sh" <<'EOF'
#!/bin/sh
sleep 1
echo "written just before exiting" >"$APP_STATE/own-exit"
exit 4
EOF
# An app that ignores SIGTERM.
cat >"$T/stubborn.sh" <<'EOF'
#!/bin/sh
trap '' TERM
echo started >"$APP_STATE/stubborn"
while :; do sleep 0.1; done
EOF
chmod +x "$T/app.sh" "$T/stubborn.sh" "$T/family.sh" "$T/selfexit.sh"

# Start the entrypoint as PID 1 in the background: agent_start NAME [VAR=value ...] -- CMD...
# Sets AGENT_NS (the unshare process) and AGENT (hfsync's pid as seen from here); its stderr
# goes to $T/NAME.log. The environment is built like hf()'s, plus APP_STATE and APP_BIN.
AGENT=
AGENT_NS=
agent_start() {
    local name=$1
    shift
    local -a vars=("PATH=$PATH" "HOME=$E2E_HOME" "HFSYNC_REPO=$REPO_URL" "HFSYNC_SOURCES=$SOURCES"
        "HFSYNC_CACHE_DIR=$CACHE_DIR" "HFSYNC_WORK_DIR=$WORK_DIR" "HFSYNC_INTERVAL=1"
        "HFSYNC_LEASE_TTL=3" "APP_STATE=$STATE" "APP_BIN=$T/bin")
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        vars+=("$1")
        shift
    done
    shift
    (exec env -i "${vars[@]}" timeout -k 5 40 unshare --pid --fork --mount-proc --kill-child \
        "$HFSYNC" entrypoint -- "$@" >"$T/$name.out" 2>"$T/$name.log") &
    AGENT_NS=$!
    AGENT=
    local i
    for i in $(seq 1 50); do # timeout -> unshare -> hfsync
        local u c
        u=$(tr -d ' ' <"/proc/$AGENT_NS/task/$AGENT_NS/children" 2>/dev/null)
        c=$(tr -d ' ' <"/proc/$u/task/$u/children" 2>/dev/null)
        if [ -n "$c" ]; then
            AGENT=$c
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# Wait for the agent started last to end; sets RC.
agent_wait() {
    wait "$AGENT_NS"
    RC=$?
}

# Count processes in the agent's PID namespace named $1 whose state is $2 (e.g. Z), and whose
# parent is $3 when given.
ns_count() {
    local ns p line n=0
    ns=$(readlink "/proc/$AGENT/ns/pid") || { echo 0; return; }
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$ns" ] || continue
        line=$(cat "$p/stat" 2>/dev/null) || continue
        case $line in *"($1) $2 ${3:-}"*) n=$((n + 1)) ;; esac
    done
    echo "$n"
}

backup_count() { find "$1/backups" -name '*.meta.json' 2>/dev/null | wc -l; }
backups_at_least() { [ "$(backup_count "$REPO_DIR")" -ge "$1" ]; }

# Wait until a condition holds (up to $1 tenths of a second).
wait_for() {
    local n=$1 i
    shift
    for i in $(seq 1 "$n"); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

log_has() { grep -qF -- "$2" "$T/$1.log"; }
log_tail() { printf '%s log (last lines):\n%s' "$1" "$(tail -n 25 "$T/$1.log" | cut -c 1-300)"; }

status_field() { # NAME jq-ish path: a.b
    python3 - "$1" "$2" <<'EOF'
import json, sys
o = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    o = o.get(k) if isinstance(o, dict) else None
print(json.dumps(o))
EOF
}
status_file() { ls "$CACHE_DIR"/*/status.json 2>/dev/null | head -n 1; }

# ---- 1. periodic backups, SIGTERM, final backup, orphans ---------------------------------------
if agent_start run1 -- "$T/app.sh"; then
    wait_for 60 backups_at_least 2 ||
        problem "after 6 s with HFSYNC_INTERVAL=1, $(backup_count "$REPO_DIR") backups were made, expected at least 2"
    report "periodic backups happen while the app runs"

    pid1=$(awk '/^NSpid:/ {print $NF}' "/proc/$AGENT/status")
    [ "$pid1" = 1 ] || problem "hfsync is pid '$pid1' in its namespace, expected 1"
    # The app leaves an orphan every 0.2 s that lives 0.3 s; unreaped, they would pile up as
    # zombies (5 a second). One may be caught in the instant between its exit and its reaping,
    # so look a few times for a moment with none, having seen orphans adopted by hfsync.
    adopted=0
    zombies=
    for _ in $(seq 1 30); do
        [ "$(ns_count orphanling S "$AGENT ")" -gt 0 ] && adopted=1
        zombies=$(ns_count orphanling Z)
        [ "$adopted" = 1 ] && [ "$zombies" = 0 ] && break
        sleep 0.1
    done
    [ "$adopted" = 1 ] || problem "no orphan of the app was seen adopted by hfsync (pid $AGENT)"
    [ "$zombies" = 0 ] || problem "$zombies orphaned 'orphanling' processes are zombies in the namespace"
    report "as PID 1 it adopts and reaps the app's orphaned grandchildren (no zombies left)"

    kill -TERM "$AGENT"
    agent_wait
    [ "$RC" = 7 ] || problem "hfsync exited with $RC after SIGTERM, expected the app's status 7"
    [ -f "$STATE/got-term" ] || problem "the app did not receive SIGTERM"
    log_has run1 "final backup done" || problem "no final backup in the log"
    [ "$RC" = 7 ] && [ -f "$STATE/got-term" ] || problem "$(log_tail run1)"
    report "SIGTERM reaches the app, a final backup follows, hfsync exits with the app's status"

    $TREE snap "$STATE" "$T/snap-stop.json"
    hf -- restore --to "$T/r1"
    expect_rc 0 "restore of the final backup" &&
        expect_tree "$T/snap-stop.json" "$T/r1/state" "latest backup vs the state at stop"
    [ -f "$T/r1/state/last-write" ] || problem "the final backup lacks the app's last write (last-write)"
    report "the final backup holds the app's last writes: it restores to exactly the state at stop"

    sf=$(status_file)
    if [ -z "$sf" ]; then
        problem "no status file in $CACHE_DIR"
    else
        [ "$(status_field "$sf" agent.state)" = '"stopped"' ] || problem "status agent.state is $(status_field "$sf" agent.state), expected stopped"
        [ "$(status_field "$sf" agent.exit_status)" = 7 ] || problem "status agent.exit_status is $(status_field "$sf" agent.exit_status)"
        [ "$(status_field "$sf" backup.result)" = '"ok"' ] || problem "status backup.result is $(status_field "$sf" backup.result)"
    fi
    hf -- status
    expect_rc 0 "status" && expect_err_contains "stopped" "status" && expect_err_contains "last backup" "status"
    report "the status file records the agent and the last backup; 'hfsync status' shows them"
else
    fail "entrypoint starts as PID 1" "$(log_tail run1)"
fi
[ -f "$REPO_DIR/hfsync-lease.json" ] && problem "the lease object is still on the target after the agent stopped"
report "the agent releases its lease when it stops"

# ---- 2. an app that ignores SIGTERM is killed after HFSYNC_STOP_TIMEOUT -------------------------
if agent_start stubborn HFSYNC_STOP_TIMEOUT=1 -- "$T/stubborn.sh"; then
    wait_for 30 test -f "$STATE/stubborn"
    start=$(date +%s%N)
    kill -TERM "$AGENT"
    agent_wait
    took=$((($(date +%s%N) - start) / 1000000))
    [ "$RC" = 137 ] || problem "exit status $RC, expected 137 (the app killed by SIGKILL)"
    [ "$took" -ge 900 ] || problem "hfsync ended ${took} ms after SIGTERM: it did not wait HFSYNC_STOP_TIMEOUT=1"
    log_has stubborn "killing it" || problem "the log does not say the app was killed"
    log_has stubborn "final backup done" || problem "no final backup after killing the app"
    [ "$RC" = 137 ] || problem "$(log_tail stubborn)"
else
    problem "the agent did not start: $(log_tail stubborn)"
fi
report "an app that ignores SIGTERM is killed after HFSYNC_STOP_TIMEOUT; hfsync exits 137"

# ---- 2a. an app that exits by itself: final backup, its exit status ----------------------------
if agent_start selfexit -- "$T/selfexit.sh"; then
    agent_wait
    [ "$RC" = 4 ] || problem "exit status $RC, expected the app's own 4: $(log_tail selfexit)"
    log_has selfexit "final backup done" || problem "no final backup after the app exited: $(log_tail selfexit)"
    hf -- restore --to "$T/r-self"
    [ -f "$T/r-self/state/own-exit" ] || problem "the final backup lacks the app's last write"
else
    problem "the agent did not start: $(log_tail selfexit)"
fi
report "an app that exits by itself is followed by a final backup; hfsync exits with its status"

# ---- 2b. other signals are passed on; HFSYNC_SIGNAL_GROUP=1 signals the app's whole group ------
if agent_start family HFSYNC_SIGNAL_GROUP=1 HFSYNC_FINAL_BACKUP_TIMEOUT=0 -- "$T/family.sh"; then
    wait_for 30 test -f "$STATE/family"
    sleep 0.3
    kill -USR1 "$AGENT"
    wait_for 30 grep -q USR1 "$STATE/app-signals" 2>/dev/null || problem "the app did not get SIGUSR1"
    kill -TERM "$AGENT"
    agent_wait
    [ "$RC" = 3 ] || problem "exit status $RC, expected the app's 3"
    grep -q TERM "$STATE/child-signals" 2>/dev/null || problem "the app's child did not get SIGTERM with HFSYNC_SIGNAL_GROUP=1"
    [ "$RC" = 3 ] || problem "$(log_tail family)"
else
    problem "the agent did not start: $(log_tail family)"
fi
rm -f "$STATE/family" "$STATE/app-signals" "$STATE/child-signals"
report "SIGUSR1 is passed to the app; with HFSYNC_SIGNAL_GROUP=1 SIGTERM reaches its whole group"

# ---- 2c. the daemon: a backup soon after start, a final backup on SIGTERM, exit 0 ---------------
echo "daemon was here" >"$STATE/daemon.txt"
(exec env -i "PATH=$PATH" "HOME=$E2E_HOME" "HFSYNC_REPO=$REPO_URL" "HFSYNC_SOURCES=$SOURCES" \
    "HFSYNC_CACHE_DIR=$CACHE_DIR" "HFSYNC_INTERVAL=600" "HFSYNC_BACKUP_ON_START=1" \
    "HFSYNC_LEASE_TTL=3" timeout -k 5 30 "$HFSYNC" daemon 2>"$T/daemon.log") &
dpid=$!
count0=$(backup_count "$REPO_DIR")
wait_for 60 backups_at_least $((count0 + 1)) ||
    problem "no backup within 6 s of the daemon's start with HFSYNC_BACKUP_ON_START=1"
echo "after the first backup" >"$STATE/daemon2.txt"
kill -TERM "$dpid"
wait "$dpid"
RC=$?
[ "$RC" = 0 ] || problem "the daemon exited with $RC after SIGTERM, expected 0: $(log_tail daemon)"
log_has daemon "final backup done" || problem "no final backup: $(log_tail daemon)"
hf -- restore --to "$T/rd"
[ -f "$T/rd/state/daemon2.txt" ] || problem "the daemon's final backup lacks a file written before SIGTERM"
report "the daemon backs up soon after start (HFSYNC_BACKUP_ON_START), then finally on SIGTERM"

# ---- 2d. a failing backup is retried and never stops the app -----------------------------------
if agent_start failing -- "$T/app.sh"; then
    wait_for 60 grep -q "backup .* done" "$T/failing.log"
    mv "$REPO_DIR/backups" "$REPO_DIR/backups.away"
    touch "$REPO_DIR/backups" # every object path under it now fails
    wait_for 60 grep -q "backup failed" "$T/failing.log" || problem "no failed backup was logged"
    sleep 1.5
    kill -0 "$AGENT" 2>/dev/null || problem "hfsync stopped after failed backups"
    c1=$(cat "$STATE/count")
    sleep 0.5
    [ "$(cat "$STATE/count")" != "$c1" ] || problem "the app stopped running after failed backups"
    grep -q "retrying in" "$T/failing.log" || problem "the log does not say when the backup is retried"
    rm "$REPO_DIR/backups"
    mv "$REPO_DIR/backups.away" "$REPO_DIR/backups"
    done_more_than() { [ "$(grep -c "backup .* done" "$T/failing.log")" -gt "$1" ]; }
    wait_for 60 done_more_than "$(grep -c "backup .* done" "$T/failing.log")" ||
        problem "no backup succeeded after the target was repaired"
    kill -TERM "$AGENT"
    agent_wait
    [ "$RC" = 7 ] || problem "exit status $RC, expected 7: $(log_tail failing)"
else
    problem "the agent did not start: $(log_tail failing)"
fi
report "a failed backup is logged and retried; the app keeps running; backups resume"

# ---- 3. an emptied state is restored exactly; a state at the latest backup is not ---------------
$TREE snap "$STATE" "$T/snap-before-wipe.json"
hf -- list --json
latest=$($RTOOL latest "$REPO_DIR")
find "$STATE" -mindepth 1 -delete # empty the state dir; the cache with its marker stays
if agent_start run2 HFSYNC_FINAL_BACKUP_TIMEOUT=0 HFSYNC_RESTORE_FLAG="$T/flag/restored" -- sleep 30; then
    wait_for 50 log_has run2 "started 'sleep'"
    expect_tree "$T/snap-before-wipe.json" "$STATE" "the emptied state after the restore at start"
    [ -f "$T/flag/restored" ] || problem "HFSYNC_RESTORE_FLAG was not created after the restore"
    log_has run2 "restore $latest done" || problem "the log does not show the restore of $latest: $(log_tail run2)"
    kill -TERM "$AGENT"
    agent_wait
    [ "$RC" = 143 ] || problem "exit status $RC after SIGTERM to 'sleep', expected 143 (128 + SIGTERM)"
else
    problem "the agent did not start: $(log_tail run2)"
fi
report "a start with an emptied state dir restores exactly the state of the last stop"

# A fresh container whose image provides default files where the state goes: they do not block
# the restore (here the cache survived; without it there is no marker at all).
rm -rf "$STATE"
mkdir -p "$STATE/sub"
echo "image default" >"$STATE/default.conf"
echo "image default" >"$STATE/sub/seed.txt"
if agent_start run2b HFSYNC_FINAL_BACKUP_TIMEOUT=0 -- sleep 30; then
    wait_for 50 log_has run2b "started 'sleep'"
    expect_tree "$T/snap-before-wipe.json" "$STATE" "image-provided files after the restore at start"
    kill -TERM "$AGENT"
    agent_wait
else
    problem "the agent did not start: $(log_tail run2b)"
fi
report "files an image provides in place of the state do not block the restore"

echo "made while no agent ran" >"$STATE/offline.txt"
if agent_start run3 HFSYNC_FINAL_BACKUP_TIMEOUT=0 -- sleep 30; then
    wait_for 50 log_has run3 "started 'sleep'"
    log_has run3 "no restore needed" || problem "the log does not say that no restore was needed: $(log_tail run3)"
    [ -f "$STATE/offline.txt" ] || problem "a file made while no agent ran is gone: the state was restored over"
    kill -TERM "$AGENT"
    agent_wait
else
    problem "the agent did not start: $(log_tail run3)"
fi
report "a start whose state marker names the latest backup does not restore"

# ---- 4. a damaged target: the app does not start, or starts with backups disabled ---------------
cp -a "$REPO_DIR" "$T/badrepo"
vol=$($RTOOL pick-volume "$T/badrepo" --last)
$RTOOL flip "$T/badrepo" "$vol"
repo_sums() { (cd "$1" && find . -type f ! -name 'hfsync-lease.json' -exec sha256sum {} + | sort); }
repo_sums "$T/badrepo" >"$T/bad-before.txt"
mkdir -p "$T/fresh/state"
saved=("$REPO_URL" "$SOURCES" "$CACHE_DIR" "$STATE")
REPO_URL=file://$T/badrepo SOURCES=state:$T/fresh/state CACHE_DIR=$T/cache-bad STATE=$T/fresh/state

if agent_start bad-exit RAN_FILE="$T/ran-exit" -- "$T/app.sh"; then
    agent_wait
    [ "$RC" = 3 ] || problem "exit status $RC, expected 3 (the restore found corrupt data): $(log_tail bad-exit)"
    [ -f "$T/ran-exit" ] && problem "the app ran although the restore failed"
    log_has bad-exit "$vol" || problem "the log does not name the damaged volume $vol"
fi
report "a failed restore at start does not start the app (HFSYNC_ON_RESTORE_FAILURE=exit)"

if agent_start bad-start RAN_FILE="$T/ran-start" HFSYNC_ON_RESTORE_FAILURE=start \
    HFSYNC_RESTORE_FLAG="$T/restored-flag" -- "$T/app.sh"; then
    wait_for 50 test -f "$T/ran-start" || problem "the app did not start with HFSYNC_ON_RESTORE_FAILURE=start"
    sleep 2.5 # two and a half intervals
    kill -TERM "$AGENT"
    agent_wait
    [ "$RC" = 7 ] || problem "exit status $RC, expected the app's 7"
    log_has bad-start "backups paused: the restore at start failed" || problem "the log does not say backups are paused: $(log_tail bad-start)"
    log_has bad-start "no final backup" || problem "the log does not say the final backup was skipped"
    [ -e "$T/restored-flag" ] && problem "HFSYNC_RESTORE_FLAG was created although the restore failed"
    hf -- backup
    expect_rc 4 "a backup by hand after the failed restore" &&
        expect_err_contains "backups are disabled" "a backup by hand after the failed restore"
fi
report "with HFSYNC_ON_RESTORE_FAILURE=start the app runs, backups stay disabled, 'backup' refuses (4)"

repo_sums "$T/badrepo" >"$T/bad-after.txt"
diff -q "$T/bad-before.txt" "$T/bad-after.txt" >/dev/null ||
    problem "the damaged target's objects changed: $(diff "$T/bad-before.txt" "$T/bad-after.txt" | head -n 5)"
report "the good backups stay untouched after a failed restore (both policies)"

hf -- backup --force
expect_rc 0 "backup --force" && [ -n "$OUT" ] || problem "backup --force made no backup: $(last_run)"
hf -- backup
[ "$RC" = 0 ] || problem "a backup after --force is refused: $(last_run)"
report "'backup --force' backs up the local state and enables backups again"
REPO_URL=${saved[0]} SOURCES=${saved[1]} CACHE_DIR=${saved[2]} STATE=${saved[3]}

# ---- 5. no target: the command runs unchanged ---------------------------------------------------
hf -u HFSYNC_REPO -- entrypoint -- sh -c 'printf "%s|" "$0" "$@"; exit 5' zero 'one two' three
[ "$RC" = 5 ] || problem "exit status $RC, expected the command's 5"
[ "$OUT" = "zero|one two|three|" ] || problem "the command saw its arguments as '$OUT', expected 'zero|one two|three|'"
expect_err_contains "no backup target is configured" "entrypoint without a target"
report "with no target configured the command runs unchanged with its arguments and exit status"

# ---- 6. two agents on one target ----------------------------------------------------------------
mkdir -p "$T/other/state"
if agent_start a1 -- "$T/app.sh"; then
    A1=$AGENT
    A1_NS=$AGENT_NS
    wait_for 50 test -f "$REPO_DIR/hfsync-lease.json" || problem "agent A took no lease"
    before=$(backup_count "$REPO_DIR")
    saved=("$SOURCES" "$CACHE_DIR" "$STATE")
    SOURCES=state:$T/other/state CACHE_DIR=$T/cache-other STATE=$T/other/state
    if agent_start a2 HFSYNC_LEASE_WAIT=1 -- "$T/app.sh"; then
        wait_for 50 log_has a2 "backups paused: another writer holds the target" ||
            problem "agent B did not back off: $(log_tail a2)"
        sleep 2
        log_has a2 "still writing" || problem "agent B did not wait for agent A before restoring"
        grep -q "backup .* done" "$T/a2.log" && problem "agent B made a backup while A held the lease"
        during=$(backup_count "$REPO_DIR")
        [ "$during" -gt "$before" ] || problem "agent A stopped backing up while B ran ($before -> $during backups)"
        hf -- backup
        expect_rc 4 "a backup by hand from B's machine" && expect_err_contains "another writer holds" "a backup by hand from B's machine"
        kill -TERM "$AGENT"
        agent_wait
    fi
    SOURCES=${saved[0]} CACHE_DIR=${saved[1]} STATE=${saved[2]}
    hf -- backup
    expect_rc 0 "a backup by hand beside agent A (same machine)"
    AGENT=$A1
    AGENT_NS=$A1_NS
    kill -TERM "$AGENT"
    agent_wait
    [ "$RC" = 7 ] || problem "agent A exited with $RC, expected 7: $(log_tail a1)"
    hf -- verify
    expect_rc 0 "verify of the chain after two agents"
else
    problem "agent A did not start: $(log_tail a1)"
fi
report "two agents on one target: one writes, the other backs off, the chain stays valid"

# ---- 7. the local lock ---------------------------------------------------------------------------
lockfile=$(ls "$CACHE_DIR"/*/lock | head -n 1)
flock "$lockfile" sleep 3 &
holder=$!
sleep 0.3
hf HFSYNC_LOCK_TIMEOUT=1 -- backup
expect_rc 4 "backup while the lock is held" && expect_err_contains "another hfsync is working on this target" "backup while the lock is held"
wait "$holder"
report "a backup by hand while another works on the target here waits, then refuses clearly (4)"

finish
