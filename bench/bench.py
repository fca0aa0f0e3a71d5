#!/usr/bin/env python3
"""Time hfsync against tar|zstd and print a summary table (python3 standard library only).

Called by bench/run.sh, which generates the trees first; see bench/README.md.

  bench.py --tree DIR --small-tree DIR --work DIR [--hfsync PATH] [--runs N]
           [--entries-tree DIR] [--skip-big] [--skip-nochange] [--skip-crypt | --only-crypt]

The encryption comparison alone:
  bench.py --tree DIR --work DIR --hfsync ./hfsync --only-crypt --runs 5

Every command runs as a child; wall time comes from a monotonic clock around it, CPU time and
peak RSS from wait4()'s rusage (for a shell pipeline: the largest process in it). Each pair
(baseline, hfsync) runs alternately in the same warm page-cache state, `sync` before each
timed run, and the best of N runs counts; for the encryption comparison, the median of the N
ratios of runs made next to each other.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

MIB = 1 << 20

# Targets (the issue): ratios against the tar|zstd pipeline, absolute limits otherwise.
TARGET_RATIO = 1.3
TARGET_RSS_MB = 100.0
TARGET_NOCHANGE_S = 1.0
# Encrypted backup and restore against the same commands without a password (the issue).
TARGET_CRYPT_RATIO = 1.10
# Variables that would make the "plain" side of that comparison encrypted.
PASSWORD_VARS = ("HFSYNC_PASSWORD", "HFSYNC_PASSWORD_FILE", "OPENCLAW_BACKUP_ENCRYPTION_PASSWORD",
                 "OPENCLAW_BACKUP_ENCRYPTION_ENABLED")


def say(msg=""):
    print(msg, flush=True)


class Result:
    def __init__(self, wall, user, sys_, maxrss_kb, rc, stdout):
        self.wall = wall
        self.cpu = user + sys_
        self.rss_mb = maxrss_kb / 1024.0
        self.rc = rc
        self.stdout = stdout


# GNU time measures the peak RSS of exactly the command it runs. wait4() on our own child is the
# fallback, but Linux counts the RSS the child had before exec (a copy of this Python process)
# into ru_maxrss, so that figure can only be an upper bound.
TIME_BIN = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run(argv, env=None, log=None, cwd=None):
    """Run argv; return a Result with wall time, CPU time, peak RSS, exit code, stdout text."""
    out_path = log + ".out" if log else os.devnull
    err_path = log + ".err" if log else os.devnull
    stat_path = None
    if TIME_BIN:
        fd, stat_path = tempfile.mkstemp(prefix="bench-time-")
        os.close(fd)
        argv = [TIME_BIN, "-f", "%U %S %M", "-o", stat_path, "--"] + list(argv)
    with open(out_path, "wb") as out, open(err_path, "ab") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)  # already reaped
    user, sys_, maxrss = ru.ru_utime, ru.ru_stime, ru.ru_maxrss
    if stat_path:
        try:
            with open(stat_path) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 3:
                        try:
                            user, sys_, maxrss = float(parts[0]), float(parts[1]), int(parts[2])
                        except ValueError:
                            pass
        finally:
            os.unlink(stat_path)
    text = ""
    if log:
        with open(out_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    return Result(wall, user, sys_, maxrss, p.returncode, text)


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def sh(cmd, log=None):
    return run(["bash", "-o", "pipefail", "-c", cmd], log=log)


def sync():
    subprocess.run(["sync"], check=False)


def rmtree(p):
    if os.path.lexists(p):
        shutil.rmtree(p)


def du_bytes(path):
    total = 0
    if os.path.isfile(path):
        return os.path.getsize(path)
    for dp, _, fns in os.walk(path):
        for n in fns:
            try:
                total += os.lstat(os.path.join(dp, n)).st_size
            except OSError:
                pass
    return total


def tree_stats(path):
    files = dirs = links = 0
    size = 0
    for dp, dns, fns in os.walk(path):
        dirs += 1
        for n in fns + dns:
            st = os.lstat(os.path.join(dp, n))
            if os.path.islink(os.path.join(dp, n)):
                links += 1
            elif n in fns:
                files += 1
                size += st.st_size
    return files, dirs, links, size


def warm(path):
    """Read the whole tree once so every timed run starts from the same warm page cache."""
    sh("tar -cf - -C %s . > /dev/null" % q(path))


def fstype(path):
    """File system type of the mount holding path (from /proc/self/mounts), or '?'."""
    best, kind = "", "?"
    path = os.path.realpath(path)
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    mnt = parts[1].replace("\\040", " ")
                    if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                        best, kind = mnt, parts[2]
    except OSError:
        pass
    return kind


def q(s):
    return "'" + s.replace("'", "'\\''") + "'"


def compare_trees(a, b):
    """Same entries, types, sizes, modes, mtimes (ns), link targets and contents? -> list of problems."""
    problems = []

    def listing(root):
        d = {}
        for dp, dns, fns in os.walk(root):
            if dp == root:
                fns = fns + ["."]
            for n in dns + fns:
                p = os.path.join(dp, n)
                st = os.lstat(p)
                rel = os.path.relpath(p, root)
                kind = "l" if os.path.islink(p) else ("d" if os.path.isdir(p) else "f")
                d[rel] = (kind, st.st_size if kind == "f" else 0, st.st_mode & 0o7777,
                          st.st_mtime_ns if kind != "l" else 0,
                          os.readlink(p) if kind == "l" else "")
        return d

    la, lb = listing(a), listing(b)
    for rel in sorted(set(la) | set(lb)):
        if rel not in lb:
            problems.append("missing: " + rel)
        elif rel not in la:
            problems.append("extra: " + rel)
        elif la[rel] != lb[rel]:
            problems.append("differs: %s %s != %s" % (rel, la[rel], lb[rel]))
        if len(problems) >= 10:
            break
    if not problems:
        r = sh("diff -rq --no-dereference %s %s" % (q(a), q(b)))
        if r.rc != 0:
            problems.append("file contents differ (diff -rq --no-dereference %s %s)" % (a, b))
    return problems


class Bench:
    def __init__(self, args):
        self.a = args
        self.work = os.path.abspath(args.work)
        self.logs = os.path.join(self.work, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.hfsync = os.path.abspath(args.hfsync) if args.hfsync else None
        self.errors = []
        self.rows = []      # (metric, hfsync, baseline, ratio, target, verdict)
        self.crypt_rows = []  # (metric, encrypted, plain, ratio, target, verdict)
        self.info = []
        self.data = {}

    # --- hfsync ----------------------------------------------------------------------------
    def env(self, repo, source_path, tag):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OPENCLAW_", "AWS_")) and k not in ("HF_TOKEN", "HF_ENDPOINT")}
        env.update({
            "HFSYNC_REPO": "file://" + repo,
            "HFSYNC_SOURCES": "home:" + source_path,
            "HFSYNC_CACHE_DIR": os.path.join(self.work, "cache-" + tag),
            "HFSYNC_WORK_DIR": os.path.join(self.work, "hwork-" + tag),
        })
        # The baseline compresses at zstd level 3; left to itself the strategy picks level 6 for
        # a 1 GiB state (smaller, slower). Same level on both sides unless the caller sets one.
        env.setdefault("HFSYNC_COMPRESSION_LEVEL", "3")
        return env

    def reset_state(self, tag, repo=None):
        rmtree(os.path.join(self.work, "cache-" + tag))
        rmtree(os.path.join(self.work, "hwork-" + tag))
        if repo is not None:
            rmtree(repo)
            os.makedirs(repo)

    def hf(self, args, env, log):
        return run([self.hfsync] + args, env=env, log=os.path.join(self.logs, log))

    def check(self, what, r, log):
        if r.rc != 0:
            self.errors.append("%s failed with exit code %d (see %s.err)" % (what, r.rc, os.path.join(self.logs, log)))
            return False
        return True

    # --- (a) backup and (b) restore of the big tree -----------------------------------------
    def big(self):
        tree = os.path.abspath(self.a.tree)
        files, dirs, links, size = tree_stats(tree)
        self.data["tree"] = {"path": tree, "files": files, "dirs": dirs, "symlinks": links, "bytes": size}
        label = "%.0f MiB" % (size / MIB)
        say("== backup and restore: %s (%d files, %d dirs, %d symlinks)" % (tree, files, dirs, links))
        tarzst = os.path.join(self.work, "baseline.tar.zst")
        repo = os.path.join(self.work, "repo-big")
        # Restores go to fresh directories. On a tmpfs each is removed right after its run (keeping
        # them makes every later run slower as the VM touches new memory); on a disk nothing is
        # removed until the end (ext4 without a journal avoids reusing freshly freed inodes, which
        # makes creating files after a big delete several times slower). See README.md.
        rdir = os.path.join(os.path.abspath(self.a.restore_dir), "hfsync-bench-restores")
        rmtree(rdir)
        os.makedirs(rdir)
        delete_each = fstype(rdir) == "tmpfs"
        say("  restores into %s (%s)" % (rdir, fstype(rdir)))
        fsync_base = os.environ.get("BENCH_BASELINE_FSYNC", "1") != "0"
        tar_cmd = "tar -cf - -C %s . | zstd -q -T0 -3 > %s" % (q(tree), q(tarzst))
        if fsync_base:
            tar_cmd += " && sync %s" % q(tarzst)  # hfsync fsyncs its objects; so does the baseline
        warm(tree)

        base_b, hf_b, base_r, hf_r = [], [], [], []
        env = self.env(repo, tree, "big")
        for i in range(self.a.runs):
            order = ("base", "hf") if i % 2 == 0 else ("hf", "base")
            for who in order:
                if who == "base":
                    if os.path.exists(tarzst):
                        os.unlink(tarzst)
                    sync()
                    r = sh(tar_cmd, log=os.path.join(self.logs, "baseline-backup"))
                    if r.rc != 0:
                        self.errors.append("baseline backup failed (exit %d)" % r.rc)
                        return
                    base_b.append(r)
                    say("  backup  tar|zstd  run %d: %7.2fs  cpu %6.1fs  rss %6.1f MB" % (i + 1, r.wall, r.cpu, r.rss_mb))
                elif self.hfsync:
                    self.reset_state("big", repo)
                    sync()
                    r = self.hf(["backup"], env, "hfsync-backup")
                    if not self.check("hfsync backup", r, "hfsync-backup"):
                        return
                    name = r.stdout.strip()
                    if not name:
                        self.errors.append("hfsync backup printed no backup name on a fresh target")
                    hf_b.append(r)
                    say("  backup  hfsync    run %d: %7.2fs  cpu %6.1fs  rss %6.1f MB  -> %s" % (i + 1, r.wall, r.cpu, r.rss_mb, name))
        self.data["baseline_bytes"] = os.path.getsize(tarzst)
        if self.hfsync and hf_b:
            self.data["hfsync_bytes"] = du_bytes(repo)

        verified = False
        for i in range(self.a.runs):
            order = ("base", "hf") if i % 2 == 0 else ("hf", "base")
            for who in order:
                dest = None
                if who == "base":
                    dest = os.path.join(rdir, "baseline-%d" % (i + 1))
                    os.makedirs(dest)
                    sync()
                    r = sh("zstd -q -d < %s | tar -xf - -C %s" % (q(tarzst), q(dest)),
                           log=os.path.join(self.logs, "baseline-restore"))
                    if r.rc != 0:
                        self.errors.append("baseline restore failed (exit %d)" % r.rc)
                        return
                    base_r.append(r)
                    say("  restore tar|zstd  run %d: %7.2fs  cpu %6.1fs  rss %6.1f MB" % (i + 1, r.wall, r.cpu, r.rss_mb))
                elif self.hfsync and hf_b:
                    dest = os.path.join(rdir, "hfsync-%d" % (i + 1))
                    self.reset_state("big")
                    sync()
                    r = self.hf(["restore", "--to", dest], env, "hfsync-restore")
                    if not self.check("hfsync restore", r, "hfsync-restore"):
                        return
                    hf_r.append(r)
                    say("  restore hfsync    run %d: %7.2fs  cpu %6.1fs  rss %6.1f MB" % (i + 1, r.wall, r.cpu, r.rss_mb))
                    if not verified:
                        verified = True
                        problems = compare_trees(tree, os.path.join(dest, "home"))
                        if problems:
                            self.errors.append("hfsync restore differs from the source tree: " + "; ".join(problems[:5]))
                            say("  verify: restored tree DIFFERS: " + "; ".join(problems[:5]))
                        else:
                            say("  verify: restored tree identical to the source (entries, modes, mtimes ns, links, contents)")
                if delete_each and dest:
                    rmtree(dest)
        if os.environ.get("BENCH_KEEP") != "1":
            rmtree(rdir)

        self.pair("backup %s (s)" % label, hf_b, base_b, "backup")
        self.pair("restore %s (s)" % label, hf_r, base_r, "restore")
        if hf_b:
            self.rss("backup peak RSS (MB)", hf_b)
        if hf_r:
            self.rss("restore peak RSS (MB)", hf_r)
        bb = self.data["baseline_bytes"]
        hb = self.data.get("hfsync_bytes")
        self.info.append("stored bytes: tar|zstd %.1f MiB%s (source %.1f MiB)" % (
            bb / MIB, ", hfsync %.1f MiB (volumes + manifest + meta)" % (hb / MIB) if hb else "", size / MIB))

    def pair(self, metric, hf, base, key):
        bb = min(base, key=lambda r: r.wall) if base else None
        hb = min(hf, key=lambda r: r.wall) if hf else None
        self.data[key] = {"baseline_s": bb.wall if bb else None, "hfsync_s": hb.wall if hb else None,
                          "baseline_cpu_s": bb.cpu if bb else None, "hfsync_cpu_s": hb.cpu if hb else None,
                          "hfsync_rss_mb": max(r.rss_mb for r in hf) if hf else None,
                          "runs": {"baseline": [r.wall for r in base], "hfsync": [r.wall for r in hf]}}
        if hb and bb:
            ratio = hb.wall / bb.wall
            self.rows.append((metric, "%.2f" % hb.wall, "%.2f" % bb.wall, "%.2fx" % ratio,
                              "<= %.1fx" % TARGET_RATIO, "PASS" if ratio <= TARGET_RATIO else "FAIL"))
            self.info.append("%s CPU time (user+sys): hfsync %.1fs, tar|zstd %.1fs" % (key, hb.cpu, bb.cpu))
        elif bb:
            self.rows.append((metric, "-", "%.2f" % bb.wall, "-", "<= %.1fx" % TARGET_RATIO, "n/a"))

    def rss(self, metric, results):
        peak = max(r.rss_mb for r in results)
        self.rows.append((metric, "%.1f" % peak, "", "", "< %.0f" % TARGET_RSS_MB,
                          "PASS" if peak < TARGET_RSS_MB else "FAIL"))

    # --- (c) no-change incremental over many small files -------------------------------------
    def nochange(self):
        tree = os.path.abspath(self.a.small_tree)
        files, dirs, _, size = tree_stats(tree)
        say("== no-change incremental: %s (%d files, %d dirs, %.0f MiB)" % (tree, files, dirs, size / MIB))
        if not self.hfsync:
            say("  skipped: no hfsync binary")
            self.rows.append(("no-change incremental %dk files (s)" % (files // 1000), "-", "", "", "< %.0f s" % TARGET_NOCHANGE_S, "n/a"))
            return
        repo = os.path.join(self.work, "repo-small")
        env = self.env(repo, tree, "small")
        self.reset_state("small", repo)
        warm(tree)
        sync()
        r = self.hf(["backup"], env, "hfsync-small-full")
        if not self.check("hfsync backup (small tree, full)", r, "hfsync-small-full"):
            return
        say("  full backup:             %7.2fs  cpu %6.1fs  rss %6.1f MB  -> %s" % (r.wall, r.cpu, r.rss_mb, r.stdout.strip()))
        self.data["small_full"] = {"s": r.wall, "cpu_s": r.cpu, "rss_mb": r.rss_mb, "files": files}
        self.info.append("full backup of %d small files: %.2fs, peak RSS %.1f MB" % (files, r.wall, r.rss_mb))
        results = []
        for i in range(max(2, self.a.runs)):
            sync()
            r = self.hf(["backup"], env, "hfsync-small-nochange")
            if not self.check("hfsync backup (no change)", r, "hfsync-small-nochange"):
                return
            if r.stdout.strip():
                self.errors.append("no-change backup made a backup (%s): it must find nothing changed" % r.stdout.strip())
            results.append(r)
            say("  no-change backup run %d: %7.2fs  cpu %6.1fs  rss %6.1f MB  %s" % (
                i + 1, r.wall, r.cpu, r.rss_mb, "(nothing changed)" if not r.stdout.strip() else "-> " + r.stdout.strip()))
        best = min(results, key=lambda x: x.wall)
        peak = max(x.rss_mb for x in results)
        self.data["nochange"] = {"s": best.wall, "cpu_s": best.cpu, "rss_mb": peak, "runs": [x.wall for x in results]}
        self.rows.append(("no-change incremental %dk files (s)" % (files // 1000), "%.2f" % best.wall, "", "",
                          "< %.0f s" % TARGET_NOCHANGE_S, "PASS" if best.wall < TARGET_NOCHANGE_S else "FAIL"))
        self.rows.append(("no-change incremental peak RSS (MB)", "%.1f" % peak, "", "", "< %.0f" % TARGET_RSS_MB,
                          "PASS" if peak < TARGET_RSS_MB else "FAIL"))

    # --- (c') memory against the number of entries (--entries-tree, off by default) ----------
    def entries(self):
        tree = os.path.abspath(self.a.entries_tree)
        files, dirs, links, size = tree_stats(tree)
        n = files + dirs + links
        say("== memory and entries: %s (%d entries: %d files, %d dirs, %d symlinks)" % (tree, n, files, dirs, links))
        if not self.hfsync:
            say("  skipped: no hfsync binary")
            return
        repo = os.path.join(self.work, "repo-entries")
        env = self.env(repo, tree, "entries")
        self.reset_state("entries", repo)
        warm(tree)
        sync()
        full = self.hf(["backup"], env, "hfsync-entries-full")
        if not self.check("hfsync backup (entries tree, full)", full, "hfsync-entries-full"):
            return
        say("  full backup:      %7.2fs  cpu %6.1fs  rss %6.1f MB  -> %s" % (full.wall, full.cpu, full.rss_mb, full.stdout.strip()))
        sync()
        same = self.hf(["backup"], env, "hfsync-entries-nochange")
        if not self.check("hfsync backup (entries tree, no change)", same, "hfsync-entries-nochange"):
            return
        say("  no-change backup: %7.2fs  cpu %6.1fs  rss %6.1f MB" % (same.wall, same.cpu, same.rss_mb))
        # The restore reads the manifest from the target, as after a container restart.
        rdir = os.path.join(os.path.abspath(self.a.restore_dir), "hfsync-bench-entries")
        rmtree(rdir)
        renv = dict(env, HFSYNC_CACHE_DIR=os.path.join(self.work, "cache-entries-restore"))
        rmtree(renv["HFSYNC_CACHE_DIR"])
        sync()
        rest = self.hf(["restore", "--to", rdir], renv, "hfsync-entries-restore")
        rmtree(rdir)
        rmtree(renv["HFSYNC_CACHE_DIR"])
        if not self.check("hfsync restore (entries tree)", rest, "hfsync-entries-restore"):
            return
        say("  restore --to:     %7.2fs  cpu %6.1fs  rss %6.1f MB" % (rest.wall, rest.cpu, rest.rss_mb))
        self.data["entries"] = {"entries": n, "full_s": full.wall, "full_rss_mb": full.rss_mb,
                                "nochange_s": same.wall, "nochange_rss_mb": same.rss_mb,
                                "restore_s": rest.wall, "restore_rss_mb": rest.rss_mb}
        label = "%dk" % (n // 1000) if n < 1000000 else "%.1fM" % (n / 1e6)
        for what, r in (("backup", full), ("no-change incremental", same), ("restore", rest)):
            self.rows.append(("%s peak RSS, %s entries (MB)" % (what, label), "%.1f" % r.rss_mb, "", "",
                              "< %.0f" % TARGET_RSS_MB, "PASS" if r.rss_mb < TARGET_RSS_MB else "FAIL"))
        if os.environ.get("BENCH_KEEP") != "1":
            rmtree(repo)

    # --- (d) encryption: hfsync with a password against hfsync without, same tree, same run ----
    def crypt(self):
        if not self.hfsync:
            say("== encryption: skipped: no hfsync binary")
            return
        tree = os.path.abspath(self.a.tree)
        files, _, _, size = tree_stats(tree)
        label = "%.0f MiB" % (size / MIB)
        say("== encryption: hfsync with HFSYNC_PASSWORD against hfsync without, %s (%d files)" % (tree, files))
        rdir = os.path.join(os.path.abspath(self.a.restore_dir), "hfsync-bench-crypt")
        rmtree(rdir)
        os.makedirs(rdir)
        delete_each = fstype(rdir) == "tmpfs"
        sides = ("plain", "enc")
        repos = {w: os.path.join(self.work, "repo-crypt-" + w) for w in sides}
        envs = {}
        for w in sides:
            env = self.env(repos[w], tree, "crypt-" + w)
            for k in PASSWORD_VARS:
                env.pop(k, None)
            if w == "enc":
                env["HFSYNC_PASSWORD"] = "bench: a passphrase of reasonable length"
            # The writer lease's settle pause (a tenth of the TTL, 2 s by default) is the same on
            # both sides and unrelated to encryption; the shortest TTL keeps it from diluting the
            # ratio.
            env.setdefault("HFSYNC_LEASE_TTL", "2")
            envs[w] = env
        warm(tree)
        backups = {w: [] for w in sides}
        restores = {w: [] for w in sides}
        # Alternating order (ABBA) from the same warm page cache, as for the other comparisons.
        for i in range(self.a.runs):
            for w in (sides if i % 2 == 0 else sides[::-1]):
                self.reset_state("crypt-" + w, repos[w])
                sync()
                r = self.hf(["backup"], envs[w], "crypt-backup-" + w)
                if not self.check("hfsync backup (%s)" % w, r, "crypt-backup-" + w):
                    return
                backups[w].append(r)
                say("  backup  %-5s run %d: %7.2fs  cpu %6.1fs  rss %6.1f MB" % (w, i + 1, r.wall, r.cpu, r.rss_mb))
        stored = {w: du_bytes(repos[w]) for w in sides}
        verified = False
        for i in range(self.a.runs):
            for w in (sides if i % 2 == 0 else sides[::-1]):
                dest = os.path.join(rdir, "%s-%d" % (w, i + 1))
                self.reset_state("crypt-" + w)  # empty cache, as after a container restart
                sync()
                r = self.hf(["restore", "--to", dest], envs[w], "crypt-restore-" + w)
                if not self.check("hfsync restore (%s)" % w, r, "crypt-restore-" + w):
                    return
                restores[w].append(r)
                say("  restore %-5s run %d: %7.2fs  cpu %6.1fs  rss %6.1f MB" % (w, i + 1, r.wall, r.cpu, r.rss_mb))
                if w == "enc" and not verified:
                    verified = True
                    problems = compare_trees(tree, os.path.join(dest, "home"))
                    if problems:
                        self.errors.append("encrypted restore differs from the source tree: " + "; ".join(problems[:5]))
                if delete_each:
                    rmtree(dest)
        if os.environ.get("BENCH_KEEP") != "1":
            rmtree(rdir)
        self.data["crypt"] = {"stored_bytes": stored}
        for what, res in (("backup", backups), ("restore", restores)):
            # Runs i of both sides ran next to each other (ABBA), under the same load from anything
            # else on the machine: the median of their ratios is the figure, robust to a run that
            # another process slowed down. Medians and bests of each side are shown beside it.
            pairs = [e.wall / p.wall for e, p in zip(res["enc"], res["plain"])]
            ratio = median(pairs)
            enc_med = median([r.wall for r in res["enc"]])
            plain_med = median([r.wall for r in res["plain"]])
            enc_best = min(r.wall for r in res["enc"])
            plain_best = min(r.wall for r in res["plain"])
            enc_cpu = median([r.cpu for r in res["enc"]])
            plain_cpu = median([r.cpu for r in res["plain"]])
            self.data["crypt"][what] = {"enc_s": enc_med, "plain_s": plain_med, "ratio": ratio,
                                        "pair_ratios": pairs, "best_ratio": enc_best / plain_best,
                                        "enc_best_s": enc_best, "plain_best_s": plain_best,
                                        "enc_cpu_s": enc_cpu, "plain_cpu_s": plain_cpu,
                                        "enc_rss_mb": max(r.rss_mb for r in res["enc"]),
                                        "runs": {w: [r.wall for r in res[w]] for w in sides},
                                        "cpu_runs": {w: [r.cpu for r in res[w]] for w in sides}}
            self.crypt_rows.append(("%s %s (s)" % (what, label), "%.2f" % enc_med, "%.2f" % plain_med,
                                    "%.2fx" % ratio, "<= %.2fx" % TARGET_CRYPT_RATIO,
                                    "PASS" if ratio <= TARGET_CRYPT_RATIO else "FAIL"))
            self.info.append("encrypted %s: runs %s s, plain %s s; ratio per pair %s; best of each %.2f / %.2f s "
                             "(%.2fx)" % (what, " ".join("%.2f" % r.wall for r in res["enc"]),
                                          " ".join("%.2f" % r.wall for r in res["plain"]),
                                          " ".join("%.2f" % x for x in pairs), enc_best, plain_best,
                                          enc_best / plain_best))
            self.info.append("encrypted %s CPU time (user+sys, median): %.2fs, plain %.2fs (%.2fx); peak RSS %.1f MB" % (
                what, enc_cpu, plain_cpu, enc_cpu / plain_cpu if plain_cpu else 0.0,
                max(r.rss_mb for r in res["enc"])))
        self.info.append("stored bytes: encrypted %.1f MiB, plain %.1f MiB" % (stored["enc"] / MIB, stored["plain"] / MIB))

    # --- report -------------------------------------------------------------------------------
    @staticmethod
    def table(head, rows):
        rows = [head] + rows
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = []
        for j, r in enumerate(rows):
            lines.append("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)).rstrip())
            if j == 0:
                lines.append("  ".join("-" * w for w in widths))
        return lines

    def report(self):
        lines = ["", "== summary (wall seconds; RSS = peak resident set of the process)"]
        if self.rows:
            lines.append("hfsync against tar|zstd (best of %d runs each)" % self.a.runs)
            lines += self.table(("metric", "hfsync", "tar|zstd", "ratio", "target", "result"), self.rows)
        if self.crypt_rows:
            lines += ["", "encryption: hfsync with HFSYNC_PASSWORD against hfsync without, same run (median of %d "
                      "runs each; ratio: median of the %d paired runs)" % (self.a.runs, self.a.runs)]
            lines += self.table(("metric", "encrypted", "plain", "ratio", "target", "result"), self.crypt_rows)
            failed = [r[0] for r in self.crypt_rows if r[5] != "PASS"]
            lines.append("encryption overhead: %s (%s; target <= %.2fx)" % (
                "FAIL" if failed else "PASS", ", ".join("%s %s" % (r[0].split()[0], r[3]) for r in self.crypt_rows),
                TARGET_CRYPT_RATIO))
        for s in self.info:
            lines.append("  * " + s)
        if self.errors:
            lines.append("")
            lines.append("ERRORS:")
            lines += ["  - " + e for e in self.errors]
        text = "\n".join(lines)
        say(text)
        tag = os.environ.get("BENCH_TAG", "")
        base = os.path.join(self.work, "results%s" % ("-" + tag if tag else ""))
        with open(base + ".txt", "w") as f:
            f.write(text.lstrip("\n") + "\n")
        self.data.update({"rows": self.rows, "crypt_rows": self.crypt_rows, "errors": self.errors, "runs": self.a.runs,
                          "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                          "nproc": os.cpu_count()})
        with open(base + ".json", "w") as f:
            json.dump(self.data, f, indent=2)
            f.write("\n")
        say("\nresults written to %s.txt and %s.json" % (base, base))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", required=True)
    ap.add_argument("--small-tree", help="tree of the no-change incremental (needed unless --skip-nochange)")
    ap.add_argument("--entries-tree", help="tree of many entries: peak RSS of a full and a no-change backup")
    ap.add_argument("--work", required=True)
    ap.add_argument("--hfsync", help="path of the hfsync binary (omit: baseline only)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--restore-dir", help="where restores are written (default: --work)")
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--skip-nochange", action="store_true")
    ap.add_argument("--skip-crypt", action="store_true", help="skip the encrypted-vs-plain comparison")
    ap.add_argument("--only-crypt", action="store_true", help="run only the encrypted-vs-plain comparison")
    a = ap.parse_args()
    if a.only_crypt:
        if a.skip_crypt:
            ap.error("--only-crypt and --skip-crypt contradict each other")
        a.skip_big = a.skip_nochange = True
    if not a.skip_nochange and not a.small_tree:
        ap.error("--small-tree is needed unless --skip-nochange")
    if not a.restore_dir:
        a.restore_dir = a.work
    if not TIME_BIN:
        say("bench: /usr/bin/time not found (apt-get install time): peak RSS figures are upper bounds")
    b = Bench(a)
    if not a.skip_big:
        b.big()
    if not a.skip_nochange:
        b.nochange()
    if a.entries_tree:
        b.entries()
    if not a.skip_crypt:
        b.crypt()
    b.report()
    if b.errors:
        return 1
    if os.environ.get("BENCH_STRICT") == "1" and any(r[5] == "FAIL" for r in b.rows + b.crypt_rows):
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
