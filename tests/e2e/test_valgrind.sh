#!/usr/bin/env bash
# The real binary under valgrind (memcheck): a full backup, an incremental, a deep verify and a
# restore of a small tree (and a backup and restore in the original script's format) must run
# without memory errors or definite leaks. The sanitizer build
# covers the unit tests; this covers main.c and the paths only the binary takes.
set -u
. "$(dirname "$0")/lib.sh"

if ! command -v valgrind >/dev/null 2>&1; then
    skip "valgrind runs" "valgrind is not installed"
    finish
fi

src=$T/src
mkdir -p "$src/a/b" "$src/empty"
for i in $(seq 1 40); do echo "line $i" >"$src/a/b/f$i.txt"; done
head -c 300000 /dev/urandom >"$src/blob.bin"
ln -s a/b/f1.txt "$src/link"

vg() { # label, hfsync args...
    local label=$1
    shift
    valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        --log-file="$T/vg-$label.log" "$HFSYNC" "$@" >"$T/out-$label" 2>"$T/err-$label"
    local rc=$?
    if [ "$rc" -eq 0 ]; then
        pass "valgrind ($label): hfsync $* runs clean"
    else
        fail "valgrind ($label): hfsync $* runs clean" "exit $rc" "$(tail -n 20 "$T/vg-$label.log")" \
            "$(tail -n 5 "$T/err-$label")"
    fi
}

export HFSYNC_REPO="file://$T/repo" HFSYNC_SOURCES="data:$src" HFSYNC_CACHE_DIR="$T/cache" \
    HFSYNC_WORK_DIR="$T/work" HFSYNC_VOLUME_SIZE=64K
vg full backup
echo changed >>"$src/a/b/f3.txt"
rm "$src/a/b/f4.txt"
vg incr backup
vg verify verify --deep
vg restore restore --to "$T/out"
vg list list --json

# The original script's format: a backup written in it (encrypted, in parts), then read back.
export HFSYNC_REPO="file://$T/seedrepo" HFSYNC_PASSWORD=vg-pass
HFSYNC_FORMAT=seed vg seed-backup backup
vg seed-restore restore --to "$T/out-seed"
if ls "$T/seedrepo/backups/"*.tar.gz.enc.part-ab >/dev/null 2>&1 && cmp -s "$src/blob.bin" "$T/out-seed/data/blob.bin"; then
    pass "the seed-format backup under valgrind is in parts and restores the data"
else
    fail "the seed-format backup under valgrind is in parts and restores the data" "$(ls "$T/seedrepo/backups" 2>&1)"
fi
export HFSYNC_REPO="file://$T/repo"
unset HFSYNC_PASSWORD

# The agent's supervisor, lease thread and final backup: the daemon backs up soon after start,
# then takes a final backup on SIGTERM. (Its children, plain hfsync runs, are not traced.)
echo "for the daemon" >"$src/daemon.txt"
HFSYNC_INTERVAL=600 HFSYNC_BACKUP_ON_START=1 HFSYNC_LEASE_TTL=3 \
    valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --log-file="$T/vg-daemon.log" "$HFSYNC" daemon >"$T/out-daemon" 2>"$T/err-daemon" &
vgpid=$!
for _ in $(seq 1 150); do
    grep -q "backup .* done" "$T/err-daemon" 2>/dev/null && break
    sleep 0.1
done
echo "after the first backup" >"$src/daemon2.txt"
kill -TERM "$vgpid"
wait "$vgpid"
rc=$?
if [ "$rc" -eq 0 ] && grep -q "final backup done" "$T/err-daemon"; then
    pass "valgrind (daemon): hfsync daemon runs clean through a backup and a final backup"
else
    fail "valgrind (daemon): hfsync daemon runs clean through a backup and a final backup" \
        "exit $rc" "$(tail -n 20 "$T/vg-daemon.log")" "$(tail -n 8 "$T/err-daemon")"
fi
finish
