#!/usr/bin/env python3
"""Generate a deterministic benchmark tree (python3 standard library only).

Three kinds of tree:

  gentree.py --out DIR --size-mb N [--seed S]
      An AI agent's home directory of about N MiB:
        * JSONL session transcripts (varied, compressible text)              ~40 %
        * a few SQLite databases made with sqlite3 (tens of MB at 1 GiB)     ~ 9 %
        * an npm-cache-like store of incompressible blobs
          (.npm/_cacache/content-v2/sha512/xx/yy/...) plus its index         ~38 %
        * tens of thousands of small files (config, JSON, Markdown, source)  the rest
        * a few symlinks, empty directories, modes 0600/0700/0755
  gentree.py --out DIR --small-files N [--seed S]
      N small source-like files (node_modules-style layout) for the no-change
      incremental benchmark.
  gentree.py --out DIR --entries N [--seed S]
      N entries in the same layout, mostly empty files (1 in 10 holds a few hundred
      bytes, 1 in 20 is a symlink), to measure memory against the number of entries:
      a million take about 3 minutes and 0.5 GB of disk.

The same arguments always give the same tree: contents, names, modes and mtimes (with
nanoseconds). A stamp file DIR.stamp records the arguments; when it matches, the tree is left
as it is (pass --force to rebuild). An interrupted run leaves no stamp and is redone.
"""

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import sqlite3
import sys
import time
import zlib

GENERATOR_VERSION = 1
MIB = 1 << 20
# All mtimes lie in the 120 days before this instant (2026-01-01T00:00:00Z).
BASE_TIME = 1767225600

COMMON = (
    "the of and to a in is it you that for on with as this be are or we can at by from not have "
    "but if will an all so which one do there your our would more when what about up out use "
    "file files code function test tests error value run build line lines change changes new "
    "first then now need should could make check see let here also just because into only than "
    "other each some need after before same way data path config set list return call type "
    "name string number true false null object array command output input result results user "
    "agent model tool session message repo branch commit fix bug issue step next done ok yes"
).split()
CODE_KW = (
    "const let var function return if else for while import from export default class new this "
    "async await try catch throw def self None True False elif lambda yield pass raise with as "
    "in not and or int char void static struct size_t unsigned include define"
).split()
SYLLABLES = (
    "ka ri to mo na se lu vi de pa ro mi ta ne so ba ku li fe go ha ji ze ru po ma ti "
    "an er in on ul st tr pr ch sh th ex im co re un de "
).split()


class Gen:
    """Deterministic text, code and random-byte sources, all from one seed."""

    def __init__(self, seed):
        self.seed = seed
        self.rng = random.Random(seed)
        rng = self.rng
        made = set()
        vocab = list(COMMON)
        while len(vocab) < 6000:
            w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4)))
            if w not in made:
                made.add(w)
                vocab.append(w)
        # Punctuated and capitalised variants, so text has sentences and paragraphs.
        extra = []
        for w in vocab[:1500]:
            extra += [w + ".", w + ",", w.capitalize()]
        vocab += extra + ["\n\n", "\n- ", "`" + vocab[60] + "`", "(" + vocab[70] + ")"]
        # Zipf-like weights: a few words are very common, most are rare.
        self.vocab = vocab
        acc, cum = 0.0, []
        for i in range(len(vocab)):
            acc += 1.0 / (i + 1) ** 1.05
            cum.append(acc)
        self.cum = cum
        self.idents = ["%s_%s" % (vocab[rng.randrange(200, 6000)], vocab[rng.randrange(200, 6000)])
                       for _ in range(3000)] + vocab[200:3000]
        self.code_pool = [self._code_line() for _ in range(60000)]

    # --- text -------------------------------------------------------------------------------
    def words(self, n):
        return " ".join(self.rng.choices(self.vocab, cum_weights=self.cum, k=n))

    def text_bytes(self, nbytes):
        # about 6.3 bytes per word on average
        return self.words(max(1, nbytes // 6))

    def ident(self):
        return self.rng.choice(self.idents)

    def _code_line(self):
        r = self.rng
        i = self.ident
        t = r.randrange(12)
        ind = "    " * r.randrange(4)
        if t == 0:
            return "%sconst %s = require('%s');" % (ind, i(), i())
        if t == 1:
            return "%sdef %s(%s, %s):" % (ind, i(), i(), i())
        if t == 2:
            return "%sreturn %s(%s) + %d;" % (ind, i(), i(), r.randrange(1000))
        if t == 3:
            return "%sif (%s.%s === %s) {" % (ind, i(), i(), i())
        if t == 4:
            return "%s}" % ind
        if t == 5:
            return "%s// %s" % (ind, self.words(r.randrange(3, 14)))
        if t == 6:
            return "%s%s = %s.%s(%s, \"%s\")" % (ind, i(), i(), i(), i(), i())
        if t == 7:
            return "%sfor (let %s = 0; %s < %s.length; %s++) {" % (ind, "i", "i", i(), "i")
        if t == 8:
            return "%s%s %s %s %s" % (ind, r.choice(CODE_KW), i(), r.choice(CODE_KW), i())
        if t == 9:
            return ""
        if t == 10:
            return "%sexport function %s(%s) {" % (ind, i(), i())
        return "%sself.%s = %s" % (ind, i(), i())

    def code(self, nbytes):
        out, n = [], 0
        pool = self.code_pool
        rng = self.rng
        while n < nbytes:
            chunk = rng.choices(pool, k=32)
            out.extend(chunk)
            n += sum(len(x) + 1 for x in chunk)
        s = "\n".join(out) + "\n"
        return s[:nbytes]

    # --- identifiers and random bytes ----------------------------------------------------------
    def hexid(self, nbytes):
        return "%0*x" % (nbytes * 2, self.rng.getrandbits(nbytes * 8))

    def uuid(self):
        h = self.hexid(16)
        return "%s-%s-4%s-a%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:32])

    def random_bytes(self, n):
        """Incompressible, deterministic: SHAKE-256 keyed by the seed and a counter."""
        key = b"%d:%d" % (self.seed, self.rng.getrandbits(64))
        return hashlib.shake_256(key).digest(n)

    def lognormal_size(self, median, sigma, lo, hi):
        v = int(median * math.exp(self.rng.gauss(0.0, sigma)))
        return max(lo, min(hi, v))


class Tree:
    """Writes files under a root and keeps a running byte count."""

    def __init__(self, root):
        self.root = root
        self.bytes = 0
        self.files = 0
        self.modes = {}

    def path(self, rel):
        return os.path.join(self.root, rel)

    def write(self, rel, data, mode=0o644):
        p = self.path(rel)
        d = os.path.dirname(p)
        if not os.path.isdir(d):
            os.makedirs(d, exist_ok=True)
        if isinstance(data, str):
            data = data.encode("utf-8")
        with open(p, "wb") as f:
            f.write(data)
        if mode != 0o644:
            self.modes[rel] = mode
        self.bytes += len(data)
        self.files += 1
        return len(data)

    def mkdir(self, rel, mode=0o755):
        os.makedirs(self.path(rel), exist_ok=True)
        if mode != 0o755:
            self.modes[rel] = mode

    def symlink(self, rel, target):
        p = self.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        os.symlink(target, p)

    def finish(self):
        """Set modes and deterministic mtimes (with nanoseconds), deepest entries first."""
        entries = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            for n in dirnames + filenames:
                entries.append(os.path.relpath(os.path.join(dirpath, n), self.root))
        entries.sort(key=lambda r: (-r.count(os.sep), r))
        for rel in entries + ["."]:
            p = self.path(rel)
            crc = zlib.crc32(rel.encode("utf-8"))
            ns = (BASE_TIME - (crc % (120 * 86400))) * 1_000_000_000 + (crc * 7919) % 1_000_000_000
            if os.path.islink(p):
                os.utime(p, ns=(ns, ns), follow_symlinks=False)
                continue
            mode = self.modes.get(rel, 0o755 if os.path.isdir(p) else 0o644)
            os.chmod(p, mode)
            os.utime(p, ns=(ns, ns))


# --- the agent home tree ------------------------------------------------------------------------

def gen_transcripts(g, t, budget):
    """Session transcripts: Claude-Code/OpenClaw-like JSONL, a few large, many small."""
    r = g.rng
    written = 0
    n = 0
    projects = ["-home-user-%s" % g.ident().replace("_", "-") for _ in range(6)]
    while written < budget:
        size = min(budget - written, g.lognormal_size(400_000, 1.4, 4_000, 40 * MIB))
        sid = g.uuid()
        if n % 3 == 0:
            rel = ".openclaw/agents/main/sessions/%s.jsonl" % sid
        else:
            rel = ".claude/projects/%s/%s.jsonl" % (r.choice(projects), sid)
        ts = BASE_TIME - r.randrange(120 * 86400)
        lines, nb, parent = [], 0, None
        cwd = "/home/user/workspace/%s" % g.ident()
        while nb < size:
            uid = g.uuid()
            kind = r.random()
            ts += r.randrange(1, 90)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".%03dZ" % r.randrange(1000)
            rec = {"parentUuid": parent, "sessionId": sid, "cwd": cwd, "version": "1.0.%d" % r.randrange(99),
                   "uuid": uid, "timestamp": stamp}
            if kind < 0.25:
                rec["type"] = "user"
                rec["message"] = {"role": "user", "content": g.words(r.randrange(8, 160))}
            elif kind < 0.65:
                content = [{"type": "text", "text": g.words(r.randrange(20, 500))}]
                if r.random() < 0.6:
                    tool = r.choice(["Bash", "Read", "Edit", "Write", "Grep"])
                    if tool == "Bash":
                        inp = {"command": "cd %s && %s %s" % (cwd, r.choice(["make", "npm test", "git diff", "ls -la", "pytest -x"]), g.ident())}
                    else:
                        inp = {"file_path": "%s/src/%s.%s" % (cwd, g.ident(), r.choice(["js", "ts", "py", "c"]))}
                        if tool in ("Edit", "Write"):
                            inp["content"] = g.code(r.randrange(100, 3000))
                    content.append({"type": "tool_use", "id": "toolu_" + g.hexid(12), "name": tool, "input": inp})
                rec["type"] = "assistant"
                rec["message"] = {"id": "msg_" + g.hexid(12), "role": "assistant", "model": "claude-sonnet-4",
                                  "content": content,
                                  "usage": {"input_tokens": r.randrange(10, 200000), "output_tokens": r.randrange(1, 8000),
                                            "cache_read_input_tokens": r.randrange(0, 150000)}}
            else:
                body = g.code(r.randrange(200, 12000)) if r.random() < 0.6 else g.text_bytes(r.randrange(100, 6000))
                rec["type"] = "user"
                rec["message"] = {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_" + g.hexid(12), "content": body,
                     "is_error": r.random() < 0.05}]}
            line = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
            lines.append(line)
            nb += len(line) + 1
            parent = uid
        data = ("\n".join(lines) + "\n").encode("utf-8")
        written += t.write(rel, data, 0o600)
        n += 1
    return n


def sqlite_db(g, t, rel, target, kind):
    """A SQLite database of about `target` bytes, filled with plausible rows."""
    p = t.path(rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    if os.path.exists(p):
        os.unlink(p)
    r = g.rng
    con = sqlite3.connect(p)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    if kind == "memory":
        con.execute("CREATE TABLE chunks(id INTEGER PRIMARY KEY, path TEXT, start_line INT, "
                    "end_line INT, text TEXT, embedding BLOB, updated_at INT)")
        con.execute("CREATE INDEX chunks_path ON chunks(path)")
    elif kind == "sessions":
        con.execute("CREATE TABLE messages(id INTEGER PRIMARY KEY, session_id TEXT, ts INT, "
                    "role TEXT, content TEXT, tokens INT)")
        con.execute("CREATE INDEX messages_session ON messages(session_id, ts)")
    else:
        con.execute("CREATE TABLE urls(id INTEGER PRIMARY KEY, url TEXT, title TEXT, "
                    "visit_count INT, last_visit_time INT)")
        con.execute("CREATE TABLE visits(id INTEGER PRIMARY KEY, url INT, visit_time INT, "
                    "transition INT)")
        con.execute("CREATE INDEX visits_url ON visits(url)")
    sessions = [g.uuid() for _ in range(200)]
    rowid = 0
    while True:
        rows = []
        for _ in range(500):
            rowid += 1
            if kind == "memory":
                rows.append((rowid, "memory/%s.md" % g.ident(), r.randrange(500), r.randrange(500, 900),
                             g.words(r.randrange(40, 200)), g.random_bytes(1536), BASE_TIME - r.randrange(10**7)))
            elif kind == "sessions":
                rows.append((rowid, r.choice(sessions), BASE_TIME - r.randrange(10**7),
                             r.choice(["user", "assistant", "tool"]), g.words(r.randrange(10, 400)), r.randrange(5000)))
            else:
                rows.append((rowid, "https://%s.example/%s/%s?q=%s" % (g.ident(), g.ident(), g.ident(), g.hexid(6)),
                             g.words(r.randrange(3, 12)), r.randrange(50), BASE_TIME - r.randrange(10**7)))
        if kind == "memory":
            con.executemany("INSERT INTO chunks VALUES(?,?,?,?,?,?,?)", rows)
        elif kind == "sessions":
            con.executemany("INSERT INTO messages VALUES(?,?,?,?,?,?)", rows)
        else:
            con.executemany("INSERT INTO urls VALUES(?,?,?,?,?)", rows)
            con.executemany("INSERT INTO visits VALUES(?,?,?,?)",
                            [(x[0], x[0], x[4], r.randrange(10)) for x in rows])
        con.commit()
        pages = con.execute("PRAGMA page_count").fetchone()[0]
        psize = con.execute("PRAGMA page_size").fetchone()[0]
        if pages * psize >= target:
            break
    con.close()
    size = os.path.getsize(p)
    t.bytes += size
    t.files += 1
    t.modes[rel] = 0o600
    return size


def gen_npm_cache(g, t, budget):
    """npm's content-addressed cache: incompressible blobs named by (fake) sha512, plus index."""
    r = g.rng
    written = 0
    n = 0
    while written < budget:
        size = min(budget - written, g.lognormal_size(40_000, 1.6, 300, 12 * MIB))
        digest = g.hexid(64)
        blob_rel = ".npm/_cacache/content-v2/sha512/%s/%s/%s" % (digest[:2], digest[2:4], digest[4:])
        written += t.write(blob_rel, g.random_bytes(size))
        pkg = g.ident().replace("_", "-")
        key = "make-fetch-happen:request-cache:https://registry.npmjs.org/%s/-/%s-%d.%d.%d.tgz" % (
            pkg, pkg, r.randrange(9), r.randrange(30), r.randrange(20))
        khash = hashlib.sha256(key.encode()).hexdigest()
        entry = {"key": key, "integrity": "sha512-" + digest[:86] + "==", "time": (BASE_TIME - r.randrange(10**7)) * 1000,
                 "size": size, "metadata": {"url": key.split(":", 2)[2], "reqHeaders": {},
                                            "resHeaders": {"content-type": "application/octet-stream",
                                                           "etag": '"%s"' % g.hexid(16)}}}
        line = khash[:40] + "\t" + json.dumps(entry, separators=(",", ":")) + "\n"
        written += t.write(".npm/_cacache/index-v5/%s/%s/%s" % (khash[:2], khash[2:4], khash[4:]), line)
        n += 1
    return n


def small_file(g, rel_dir, i):
    """(relative path, content, mode) of one small config/json/md/source file."""
    r = g.rng
    kind = r.randrange(10)
    size = g.lognormal_size(1500, 1.1, 40, 64 * 1024)
    name = g.ident()
    if kind <= 3:
        ext = r.choice(["js", "ts", "py", "c", "h", "go", "rs"])
        return "%s/%s_%d.%s" % (rel_dir, name, i, ext), g.code(size), 0o644
    if kind <= 5:
        obj = {"name": name, "version": "%d.%d.%d" % (r.randrange(5), r.randrange(40), r.randrange(20)),
               "description": g.words(r.randrange(4, 20)),
               "settings": {g.ident(): g.words(r.randrange(1, 6)) for _ in range(max(1, size // 60))},
               "enabled": r.random() < 0.5, "id": g.uuid()}
        return "%s/%s_%d.json" % (rel_dir, name, i), json.dumps(obj, indent=2) + "\n", 0o644
    if kind <= 7:
        return "%s/%s_%d.md" % (rel_dir, name, i), "# %s\n\n%s\n" % (g.words(5), g.text_bytes(size)), 0o644
    if kind == 8:
        lines = ["%s=%s" % (g.ident().upper(), g.words(r.randrange(1, 4))) for _ in range(max(1, size // 40))]
        return "%s/%s_%d.conf" % (rel_dir, name, i), "\n".join(lines) + "\n", 0o644
    return "%s/%s_%d.sh" % (rel_dir, name, i), "#!/bin/sh\nset -e\n" + g.code(size), 0o755


def gen_small_files(g, t, count):
    r = g.rng
    projects = ["workspace/projects/%s" % g.ident().replace("_", "-") for _ in range(max(4, count // 2500))]
    subdirs = ["src", "src/lib", "src/components", "test", "docs", "config", "scripts", "src/utils/helpers"]
    other_dirs = [".config/%s" % g.ident() for _ in range(20)] + \
                 [".openclaw/workspace/memory", ".openclaw/workspace/skills/%s" % g.ident(),
                  ".openclaw/extensions/%s" % g.ident(), ".local/share/%s" % g.ident()]
    for i in range(count):
        if r.random() < 0.8:
            d = "%s/%s" % (r.choice(projects), r.choice(subdirs))
        else:
            d = r.choice(other_dirs)
        rel, content, mode = small_file(g, d, i)
        t.write(rel, content, mode)
    for p in projects:
        t.write(p + "/package.json", json.dumps({"name": os.path.basename(p), "private": True,
                                                 "dependencies": {g.ident(): "^1.%d.0" % r.randrange(9) for _ in range(8)}},
                                                indent=2) + "\n")
        t.write(p + "/README.md", "# %s\n\n%s\n" % (os.path.basename(p), g.text_bytes(3000)))
        t.mkdir(p + "/.git/refs/tags")  # an empty directory
    return projects


def gen_home(out, size_mb, seed):
    g = Gen(seed)
    t = Tree(out)
    total = size_mb * MIB
    # Small files: tens of thousands at 1 GiB, scaled down (not below 4,000) for quick runs.
    count = max(4000, min(40000, int(40000 * size_mb / 1024)))
    t.mkdir(".ssh", 0o700)
    t.write(".ssh/config", "Host *\n  ServerAliveInterval 60\n", 0o600)
    t.write(".ssh/id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\n%s\n-----END OPENSSH PRIVATE KEY-----\n"
            % g.hexid(200), 0o600)
    t.write(".openclaw/openclaw.json", json.dumps({"gateway": {"port": 18789, "token": g.hexid(24)},
                                                  "agents": {"main": {"model": "anthropic/claude-sonnet-4"}}},
                                                 indent=2) + "\n", 0o600)
    t.write(".bashrc", "export PATH=$HOME/.local/bin:$PATH\nalias ll='ls -la'\n")
    t.mkdir(".cache/empty-dir")
    t0 = time.time()
    projects = gen_small_files(g, t, count)
    say("  small files: %d files, %.0f MiB (%.1fs)" % (t.files, t.bytes / MIB, time.time() - t0))
    t0, b0 = time.time(), t.bytes
    dbs = [(".openclaw/memory/main.sqlite", 0.050, "memory"),
           (".openclaw/state/sessions.sqlite", 0.025, "sessions"),
           (".config/chromium/Default/History", 0.015, "history")]
    for rel, frac, kind in dbs:
        sqlite_db(g, t, rel, max(1 * MIB, int(total * frac)), kind)
    say("  sqlite: %d databases, %.0f MiB (%.1fs)" % (len(dbs), (t.bytes - b0) / MIB, time.time() - t0))
    remaining = max(0, total - t.bytes)
    t0, b0 = time.time(), t.bytes
    n = gen_npm_cache(g, t, int(remaining * 0.48))
    say("  npm cache: %d blobs, %.0f MiB (%.1fs)" % (n, (t.bytes - b0) / MIB, time.time() - t0))
    t0, b0 = time.time(), t.bytes
    n = gen_transcripts(g, t, max(0, total - t.bytes))
    say("  transcripts: %d files, %.0f MiB (%.1fs)" % (n, (t.bytes - b0) / MIB, time.time() - t0))
    t.symlink("workspace/current", os.path.relpath(projects[0], "workspace"))
    t.symlink(".npm/_logs/latest.log", "debug-0.log")
    t.write(".npm/_logs/debug-0.log", g.text_bytes(5000))
    t.symlink(".openclaw/agents/main/agent/broken-link", "../does-not-exist")
    t.finish()
    return t


def gen_small_tree(out, count, seed):
    """`count` small files, node_modules-style: packages of ~40 files in a few subdirectories."""
    g = Gen(seed)
    t = Tree(out)
    r = g.rng
    per_pkg = 40
    pkgs = ["node_modules/%s" % g.ident().replace("_", "-") for _ in range((count + per_pkg - 1) // per_pkg)]
    subdirs = ["", "lib", "lib/internal", "dist", "types"]
    for i in range(count):
        pkg = pkgs[i // per_pkg]
        sub = subdirs[r.randrange(len(subdirs))]
        d = pkg if not sub else pkg + "/" + sub
        size = g.lognormal_size(600, 1.0, 20, 16 * 1024)
        ext = r.choice(["js", "js", "ts", "json", "md", "map"])
        t.write("%s/%s_%d.%s" % (d, g.ident(), i, ext), g.code(size))
    t.finish()
    return t


def gen_entries_tree(out, count, seed):
    """`count` entries for memory measurements: the layout and names of gen_small_tree, but most
    files are empty (1 in 10 holds a few hundred bytes, 1 in 20 entries is a symlink), so a million
    entries take little disk space and little time to back up."""
    g = Gen(seed)
    t = Tree(out)
    r = g.rng
    per_pkg = 40
    pkgs = ["node_modules/%s" % g.ident().replace("_", "-") for _ in range((count + per_pkg - 1) // per_pkg)]
    subdirs = ["", "lib", "lib/internal", "dist", "types"]
    for i in range(count):
        pkg = pkgs[i // per_pkg]
        sub = subdirs[r.randrange(len(subdirs))]
        d = pkg if not sub else pkg + "/" + sub
        ext = r.choice(["js", "js", "ts", "json", "md", "map"])
        rel = "%s/%s_%d.%s" % (d, g.ident(), i, ext)
        kind = r.randrange(20)
        if kind == 0:
            t.symlink(rel, "../package.json" if sub else "package.json")
        elif kind <= 2:
            t.write(rel, g.code(g.lognormal_size(300, 1.0, 20, 4096)))
        else:
            t.write(rel, b"")
    t.finish()
    return t


def say(msg):
    print(msg, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    kind = ap.add_mutually_exclusive_group(required=True)
    kind.add_argument("--size-mb", type=int, help="agent home tree of about this many MiB")
    kind.add_argument("--small-files", type=int, help="tree of this many small files")
    kind.add_argument("--entries", type=int,
                      help="tree of this many entries, mostly empty files (memory measurements)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--force", action="store_true", help="rebuild even if the stamp matches")
    a = ap.parse_args()
    if (a.size_mb is not None and a.size_mb < 10) or (a.small_files is not None and a.small_files < 1) \
            or (a.entries is not None and a.entries < 1):
        ap.error("--size-mb must be >= 10, --small-files and --entries >= 1")

    out = os.path.abspath(a.out)
    stamp_path = out + ".stamp"
    params = {"generator": GENERATOR_VERSION, "size_mb": a.size_mb, "small_files": a.small_files,
              "seed": a.seed}
    if a.entries is not None:  # only then: the stamps of existing trees stay valid
        params["entries"] = a.entries
    if not a.force and os.path.isdir(out) and os.path.exists(stamp_path):
        try:
            with open(stamp_path) as f:
                old = json.load(f)
            if old.get("params") == params:
                say("gentree: %s is up to date (%d files, %.0f MiB)" % (out, old["files"], old["bytes"] / MIB))
                return 0
        except (OSError, ValueError, KeyError):
            pass
    if os.path.exists(stamp_path):
        os.unlink(stamp_path)
    if os.path.lexists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    t0 = time.time()
    if a.size_mb is not None:
        say("gentree: agent home of %d MiB in %s (seed %d)" % (a.size_mb, out, a.seed))
        t = gen_home(out, a.size_mb, a.seed)
    elif a.small_files is not None:
        say("gentree: %d small files in %s (seed %d)" % (a.small_files, out, a.seed))
        t = gen_small_tree(out, a.small_files, a.seed)
    else:
        say("gentree: %d entries (mostly empty files) in %s (seed %d)" % (a.entries, out, a.seed))
        t = gen_entries_tree(out, a.entries, a.seed)
    with open(stamp_path, "w") as f:
        json.dump({"params": params, "files": t.files, "bytes": t.bytes}, f)
        f.write("\n")
    say("gentree: done: %d files, %.0f MiB in %.1fs" % (t.files, t.bytes / MIB, time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
