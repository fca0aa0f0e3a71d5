"""Reading files (tree listing, paths-info, resolve, raw) and the LFS endpoints
(reference sections 3, 5, 7 and 11.2 C-F, H-K)."""

import base64
import hashlib
import json
import mimetypes
import os
import re
from urllib.parse import parse_qs, urlencode

from flask import Response, request

from . import web as W
from .errors import HubError, bad_request, entry_not_found
from .gitattr import lfs_pointer

READ_CHUNK = 1 << 20


# ---- tree entries


def file_entry(store, repo, path, e, expand):
    out = {"type": "file", "oid": e["blob"], "size": e["size"], "path": path}
    if e["lfs"]:
        out["lfs"] = {"oid": e["sha256"], "size": e["size"], "pointerSize": len(lfs_pointer(e["sha256"], e["size"]))}
    if expand:
        out["lastCommit"] = _last_commit(store, repo, e.get("last"))
        out["securityFileStatus"] = {"status": "unscanned", "avScan": {"virusFound": False}, "pickleImportScan": None}
    return out


def _last_commit(store, repo, cid):
    if not cid:
        return None
    try:
        c = store.get_commit(repo, cid)
    except FileNotFoundError:  # squashed away
        return None
    return {"id": c["id"], "title": c["title"], "date": c["date"]}


def _dir_infos(tree, base):
    """{dir path: (tree oid, newest 'last' commit id)} for every folder under base ('' = root).
    The oid is a sha1 over the sorted contents, standing in for git's tree id."""
    prefix = base + "/" if base else ""
    hashers, last = {}, {}
    for p in sorted(tree):
        if not p.startswith(prefix):
            continue
        parts = p.split("/")
        for i in range(len(base.split("/")) if base else 0, len(parts) - 1):
            d = "/".join(parts[: i + 1])
            h = hashers.setdefault(d, hashlib.sha1())
            h.update(f"{p}\0{tree[p]['blob']}\n".encode())
            last.setdefault(d, []).append(tree[p].get("last"))
    return {d: (h.hexdigest(), last[d]) for d, h in hashers.items()}


def dir_entry(store, repo, path, info, expand):
    oid, lasts = info
    out = {"type": "directory", "oid": oid, "size": 0, "path": path}
    if expand:
        commits = [c for c in (_last_commit(store, repo, cid) for cid in set(lasts)) if c]
        out["lastCommit"] = max(commits, key=lambda c: c["date"]) if commits else None
    return out


def list_entries(store, repo, commit, base, recursive, expand):
    tree = commit["tree"]
    prefix = base + "/" if base else ""
    under = sorted(p for p in tree if p.startswith(prefix))
    if base and not under:
        if base in tree:
            raise HubError(404, f"'{base}' is a file, not a folder", code="EntryNotFound")
        raise entry_not_found(base)
    dirs = _dir_infos(tree, base)
    if recursive:
        paths = sorted(set(under) | set(dirs))
        return [dir_entry(store, repo, p, dirs[p], expand) if p in dirs else file_entry(store, repo, p, tree[p], expand)
                for p in paths]
    children_dirs = sorted(d for d in dirs if "/" not in d[len(prefix):])
    children_files = [p for p in under if "/" not in p[len(prefix):]]
    return [dir_entry(store, repo, d, dirs[d], expand) for d in children_dirs] + \
        [file_entry(store, repo, p, tree[p], expand) for p in children_files]


def _flag(name):
    v = request.args.get(name, "false")
    if v.lower() in ("1", "true"):
        return True
    if v.lower() in ("0", "false", ""):
        return False
    raise bad_request(f"'{name}' must be true/false/1/0, got {v!r}")


def tree(ctx):
    """GET /api/{type}s/{repo}/tree/{rev}[/{path}]?recursive=&expand=[&cursor=]

    Pages hold --page-size entries (at most 50 with expand). The cursor pins the commit of the
    first page, so a commit between pages does not shuffle the listing."""
    store = ctx.emu.store
    repo = ctx.repo()
    ctx.emu.auth.check_read(repo, ctx.principal)
    rev, path = W.split_rev_path(ctx.raw_groups["rest"])
    path = path.strip("/")
    recursive, expand = _flag("recursive"), _flag("expand")
    cursor = request.args.get("cursor")
    offset = 0
    if cursor:
        try:
            cid, offset = json.loads(base64.urlsafe_b64decode(cursor.encode()))
            commit = store.get_commit(repo, cid)
        except (ValueError, TypeError, FileNotFoundError):
            raise bad_request("invalid or expired cursor")
    else:
        commit = store.resolve(repo, rev)
    entries = list_entries(store, repo, commit, path, recursive, expand)
    size = ctx.emu.cfg.page_size
    if expand:
        size = min(size, 50)
    page = entries[offset:offset + size]
    headers = {}
    if offset + size < len(entries):
        args = {k: v for k, v in request.args.items() if k != "cursor"}
        args["cursor"] = base64.urlsafe_b64encode(json.dumps([commit["id"], offset + size]).encode()).decode()
        headers["Link"] = f'<{ctx.base}{ctx.raw_path}?{urlencode(args)}>; rel="next"'
    return W.json_response(page, headers=headers)


def paths_info(ctx):
    """POST /api/{type}s/{repo}/paths-info/{rev}: JSON {paths, expand} (JS) or a form
    paths=a&paths=b&expand=false (PY). Missing paths are left out."""
    store = ctx.emu.store
    repo = ctx.repo()
    ctx.emu.auth.check_read(repo, ctx.principal)
    ctype = request.headers.get("Content-Type", "")
    raw = request.get_data()
    if "application/x-www-form-urlencoded" in ctype:
        form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        paths = form.get("paths", [])
        expand = (form.get("expand", ["false"])[0].lower() in ("1", "true"))
    else:
        try:
            body = json.loads(raw or b"{}")
        except ValueError as e:
            raise bad_request(f"body is not valid JSON: {e}")
        if not isinstance(body, dict):
            raise bad_request("body must be a JSON object {paths, expand}")
        paths = body.get("paths", [])
        expand = bool(body.get("expand"))
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise bad_request("'paths' must be an array of strings")
    if len(paths) > 1000:
        raise HubError(413, f"too many paths in one request ({len(paths)}, at most 1000)")
    commit = store.resolve(repo, ctx.groups["rev"])
    tree = commit["tree"]
    out = []
    seen = set()
    dirs = None
    for p in paths:
        p = p.strip("/")
        if p in seen:
            continue
        seen.add(p)
        if p in tree:
            out.append(file_entry(store, repo, p, tree[p], expand))
        elif p and any(q.startswith(p + "/") for q in tree):
            if dirs is None:
                dirs = _dir_infos(tree, "")
            out.append(dir_entry(store, repo, p, dirs[p], expand))
    return W.json_response(out)


# ---- downloads


class Unsatisfiable(Exception):
    pass


def parse_range(header, size):
    """(start, end) inclusive for a single 'bytes=' range; None to serve the whole body (no
    header, or one we do not handle such as several ranges); Unsatisfiable for a start past the end."""
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None
    a, b = m.groups()
    if a == "":
        n = int(b)
        if n == 0:
            raise Unsatisfiable()
        return max(0, size - n), size - 1
    start = int(a)
    end = int(b) if b else size - 1
    if end < start:
        return None
    if start >= size:
        raise Unsatisfiable()
    return start, min(end, size - 1)


def _file_chunks(path, start, length):
    with open(path, "rb") as f:
        f.seek(start)
        left = length
        while left > 0:
            chunk = f.read(min(READ_CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk


def send_content(size, etag, headers, content_type, file_path=None, data=None):
    """200 or 206 (Range) with ETag and Accept-Ranges; 416 for a range past the end. An empty
    file asked for bytes=0-0 gets 200 with 'Content-Range: bytes */0' (reference 11.2 J)."""
    headers = dict(headers, ETag=etag)
    headers["Accept-Ranges"] = "bytes"
    try:
        rng = parse_range(request.headers.get("Range"), size)
    except Unsatisfiable:
        if size == 0:
            headers["Content-Range"] = "bytes */0"
            headers["Content-Length"] = "0"
            return Response(b"", 200, headers=headers, content_type=content_type)
        headers["Content-Range"] = f"bytes */{size}"
        return W.json_response({"error": "Requested Range Not Satisfiable"}, 416, headers)
    status = 200
    start, length = 0, size
    if rng is not None:
        start, end = rng
        length = end - start + 1
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(length)
    if data is not None:
        body = [data[start:start + length]]
    else:
        body = _file_chunks(file_path, start, length)
    return Response(body, status, headers=headers, content_type=content_type, direct_passthrough=True)


def _content_type(path):
    t, _ = mimetypes.guess_type(path)
    if t is None:
        return "application/octet-stream"
    return t + ("; charset=utf-8" if t.startswith("text/") else "")


def _serve_repo_file(ctx, raw_mode):
    store = ctx.emu.store
    repo = ctx.repo()
    ctx.emu.auth.check_read(repo, ctx.principal)
    rev, path = W.split_rev_path(ctx.raw_groups["rest"])
    commit = store.resolve(repo, rev)
    e = commit["tree"].get(path)
    if e is None:
        raise entry_not_found(path)
    headers = {"X-Repo-Commit": commit["id"]}
    if e["lfs"] and raw_mode:
        pointer = lfs_pointer(e["sha256"], e["size"])
        return send_content(len(pointer), f'"{e["blob"]}"', headers, "text/plain; charset=utf-8", data=pointer)
    if e["lfs"]:
        # LFS content lives on "the CDN": redirect, with the metadata on the redirect itself
        headers.update({
            "Location": ctx.emu.lfs.object_url(ctx.base, e["sha256"]),
            "ETag": f'"{e["blob"]}"',
            "X-Linked-ETag": f'"{e["sha256"]}"',
            "X-Linked-Size": str(e["size"]),
            "Accept-Ranges": "bytes",
        })
        return Response(b"", 302, headers=headers)
    return send_content(e["size"], f'"{e["blob"]}"', headers, _content_type(path),
                        file_path=store.object_path(e["sha256"]))


def resolve(ctx):
    return _serve_repo_file(ctx, raw_mode=False)


def raw(ctx):
    return _serve_repo_file(ctx, raw_mode=True)


def lfs_object(ctx):
    sha = ctx.groups["sha"]
    lfs = ctx.emu.lfs
    lfs.check_object_url(sha, request.args.get("exp"), request.args.get("sig"))
    path = ctx.emu.store.object_path(sha)
    return send_content(os.path.getsize(path), f'"{sha}"', {}, "application/octet-stream", file_path=path)


# ---- LFS uploads


def lfs_batch(ctx):
    repo = ctx.repo()
    _ = ctx.principal  # a bad token is a 401 before anything else
    body = ctx.json_body()
    if isinstance(body, dict) and body.get("operation") == "download":
        ctx.emu.auth.check_read(repo, ctx.principal)
    else:
        ctx.emu.auth.check_write(repo, ctx.principal)
    out = ctx.emu.lfs.batch(repo, body, ctx.base)
    return W.json_response(out, mimetype="application/vnd.git-lfs+json")


def lfs_verify(ctx):
    repo = ctx.repo()
    ctx.emu.auth.check_write(repo, ctx.principal)
    return W.json_response(ctx.emu.lfs.verify(repo, ctx.json_body()), mimetype="application/vnd.git-lfs+json")


def lfs_upload(ctx):
    etag = ctx.emu.lfs.put_basic(ctx.groups["uid"], request.stream)
    return Response(b"", 200, headers={"ETag": etag})


def lfs_part(ctx):
    etag = ctx.emu.lfs.put_part(ctx.groups["uid"], int(ctx.groups["n"]), request.stream)
    return Response(b"", 200, headers={"ETag": etag})


def lfs_complete(ctx):
    return W.json_response(ctx.emu.lfs.complete(ctx.groups["uid"], ctx.json_body()))
