#!/usr/bin/env python3
"""Read, check and tamper with a file:// hfsync target, following docs/FORMAT.md (stdlib + the
`zstd` command line tool).

  repo_tool.py latest REPO                         name of the newest backup
  repo_tool.py meta REPO NAME FIELD[.SUB]          print a field of a .meta.json (JSON)
  repo_tool.py check-format REPO [--snap S.json --backup NAME]
                                                   check every object against FORMAT.md; with
                                                   --snap also check NAME's manifest against a
                                                   snapshot of the sources' parent (tree.py snap)
  repo_tool.py pick-volume REPO [--last]           a volume object of the latest chain's full
                                                   backup that the latest manifest needs (the
                                                   second such, or with --last the last one)
  repo_tool.py flip REPO OBJECT                    flip one byte in the middle of an object
  repo_tool.py set-parent REPO NAME VALUE          rewrite a meta's parent ("null" for null)
  repo_tool.py hostile REPO NAME RULE ARG          rewrite NAME's volume 1 and manifest for RULE
  repo_tool.py swap-entries REPO NAME              put NAME's last two manifest entries out of
                                                   order (meta fixed up to match)
                                                   (ARG: the directory that escapes would land
                                                   in) and fix up the meta's sizes and hashes

Every check prints one line per problem and exits 1 if there was any.
"""
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile

PREFIX = os.environ.get("E2E_PREFIX", "backups")


def opath(repo, name):
    return os.path.join(repo, PREFIX, name) if PREFIX else os.path.join(repo, name)


def zstd_d(data):
    return subprocess.run(["zstd", "-q", "-d", "-c"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def zstd_c(data):
    return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def content_hash(data):
    return hashlib.sha256(data).hexdigest()


def checksum_of(volume_info):
    """The meta `checksum`: sha256 of the volume hashes, each followed by a newline."""
    return hashlib.sha256(b"".join(v["sha256"].encode() + b"\n" for v in volume_info)).hexdigest()


def read(repo, name):
    with open(opath(repo, name), "rb") as f:
        return f.read()


def load_meta(repo, name):
    return json.loads(read(repo, name + ".meta.json"))


def save_meta(repo, name, meta):
    with open(opath(repo, name + ".meta.json"), "w") as f:
        json.dump(meta, f, indent=2)


def latest_name(repo):
    ptr = json.load(open(os.path.join(repo, "latest-backup.json")))
    base = ptr["latest"].rsplit("/", 1)[-1]
    assert base.endswith(".meta.json"), ptr
    return base[: -len(".meta.json")]


def parent_name(meta):
    p = meta.get("parent")
    if p is None:
        return None
    return p.rsplit("/", 1)[-1][: -len(".meta.json")]


def load_manifest(repo, name, decode_hex=False):
    """Header and entries. With decode_hex, names stored as "path_hex"/"target_hex" (FORMAT.md §4:
    names that are not UTF-8) are decoded into "path"/"target" as str with surrogateescape, the
    way Python's os functions spell such names; only readers use that, writers keep the file form."""
    raw = zstd_d(read(repo, name + ".manifest.zst"))
    lines = raw.decode("utf-8").split("\n")
    assert lines[-1] == "", "manifest does not end with a newline"
    objs = [json.loads(l) for l in lines[:-1]]
    if decode_hex:
        for e in objs[1:]:
            for key in ("path", "target"):
                if key + "_hex" in e and key not in e:
                    e[key] = bytes.fromhex(e.pop(key + "_hex")).decode("utf-8", "surrogateescape")
    return objs[0], objs[1:]


def member_key(name):
    name = name.rstrip("/")
    if "/" in name:
        s, p = name.split("/", 1)
        return s, p
    return name, "."


def entry_member_name(e):
    return e["source"] if e["path"] == "." else e["source"] + "/" + e["path"]


def read_volume(repo, vname):
    """[(TarInfo, bytes-or-None)] in archive order."""
    data = zstd_d(read(repo, vname))
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        for ti in tf:
            content = tf.extractfile(ti).read() if ti.isreg() else None
            out.append((ti, content))
    return out


# ---------------------------------------------------------------------------------------------
# check-format

BAD_PATH = re.compile(r"[\x00-\x1f\x7f]")


def path_ok(p):
    if p == ".":
        return True
    if not p or p.startswith("/"):
        return False
    if BAD_PATH.search(p):
        return False
    return all(c not in ("", ".", "..") for c in p.split("/"))


def check_format(repo, snap=None, snap_backup=None):
    probs = []
    P = probs.append
    ptr_path = os.path.join(repo, "latest-backup.json")
    try:
        ptr = json.load(open(ptr_path))
    except Exception as e:  # noqa: BLE001
        return [f"latest-backup.json: cannot read: {e}"]
    lat = ptr.get("latest", "")
    if not re.fullmatch(re.escape(PREFIX + "/") + r"\d{8}-\d{6}[FI]\.meta\.json", lat):
        P(f"latest-backup.json: 'latest' is {lat!r}, expected '{PREFIX}/<name>.meta.json'")
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", str(ptr.get("created_at_utc"))):
        P(f"latest-backup.json: created_at_utc {ptr.get('created_at_utc')!r} is not ISO 8601 UTC with +00:00")
    if ptr.get("format") != "hfsync":
        P(f"latest-backup.json: format is {ptr.get('format')!r}, expected 'hfsync'")
    d = os.path.join(repo, PREFIX)
    names = sorted(f[: -len(".meta.json")] for f in os.listdir(d) if f.endswith(".meta.json"))
    if not os.path.exists(os.path.join(repo, lat)):
        P(f"latest-backup.json points to missing {lat}")
    elif lat.rsplit("/", 1)[-1][: -len(".meta.json")] != names[-1]:
        P(f"latest-backup.json points to {lat}, but the newest backup is {names[-1]}")
    metas = {}
    manifests = {}
    for n in names:
        try:
            metas[n] = load_meta(repo, n)
        except Exception as e:  # noqa: BLE001
            P(f"{n}.meta.json: cannot parse: {e}")
    for n, m in metas.items():
        where = f"{n}.meta.json"
        full = n.endswith("F")
        exp = {"version": "3.0", "backup_type": "full" if full else "incremental",
               "created_by": "hfsync", "encrypted": False}
        for k, v in exp.items():
            if m.get(k) != v:
                P(f"{where}: {k} is {m.get(k)!r}, expected {v!r}")
        if not re.fullmatch(r"[0-9a-f]{8}", str(m.get("chain_id"))):
            P(f"{where}: chain_id {m.get('chain_id')!r} is not 8 lowercase hex characters")
        for k in ("created_at_utc", "last_backup_time", "last_full_backup_time"):
            if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", str(m.get(k))):
                P(f"{where}: {k} {m.get(k)!r} is not ISO 8601 UTC (+00:00)")
        ts = n[:15]
        if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", str(m.get("created_at_utc"))):
            c = m["created_at_utc"]
            cts = c[0:4] + c[5:7] + c[8:10] + "-" + c[11:13] + c[14:16] + c[17:19]
            if cts > ts:
                P(f"{where}: created_at_utc {c} is later than the time in the name {ts}")
        if m.get("last_backup_time") != m.get("created_at_utc"):
            P(f"{where}: last_backup_time differs from created_at_utc")
        par = m.get("parent", "missing")
        if full:
            if par is not None:
                P(f"{where}: a full backup's parent must be null, is {par!r}")
            if m.get("incremental_count") != 0:
                P(f"{where}: incremental_count {m.get('incremental_count')!r}, expected 0")
            if m.get("last_full_backup_time") != m.get("created_at_utc"):
                P(f"{where}: last_full_backup_time differs from created_at_utc in a full backup")
        else:
            if not isinstance(par, str) or not re.fullmatch(re.escape(PREFIX + "/") + r"\d{8}-\d{6}[FI]\.meta\.json", par):
                P(f"{where}: parent {par!r} is not '{PREFIX}/<name>.meta.json'")
            else:
                pn = parent_name(m)
                pm = metas.get(pn)
                if pm is None:
                    P(f"{where}: parent {par} does not exist")
                else:
                    if pm.get("chain_id") != m.get("chain_id"):
                        P(f"{where}: chain_id differs from its parent's")
                    if m.get("incremental_count") != pm.get("incremental_count", -5) + 1:
                        P(f"{where}: incremental_count {m.get('incremental_count')} is not parent's + 1")
                    if m.get("last_full_backup_time") != pm.get("last_full_backup_time"):
                        P(f"{where}: last_full_backup_time differs from its parent's")
                    if pn >= n:
                        P(f"{where}: parent {pn} does not sort before it")
        vols = m.get("volumes", [])
        hs = m.get("hfsync") or {}
        vi = hs.get("volume_info", [])
        cat = hashlib.sha256()
        total = 0
        for i, v in enumerate(vols, 1):
            if not re.fullmatch(re.escape(n) + r"\.vol-\d{4,}\.tar\.zst", v) or int(v.split(".vol-")[1].split(".")[0]) != i:
                P(f"{where}: volume {i} is named {v!r}, expected {n}.vol-{i:04d}.tar.zst")
            try:
                data = read(repo, v)
            except OSError as e:
                P(f"{where}: volume {v} missing: {e}")
                continue
            cat.update(hashlib.sha256(data).hexdigest().encode() + b"\n")
            total += len(data)
            if i - 1 < len(vi):
                if vi[i - 1].get("name") != v:
                    P(f"{where}: volume_info[{i - 1}].name {vi[i - 1].get('name')!r} != {v!r}")
                if vi[i - 1].get("size") != len(data):
                    P(f"{where}: volume_info[{i - 1}].size {vi[i - 1].get('size')} != actual {len(data)}")
                if vi[i - 1].get("sha256") != hashlib.sha256(data).hexdigest():
                    P(f"{where}: volume_info[{i - 1}].sha256 does not match {v}")
        if len(vi) != len(vols):
            P(f"{where}: {len(vi)} volume_info entries for {len(vols)} volumes")
        if m.get("checksum") != "sha256:" + cat.hexdigest():
            P(f"{where}: checksum {m.get('checksum')!r} is not sha256 of the volume hash list")
        if m.get("archive_size") != total:
            P(f"{where}: archive_size {m.get('archive_size')} != total volume bytes {total}")
        if m.get("is_split") != (len(vols) > 1):
            P(f"{where}: is_split {m.get('is_split')!r} with {len(vols)} volumes")
        exph = {"format": 1, "name": n, "codec": "zstd", "content_hash": "sha256"}
        for k, v in exph.items():
            if hs.get(k) != v:
                P(f"{where}: hfsync.{k} is {hs.get(k)!r}, expected {v!r}")
        for k in ("tool_version", "compression_level", "sources", "bytes", "changes", "duration_ms"):
            if k not in hs:
                P(f"{where}: hfsync.{k} is missing")
        mi = hs.get("manifest") or {}
        if mi.get("name") != n + ".manifest.zst":
            P(f"{where}: hfsync.manifest.name {mi.get('name')!r}")
        try:
            raw = read(repo, n + ".manifest.zst")
        except OSError as e:
            P(f"{n}.manifest.zst missing: {e}")
            continue
        if mi.get("size") != len(raw):
            P(f"{where}: hfsync.manifest.size {mi.get('size')} != actual {len(raw)}")
        if mi.get("sha256") != hashlib.sha256(raw).hexdigest():
            P(f"{where}: hfsync.manifest.sha256 does not match the object")
        try:
            hdr, ents = load_manifest(repo, n, decode_hex=True)
        except Exception as e:  # noqa: BLE001
            P(f"{n}.manifest.zst: cannot decode as zstd JSON Lines: {e}")
            continue
        manifests[n] = ents
        exph = {"format": "hfsync-manifest", "version": 1, "backup": n,
                "content_hash": "sha256", "entries": len(ents)}
        for k, v in exph.items():
            if hdr.get(k) != v:
                P(f"{n}.manifest.zst: header {k} is {hdr.get(k)!r}, expected {v!r}")
        if mi.get("entries") != len(ents):
            P(f"{where}: hfsync.manifest.entries {mi.get('entries')} != {len(ents)}")
    # manifests and volumes, per backup
    for n, ents in manifests.items():
        m = metas[n]
        where = f"{n}.manifest.zst"
        chain = []
        x = n
        while x is not None and x in metas and x not in chain:
            chain.append(x)
            x = parent_name(metas[x])
        # FORMAT.md §4: by source, then path bytewise, except that each source's root "." comes first.
        keys = [(e.get("source", "").encode(), e.get("path") != ".",
                 e.get("path", "").encode("utf-8", "surrogateescape"))
                for e in ents]
        if keys != sorted(keys):
            P(f"{where}: entries are not sorted by source, then root first, then path (bytewise)")
        if len(set(keys)) != len(keys):
            P(f"{where}: duplicate entries")
        types = {(e["source"], e["path"]): e["type"] for e in ents}
        srcs = sorted({e["source"] for e in ents})
        if srcs != sorted(m.get("hfsync", {}).get("sources", [])):
            P(f"{where}: sources {srcs} differ from meta hfsync.sources {m.get('hfsync', {}).get('sources')}")
        nbad = 0
        mine = []
        nfiles = 0
        for e in ents:
            key = (e["source"], e["path"])
            bad = []
            if not path_ok(e["path"]):
                bad.append("invalid path")
            if e["type"] not in ("file", "dir", "symlink"):
                bad.append(f"type {e['type']!r}")
            if e["path"] != ".":
                par = e["path"].rsplit("/", 1)[0] if "/" in e["path"] else "."
                if types.get((e["source"], par)) != "dir":
                    bad.append(f"parent {par!r} is not a dir entry")
            for k in ("mode", "mtime", "mtime_nsec", "ref"):
                if k not in e:
                    bad.append(f"no {k}")
            if not 0 <= e.get("mtime_nsec", 0) <= 999_999_999:
                bad.append("mtime_nsec out of range")
            if e["type"] == "file":
                for k in ("size", "hash", "volume"):
                    if k not in e:
                        bad.append(f"no {k}")
                if not re.fullmatch(r"[0-9a-f]{64}", str(e.get("hash"))):
                    bad.append(f"hash {e.get('hash')!r} is not 64 lowercase hex")
            if e["type"] == "symlink" and "target" not in e:
                bad.append("no target")
            if e.get("ref") not in chain:
                bad.append(f"ref {e.get('ref')!r} is not in the chain {chain}")
            elif e["type"] == "file":
                rv = metas[e["ref"]].get("volumes", [])
                if not 1 <= e.get("volume", 0) <= len(rv):
                    bad.append(f"volume {e.get('volume')} not in 1..{len(rv)} of {e['ref']}")
            if n.endswith("F") and e.get("ref") != n:
                bad.append(f"ref {e.get('ref')!r} in a full backup")
            if bad:
                nbad += 1
                if nbad <= 10:
                    P(f"{where}: entry {key}: " + ", ".join(bad))
            if e.get("ref") == n:
                mine.append(e)
                if e["type"] == "file":
                    nfiles += 1
        if m.get("file_count") != nfiles:
            P(f"{n}.meta.json: file_count {m.get('file_count')} != {nfiles} files stored in this backup")
        # incremental: unchanged entries keep the parent's ref, changed ones ref this backup
        pn = parent_name(m)
        if pn in manifests:
            pe = {(e["source"], e["path"]): e for e in manifests[pn]}
            attrs = ("type", "size", "mtime", "mtime_nsec", "mode", "target")
            nwrong = 0
            for e in ents:
                p = pe.get((e["source"], e["path"]))
                same = p is not None and all(p.get(a) == e.get(a) for a in attrs)
                if same and e.get("ref") != p.get("ref") and e["type"] == "file":
                    nwrong += 1
                    if nwrong <= 5:
                        P(f"{where}: unchanged file {e['path']!r} refs {e.get('ref')}, parent refs {p.get('ref')}")
                if not same and e.get("ref") != n:
                    nwrong += 1
                    if nwrong <= 5:
                        P(f"{where}: new or changed entry {e['path']!r} refs {e.get('ref')}, expected {n}")
                if same and e["type"] == "file" and e.get("hash") != p.get("hash"):
                    P(f"{where}: unchanged file {e['path']!r} has a different hash than in the parent")
        # volumes: members are exactly the entries that ref this backup, in manifest order
        seen = {}
        order = []
        vols = m.get("volumes", [])
        for i, v in enumerate(vols, 1):
            try:
                members = read_volume(repo, v)
            except Exception as e:  # noqa: BLE001
                P(f"{v}: cannot read as zstd tar: {e}")
                continue
            files_in = 0
            for ti, content in members:
                k = member_key(ti.name)
                if k in seen:
                    P(f"{v}: member {ti.name!r} appears twice")
                seen[k] = (i, ti, content)
                order.append(k)
                files_in += ti.isreg()
            vi = (m.get("hfsync", {}).get("volume_info") or [{}] * len(vols))[i - 1]
            if vi.get("files") != files_in:
                P(f"{n}.meta.json: volume_info[{i - 1}].files {vi.get('files')} != {files_in} file members")
            if vi.get("entries") != len(members):
                P(f"{n}.meta.json: volume_info[{i - 1}].entries {vi.get('entries')} != {len(members)} members")
        want = [(e["source"], e["path"]) for e in mine]
        if set(order) != set(want):
            extra = sorted(set(order) - set(want))[:5]
            missing = sorted(set(want) - set(order))[:5]
            P(f"{n}: volume members != manifest entries with ref {n}: extra {extra}, missing {missing}")
        elif order != want:
            P(f"{n}: volume members are not in manifest order")
        nbad = 0
        for e in mine:
            k = (e["source"], e["path"])
            if k not in seen:
                continue
            vol, ti, content = seen[k]
            bad = []
            tmap = {"file": ti.isreg(), "dir": ti.isdir(), "symlink": ti.issym()}
            if not tmap.get(e["type"], False):
                bad.append(f"member type {ti.type!r} for a {e['type']}")
            if e["type"] == "file":
                if vol != e.get("volume"):
                    bad.append(f"in volume {vol}, manifest says {e.get('volume')}")
                if content is not None:
                    if len(content) != e.get("size"):
                        bad.append(f"size {len(content)} != manifest {e.get('size')}")
                    if content_hash(content) != e.get("hash"):
                        bad.append("content's sha256 differs from the manifest hash")
            if e["type"] == "symlink" and ti.linkname != e.get("target"):
                bad.append(f"link target {ti.linkname!r} != {e.get('target')!r}")
            if (ti.mode & 0o7777) != e.get("mode") and e["type"] != "symlink":
                bad.append(f"member mode {oct(ti.mode)} != manifest {oct(e.get('mode', 0))}")
            if int(ti.mtime) != e.get("mtime"):
                bad.append(f"member mtime {ti.mtime} != manifest {e.get('mtime')}")
            if bad:
                nbad += 1
                if nbad <= 10:
                    P(f"{n}: member {entry_member_name(e)!r}: " + ", ".join(bad))
    # a snapshot of the sources' parent against a manifest
    if snap is not None:
        n = snap_backup or latest_name(repo)
        ents = manifests.get(n)
        s = json.load(open(snap))
        if ents is None:
            P(f"no manifest for {n}")
        else:
            got = {}
            for e in ents:
                k = e["source"] if e["path"] == "." else e["source"] + "/" + e["path"]
                x = {"type": e["type"]}
                if e["type"] != "symlink":
                    x["mode"] = e["mode"]
                    x["mtime_ns"] = e["mtime"] * 1_000_000_000 + e["mtime_nsec"]
                if e["type"] == "file":
                    x["size"] = e["size"]
                if e["type"] == "symlink":
                    x["target"] = e["target"]
                got[k] = x
            want = {}
            for k, v in s.items():
                x = {kk: vv for kk, vv in v.items() if kk != "sha256"}
                want[k] = x
            nd = 0
            for k in sorted(set(got) | set(want)):
                if got.get(k) != want.get(k):
                    nd += 1
                    if nd <= 10:
                        P(f"{n}.manifest.zst vs snapshot: {k!r}: manifest {got.get(k)} / tree {want.get(k)}")
            if nd > 10:
                P(f"... {nd} differences in all")
    return probs


# ---------------------------------------------------------------------------------------------
# fixtures


def pick_volume(repo, last=False):
    lat = latest_name(repo)
    x = lat
    metas = {}
    while x is not None:
        metas[x] = load_meta(repo, x)
        full = x
        x = parent_name(metas[x])
    _, ents = load_manifest(repo, lat)
    used = sorted({e["volume"] for e in ents if e["type"] == "file" and e["ref"] == full})
    vols = metas[full]["volumes"]
    pick = used[-1] if last else (2 if 2 in used else used[0])
    return vols[pick - 1]


def flip(repo, obj):
    p = opath(repo, obj)
    with open(p, "r+b") as f:
        data = bytearray(f.read())
        i = len(data) // 2
        data[i] ^= 0xFF
        f.seek(0)
        f.write(data)


def refresh_meta(repo, name, header, ents, members_by_vol):
    """Write the manifest and volumes, and fix the meta so all sizes and hashes match."""
    meta = load_meta(repo, name)
    header = dict(header, entries=len(ents))
    text = "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in [header] + ents)
    raw = zstd_c(text.encode("utf-8", "surrogatepass"))
    with open(opath(repo, name + ".manifest.zst"), "wb") as f:
        f.write(raw)
    hs = meta["hfsync"]
    hs["manifest"].update(size=len(raw), sha256=hashlib.sha256(raw).hexdigest(), entries=len(ents))
    total = 0
    nfiles = 0
    for i, vname in enumerate(meta["volumes"]):
        if i in members_by_vol:
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
                for ti, content in members_by_vol[i]:
                    tf.addfile(ti, io.BytesIO(content) if content is not None else None)
            data = zstd_c(buf.getvalue())
            with open(opath(repo, vname), "wb") as f:
                f.write(data)
            hs["volume_info"][i].update(
                files=sum(1 for ti, _ in members_by_vol[i] if ti.isreg()),
                entries=len(members_by_vol[i]))
        data = read(repo, vname)
        hs["volume_info"][i].update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
        total += len(data)
        nfiles += hs["volume_info"][i].get("files", 0)
    meta["checksum"] = "sha256:" + checksum_of(hs["volume_info"])
    meta["archive_size"] = total
    meta["file_count"] = sum(1 for e in ents if e.get("type") == "file" and e.get("ref") == name)
    save_meta(repo, name, meta)


def hostile(repo, name, rule, arg):
    header, ents = load_manifest(repo, name)
    meta = load_meta(repo, name)
    assert len(meta["volumes"]) >= 1
    members = read_volume(repo, meta["volumes"][0])
    src = ents[0]["source"]
    now = 1_700_000_000
    up = "../" * 16 + arg.lstrip("/")  # resolves to ARG from any depth below /

    def fentry(path, content, mode=0o644, source=src):
        return {"source": source, "path": path, "type": "file", "mode": mode, "mtime": now,
                "mtime_nsec": 0, "size": len(content), "hash": content_hash(content),
                "ref": name, "volume": 1}

    def fmember(mname, content, mode=0o644, typ=tarfile.REGTYPE, linkname=""):
        ti = tarfile.TarInfo(mname)
        ti.type = typ
        ti.mode = mode
        ti.mtime = now
        ti.size = len(content) if (content is not None and typ == tarfile.REGTYPE) else 0
        ti.linkname = linkname
        return ti, (content if typ == tarfile.REGTYPE else None)

    payload = b"hostile payload\n"
    add_e, add_m = [], []
    if rule == "dotdot":
        add_e.append(fentry(up + "/escape-dotdot", payload))
        add_m.append(fmember(src + "/" + up + "/escape-dotdot", payload))
    elif rule == "dotdot-member-only":
        add_m.append(fmember(src + "/" + up + "/escape-dotdot-member", payload))
    elif rule == "absolute":
        p = arg + "/escape-abs"
        add_e.append(fentry(p, payload))
        add_m.append(fmember(src + "/" + p, payload))
    elif rule == "absolute-member":
        add_m.append(fmember(arg + "/escape-abs-member", payload))
    elif rule == "source-dotdot":
        add_e.append(fentry("escape-source", payload, source=".."))
        add_m.append(fmember("../escape-source", payload))
    elif rule == "symlink-through":
        add_e.append({"source": src, "path": "evil-link", "type": "symlink", "mode": 0o777,
                      "mtime": now, "mtime_nsec": 0, "target": arg + "/symdir-target",
                      "ref": name})
        add_e.append(fentry("evil-link/escape-through-link", payload))
        add_m.append(fmember(src + "/evil-link", None, 0o777, tarfile.SYMTYPE, arg + "/symdir-target"))
        add_m.append(fmember(src + "/evil-link/escape-through-link", payload))
    elif rule == "ctrl-nl":
        add_e.append(fentry("ctrlnl\nzz", payload))
        add_m.append(fmember(src + "/ctrlnl\nzz", payload))
    elif rule == "ctrl-01":
        add_e.append(fentry("ctrl01\x01zz", payload))
        add_m.append(fmember(src + "/ctrl01\x01zz", payload))
    elif rule == "nul":
        # a C reader that stops at the NUL sees "nulname", which the volume also holds
        add_e.append(fentry("nulname\x00zz", payload))
        add_m.append(fmember(src + "/nulname", payload))
    elif rule == "fifo":
        e = fentry("fifo-member", b"")
        e["type"] = "fifo"
        for k in ("size", "hash", "volume"):
            del e[k]
        add_e.append(e)
        add_m.append(fmember(src + "/fifo-member", None, 0o644, tarfile.FIFOTYPE))
    elif rule == "device":
        add_e.append(fentry("dev-member", b""))
        ti, c = fmember(src + "/dev-member", None, 0o666, tarfile.CHRTYPE)
        ti.devmajor, ti.devminor = 1, 3
        add_m.append((ti, c))
    elif rule == "hardlink":
        victim = arg + "/hardlink-victim"
        content = open(victim, "rb").read()
        add_e.append(fentry("hardlink-member", content))
        add_m.append(fmember(src + "/hardlink-member", None, 0o644, tarfile.LNKTYPE, victim))
    elif rule == "extra-member":
        add_m.append(fmember(src + "/extra-not-in-manifest.txt", payload))
    else:
        raise SystemExit(f"unknown rule {rule}")
    ents = ents + add_e
    ents.sort(key=lambda e: (e["source"].encode("utf-8", "surrogatepass"),
                             e["path"].encode("utf-8", "surrogatepass")))
    mems = members + add_m
    order = {(e["source"], e["path"]): i for i, e in enumerate(ents)}

    def mkey(item):
        k = member_key(item[0].name)
        return (order.get(k, -1) if k in order else len(order), item[0].name)

    mems.sort(key=mkey)
    refresh_meta(repo, name, header, ents, {0: mems})
    if rule == "source-dotdot":  # keep the meta's source list consistent with the manifest
        meta = load_meta(repo, name)
        meta["hfsync"]["sources"] = sorted(set(meta["hfsync"].get("sources", [])) | {".."})
        save_meta(repo, name, meta)


def main():
    a = sys.argv[1:]
    if not a:
        print(__doc__)
        return 2
    cmd = a[0]
    if cmd == "latest":
        print(latest_name(a[1]))
    elif cmd == "meta":
        v = load_meta(a[1], a[2])
        for k in a[3].split("."):
            v = v[int(k)] if isinstance(v, list) else v[k]
        print(json.dumps(v) if not isinstance(v, str) else v)
    elif cmd == "check-format":
        snap = None
        bk = None
        if "--snap" in a:
            snap = a[a.index("--snap") + 1]
        if "--backup" in a:
            bk = a[a.index("--backup") + 1]
        probs = check_format(a[1], snap, bk)
        for p in probs:
            print(p)
        return 1 if probs else 0
    elif cmd == "pick-volume":
        print(pick_volume(a[1], "--last" in a))
    elif cmd == "flip":
        flip(a[1], a[2])
    elif cmd == "set-parent":
        m = load_meta(a[1], a[2])
        m["parent"] = None if a[3] == "null" else a[3]
        save_meta(a[1], a[2], m)
    elif cmd == "hostile":
        hostile(a[1], a[2], a[3], a[4])
    elif cmd == "swap-entries":
        header, ents = load_manifest(a[1], a[2])
        ents[-2], ents[-1] = ents[-1], ents[-2]
        refresh_meta(a[1], a[2], header, ents, {})
    else:
        print(f"unknown command {cmd}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
