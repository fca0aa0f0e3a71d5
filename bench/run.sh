#!/usr/bin/env bash
# hfsync benchmarks: backup and restore of an agent-home-like tree against the
# `tar | zstd -T0 -3` pipeline, a no-change incremental over 100,000 small files, and encrypted
# backup and restore against the same without a password.
# See bench/README.md. `make bench` runs this after building ./hfsync.
#
# Environment:
#   BENCH_SIZE_MB       size of the agent home tree in MiB (default 1024; 200 for a quick run)
#   BENCH_SMALL_FILES   files in the no-change incremental tree (default 100000)
#   BENCH_ENTRIES       entries of a tree of mostly empty files whose full and no-change backups'
#                       peak RSS is measured (default 0: skipped; 1000000 takes ~5 minutes, 0.5 GB)
#   BENCH_RUNS          timed runs of each command, best counts (default 3)
#   BENCH_SEED          seed of the generated trees (default 1)
#   BENCH_DIR           work directory (default bench/.work; needs about 3x BENCH_SIZE_MB free)
#   BENCH_RESTORE_DIR   where restores are written (default /dev/shm when it is a tmpfs with room
#                       for 2 x BENCH_RUNS copies of the tree, else BENCH_DIR); see README.md
#   BENCH_BASELINE_FSYNC  1 (default): the baseline fsyncs its output file like hfsync does; 0: not
#   BENCH_STRICT        1: exit 3 when a target is missed (default: report only)
#   BENCH_CRYPT         0: skip the encrypted-vs-plain comparison (default 1)
#   BENCH_ONLY          crypt: run only the encrypted-vs-plain comparison (no small-files tree,
#                       no tar|zstd baseline, no S3)
#   BENCH_KEEP          1: keep the backup repositories and baseline archive afterwards
#   HFSYNC              the binary to measure (default ./hfsync; missing: baseline only)
# Any other HFSYNC_* variable (HFSYNC_THREADS, HFSYNC_COMPRESSION_LEVEL, ...) is passed through.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD

size_mb=${BENCH_SIZE_MB:-1024}
small_files=${BENCH_SMALL_FILES:-100000}
entries=${BENCH_ENTRIES:-0}
runs=${BENCH_RUNS:-3}
seed=${BENCH_SEED:-1}
work=${BENCH_DIR:-$root/bench/.work}
hfsync=${HFSYNC:-$root/hfsync}
only=${BENCH_ONLY:-}

case "$only" in
    "" | crypt) ;;
    *)
        echo "bench: BENCH_ONLY must be empty or 'crypt' (got '$only')" >&2
        exit 2
        ;;
esac
if [ "$only" = crypt ] && [ "${BENCH_CRYPT:-1}" != 1 ]; then
    echo "bench: BENCH_ONLY=crypt and BENCH_CRYPT=0 contradict each other" >&2
    exit 2
fi

for v in size_mb small_files entries runs seed; do
    if ! [[ ${!v} =~ ^[0-9]+$ ]]; then
        echo "bench: ${v^^} must be a whole number (got '${!v}')" >&2
        exit 2
    fi
done
if [ "$size_mb" -lt 10 ] || [ "$runs" -lt 1 ] || [ "$small_files" -lt 1 ]; then
    echo "bench: need BENCH_SIZE_MB >= 10, BENCH_RUNS >= 1, BENCH_SMALL_FILES >= 1" >&2
    exit 2
fi

for tool in python3 tar zstd diff sync; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench: '$tool' is required (scripts/install-deps.sh installs it)" >&2
        exit 2
    fi
done

mkdir -p "$work"
work=$(cd "$work" && pwd)

hf_args=()
if [ -x "$hfsync" ]; then
    hfsync=$(cd "$(dirname "$hfsync")" && pwd)/$(basename "$hfsync")
    hf_args=(--hfsync "$hfsync")
else
    echo "bench: no hfsync binary at $hfsync (build it with 'make hfsync'); running the baseline only" >&2
fi

# Trees of other sizes from earlier runs only take disk space.
for old in "$work"/tree-*M "$work"/small-* "$work"/entries-*; do
    [ -d "$old" ] || continue
    if [ "$old" != "$work/tree-${size_mb}M" ] && [ "$old" != "$work/small-${small_files}" ] &&
        [ "$old" != "$work/entries-${entries}" ]; then
        echo "bench: removing $old (other size)"
        rm -rf "$old" "$old.stamp"
    fi
done
# Leftovers of an interrupted run.
rm -rf "$work"/repo-big "$work"/repo-small "$work"/repo-entries "$work"/repo-crypt-* "$work"/hfsync-bench-restores \
    "$work"/hfsync-bench-crypt "$work"/cache-* "$work"/hwork-* "$work"/baseline.tar.zst "$work"/logs

free_mb() { df -Pm "$1" | awk 'NR==2 {print $4}'; }

# Restores: 2 x runs copies of the tree exist at once (nothing is deleted between timed runs).
restore_mb=$((size_mb * 2 * runs * 5 / 4 + 200))
if [ -n "${BENCH_RESTORE_DIR:-}" ]; then
    mkdir -p "$BENCH_RESTORE_DIR"
    restore_dir=$(cd "$BENCH_RESTORE_DIR" && pwd)
elif [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] && [ -w /dev/shm ] &&
    [ "$(free_mb /dev/shm)" -gt "$restore_mb" ] &&
    [ "$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)" -gt $((restore_mb + size_mb * 2 + 1024)) ]; then
    restore_dir=/dev/shm
else
    restore_dir=$work
    echo "bench: restoring into $work (no tmpfs with room); on ext4 the restore times may be noisy, see bench/README.md" >&2
fi

# Disk: the tree (exists or is made), its tar.zst and hfsync's copies (each up to ~0.7x: the big
# comparison's, and a plain and an encrypted one for the encryption comparison), the small-files
# tree (~0.5 GB on disk), and the restores when they go to the work dir.
need_mb=$((size_mb * 2 + 800))
if [ "${BENCH_CRYPT:-1}" = 1 ]; then need_mb=$((need_mb + size_mb * 3 / 2)); fi
if [ ! -f "$work/tree-${size_mb}M.stamp" ]; then need_mb=$((need_mb + size_mb * 6 / 5)); fi
if [ "$restore_dir" = "$work" ]; then need_mb=$((need_mb + restore_mb)); fi
# The entries tree (~0.5 KB of disk per entry) and its backup (~0.15 KB per entry).
if [ "$entries" -gt 0 ]; then need_mb=$((need_mb + entries / 1000)); fi
if [ "$(free_mb "$work")" -lt "$need_mb" ]; then
    echo "bench: $work has $(free_mb "$work") MiB free, needs about ${need_mb} MiB (lower BENCH_SIZE_MB or set BENCH_DIR)" >&2
    exit 2
fi
if [ "$restore_dir" != "$work" ] && [ "$(free_mb "$restore_dir")" -lt "$restore_mb" ]; then
    echo "bench: $restore_dir has $(free_mb "$restore_dir") MiB free, needs about ${restore_mb} MiB" >&2
    exit 2
fi

echo "bench: $(nproc) cores, $(free -m | awk '/^Mem:/ {print $2}') MiB RAM, work dir $work"
[ "${#hf_args[@]}" -gt 0 ] && echo "bench: hfsync $("$hfsync" --version 2>/dev/null | head -1 || true) at $hfsync"
env | grep -E '^HFSYNC_' | grep -vE '^HFSYNC_(REPO|SOURCES|CACHE_DIR|WORK_DIR)=' | sed 's/^/bench: passing /' || true

python3 bench/gentree.py --out "$work/tree-${size_mb}M" --size-mb "$size_mb" --seed "$seed"
[ "$only" = crypt ] ||
    python3 bench/gentree.py --out "$work/small-${small_files}" --small-files "$small_files" --seed "$seed"
entries_args=()
if [ "$entries" -gt 0 ] && [ "$only" != crypt ]; then
    python3 bench/gentree.py --out "$work/entries-${entries}" --entries "$entries" --seed "$seed"
    entries_args=(--entries-tree "$work/entries-${entries}")
fi

rc=0
crypt_args=()
[ "${BENCH_CRYPT:-1}" = 1 ] || crypt_args=(--skip-crypt)
[ "$only" = crypt ] && crypt_args=(--only-crypt)
BENCH_TAG=${BENCH_TAG:-${size_mb}M} python3 bench/bench.py \
    --tree "$work/tree-${size_mb}M" --small-tree "$work/small-${small_files}" \
    --work "$work" --restore-dir "$restore_dir" --runs "$runs" "${hf_args[@]}" "${crypt_args[@]}" \
    "${entries_args[@]}" || rc=$?

# The S3 comparison (moto_server + boto3 from the image's python): BENCH_S3=0 skips it.
if [ "${BENCH_S3:-1}" = 1 ] && [ "${#hf_args[@]}" -gt 0 ] && [ "$only" != crypt ]; then
    if command -v moto_server >/dev/null 2>&1 && python3 -c 'import boto3' 2>/dev/null; then
        python3 bench/s3bench.py --tree "$work/tree-${size_mb}M" --work "$work" \
            --runs "$runs" "${hf_args[@]}" | tee "$work/results-s3-${size_mb}M.txt" || rc=$?
    else
        echo "bench: S3 comparison skipped: moto_server or boto3 is missing"
    fi
fi

if [ "${BENCH_KEEP:-0}" != 1 ]; then
    rm -rf "$work"/s3-archive "$work"/s3-cache "$work"/repo-big "$work"/repo-small "$work"/repo-entries "$work"/repo-crypt-* "$work"/cache-* "$work"/hwork-* "$work"/baseline.tar.zst \
        "$restore_dir"/hfsync-bench-restores "$restore_dir"/hfsync-bench-crypt
fi
exit "$rc"
