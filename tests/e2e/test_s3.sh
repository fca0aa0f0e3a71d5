#!/usr/bin/env bash
# shellcheck disable=SC2034 # variables are read by lib.sh
# The S3 backend against moto_server on loopback: a full backup and incrementals with deletions,
# several volumes each large enough for multipart uploads (with SHA-256 part checksums the server
# records), every backup restored exactly from a fresh cache; a listing of more than 1000 keys;
# interoperability with boto3 both ways; and one clear error each for a wrong secret key and a
# missing bucket.
. "$(dirname "$0")/lib.sh"
require_hfsync

S3TOOL="python3 $E2E_DIR/s3_tool.py"
if ! command -v moto_server >/dev/null 2>&1 || ! python3 -c 'import boto3' 2>/dev/null; then
    skip "S3 backend against moto_server" "moto_server or boto3 is not installed (they come with the machine image's python)"
    finish
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MOTO_PIDS=()
start_moto() { # var-for-endpoint [env...]
    local port
    port=$(free_port)
    env "${@:2}" moto_server -H 127.0.0.1 -p "$port" >"$T/moto-$port.log" 2>&1 &
    MOTO_PIDS+=($!)
    printf -v "$1" 'http://127.0.0.1:%s' "$port"
    $S3TOOL "http://127.0.0.1:$port" wait
}
stop_moto() { for p in "${MOTO_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap 'stop_moto; _e2e_cleanup' EXIT

start_moto EP || { fail "moto_server starts on loopback" "$(cat "$T"/moto-*.log)"; finish; }
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
$S3TOOL "$EP" mkbucket hfsync-e2e

S3ENV=(AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "AWS_ENDPOINT_URL=$EP"
    HFSYNC_VOLUME_SIZE=5M HFSYNC_S3_PART_SIZE=5M)
REPO_URL=s3://hfsync-e2e/team/agent
LIVE=$T/live
mkdir -p "$LIVE"
$TREE gen "$LIVE/state" --seed 31 --files 1500 --big 6
$TREE gen "$LIVE/config" --seed 32 --files 100 --big 0
SOURCES="state:$LIVE/state,config:$LIVE/config"
head -c 14000000 /dev/urandom >"$LIVE/state/incompressible.bin"

names=()
backup_expect F "${S3ENV[@]}" && names+=("$BK")
$TREE snap "$LIVE" "$T/snap0.json"
report "full backup to s3:// succeeds"

$S3TOOL "$EP" keys hfsync-e2e team/agent/ >"$T/keys0.txt"
nvol=$(grep -c '\.vol-[0-9]*\.tar\.zst' "$T/keys0.txt")
big=$(awk -F'\t' '$1 ~ /\.vol-/ && $2 > 5242880' "$T/keys0.txt" | wc -l)
{ [ "$nvol" -ge 3 ] && [ "$big" -ge 1 ]; } ||
    problem "expected several volumes, some larger than one 5 MiB part (multipart), got $nvol volumes, $big over 5 MiB: $(cat "$T/keys0.txt")"
grep -q '^team/agent/latest-backup.json' "$T/keys0.txt" ||
    problem "no team/agent/latest-backup.json among the keys: $(cat "$T/keys0.txt")"
report "the full backup is several volumes under the target prefix, uploaded in parts"

# The parts went up with x-amz-checksum-sha256 on an upload created with the SHA256 algorithm, so
# the server keeps a composite SHA-256 of them (moto 5.2 records it but checks neither it nor
# Content-MD5: the scripted-server unit tests check what is sent).
if msg=$($S3TOOL "$EP" checksums hfsync-e2e team/agent/ 5242880 2>&1); then
    pass "multipart volumes carry the composite SHA-256 checksum of their parts"
else
    fail "multipart volumes carry the composite SHA-256 checksum of their parts" "$msg"
fi

for step in 1 2; do
    $TREE mutate "$LIVE/state" --seed 31 --step "$step"
    $TREE mutate "$LIVE/config" --seed 32 --step "$step"
    [ "$step" = 2 ] && rm -f "$LIVE/state/incompressible.bin"
    backup_expect I "${S3ENV[@]}" && names+=("$BK")
    $TREE snap "$LIVE" "$T/snap$step.json"
    report "incremental backup $step (changes and deletions) to s3:// succeeds"
done

hf "${S3ENV[@]}" -- backup
expect_rc 0 "backup with no change" && { [ -z "$OUT" ] || problem "no-change backup made '$OUT'"; }
report "a backup with nothing changed makes no backup on s3://"

for i in 0 1 2; do
    [ -n "${names[$i]:-}" ] || continue
    rm -rf "$CACHE_DIR" && mkdir -p "$CACHE_DIR"
    hf "${S3ENV[@]}" -- restore --to "$T/restore-$i" --backup "${names[$i]}"
    expect_rc 0 "restore ${names[$i]} from s3:// with an empty cache" &&
        expect_tree "$T/snap$i.json" "$T/restore-$i" "restore of ${names[$i]}"
    report "backup $i of the chain restores exactly from s3:// with a fresh cache"
    rm -rf "$T/restore-$i"
done

hf "${S3ENV[@]}" -- verify --deep
expect_rc 0 "verify --deep on s3://"
report "verify --deep passes on s3://"

# --- boto3 downloads what hfsync wrote: same bytes, and the layout follows docs/FORMAT.md
$S3TOOL "$EP" download hfsync-e2e team/agent/ "$T/fromboto"
if msg=$($RTOOL check-format "$T/fromboto" --snap "$T/snap2.json" --backup "${names[2]:-none}" 2>&1); then
    pass "boto3 lists and downloads hfsync's objects; they follow docs/FORMAT.md and hold the tree"
else
    fail "boto3 lists and downloads hfsync's objects; they follow docs/FORMAT.md and hold the tree" "$(printf '%s' "$msg" | head -n 30)"
fi

# --- a backup copied into the bucket by boto3 restores with hfsync
SOURCES="state:$LIVE/state"
hf -u AWS_ENDPOINT_URL "REPO_IGNORED=1" "HFSYNC_REPO=file://$T/localrepo" HFSYNC_VOLUME_SIZE=6M -- backup
expect_rc 0 "local file:// backup"
$TREE snap "$LIVE/state" "$T/snap-local.json"
$S3TOOL "$EP" upload "$T/localrepo" hfsync-e2e copied
rm -rf "$CACHE_DIR" && mkdir -p "$CACHE_DIR"
hf "${S3ENV[@]}" HFSYNC_REPO=s3://hfsync-e2e/copied -- restore --to "$T/restore-copied"
expect_rc 0 "restore of a backup uploaded by boto3" &&
    expect_tree "$T/snap-local.json" "$T/restore-copied/state" "restore of the boto3-uploaded backup"
report "a backup whose objects boto3 copied into the bucket restores with hfsync"

# --- listings of more than 1000 keys: hfsync finds the backup among 1100 other objects
$S3TOOL "$EP" junk hfsync-e2e copied/backups/000-junk- 1100
hf "${S3ENV[@]}" HFSYNC_REPO=s3://hfsync-e2e/copied -- list
expect_rc 0 "list with 1100 extra keys" && { printf '%s' "$OUT" | grep -q 'latest' || problem "list did not show the backup: $OUT"; }
report "listing pages through more than 1000 keys (ListObjectsV2 continuation)"

# --- errors
SOURCES="state:$LIVE/state,config:$LIVE/config"
hf "${S3ENV[@]}" HFSYNC_REPO=s3://no-such-bucket-e2e/x -- backup
expect_nonzero "backup to a missing bucket" && expect_err_contains "NoSuchBucket" "missing bucket" &&
    expect_err_contains "no-such-bucket-e2e" "missing bucket"
report "a missing bucket gives one clear error naming the bucket and NoSuchBucket"

start_moto AUTH_EP INITIAL_NO_AUTH_ACTION_COUNT=3
read -r KEY SECRET < <($S3TOOL "$AUTH_EP" setup-auth)
AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET $S3TOOL "$AUTH_EP" mkbucket authed
hf "AWS_ACCESS_KEY_ID=$KEY" "AWS_SECRET_ACCESS_KEY=$SECRET" "AWS_ENDPOINT_URL=$AUTH_EP" HFSYNC_REPO=s3://authed/p -- backup
expect_rc 0 "backup with the right key in moto's authentication mode"
report "moto in authentication mode accepts hfsync's signatures"
hf "AWS_ACCESS_KEY_ID=$KEY" "AWS_SECRET_ACCESS_KEY=wrong-${SECRET}" "AWS_ENDPOINT_URL=$AUTH_EP" HFSYNC_REPO=s3://authed/p -- list
expect_nonzero "list with a wrong secret key" && expect_err_contains "SignatureDoesNotMatch" "wrong secret" &&
    expect_err_contains "AWS_SECRET_ACCESS_KEY" "wrong secret"
if printf '%s\n%s' "$OUT" "$ERR" | grep -qF -- "$SECRET"; then problem "the secret key appears in the output"; fi
n=$(printf '%s' "$ERR" | grep -c 'SignatureDoesNotMatch')
[ "$n" -le 2 ] || problem "the wrong-secret error is repeated $n times (retried?)"
report "a wrong secret key gives one clear error naming SignatureDoesNotMatch, without the secret"

finish
