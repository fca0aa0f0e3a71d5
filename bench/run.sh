#!/usr/bin/env bash
# hfsync benchmarks: backup and restore of an agent-home-like tree against the
# `tar | zstd -T0 -3` pipeline, and a no-change incremental over 100,000 small files.
# See bench/README.md. `make bench` runs this after building ./hfsync.
#
# Environment:
#   BENCH_SIZE_MB       size of the agent home tree in MiB (default 1024; 200 for a quick run)
#   BENCH_SMALL_FILES   files in the no-change incremental tree (default 100000)
#   BENCH_RUNS          timed runs of each command, best counts (default 3)
#   BENCH_SEED          seed of the generated trees (default 1)
#   BENCH_DIR           work directory (default bench/.work; needs about 5x BENCH_SIZE_MB free)
#   BENCH_BASELINE_FSYNC  1 (default): the baseline fsyncs its output file like hfsync does; 0: not
#   BENCH_STRICT        1: exit 3 when a target is missed (default: report only)
#   BENCH_KEEP          1: keep the backup repositories and baseline archive afterwards
#   HFSYNC              the binary to measure (default ./hfsync; missing: baseline only)
# Any other HFSYNC_* variable (HFSYNC_THREADS, HFSYNC_COMPRESSION_LEVEL, ...) is passed through.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD

size_mb=${BENCH_SIZE_MB:-1024}
small_files=${BENCH_SMALL_FILES:-100000}
runs=${BENCH_RUNS:-3}
seed=${BENCH_SEED:-1}
work=${BENCH_DIR:-$root/bench/.work}
hfsync=${HFSYNC:-$root/hfsync}

for v in size_mb small_files runs seed; do
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
for old in "$work"/tree-*M; do
    [ -e "$old" ] || continue
    if [ "$old" != "$work/tree-${size_mb}M" ]; then
        echo "bench: removing $old (other size)"
        rm -rf "$old" "$old.stamp"
    fi
done
# Leftovers of an interrupted run.
rm -rf "$work"/repo-big "$work"/repo-small "$work"/restore-* "$work"/cache-* "$work"/hwork-* \
    "$work"/baseline.tar.zst "$work"/logs

# Disk: the tree (exists or is made), its tar.zst and hfsync's copy (each up to ~0.7x), and two
# restored copies at a time (1x each), plus the small-files tree (~0.5 GB on disk).
need_mb=$((size_mb * 4 + 800))
if [ ! -f "$work/tree-${size_mb}M.stamp" ]; then need_mb=$((need_mb + size_mb)); fi
avail_mb=$(df -Pm "$work" | awk 'NR==2 {print $4}')
if [ "$avail_mb" -lt "$need_mb" ]; then
    echo "bench: $work has ${avail_mb} MiB free, needs about ${need_mb} MiB (set BENCH_SIZE_MB lower or BENCH_DIR)" >&2
    exit 2
fi

echo "bench: $(nproc) cores, $(free -m | awk '/^Mem:/ {print $2}') MiB RAM, work dir $work"
[ "${#hf_args[@]}" -gt 0 ] && echo "bench: hfsync $("$hfsync" --version 2>/dev/null | head -1 || true) at $hfsync"
env | grep -E '^HFSYNC_' | grep -vE '^HFSYNC_(REPO|SOURCES|CACHE_DIR|WORK_DIR)=' | sed 's/^/bench: passing /' || true

python3 bench/gentree.py --out "$work/tree-${size_mb}M" --size-mb "$size_mb" --seed "$seed"
python3 bench/gentree.py --out "$work/small-${small_files}" --small-files "$small_files" --seed "$seed"

rc=0
BENCH_TAG=${BENCH_TAG:-${size_mb}M} python3 bench/bench.py \
    --tree "$work/tree-${size_mb}M" --small-tree "$work/small-${small_files}" \
    --work "$work" --runs "$runs" "${hf_args[@]}" || rc=$?

if [ "${BENCH_KEEP:-0}" != 1 ]; then
    rm -rf "$work"/repo-big "$work"/repo-small "$work"/cache-* "$work"/hwork-* "$work"/baseline.tar.zst
fi
exit "$rc"
