#!/usr/bin/env python3
"""The original OpenClaw script's backup format for the end-to-end tests, from
reference/seed-format.md alone (python3 stdlib; `openssl` for encrypted archives).

  seed_tool.py check REPO [--prefix P] [--password PW]
      check every backup of a file:// repo against the format: latest-backup.json, the
      .meta.json fields, names, volumes (.part- sizes), checksum and archive_size, the chain
      (parent, chain_id, incremental_count), and that each archive decrypts and is a tar.gz
      whose top-level names are archive roots; one line per problem, exit 1 if any
  seed_tool.py hostile REPO RULE ESC
      write a repo (REPO must not exist) holding one full backup, and for some rules an
      incremental on it, whose archive carries the hostile member(s) of RULE (ESC: the
      directory escapes would land in); checksums and sizes are right, so only the safety
      rules of a restore can stop it
  seed_tool.py flip FILE [OFFSET]
      flip one byte of FILE (default: the middle)
"""
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile

NAME_RE = re.compile(r"^openclaw-backup-(\d{8}-\d{6})\.tar\.gz(\.enc)?(\.part-[a-z]{2})?$")
ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$")


def check(args):
    repo, prefix, pw = args[0], "backups", None
    rest = args[1:]
    while rest:
        if rest[0] == "--prefix":
            prefix, rest = rest[1], rest[2:]
        elif rest[0] == "--password":
            pw, rest = rest[1], rest[2:]
        else:
            sys.exit(f"unknown option {rest[0]}")
    problems = []
    p = problems.append
    pointer = json.load(open(os.path.join(repo, "latest-backup.json")))
    for k in ("dataset", "latest", "created_at_utc"):
        if k not in pointer:
            p(f"latest-backup.json: no '{k}'")
    if not ISO_RE.match(pointer.get("created_at_utc", "")):
        p(f"latest-backup.json: created_at_utc {pointer.get('created_at_utc')!r} is not ISO 8601 +00:00")
    latest = pointer.get("latest", "")
    pfx = prefix + "/" if prefix else ""
    if not latest.startswith(pfx) or "/" in latest[len(pfx):] or not latest.endswith(".meta.json"):
        p(f"latest-backup.json: latest {latest!r} is not '{pfx}<name>.meta.json'")
    folder = os.path.join(repo, prefix) if prefix else repo
    metas = sorted(f for f in os.listdir(folder) if f.endswith(".meta.json"))
    if not metas:
        p("no .meta.json")
    if latest and os.path.basename(latest) not in metas:
        p(f"latest names {latest!r}, which does not exist")
    by_path = {}
    for f in metas:
        by_path[pfx + f] = json.load(open(os.path.join(folder, f)))
    for path, m in by_path.items():
        where = os.path.basename(path)
        for k in ("version", "backup_type", "chain_id", "parent", "volumes", "checksum",
                  "created_at_utc", "last_backup_time", "file_count", "archive_size", "is_latest",
                  "created_by", "incremental_count", "last_full_backup_time", "is_split"):
            if k not in m:
                p(f"{where}: no '{k}'")
        if m.get("version") != "2.1":
            p(f"{where}: version {m.get('version')!r}, expected '2.1'")
        if "hfsync" in m:
            p(f"{where}: has an 'hfsync' object (a native field)")
        for k in ("created_at_utc", "last_backup_time", "last_full_backup_time"):
            if not ISO_RE.match(str(m.get(k, ""))):
                p(f"{where}: {k} {m.get(k)!r} is not ISO 8601 +00:00")
        if not re.match(r"^[0-9a-f]{8}$", str(m.get("chain_id", ""))):
            p(f"{where}: chain_id {m.get('chain_id')!r} is not 8 hex digits")
        vols = m.get("volumes") or []
        if not vols:
            p(f"{where}: no volumes")
            continue
        base = re.sub(r"\.part-[a-z]{2}$", "", vols[0])
        if where != base + ".meta.json":
            p(f"{where}: not named after its first volume {vols[0]!r}")
        for v in vols:
            if not NAME_RE.match(v):
                p(f"{where}: volume {v!r} does not match the script's name pattern")
        enc = base.endswith(".enc")
        if bool(m.get("encrypted")) != enc:
            p(f"{where}: encrypted={m.get('encrypted')!r} but the name is {base!r}")
        if enc and m.get("encryption_algorithm") != "AES-256-CBC":
            p(f"{where}: encryption_algorithm {m.get('encryption_algorithm')!r}")
        if not enc and ("encrypted" in m or "encryption_algorithm" in m):
            p(f"{where}: encryption fields on a plain backup")
        split = len(vols) > 1
        if m.get("is_split") != split:
            p(f"{where}: is_split={m.get('is_split')!r} with {len(vols)} volumes")
        if split:
            names = [f"{base}.part-{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(len(vols))]
            if vols != names:
                p(f"{where}: parts {vols} are not {names}")
        data = b""
        sizes = []
        for v in vols:
            with open(os.path.join(folder, v), "rb") as fh:
                chunk = fh.read()
            sizes.append(len(chunk))
            data += chunk
        if split and len(set(sizes[:-1])) > 1 or split and sizes[-1] > sizes[0]:
            p(f"{where}: part sizes {sizes} are not split -b pieces")
        if m.get("checksum") != "sha256:" + hashlib.sha256(data).hexdigest():
            p(f"{where}: checksum {m.get('checksum')!r} is not the sha256 of the joined volumes")
        if m.get("archive_size") != len(data):
            p(f"{where}: archive_size {m.get('archive_size')} != {len(data)}")
        if enc:
            if pw is None:
                p(f"{where}: encrypted, no --password to check it")
                continue
            if not data.startswith(b"Salted__"):
                p(f"{where}: encrypted data does not start with 'Salted__'")
            r = subprocess.run(["openssl", "enc", "-d", "-aes-256-cbc", "-pbkdf2", "-pass",
                                "pass:" + pw], input=data, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
            if r.returncode != 0:
                p(f"{where}: openssl enc -d failed: {r.stderr.decode(errors='replace')[:200]}")
                continue
            data = r.stdout
        if data[:2] != b"\x1f\x8b":
            p(f"{where}: the archive is not gzip")
            continue
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as t:
            members = t.getmembers()
        nondir = sum(1 for x in members if not x.isdir())
        if m.get("file_count") != nondir:
            p(f"{where}: file_count {m.get('file_count')} but {nondir} non-directory members")
        for x in members:
            if x.name.startswith("/") or ".." in x.name.split("/"):
                p(f"{where}: member {x.name!r} is not inside an archive root")
        parent = m.get("parent")
        if m.get("backup_type") == "full":
            if parent is not None or m.get("incremental_count") != 0:
                p(f"{where}: a full backup with parent {parent!r}, incremental_count "
                  f"{m.get('incremental_count')}")
            if m.get("last_full_backup_time") != m.get("created_at_utc"):
                p(f"{where}: last_full_backup_time differs from created_at_utc on a full")
        elif m.get("backup_type") == "incremental":
            pm = by_path.get(parent)
            if pm is None:
                p(f"{where}: parent {parent!r} is not a backup here")
            else:
                if pm.get("chain_id") != m.get("chain_id"):
                    p(f"{where}: chain_id differs from its parent's")
                if m.get("incremental_count") != pm.get("incremental_count", 0) + 1:
                    p(f"{where}: incremental_count is not its parent's + 1")
                if m.get("last_full_backup_time") != pm.get("last_full_backup_time"):
                    p(f"{where}: last_full_backup_time differs from its parent's")
        else:
            p(f"{where}: backup_type {m.get('backup_type')!r}")
    for line in problems:
        print(line)
    return 1 if problems else 0


def tar_gz(members):
    """members: (TarInfo, bytes or None) in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def ti(name, kind="file", data=b"", target="", mode=0o644):
    info = tarfile.TarInfo(name)
    info.mtime = 1795289083
    info.mode = mode
    if kind == "file":
        info.size = len(data)
    elif kind == "dir":
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    elif kind == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, target
    elif kind == "hardlink":
        info.type, info.linkname = tarfile.LNKTYPE, target
    elif kind == "fifo":
        info.type = tarfile.FIFOTYPE
    elif kind == "chr":
        info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    return (info, data if kind == "file" else None)


def write_backup(repo, stamp, archive, parent=None, chain="0badc0de", count=0):
    name = f"openclaw-backup-{stamp}.tar.gz"
    folder = os.path.join(repo, "backups")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(archive)
    iso = f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}+00:00"
    meta = {"version": "2.1", "backup_type": "incremental" if parent else "full",
            "chain_id": chain, "parent": parent, "volumes": [name],
            "checksum": "sha256:" + hashlib.sha256(archive).hexdigest(),
            "created_at_utc": iso, "last_backup_time": iso, "file_count": 1,
            "archive_size": len(archive), "is_latest": True, "created_by": "openclaw-backup",
            "incremental_count": count, "last_full_backup_time": iso, "is_split": False}
    path = f"backups/{name}.meta.json"
    with open(os.path.join(repo, path), "w") as f:
        json.dump(meta, f, indent=2)
    with open(os.path.join(repo, "latest-backup.json"), "w") as f:
        json.dump({"dataset": "test/hostile", "latest": path, "created_at_utc": iso}, f)
    return path


def hostile(args):
    repo, rule, esc = args
    os.makedirs(repo)
    base = [ti("openclaw-state", "dir"), ti("openclaw-state/ok.txt", data=b"ok\n")]
    full_only = {
        "dotdot": [ti("openclaw-state/../../escape-dotdot", data=b"x")],
        "absolute": [ti(os.path.join(esc, "escape-abs"), data=b"x")],
        "root-dotdot": [ti("..", "dir")],
        "symlink-through": [ti("openclaw-state/evil-link", "symlink", target=esc),
                            ti("openclaw-state/evil-link/escape-through", data=b"x")],
        "hardlink-out": [ti("openclaw-state/hardlink-member", "hardlink",
                            target="../../../etc/hostname")],
        "hardlink-absent": [ti("openclaw-state/hardlink-member", "hardlink",
                               target="openclaw-state/not-there")],
        "duplicate": [ti("openclaw-state/ok.txt", data=b"again\n")],
        "special": [ti("openclaw-state/fifo-member", "fifo"), ti("openclaw-state/dev-member", "chr")],
        "hardlink-ok": [ti("openclaw-state/hl-copy", "hardlink", target="openclaw-state/ok.txt")],
    }
    if rule in full_only:
        write_backup(repo, "20261121-000000", tar_gz(base + full_only[rule]))
    elif rule == "link-then-dir":
        # full: evil-link -> ESC; incremental: a file below evil-link (a later state where
        # evil-link became a directory): restored as a directory, nothing written through it
        parent = write_backup(repo, "20261121-000000",
                              tar_gz(base + [ti("openclaw-state/evil-link", "symlink", target=esc)]))
        write_backup(repo, "20261121-000100",
                     tar_gz([ti("openclaw-state/evil-link/inc-below-link", data=b"inc\n")]),
                     parent=parent, count=1)
    else:
        sys.exit(f"unknown rule {rule}")
    return 0


def flip(args):
    path = args[0]
    size = os.path.getsize(path)
    off = int(args[1]) if len(args) > 1 else size // 2
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x5A]))
    return 0


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {"check": check, "hostile": hostile, "flip": flip}.get(cmd)
    if fn is None:
        sys.exit(f"unknown command {cmd}")
    sys.exit(fn(args))


if __name__ == "__main__":
    main()
