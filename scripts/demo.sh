#!/usr/bin/env bash
# The main job on the embedded default target, in a temporary directory: back up a sample tree,
# change it, take an incremental backup, restore the latest into a new directory, and compare.
set -euo pipefail
cd "$(dirname "$0")/.."
HFSYNC=$PWD/hfsync
demo=$(mktemp -d "${TMPDIR:-/tmp}/hfsync-demo.XXXXXX")
trap 'rm -rf "$demo"' EXIT

state=$demo/state
mkdir -p "$state/notes" "$state/sessions" "$state/empty"
for i in $(seq 1 50); do
    printf '{"turn": %d, "text": "hello from session %d"}\n' "$i" "$i" >>"$state/sessions/chat.jsonl"
done
echo "remember the milk" >"$state/notes/todo.md"
head -c 200000 /dev/urandom >"$state/blob.bin"
ln -s notes/todo.md "$state/latest-note"
chmod 600 "$state/notes/todo.md"

export HFSYNC_REPO="file://$demo/target"
export HFSYNC_SOURCES="state:$state"
export HFSYNC_CACHE_DIR="$demo/cache"
export HFSYNC_WORK_DIR="$demo/work"

echo "== full backup of $state"
"$HFSYNC" backup
echo "== change: edit a file, add one, delete one"
echo "buy bread" >>"$state/notes/todo.md"
echo "new" >"$state/notes/new.md"
rm "$state/blob.bin"
echo "== incremental backup"
"$HFSYNC" backup
echo "== backups on the target"
"$HFSYNC" list
echo "== restore the latest into $demo/restored"
"$HFSYNC" restore --to "$demo/restored"
if diff -r --no-dereference "$state" "$demo/restored/state" >/dev/null &&
    [ "$(stat -c %a "$demo/restored/state/notes/todo.md")" = 600 ]; then
    echo "demo: the restored tree matches the live one"
else
    echo "demo: MISMATCH between $state and the restored tree" >&2
    exit 1
fi
