#!/usr/bin/env bash
# shellcheck disable=SC2034 # variables are read by lib.sh
# Network faults on s3://: moto_server behind s3_fault_proxy.py, which answers chosen requests
# with 429 + Retry-After, 503 SlowDown, 500 InternalError, drops connections mid-body (a response
# being received, a request body being sent) or stalls. For each fault a multi-volume backup
# (multipart volumes) succeeds within its retry budget, the log names every retry (operation,
# object, reason, try n of m, wait) and the backup restores exactly; a Retry-After is waited out;
# beyond the budget the backup fails cleanly and the pointer stays where it was. Then prune aborts
# the multipart uploads a crashed writer left, and only those old enough.
. "$(dirname "$0")/lib.sh"
require_hfsync

S3TOOL="python3 $E2E_DIR/s3_tool.py"
if ! command -v moto_server >/dev/null 2>&1 || ! python3 -c 'import boto3' 2>/dev/null; then
    skip "S3 faults against moto_server" "moto_server or boto3 is not installed (they come with the machine image's python)"
    finish
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PIDS=()
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap 'stop_all; _e2e_cleanup' EXIT

port=$(free_port)
moto_server -H 127.0.0.1 -p "$port" >"$T/moto.log" 2>&1 &
PIDS+=($!)
MOTO=http://127.0.0.1:$port
$S3TOOL "$MOTO" wait || { fail "moto_server starts on loopback" "$(cat "$T/moto.log")"; finish; }
python3 "$E2E_DIR/s3_fault_proxy.py" --upstream "$MOTO" --port-file "$T/proxy.port" 2>"$T/proxy.log" &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$T/proxy.port" ] && break; sleep 0.1; done
[ -s "$T/proxy.port" ] || { fail "the fault proxy starts" "$(cat "$T/proxy.log")"; finish; }
PROXY=http://127.0.0.1:$(cat "$T/proxy.port")
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
$S3TOOL "$MOTO" mkbucket faults

faults() { # JSON rule(s)
    local r
    r=$(curl -s -X POST -H 'Content-Type: application/json' -d "$1" "$PROXY/_proxy/faults")
    case $r in *'"ok": true'*) ;; *) problem "the proxy refused the rules $1: $r" ;; esac
}
faults_clear() { curl -s -X DELETE "$PROXY/_proxy/faults" >/dev/null; }
# Number of faults not injected yet, over every rule.
faults_left() {
    curl -s "$PROXY/_proxy/faults" | python3 -c 'import json,sys; print(sum(r["left"] for r in json.load(sys.stdin)["rules"]))'
}
expect_all_injected() { # what
    local left
    left=$(faults_left)
    [ "$left" = 0 ] || problem "$1: $left of the faults were never injected (the requests did not come)"
}
# Lines of the last run's log that announce a retry and match an extended regex.
retry_lines() { printf '%s\n' "$ERR" | grep -E "retry: $1" || true; }
expect_retry_lines() { # min-count regex what
    local n
    n=$(retry_lines "$2" | wc -l)
    [ "$n" -ge "$1" ] || problem "$3: expected at least $1 retry line(s) matching /retry: $2/, got $n:
$(printf '%s\n' "$ERR" | grep 'retry: ' | head -n 5)"
}

# Several volumes of about 6 MiB, each sent in parts of 5 MiB (multipart).
LIVE=$T/live
$TREE gen "$LIVE/state" --seed 51 --files 120 --big 0 >/dev/null
for i in 1 2 3; do head -c 4500000 /dev/urandom >"$LIVE/state/blob$i.bin"; done
SOURCES="state:$LIVE/state"
$TREE snap "$LIVE" "$T/snap.json"
# HFSYNC_LEASE_TTL=6: the lease settles in 0.6 s instead of 2 s, which adds up over 20 runs.
S3ENV=(AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "AWS_ENDPOINT_URL=$PROXY"
    HFSYNC_VOLUME_SIZE=6M HFSYNC_S3_PART_SIZE=5M HFSYNC_RETRY_BASE=0 HFSYNC_PRUNE=off HFSYNC_LEASE_TTL=6)
VOL='backups/[0-9]{8}-[0-9]{6}[FI]\.vol-[0-9]{4}\.tar\.zst'

restore_check() { # prefix what
    rm -rf "$CACHE_DIR" "$T/restore" && mkdir -p "$CACHE_DIR"
    hf "${S3ENV[@]}" HFSYNC_REPO="s3://faults/$1" -- restore --to "$T/restore"
    expect_rc 0 "$2: restore" && expect_tree "$T/snap.json" "$T/restore" "$2: restore"
}

# --- the backup every case is compared with: no faults, several multipart volumes
faults_clear
REPO_URL=s3://faults/clean
backup_full "${S3ENV[@]}"
nvol=$($S3TOOL "$MOTO" keys faults clean/backups/ | grep -cE '\.vol-[0-9]{4}\.tar\.zst')
[ "$nvol" -ge 2 ] || problem "expected several volumes, got $nvol"
parts=$(curl -s "$PROXY/_proxy/faults" | grep -o 'partNumber=2' | wc -l)
[ "$parts" -ge 1 ] || problem "expected a volume of more than one part (multipart), saw no second part"
report "without faults: a backup of several multipart volumes through the proxy"

# --- 429 with Retry-After: 1 on part uploads: waited out, then the parts go through
faults_clear
faults '{"method": "PUT", "path": "partNumber=", "fault": "429", "retry_after": 1, "count": 2}'
REPO_URL=s3://faults/c429
backup_full "${S3ENV[@]}"
expect_all_injected "429"
expect_retry_lines 2 "S3 UploadPart s3://faults/c429/$VOL part [0-9]+: TooManyRequests: .*\(HTTP 429\); try [23] of 5 in 1\.0 s" "429"
expect_err_contains "retried" "the run summary counts the retries"
# Each refused part is sent again only after the second asked for (by the proxy's clock).
waits=$(curl -s "$PROXY/_proxy/faults" | python3 -c '
import json, sys
log = json.load(sys.stdin)["log"]
for i, e in enumerate(log):
    if e["fault"] == "429":
        nxt = [x["t"] for x in log[i + 1:] if x["target"] == e["target"]]
        print("%.2f" % (nxt[0] - e["t"]) if nxt else "never")')
[ "$(printf '%s\n' "$waits" | grep -c .)" = 2 ] || problem "expected 2 answers of 429 in the proxy log, got: $waits"
for w in $waits; do
    if [ "$w" = never ]; then
        problem "a part refused with 429 was never sent again"
    elif ! python3 -c "import sys; sys.exit(0 if $w >= 0.95 else 1)"; then
        problem "a part refused with 429 and Retry-After: 1 was sent again after only $w s"
    fi
done
restore_check c429 "429"
report "429 with Retry-After: 1 on part uploads: each waited about 1 s, logged, backup restores exactly"

# --- 503 SlowDown on part uploads (backoff, no Retry-After)
faults_clear
faults '{"method": "PUT", "path": "partNumber=", "fault": "503", "count": 3}'
REPO_URL=s3://faults/c503
backup_full "${S3ENV[@]}"
expect_all_injected "503"
expect_retry_lines 3 "S3 UploadPart s3://faults/c503/$VOL part [0-9]+: SlowDown: Please reduce your request rate\. \(HTTP 503\); try [2-4] of 5 in [0-9.]+ s" "503"
restore_check c503 "503"
report "503 SlowDown on part uploads: retried with backoff, logged, backup restores exactly"

# --- 500 InternalError on CompleteMultipartUpload and on a single-request PutObject
faults_clear
faults '[{"method": "POST", "path": "uploadId=", "fault": "500", "count": 2},
         {"method": "PUT", "path": "manifest", "fault": "500", "count": 1}]'
REPO_URL=s3://faults/c500
backup_full "${S3ENV[@]}"
expect_all_injected "500"
expect_retry_lines 2 "S3 CompleteMultipartUpload s3://faults/c500/$VOL: InternalError: .*\(HTTP 500\); try [23] of 5" "500 on Complete"
expect_retry_lines 1 "S3 PutObject s3://faults/c500/backups/[0-9]{8}-[0-9]{6}F\.manifest\.zst: InternalError: .*\(HTTP 500\); try 2 of 5" "500 on PutObject"
restore_check c500 "500"
report "500 InternalError on CompleteMultipartUpload and PutObject: retried, logged, backup restores exactly"

# --- connections dropped in the middle of a request body (part upload) and of a response body;
# replies lost after the server acted (CompleteMultipartUpload, the pointer's conditional write)
faults_clear
faults '[{"method": "PUT", "path": "partNumber=", "fault": "drop-request", "count": 2},
         {"method": "GET", "path": "hfsync-lease\\.json", "fault": "drop-response", "count": 1, "after": 1},
         {"method": "POST", "path": "uploadId=", "fault": "drop-response", "count": 1},
         {"method": "PUT", "path": "latest-backup\\.json", "fault": "drop-response", "count": 1}]'
REPO_URL=s3://faults/cdrop
backup_full "${S3ENV[@]}"
expect_all_injected "dropped connections"
expect_retry_lines 2 "S3 UploadPart s3://faults/cdrop/$VOL part [0-9]+: .+; try [23] of 5 in [0-9.]+ s" "request body cut"
expect_retry_lines 1 "S3 GetObject s3://faults/cdrop/hfsync-lease\.json: .+; try 2 of 5 in [0-9.]+ s" "response body cut"
expect_retry_lines 1 "S3 CompleteMultipartUpload s3://faults/cdrop/$VOL: .+; try 2 of 5" "Complete's reply lost"
expect_retry_lines 1 "S3 PutObject s3://faults/cdrop/latest-backup\.json: .+; try 2 of 5" "the pointer write's reply lost"
ptr=$($S3TOOL "$MOTO" cat faults cdrop/latest-backup.json)
case $ptr in *"${BK:-none}.meta.json"*) ;; *) problem "the pointer does not name the backup ${BK:-none}: $ptr" ;; esac
# A restore whose volume downloads are cut resumes each from the last byte received (Range).
faults_clear
faults '{"method": "GET", "path": "\\.vol-0001\\.tar\\.zst", "fault": "drop-response", "count": 2}'
restore_check cdrop "responses cut"
expect_all_injected "volume downloads cut"
expect_retry_lines 2 "GET $PROXY/faults/cdrop/$VOL: .+; try [23] of 5 in [0-9.]+ s" "download cut"
ranges=$(curl -s "$PROXY/_proxy/faults" | python3 -c '
import json, sys
print(sum(1 for e in json.load(sys.stdin)["log"] if ".vol-0001." in e["target"] and (e["range"] or "").startswith("bytes=") and e["range"] != "bytes=0-"))')
[ "$ranges" -ge 2 ] || problem "expected the cut downloads to resume with Range from the bytes received, saw $ranges such requests"
report "connections dropped mid request and mid response body, replies lost: retried (downloads resume with Range), restore exact"

# --- a stalled answer is cut by HFSYNC_STALL_TIMEOUT and retried. The stall is on the small
# CompleteMultipartUpload: after a 5 MiB part, curl's speed (averaged over ~5 s) stays above the
# limit for a few seconds more, which would only make the test slower.
faults_clear
faults '{"method": "POST", "path": "uploadId=", "fault": "stall", "seconds": 20, "count": 1}'
REPO_URL=s3://faults/cstall
start=$(date +%s)
backup_full "${S3ENV[@]}" HFSYNC_STALL_TIMEOUT=2
took=$(($(date +%s) - start))
expect_all_injected "stall"
expect_retry_lines 1 "S3 CompleteMultipartUpload s3://faults/cstall/$VOL: .*too slow.*; try 2 of 5" "stall"
[ "$took" -lt 12 ] || problem "the stalled request was not cut after HFSYNC_STALL_TIMEOUT=2 (the backup took $took s)"
restore_check cstall "stall"
report "a stalled answer is cut after HFSYNC_STALL_TIMEOUT and retried; backup restores exactly"

# --- beyond the budget: the backup fails cleanly and the pointer does not move
head -c 6000000 /dev/urandom >"$LIVE/state/new-file.bin" # a multipart volume
ptr_before=$($S3TOOL "$MOTO" sha256 faults c503/latest-backup.json)
faults_clear
faults '{"method": "PUT", "path": "partNumber=", "fault": "503", "count": 50}'
REPO_URL=s3://faults/c503
hf "${S3ENV[@]}" HFSYNC_RETRY_TRIES=2 -- backup
expect_nonzero "backup with more 503 answers than HFSYNC_RETRY_TRIES=2 allows" &&
    expect_err_matches "S3 UploadPart s3://faults/c503/$VOL part [0-9]+: SlowDown: .*\(HTTP 503\) \(gave up after 2 tries\)" "the error names the part, the reason and the tries"
[ "$($S3TOOL "$MOTO" sha256 faults c503/latest-backup.json)" = "$ptr_before" ] || problem "the pointer moved"
left=$($S3TOOL "$MOTO" uploads faults c503/)
[ -z "$left" ] || problem "the failed backup left multipart uploads behind: $left"
report "503 beyond HFSYNC_RETRY_TRIES: the backup fails with a non-zero exit, the pointer does not move, no upload is left"

faults_clear
faults '{"method": "PUT", "path": "partNumber=", "fault": "429", "retry_after": 30, "count": 50}'
start=$(date +%s)
hf "${S3ENV[@]}" HFSYNC_RETRY_BUDGET=5 -- backup
took=$(($(date +%s) - start))
expect_nonzero "backup when the service asks to wait beyond HFSYNC_RETRY_BUDGET" &&
    expect_err_contains "asks to wait 30 s" "the error says how long the service asks to wait" &&
    expect_err_contains "expect success after" "the error says when to expect success"
[ "$took" -lt 20 ] || problem "the backup waited ($took s) instead of failing at once"
[ "$($S3TOOL "$MOTO" sha256 faults c503/latest-backup.json)" = "$ptr_before" ] || problem "the pointer moved"
left=$($S3TOOL "$MOTO" uploads faults c503/)
[ -z "$left" ] || problem "the failed backup left multipart uploads behind: $left"
report "a Retry-After beyond HFSYNC_RETRY_BUDGET fails the backup at once, saying when to expect success"
rm -f "$LIVE/state/new-file.bin"
faults_clear

# --- prune aborts the multipart uploads a crashed writer left, once older than HFSYNC_STALE_AFTER.
# moto reports every upload as initiated at 2010-11-10T20:48:33Z, so "now" (HFSYNC_TEST_NOW) is
# set around that time: 12 minutes later the upload is young, a day later it is stale.
REPO_URL=s3://faults/mpu
stale_key=mpu/backups/20101110-204000F.vol-0001.tar.zst
$S3TOOL "$MOTO" mpu-create faults "$stale_key" mpu/elsewhere/upload.bin \
    other/backups/20101110-204000F.vol-0001.tar.zst >/dev/null
uploads() { $S3TOOL "$MOTO" uploads faults "" | cut -f1; }
young_now=$(date -u -d 2010-11-10T21:00:00Z +%s)
old_now=$(date -u -d 2010-11-11T21:00:00Z +%s)
PENV=(AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "AWS_ENDPOINT_URL=$PROXY" HFSYNC_STALE_AFTER=1h)
hf "${PENV[@]}" HFSYNC_TEST_NOW="$young_now" -- prune
expect_rc 0 "prune while the upload is younger than HFSYNC_STALE_AFTER"
hf "${PENV[@]}" HFSYNC_TEST_NOW="$old_now" -- prune --dry-run
expect_rc 0 "prune --dry-run" && expect_err_contains "unfinished upload of backups/20101110-204000F.vol-0001.tar.zst" "the dry run names the stale upload"
uploads | grep -qxF "$stale_key" || problem "the young upload was aborted, or prune --dry-run aborted it"
report "prune keeps an unfinished upload younger than HFSYNC_STALE_AFTER; --dry-run only names a stale one"

hf "${PENV[@]}" HFSYNC_TEST_NOW="$old_now" -- prune
expect_rc 0 "prune with a stale upload" && expect_err_contains "aborted 1 unfinished upload" "prune says what it aborted"
left=$(uploads)
! printf '%s\n' "$left" | grep -qxF "$stale_key" || problem "the stale upload under the backups' prefix is still there"
printf '%s\n' "$left" | grep -qxF mpu/elsewhere/upload.bin || problem "an upload outside the backups' prefix was aborted"
printf '%s\n' "$left" | grep -qxF other/backups/20101110-204000F.vol-0001.tar.zst || problem "an upload of another target was aborted"
report "prune aborts a stale unfinished upload under the backups' prefix (ListMultipartUploads, Abort), nothing else"

$S3TOOL "$MOTO" mpu-create faults "$stale_key" >/dev/null
faults '{"method": "GET", "path": "uploads", "fault": "501", "count": 1}'
hf "${PENV[@]}" HFSYNC_TEST_NOW="$old_now" -- prune
expect_rc 0 "prune on a service without ListMultipartUploads" &&
    expect_err_contains "does not list multipart uploads" "prune says the service does not list uploads"
expect_all_injected "501 on ListMultipartUploads"
uploads | grep -qxF "$stale_key" || problem "the upload was aborted although it could not be listed"
report "a service answering NotImplemented to ListMultipartUploads does not fail prune"
faults_clear

finish
