#!/usr/bin/env python3
"""Test trees for the hfsync end-to-end tests (python3 stdlib only).

  tree.py gen DIR --seed N [--files N] [--big N]   make a tree (deterministic for a seed)
  tree.py mutate DIR --seed N --step K             change it the way an application would
  tree.py snap DIR OUT.json                        record every path below DIR
  tree.py cmp A.json B.json                        print differences, exit 1 if any
  tree.py cmp-dir SNAPSHOT.json DIR                same, against a live directory
    --ignore-mtimes FILE (cmp, cmp-dir)            leave out the mtimes of the paths listed in
                                                   FILE, one per line (relative, as in snapshots)

A snapshot records, for every path below DIR (DIR itself excluded, so the parent of several
sources can be snapshotted and compared with a `restore --to` directory): type, mode (& 0o7777),
mtime_ns (files and dirs, not symlinks), size and sha256 for files, target for symlinks.
Directory mtimes change whenever their content changes, so snapshot after all mutations.
"""
import argparse
import hashlib
import json
import os
import random
import stat
import sys

WORDS = ("alpha beta gamma delta state config agent token session memory channel gateway "
         "message user assistant tool call result error retry backup restore volume chain "
         "manifest pointer lease prune the of and to in is on for with as by at from").split()

# Names that exercise quoting, UTF-8, long names (pax headers) and odd but legal characters.
ODD_NAMES = [
    "with space.txt", "ü ñ 日本.txt", "日本語のファイル.md", "Ünïcödé dïr", "-leading-dash.txt",
    "it's quoted.txt", 'double"quote.txt', "star*and?question.txt", "back\\slash.txt",
    "percent%20and#hash.txt", "semi;colon&amp.txt", "brackets[1](2){3}.txt", ".hidden-file",
    "trailing.dot.", "emoji-\U0001F600.txt", "L" + "o" * 150 + "ng-name.txt",
]
FILE_MODES = [0o644, 0o644, 0o644, 0o600, 0o755, 0o700, 0o640, 0o444]
DIR_MODES = [0o755, 0o755, 0o755, 0o700, 0o750]
BASE_TIME = 1_700_000_000  # 2023-11-14


def rand_mtime(rng):
    """An mtime in ns with a non-zero sub-second part."""
    return (BASE_TIME + rng.randrange(0, 50_000_000)) * 1_000_000_000 + rng.randrange(1, 999_999_999)


def text_content(rng, size):
    out = []
    n = 0
    while n < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(3, 14))) + "\n"
        out.append(line)
        n += len(line)
    return "".join(out).encode()[:size]


def random_content(rng, size):
    return rng.randbytes(size)


def write_file(path, data, mode, mtime_ns):
    if os.path.isfile(path) and not os.path.islink(path):
        os.chmod(path, 0o600)  # 0444 files must stay writable for mutate when not root
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)


def settle_dirs(root, rng, only=None):
    """Give directories explicit modes and mtimes, deepest first (writing into a directory
    changes its mtime, so this must come last)."""
    dirs = []
    for dirpath, dirnames, _ in os.walk(root):
        dirs.append(dirpath)
    dirs.sort(key=lambda p: p.count(os.sep), reverse=True)
    for d in dirs:
        if only is not None and d not in only:
            continue
        os.utime(d, ns=(rand_mtime(rng),) * 2)


def gen(args):
    rng = random.Random(args.seed)
    root = args.dir
    os.makedirs(root, exist_ok=True)
    os.chmod(root, 0o755)
    dirs = [root]
    dir_modes = {}
    # nested directories, depth >= 5 somewhere
    ndirs = max(8, args.files // 25)
    for i in range(ndirs):
        parent = rng.choice(dirs)
        name = rng.choice(["d", "sub", "data", "cache", "Ünï", "with space", "日本", "x"]) + f"{i}"
        if i % 17 == 3:
            name = rng.choice(ODD_NAMES[3:4] + ["dir with spaces %d" % i, "ñandú-%d" % i])
        p = os.path.join(parent, name)
        os.makedirs(p, exist_ok=True)
        dirs.append(p)
        dir_modes[p] = rng.choice(DIR_MODES)
    deep = root
    for i in range(7):
        deep = os.path.join(deep, f"deep{i}")
        os.makedirs(deep, exist_ok=True)
        dir_modes[deep] = 0o755
    dirs.append(deep)
    write_file(os.path.join(deep, "bottom.txt"), b"bottom of the deep tree\n", 0o644, rand_mtime(rng))
    # empty dirs
    for i in range(5):
        p = os.path.join(rng.choice(dirs), f"empty-dir-{i}")
        os.makedirs(p, exist_ok=True)
        dir_modes[p] = rng.choice(DIR_MODES)
    files = []
    count = 0
    for name in ODD_NAMES:
        d = rng.choice(dirs)
        p = os.path.join(d, name)
        if os.path.exists(p):
            continue
        if name == "Ünïcödé dïr":
            os.makedirs(p, exist_ok=True)
            dir_modes[p] = 0o755
            dirs.append(p)
            continue
        write_file(p, text_content(rng, rng.randrange(0, 3000)), rng.choice(FILE_MODES), rand_mtime(rng))
        files.append(p)
        count += 1
    big_done = 0
    while count < args.files:
        d = rng.choice(dirs)
        p = os.path.join(d, f"f{count:05d}" + rng.choice([".txt", ".json", ".md", ".dat", ".bin", ""]))
        r = rng.random()
        if r < 0.05:
            data = b""
        elif r < 0.80:
            data = text_content(rng, int(rng.expovariate(1 / 3000)) + 1)
        elif r < 0.97:
            data = random_content(rng, rng.randrange(1, 20000))
        else:
            data = text_content(rng, rng.randrange(20000, 200000))
        write_file(p, data, rng.choice(FILE_MODES), rand_mtime(rng))
        files.append(p)
        count += 1
    for i in range(args.big):
        p = os.path.join(rng.choice(dirs), f"big-{i}.bin")
        write_file(p, random_content(rng, rng.randrange(1 << 20, 3 << 20)), 0o644, rand_mtime(rng))
        files.append(p)
    # symlinks: relative, absolute, dangling, to a directory, to a symlink
    some = rng.sample(files, min(6, len(files)))
    links = [
        ("link-rel", os.path.relpath(some[0], root)),
        ("link-abs", "/etc/hostname"),
        ("link-dangling", "does/not/exist"),
        ("link-dangling-abs", "/nonexistent/hfsync/e2e"),
        ("link-to-dir", os.path.relpath(deep, root)),
        ("link to dir with space", "."),
        ("link-to-link", "link-rel"),
        ("link-ü", "ü ñ 日本 target"),
    ]
    for name, target in links:
        os.symlink(target, os.path.join(root, name))
    for i, f in enumerate(some[1:]):
        d = os.path.dirname(f)
        os.symlink(os.path.basename(f), os.path.join(d, f"sib-link-{i}"))
    os.symlink("..", os.path.join(deep, "up-link"))
    # directory modes last but before mtimes (chmod does not change mtime of the dir itself,
    # but it changes ctime only)
    for p, m in dir_modes.items():
        os.chmod(p, m)
    # 700 on a directory with content, 600 on a file in it, exercised above via the mode lists
    settle_dirs(root, rng)


def walk_files(root):
    """All regular files, dirs (excluding root) and symlinks below root, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for n in dirnames + filenames:
            out.append(os.path.join(dirpath, n))
    out.sort()
    return out


def mutate(args):
    rng = random.Random(args.seed * 1000 + args.step)
    root = args.dir
    touched_dirs = set()

    def mark(p):
        touched_dirs.add(os.path.dirname(p))

    entries = walk_files(root)
    files = [p for p in entries if stat.S_ISREG(os.lstat(p).st_mode)]
    dirs = [p for p in entries if stat.S_ISDIR(os.lstat(p).st_mode)]
    links = [p for p in entries if stat.S_ISLNK(os.lstat(p).st_mode)]
    rng.shuffle(files)
    used = set()

    def take_file():
        while files:
            p = files.pop()
            if p not in used and os.path.lexists(p):
                used.add(p)
                return p
        return None

    # 1. content changes with a new size
    for _ in range(40):
        p = take_file()
        if p is None:
            break
        st = os.lstat(p)
        write_file(p, text_content(rng, rng.randrange(0, 6000)) + b"step %d\n" % args.step,
                   stat.S_IMODE(st.st_mode), rand_mtime(rng))
    # 2. same size, new content, new mtime
    for _ in range(15):
        p = take_file()
        if p is None:
            break
        st = os.lstat(p)
        data = bytearray(open(p, "rb").read())
        if data:
            data[rng.randrange(len(data))] ^= 0x5A
        write_file(p, bytes(data), stat.S_IMODE(st.st_mode), st.st_mtime_ns + rng.randrange(1, 10**9))
    # 3. mode only
    for _ in range(10):
        p = take_file()
        if p is None:
            break
        st = os.lstat(p)
        new = 0o600 if stat.S_IMODE(st.st_mode) != 0o600 else 0o755
        os.chmod(p, new)
    # 4. mtime only (same content, same size)
    for _ in range(10):
        p = take_file()
        if p is None:
            break
        t = rand_mtime(rng)
        os.utime(p, ns=(t, t))
    # 5. deletes
    for _ in range(20):
        p = take_file()
        if p is None:
            break
        os.unlink(p)
        mark(p)
    # 6. adds, some in new nested dirs
    live_dirs = [d for d in dirs if os.path.isdir(d) and not os.path.islink(d)] + [root]
    newdir = os.path.join(rng.choice(live_dirs), f"new-s{args.step}", "a", "b ü")
    os.makedirs(newdir, exist_ok=True)
    os.chmod(os.path.dirname(newdir), 0o700)
    for i in range(30):
        d = newdir if i % 3 == 0 else rng.choice(live_dirs)
        if not os.path.isdir(d):
            continue
        p = os.path.join(d, f"added-s{args.step}-{i} ñ.txt")
        write_file(p, text_content(rng, rng.randrange(0, 4000)), rng.choice(FILE_MODES), rand_mtime(rng))
        mark(p)
    # one new big-ish incompressible file
    p = os.path.join(root, f"added-random-s{args.step}.bin")
    write_file(p, random_content(rng, 300_000), 0o644, rand_mtime(rng))
    # 7. delete a whole directory (one with content, not an ancestor of newdir)
    cands = [d for d in dirs if os.path.isdir(d) and not os.path.islink(d)
             and not newdir.startswith(d + os.sep) and os.listdir(d)
             and "deep" not in os.path.relpath(d, root)]
    if cands:
        victim = rng.choice(cands)
        import shutil
        shutil.rmtree(victim)
        mark(victim)
    # 8. replace a file by a directory (same name), with a file inside
    p = take_file()
    if p is not None and os.path.exists(p):
        os.unlink(p)
        os.mkdir(p)
        os.chmod(p, 0o750)
        write_file(os.path.join(p, "inside.txt"), b"was a file\n", 0o644, rand_mtime(rng))
        mark(p)
    # 9. replace a directory by a file
    cands = [d for d in walk_files(root) if os.path.isdir(d) and not os.path.islink(d)
             and not newdir.startswith(d + os.sep) and "deep" not in os.path.relpath(d, root)]
    if cands:
        victim = rng.choice(cands)
        import shutil
        shutil.rmtree(victim)
        write_file(victim, b"was a directory\n", 0o644, rand_mtime(rng))
        mark(victim)
    # 10. change a symlink's target; turn a symlink into a file and a file into a symlink
    live_links = [l for l in links if os.path.islink(l)]
    rng.shuffle(live_links)
    if live_links:
        l = live_links.pop()
        os.unlink(l)
        os.symlink(f"new-target-step-{args.step}", l)
        mark(l)
    if live_links:
        l = live_links.pop()
        os.unlink(l)
        write_file(l, b"was a symlink\n", 0o600, rand_mtime(rng))
        mark(l)
    p = take_file()
    if p is not None and os.path.exists(p):
        os.unlink(p)
        os.symlink("was-a-file", p)
        mark(p)
    # 11. a directory mode change
    live = [d for d in walk_files(root) if os.path.isdir(d) and not os.path.islink(d)]
    if live:
        d = rng.choice(live)
        os.chmod(d, 0o700 if stat.S_IMODE(os.lstat(d).st_mode) != 0o700 else 0o755)
    # give the touched directories (those still existing) explicit times, deepest first
    for d in sorted(touched_dirs, key=lambda x: x.count(os.sep), reverse=True):
        if os.path.isdir(d) and not os.path.islink(d):
            t = rand_mtime(rng)
            os.utime(d, ns=(t, t))


def snap_tree(root):
    out = {}

    def rec(d, rel):
        with os.scandir(d) as it:
            names = sorted(e.name for e in it)
        for n in names:
            p = os.path.join(d, n)
            r = n if not rel else rel + "/" + n
            st = os.lstat(p)
            m = st.st_mode
            e = {"mode": stat.S_IMODE(m)}
            if stat.S_ISREG(m):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                e.update(type="file", size=st.st_size, sha256=h.hexdigest(), mtime_ns=st.st_mtime_ns)
            elif stat.S_ISDIR(m):
                e.update(type="dir", mtime_ns=st.st_mtime_ns)
            elif stat.S_ISLNK(m):
                e = {"type": "symlink", "target": os.readlink(p)}
            else:
                e.update(type="other:%o" % stat.S_IFMT(m))
            out[r] = e
            if stat.S_ISDIR(m):
                rec(p, r)

    rec(root, "")
    return out


def snap(args):
    data = snap_tree(args.dir)
    with open(args.out, "w") as f:
        json.dump(data, f, indent=0, sort_keys=True)


def strip_mtimes(snapshot, listing):
    with open(listing) as f:
        paths = {line.rstrip("\n") for line in f if line.strip()}
    for p in paths:
        if p in snapshot:
            snapshot[p].pop("mtime_ns", None)


def diff(a, b, la="A", lb="B"):
    lines = []
    for k in sorted(set(a) | set(b)):
        if k not in b:
            lines.append(f"only in {la}: {k!r} ({a[k]['type']})")
        elif k not in a:
            lines.append(f"only in {lb}: {k!r} ({b[k]['type']})")
        elif a[k] != b[k]:
            fields = sorted(set(a[k]) | set(b[k]))
            parts = []
            for f in fields:
                va, vb = a[k].get(f), b[k].get(f)
                if va != vb:
                    if f == "mode":
                        va = oct(va) if va is not None else None
                        vb = oct(vb) if vb is not None else None
                    parts.append(f"{f}: {va} != {vb}")
            lines.append(f"differs: {k!r}: " + ", ".join(parts))
    return lines


def report(lines):
    if not lines:
        return 0
    for l in lines[:40]:
        print(l)
    if len(lines) > 40:
        print(f"... and {len(lines) - 40} more differences")
    print(f"{len(lines)} differences")
    return 1


def cmp(args):
    a = json.load(open(args.a))
    b = json.load(open(args.b))
    if args.ignore_mtimes:
        strip_mtimes(a, args.ignore_mtimes)
        strip_mtimes(b, args.ignore_mtimes)
    return report(diff(a, b, "first", "second"))


def cmp_dir(args):
    a = json.load(open(args.snapshot))
    if not os.path.isdir(args.dir):
        print(f"{args.dir}: not a directory")
        return 1
    b = snap_tree(args.dir)
    if args.ignore_mtimes:
        strip_mtimes(a, args.ignore_mtimes)
        strip_mtimes(b, args.ignore_mtimes)
    return report(diff(a, b, "snapshot", "directory"))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("gen")
    p.add_argument("dir")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--files", type=int, default=3000)
    p.add_argument("--big", type=int, default=3)
    p.set_defaults(fn=gen)
    p = sub.add_parser("mutate")
    p.add_argument("dir")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--step", type=int, required=True)
    p.set_defaults(fn=mutate)
    p = sub.add_parser("snap")
    p.add_argument("dir")
    p.add_argument("out")
    p.set_defaults(fn=snap)
    p = sub.add_parser("cmp")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--ignore-mtimes", metavar="FILE")
    p.set_defaults(fn=cmp)
    p = sub.add_parser("cmp-dir")
    p.add_argument("snapshot")
    p.add_argument("dir")
    p.add_argument("--ignore-mtimes", metavar="FILE")
    p.set_defaults(fn=cmp_dir)
    args = ap.parse_args()
    sys.exit(args.fn(args) or 0)


if __name__ == "__main__":
    main()
