"""Writing: preupload, the NDJSON commit, super-squash (reference sections 4, 6, 8.2)."""

import base64
import binascii
import json

from flask import request

from . import web as W
from .errors import HubError, bad_request
from .gitattr import LfsRules, check_path

PREUPLOAD_MAX_FILES = 256  # huggingface_hub documents this as the server's limit


def _branch_repo(ctx):
    repo = ctx.repo()
    ctx.emu.auth.check_write(repo, ctx.principal)
    if request.args.get("create_pr", "").lower() in ("1", "true"):
        raise bad_request("create_pr is not supported by the emulator: commit to a branch")
    return repo


def preupload(ctx):
    """uploadMode per file: 'regular' for empty files; 'lfs' when .gitattributes (the one sent
    as gitAttributes, else the revision's) says filter=lfs, when the size is over
    --regular-max-size, or when the 512-byte sample holds a NUL byte (binary); else 'regular'."""
    store = ctx.emu.store
    repo = _branch_repo(ctx)
    body = ctx.json_body()
    if not isinstance(body, dict) or not isinstance(body.get("files"), list):
        raise bad_request("body must be {\"files\": [{path, size, sample}]}")
    files = body["files"]
    if len(files) > PREUPLOAD_MAX_FILES:
        raise bad_request(f"too many files in one preupload call ({len(files)}, at most {PREUPLOAD_MAX_FILES})")
    commit = store.resolve(repo, ctx.groups["rev"])
    tree = commit["tree"]
    ga = body.get("gitAttributes")
    if not isinstance(ga, str):
        e = tree.get(".gitattributes")
        ga = store.read_object(e["sha256"]).decode("utf-8", "replace") if e else ""
    rules = LfsRules(ga)
    regular_max = ctx.emu.cfg.regular_max_size
    out = []
    for f in files:
        if not isinstance(f, dict):
            raise bad_request("each file must be {path, size, sample}")
        path, size = f.get("path"), f.get("size")
        problem = check_path(path)
        if problem:
            raise bad_request(problem)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise bad_request(f"'{path}': size must be a non-negative integer")
        try:
            sample = base64.b64decode(f.get("sample") or "", validate=True)
        except (ValueError, binascii.Error):
            raise bad_request(f"'{path}': sample is not valid base64")
        if size == 0:
            mode = "regular"
        elif rules.is_lfs(path) or size > regular_max or b"\0" in sample:
            mode = "lfs"
        else:
            mode = "regular"
        entry = {"path": path, "uploadMode": mode, "shouldIgnore": False}
        existing = tree.get(path)
        if existing:
            entry["oid"] = existing["sha256"] if existing["lfs"] else existing["blob"]
        out.append(entry)
    return W.json_response({"files": out, "commitOid": commit["id"]})


def parse_ndjson(raw):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("commit body is not UTF-8")
    lines = []
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise bad_request(f"commit line {n} is not valid JSON: {e}")
        if not isinstance(obj, dict) or "key" not in obj or "value" not in obj:
            raise bad_request(f"commit line {n} must be {{\"key\": ..., \"value\": ...}}")
        lines.append((obj["key"], obj["value"]))
    return lines


def commit(ctx):
    """NDJSON lines {"key","value"}: header first ({summary, description?, parentCommit?}), then
    file / lfsFile / deletedFile / deletedFolder. A parentCommit that is not the branch head
    gets 412."""
    store = ctx.emu.store
    repo = _branch_repo(ctx)
    lines = parse_ndjson(request.get_data())
    if not lines or lines[0][0] != "header":
        raise bad_request("the first commit line must have the key 'header'")
    header = lines[0][1]
    if not isinstance(header, dict):
        raise bad_request("the header value must be an object")
    summary = header.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        raise bad_request("the commit header needs a non-empty 'summary'")
    description = header.get("description") or ""
    if not isinstance(description, str):
        raise bad_request("'description' must be a string")
    parent = header.get("parentCommit")
    if parent is not None and not isinstance(parent, str):
        raise bad_request("'parentCommit' must be a commit id string")
    ops = lines[1:]
    if not ops:
        raise bad_request("Add a line with the key `lfsFile`, `file` or `deletedFile`")
    if any(k == "header" for k, _ in ops):
        raise bad_request("only the first line may be a header")
    c = store.apply_commit(repo, ctx.groups["rev"], summary, description, parent, ops,
                           ctx.principal.user, ctx.emu.cfg.regular_max_size)
    ctx.emu.stats.commit(repo.display)
    return W.json_response({
        "success": True,
        "commitOid": c["id"],
        "commitUrl": f"{ctx.base}/{repo.display}/commit/{c['id']}",
        "hookOutput": "",
    })


def super_squash(ctx):
    """POST .../super-squash/{branch} {"message"?}: the branch becomes one commit with the head's
    files; the old commits, and the objects only they used, are deleted."""
    store = ctx.emu.store
    repo = ctx.repo()
    ctx.emu.auth.check_write(repo, ctx.principal)
    body = ctx.json_body(required=False)
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object {\"message\": ...}")
    branch = ctx.groups["rev"]
    if branch not in repo.refs:
        store.resolve(repo, branch)  # 404 RevisionNotFound when it is nothing at all
        raise HubError(400, f"'{branch}' is not a branch: super-squash works on branches only")
    message = body.get("message") or f"Super-squash branch '{branch}'"
    if not isinstance(message, str):
        raise bad_request("'message' must be a string")
    c = store.squash(repo, branch, message, ctx.principal.user)
    ctx.emu.stats.squash()
    return W.json_response({"success": True, "commitOid": c["id"]})
