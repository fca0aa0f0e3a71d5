"""Repo-level endpoints: whoami, create, delete, info, settings, refs, commit history
(reference sections 2 and 11.2 A)."""

import base64
import re
from urllib.parse import urlencode

from flask import request

from . import web as A
from .errors import HubError, bad_request
from .gitattr import check_path, lfs_pointer
from .store import REPO_TYPES, URL_PREFIX

NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?")


def _check_name(kind, value):
    if not isinstance(value, str) or not NAME_RE.fullmatch(value) or "--" in value or ".." in value \
            or value.endswith(".git"):
        raise bad_request(
            f"invalid {kind} {value!r}: use letters, digits, '-', '_' and '.', "
            "start and end with a letter or digit, at most 96 characters, no '--' or '..'"
        )


def whoami(ctx):
    p = ctx.principal
    if p is None:
        raise HubError(401, "You must be authenticated to call whoami")
    return A.json_response({
        "type": "user",
        "id": "emu-" + p.user,
        "name": p.user,
        "fullname": p.user,
        "email": f"{p.user}@users.emulator.invalid",
        "emailVerified": True,
        "isPro": False,
        "canPay": False,
        "avatarUrl": "",
        "periodEnd": None,
        "billingMode": "prepaid",
        "orgs": [
            {"type": "org", "id": "emu-org-" + o, "name": o, "fullname": o, "email": None,
             "canPay": False, "avatarUrl": "", "periodEnd": None, "roleInOrg": "write"}
            for o in p.orgs
        ],
        "auth": {
            "type": "access_token",
            "accessToken": {
                "displayName": "emulator token",
                "role": "write" if p.write else "read",
                "createdAt": "2026-01-01T00:00:00.000Z",
            },
        },
    })


def _repo_target(body, principal):
    """(type, namespace, name) from a create/delete body {name, organization, type}."""
    repo_type = body.get("type") or "model"
    if repo_type not in REPO_TYPES:
        raise bad_request(f"invalid repo type {repo_type!r}: expected one of {list(REPO_TYPES)}")
    name = body.get("name")
    org = body.get("organization")
    if isinstance(name, str) and "/" in name and not org:
        org, name = name.split("/", 1)
    if not org:
        if principal is None:
            raise HubError(401, "You must be authenticated to create or delete a repo")
        org = principal.user
    _check_name("namespace", org)
    _check_name("repo name", name)
    return repo_type, org, name


def create(ctx):
    p = ctx.principal
    body = ctx.json_body()
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    repo_type, ns, name = _repo_target(body, p)
    ctx.emu.auth.check_create(ns, repo_type, p)
    visibility = body.get("visibility")
    if visibility is not None:
        if visibility not in ("public", "private", "protected"):
            raise bad_request(f"invalid visibility {visibility!r}: expected public, private or protected")
        private = visibility == "private"
    elif body.get("private") is not None:
        private = bool(body.get("private"))
    else:
        private = ctx.emu.cfg.private_default
    files = []
    for f in body.get("files") or []:
        if not isinstance(f, dict) or not isinstance(f.get("path"), str) or not isinstance(f.get("content"), str):
            raise bad_request("each of 'files' must be {path, content, encoding}")
        problem = check_path(f["path"])
        if problem:
            raise bad_request(f"files: {problem}")
        if f.get("encoding", "utf-8") == "base64":
            try:
                files.append((f["path"], base64.b64decode(f["content"], validate=True)))
            except ValueError:
                raise bad_request(f"files: '{f['path']}' is not valid base64")
        else:
            files.append((f["path"], f["content"].encode()))
    url = f"{ctx.base}/{URL_PREFIX[repo_type]}{ns}/{name}"
    try:
        repo = ctx.emu.store.create_repo(repo_type, ns, name, private, p.user, files, body.get("license"))
    except HubError as e:
        if e.status == 409:
            e.body = {"error": e.message, "url": url}
        raise
    return A.json_response({"url": url, "name": repo.full_name, "id": repo.id})


def delete(ctx):
    _ = ctx.principal
    body = ctx.json_body()
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    repo_type, ns, name = _repo_target(body, ctx.principal)
    repo = ctx.emu.store.get_repo(repo_type, ns, name)
    ctx.emu.auth.check_write(repo, ctx.principal)
    ctx.emu.store.delete_repo(repo)
    return A.json_response({})


def info(ctx):
    store = ctx.emu.store
    p = ctx.principal
    repo = ctx.repo()
    ctx.emu.auth.check_read(repo, p)
    rev = ctx.groups.get("rev") or "main"
    commit = store.resolve(repo, "main" if rev == "HEAD" else rev)
    blobs = request.args.get("blobs", "").lower() in ("1", "true")
    siblings = []
    for path in sorted(commit["tree"]):
        e = commit["tree"][path]
        s = {"rfilename": path}
        if blobs:
            s["size"] = e["size"]
            s["blobId"] = e["blob"]
            if e["lfs"]:
                s["lfs"] = {"sha256": e["sha256"], "size": e["size"],
                            "pointerSize": len(lfs_pointer(e["sha256"], e["size"]))}
        siblings.append(s)
    doc = {
        "_id": repo.id,
        "id": repo.full_name,
        "author": repo.namespace,
        "sha": commit["id"],
        "private": repo.private,
        "gated": False,
        "disabled": False,
        "lastModified": repo.last_modified,
        "createdAt": repo.created_at,
        "usedStorage": store.repo_used_storage(repo),
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "siblings": siblings,
    }
    if repo.type == "model":
        doc["modelId"] = repo.full_name
    return A.json_response(doc)


def settings(ctx):
    repo = ctx.repo()
    ctx.emu.auth.check_write(repo, ctx.principal)
    body = ctx.json_body()
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    if body.get("visibility") is not None:
        if body["visibility"] not in ("public", "private", "protected"):
            raise bad_request(f"invalid visibility {body['visibility']!r}")
        repo.private = body["visibility"] == "private"
    elif body.get("private") is not None:
        repo.private = bool(body["private"])
    ctx.emu.store.save_repo(repo)
    return A.json_response({"private": repo.private})


def refs(ctx):
    repo = ctx.repo()
    ctx.emu.auth.check_read(repo, ctx.principal)
    return A.json_response({
        "branches": [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": c} for b, c in sorted(repo.refs.items())],
        "tags": [],
        "converts": [],
    })


def commits(ctx):
    """GET .../commits/{rev}?limit=N&p=PAGE, newest first; X-Total-Count; Link rel="next"."""
    store = ctx.emu.store
    repo = ctx.repo()
    ctx.emu.auth.check_read(repo, ctx.principal)
    commit = store.resolve(repo, ctx.groups["rev"])
    history = store.history(repo, commit)
    try:
        limit = int(request.args.get("limit", "50"))
        page = int(request.args.get("p", "0"))
    except ValueError:
        raise bad_request("'limit' and 'p' must be integers")
    if not (1 <= limit <= 1000) or page < 0:
        raise bad_request("'limit' must be in 1..1000 and 'p' >= 0")
    items = history[page * limit:(page + 1) * limit]
    out = [{
        "id": c["id"],
        "title": c["title"],
        "message": c["message"],
        "authors": [{"user": c["author"], "avatar": ""}],
        "date": c["date"],
    } for c in items]
    headers = {"X-Total-Count": str(len(history))}
    if (page + 1) * limit < len(history):
        args = dict(request.args)
        args.update({"limit": str(limit), "p": str(page + 1)})
        headers["Link"] = f'<{ctx.base}{ctx.raw_path}?{urlencode(args)}>; rel="next"'
    return A.json_response(out, headers=headers)
