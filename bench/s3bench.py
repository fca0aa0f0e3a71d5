#!/usr/bin/env python3
"""hfsync's S3 backend against boto3, on the same moto_server, in the same run (bench/README.md).

  s3bench.py --tree DIR --work DIR [--hfsync PATH] [--runs N]

Two comparisons, each in both directions, alternating runs (which client goes first swaps every
run), best of N (the median's ratio is printed too):
- transfer: the same bytes. The tree is tar|zstd'd once into an archive (not timed); boto3's
  upload_file()/download_file() move that archive; hfsync backs up (and restores) a directory
  holding only that archive, whose incompressible bytes its zstd pass stores nearly as they are.
- pipeline: getting the tree into S3 and back. hfsync backup/restore of the tree against
  `tar | zstd -T0 -3 > file` + upload_file(), and download_file() + `zstd -d | tar -x`.
boto3 uses its default TransferConfig (multipart above 8 MiB, 8 MiB parts, 10 threads); hfsync
its defaults (8 MiB parts, 4 at once). Throughput = bytes stored on the server / wall second.
Peak RSS of each process (GNU time).
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time
from statistics import median

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import MIB, TARGET_RSS_MB, q, rmtree, run, say, sh, sync  # noqa: E402

BOTO = r'''
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="bench", aws_secret_access_key="bench")
if sys.argv[2] == "up":
    s3.upload_file(sys.argv[3], "bench", sys.argv[4])
elif sys.argv[2] == "down":
    s3.download_file("bench", sys.argv[4], sys.argv[3])
elif sys.argv[2] == "mkbucket":
    s3.create_bucket(Bucket="bench")
elif sys.argv[2] == "clear":
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="bench"):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket="bench", Delete={"Objects": keys})
'''


def rmfile(p):
    if os.path.isdir(p) and not os.path.islink(p):
        rmtree(p)
    elif os.path.lexists(p):
        os.unlink(p)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--hfsync", default="./hfsync")
    ap.add_argument("--runs", type=int, default=2)
    a = ap.parse_args()
    work = os.path.abspath(a.work)
    tree = os.path.abspath(a.tree)
    logs = os.path.join(work, "logs")
    os.makedirs(logs, exist_ok=True)
    boto = os.path.join(work, "boto_client.py")
    with open(boto, "w") as f:
        f.write(BOTO)
    port = free_port()
    ep = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    py = sys.executable
    restore_root = "/dev/shm/hfsync-s3bench" if os.path.isdir("/dev/shm") else \
        os.path.join(work, "s3-restore")
    cache = os.path.join(work, "s3-cache")
    try:
        for _ in range(150):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        subprocess.run([py, boto, ep, "mkbucket"], check=True)
        say(f"== S3 against boto3 (moto_server on {ep}): {tree}")
        archdir = os.path.join(work, "s3-archive")
        rmtree(archdir)
        os.makedirs(archdir)
        archive = os.path.join(archdir, "tree.tar.zst")
        if sh("tar -cf - -C %s . | zstd -q -T0 -3 > %s" % (q(tree), q(archive))).rc != 0:
            sys.exit("making the archive failed")
        arch_bytes = os.path.getsize(archive)
        base_env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                        AWS_ENDPOINT_URL=ep, HFSYNC_CACHE_DIR=cache)
        base_env.setdefault("HFSYNC_COMPRESSION_LEVEL", "3")  # the baseline's zstd -3
        dl = os.path.join(work, "s3-download.tar.zst")
        best = {}
        walls = {}

        def keep(key, r, label, i, note=""):
            say(f"  {label:28s} run {i}: {r.wall:7.2f}s  cpu {r.cpu:6.1f}s  rss {r.rss_mb:6.1f} MB{note}")
            if key not in best or r.wall < best[key].wall:
                best[key] = r
            walls.setdefault(key, []).append(r.wall)

        def hf(args, src, prefix, tag, i):
            env = dict(base_env, HFSYNC_REPO="s3://bench/" + prefix, HFSYNC_SOURCES="x:" + src)
            r = run([a.hfsync] + args, env=env, log=os.path.join(logs, f"s3-{tag}-{i}"))
            if r.rc != 0:
                sys.exit(f"hfsync {' '.join(args)} failed (exit {r.rc}); see {logs}/s3-{tag}-{i}.err")
            return r

        def up_boto3(what, i):
            rmtree(cache)
            sync()
            if what == "transfer":
                r = run([py, boto, ep, "up", archive, "base.tar.zst"], log=os.path.join(logs, f"s3-boto-up-{i}"))
            else:
                r = sh("tar -cf - -C %s . | zstd -q -T0 -3 > %s && %s %s %s up %s base2.tar.zst" % (
                    q(tree), q(dl), q(py), q(boto), q(ep), q(dl)), log=os.path.join(logs, f"s3-pipe-up-{i}"))
                rmfile(dl)
            keep(what + "-up-boto3", r, what + " upload, boto3", i)

        def up_hfsync(what, i):
            rmtree(cache)
            sync()
            src, prefix = (archdir, "t") if what == "transfer" else (tree, "p")
            keep(what + "-up-hfsync", hf(["backup", "--full"], src, prefix, what + "-up", i),
                 what + " upload, hfsync", i)

        def down_boto3(what, i):
            rmfile(dl)
            rmtree(restore_root)
            sync()
            if what == "transfer":
                r = run([py, boto, ep, "down", dl, "base.tar.zst"], log=os.path.join(logs, f"s3-boto-down-{i}"))
            else:
                os.makedirs(restore_root)
                r = sh("%s %s %s down %s base2.tar.zst && zstd -q -d < %s | tar -xf - -C %s" % (
                    q(py), q(boto), q(ep), q(dl), q(dl), q(restore_root)), log=os.path.join(logs, f"s3-pipe-down-{i}"))
            keep(what + "-down-boto3", r, what + " download, boto3", i)
            rmfile(dl)
            rmtree(restore_root)

        def down_hfsync(what, i):
            rmtree(restore_root)
            rmtree(cache)
            sync()
            src, prefix = (archdir, "t") if what == "transfer" else (tree, "p")
            keep(what + "-down-hfsync", hf(["restore", "--to", restore_root], src, prefix, what + "-down", i),
                 what + " download, hfsync", i)
            rmtree(restore_root)

        for i in range(1, a.runs + 1):
            subprocess.run([py, boto, ep, "clear"], check=True)
            # Each pair runs in the other order every other run: neither client always finds the
            # server just after the other's upload (its memory, the page cache's write-back).
            first = (lambda x, y: (x, y)) if i % 2 else (lambda x, y: (y, x))
            for what in ("transfer", "pipeline"):
                for step in first(up_boto3, up_hfsync):
                    step(what, i)
                for step in first(down_boto3, down_hfsync):
                    step(what, i)
        out = subprocess.run([py, "-c", "import boto3,sys; s3=boto3.client('s3',endpoint_url=sys.argv[1],"
                              "region_name='us-east-1',aws_access_key_id='b',aws_secret_access_key='b');"
                              "print(sum(o['Size'] for p in s3.get_paginator('list_objects_v2').paginate("
                              "Bucket='bench',Prefix=sys.argv[2]) for o in p.get('Contents',[])))", ep, "p/"],
                             capture_output=True, text=True, check=True)
        stored = int(out.stdout.strip())  # the last run's backup: each run clears the bucket first
        say()
        say("== S3 summary (best of %d; MiB/s = bytes stored on the server / wall second)" % a.runs)
        say(f"{'metric':40s}  {'hfsync':>8s}  {'boto3':>8s}  {'ratio':>7s}  target  result")
        summary = {}
        medians = []
        for what in ("transfer", "pipeline"):
            for d in ("up", "down"):
                h, b = best[f"{what}-{d}-hfsync"], best[f"{what}-{d}-boto3"]
                ht, bt = arch_bytes / MIB / h.wall, arch_bytes / MIB / b.wall
                if what == "pipeline":
                    ht = stored / MIB / h.wall
                name = f"{what} {'upload' if d == 'up' else 'download'} (MiB/s)"
                say(f"{name:40s}  {ht:8.1f}  {bt:8.1f}  {ht / bt:6.2f}x  >= 1x   {'PASS' if ht >= bt else 'FAIL'}")
                hm, bm = median(walls[f"{what}-{d}-hfsync"]), median(walls[f"{what}-{d}-boto3"])
                summary[f"{what}_{d}"] = {"hfsync_s": h.wall, "boto3_s": b.wall, "hfsync_mib_s": ht,
                                          "boto3_mib_s": bt, "hfsync_rss_mb": h.rss_mb, "boto3_rss_mb": b.rss_mb,
                                          "hfsync_median_s": hm, "boto3_median_s": bm}
                medians.append(f"{what} {d} {bm / hm:.2f}x")
        for d in ("up", "down"):
            rss = max(best[f"{w}-{d}-hfsync"].rss_mb for w in ("transfer", "pipeline"))
            name = f"hfsync peak RSS, {'upload' if d == 'up' else 'download'} (MB)"
            say(f"{name:40s}  {rss:8.1f}  {'':8s}  {'':7s}  < {TARGET_RSS_MB:.0f}   {'PASS' if rss < TARGET_RSS_MB else 'FAIL'}")
        say(f"  * archive {arch_bytes / MIB:.1f} MiB; hfsync backup of the tree {stored / MIB:.1f} MiB")
        say("  * ratio of the median runs (boto3 / hfsync wall): " + ", ".join(medians))
        with open(os.path.join(work, "results-s3.json"), "w") as f:
            json.dump(summary, f, indent=1)
    finally:
        moto.terminate()
        moto.wait()


if __name__ == "__main__":
    main()
