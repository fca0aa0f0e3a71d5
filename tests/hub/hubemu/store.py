"""On-disk state of the emulator: content-addressed objects, repos, commits with full trees.

Layout under the data directory (every JSON file is replaced atomically):
  objects/ab/cd/<sha256>       file contents, regular and LFS alike, named by their sha256
  repos/<type>/<ns>/<name>/repo.json        metadata, branch refs, LFS objects uploaded but
                                            not yet committed ("pending")
  repos/<type>/<ns>/<name>/commits/<id>.json  one commit: parent, title, message, author, date,
                                            and the whole tree {path: entry}
  uploads/<id>/                LFS upload sessions (see lfs.py)
  tmp/                         staging for atomic writes

A tree entry is {"sha256", "size", "lfs": bool, "blob": git blob sha1 of the content (of the
LFS pointer for LFS files), "last": id of the commit that last changed the path}.

History is real: a commit points at its parent, refs point at commits. Storage accounting counts
every object referenced by a commit reachable from a ref, plus pending uploads; super-squash
drops the old commits and gc() deletes the objects nothing references any more.

All public methods take the store lock; callers never touch the dicts without it.
"""

import base64
import datetime
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import threading

from .errors import HubError, bad_request, entry_not_found, revision_not_found
from .gitattr import LfsRules, check_path, default_gitattributes, escape_pattern, git_blob_sha1, lfs_pointer

REPO_TYPES = ("model", "dataset", "space")
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
STALE_PARENT_MESSAGE = "The branch was updated since you opened this page. Please refresh and try again."


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def is_sha256(s):
    return isinstance(s, str) and len(s) == 64 and all(c in "0123456789abcdef" for c in s)


def write_json_atomic(path, obj, tmp_dir):
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="json.")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    os.replace(tmp, path)


class Repo:
    def __init__(self, meta, path):
        self.type = meta["type"]
        self.namespace = meta["namespace"]
        self.name = meta["name"]
        self.private = bool(meta["private"])
        self.id = meta["id"]
        self.created_at = meta["created_at"]
        self.last_modified = meta.get("last_modified", self.created_at)
        self.refs = dict(meta["refs"])
        self.pending = dict(meta.get("pending", {}))
        self.path = path
        self._objects_cache = None  # (refs snapshot, {sha: size} referenced by history)

    @property
    def full_name(self):
        return f"{self.namespace}/{self.name}"

    @property
    def display(self):
        """'datasets/ns/name', 'spaces/ns/name' or 'ns/name' (models), as in Hub URLs."""
        return URL_PREFIX[self.type] + self.full_name

    def meta(self):
        return {
            "type": self.type,
            "namespace": self.namespace,
            "name": self.name,
            "private": self.private,
            "id": self.id,
            "created_at": self.created_at,
            "last_modified": self.last_modified,
            "refs": self.refs,
            "pending": self.pending,
        }


def repo_key(repo_type, namespace, name):
    # Repo ids are case-insensitive on the Hub.
    return f"{repo_type}/{namespace.lower()}/{name.lower()}"


class Store:
    def __init__(self, data_dir):
        self.root = os.path.abspath(data_dir)
        self.lock = threading.RLock()
        self.objects_dir = os.path.join(self.root, "objects")
        self.repos_dir = os.path.join(self.root, "repos")
        self.uploads_dir = os.path.join(self.root, "uploads")
        self.tmp_dir = os.path.join(self.root, "tmp")
        for d in (self.objects_dir, self.repos_dir, self.uploads_dir, self.tmp_dir):
            os.makedirs(d, exist_ok=True)
        self.repos = {}
        self._commits = {}  # (repo key, commit id) -> commit dict
        self._load()

    def _load(self):
        for repo_type in os.listdir(self.repos_dir):
            tdir = os.path.join(self.repos_dir, repo_type)
            for ns in os.listdir(tdir):
                for name in os.listdir(os.path.join(tdir, ns)):
                    path = os.path.join(tdir, ns, name)
                    meta_path = os.path.join(path, "repo.json")
                    if not os.path.isfile(meta_path):
                        continue
                    with open(meta_path) as f:
                        repo = Repo(json.load(f), path)
                    self.repos[repo_key(repo.type, repo.namespace, repo.name)] = repo

    # ---- objects

    def object_path(self, sha):
        return os.path.join(self.objects_dir, sha[:2], sha[2:4], sha)

    def has_object(self, sha):
        return is_sha256(sha) and os.path.isfile(self.object_path(sha))

    def new_tmp_path(self, prefix="obj."):
        fd, tmp = tempfile.mkstemp(dir=self.tmp_dir, prefix=prefix)
        os.close(fd)
        return tmp

    def _adopt(self, tmp_path, sha):
        dest = self.object_path(sha)
        if os.path.isfile(dest):
            os.unlink(tmp_path)
            return
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.replace(tmp_path, dest)

    def _store_bytes(self, data):
        sha = hashlib.sha256(data).hexdigest()
        if not os.path.isfile(self.object_path(sha)):
            tmp = self.new_tmp_path()
            with open(tmp, "wb") as f:
                f.write(data)
            self._adopt(tmp, sha)
        return sha

    def read_object(self, sha):
        with open(self.object_path(sha), "rb") as f:
            return f.read()

    def finish_upload(self, repo, tmp_path, sha, size):
        """An LFS upload whose content was checked: keep the object, and remember that this repo
        may now commit it."""
        with self.lock:
            self._adopt(tmp_path, sha)
            if sha not in self._referenced(repo) and sha not in repo.pending:
                repo.pending[sha] = size
                self._save_repo(repo)

    def repo_has_object(self, repo, sha):
        """Uploaded to this repo (pending) or referenced by its history, and still on disk."""
        with self.lock:
            return self._repo_size(repo, sha) is not None and self.has_object(sha)

    def repo_object_size(self, repo, sha):
        with self.lock:
            return self._repo_size(repo, sha)

    # ---- repos

    def get_repo(self, repo_type, namespace, name):
        with self.lock:
            return self.repos.get(repo_key(repo_type, namespace, name))

    def _save_repo(self, repo):
        write_json_atomic(os.path.join(repo.path, "repo.json"), repo.meta(), self.tmp_dir)

    def save_repo(self, repo):
        with self.lock:
            self._save_repo(repo)

    def create_repo(self, repo_type, namespace, name, private, author, files=(), license_id=None):
        """files: [(path, bytes)] added to the initial commit, as the Hub does for createRepo's
        `files` and `license`. Raises HubError 409 when the repo exists."""
        with self.lock:
            key = repo_key(repo_type, namespace, name)
            if key in self.repos:
                raise HubError(409, f"You already created this {repo_type} repo", body=None)
            path = os.path.join(self.repos_dir, repo_type, namespace.lower(), name.lower())
            os.makedirs(os.path.join(path, "commits"), exist_ok=True)
            created = now_iso()
            repo = Repo(
                {
                    "type": repo_type,
                    "namespace": namespace,
                    "name": name,
                    "private": private,
                    "id": secrets.token_hex(12),
                    "created_at": created,
                    "refs": {},
                },
                path,
            )
            contents = [(".gitattributes", default_gitattributes(repo_type))]
            if license_id:
                contents.append(("README.md", f"---\nlicense: {license_id}\n---\n".encode()))
            contents.extend(files)
            tree = {}
            for p, data in contents:
                tree[p] = self._regular_entry(data)
            commit = self._new_commit(repo, None, "initial commit", "", author, tree, set(tree))
            repo.refs["main"] = commit["id"]
            self._save_repo(repo)
            self.repos[key] = repo
            return repo

    def delete_repo(self, repo):
        with self.lock:
            self.repos.pop(repo_key(repo.type, repo.namespace, repo.name), None)
            for k in [k for k in self._commits if k[0] == repo.path]:
                del self._commits[k]
            shutil.rmtree(repo.path, ignore_errors=True)
            self._gc_objects()

    # ---- commits

    def get_commit(self, repo, cid):
        with self.lock:
            key = (repo.path, cid)
            c = self._commits.get(key)
            if c is None:
                with open(os.path.join(repo.path, "commits", cid + ".json")) as f:
                    c = json.load(f)
                self._commits[key] = c
            return c

    def resolve(self, repo, rev):
        """A branch name, or a full or abbreviated (>= 7 hex) commit id of this repo."""
        with self.lock:
            if rev in repo.refs:
                return self.get_commit(repo, repo.refs[rev])
            if rev.startswith("refs/heads/") and rev[len("refs/heads/"):] in repo.refs:
                return self.get_commit(repo, repo.refs[rev[len("refs/heads/"):]])
            low = rev.lower()
            if 7 <= len(low) <= 40 and all(c in "0123456789abcdef" for c in low):
                for cid in os.listdir(os.path.join(repo.path, "commits")):
                    if cid.startswith(low):
                        return self.get_commit(repo, cid[: -len(".json")])
            raise revision_not_found(rev)

    def history(self, repo, commit):
        with self.lock:
            out = []
            while commit is not None:
                out.append(commit)
                commit = self.get_commit(repo, commit["parent"]) if commit["parent"] else None
            return out

    def _regular_entry(self, data):
        return {"sha256": self._store_bytes(data), "size": len(data), "lfs": False, "blob": git_blob_sha1(data)}

    def _new_commit(self, repo, parent, title, message, author, tree, changed):
        date = now_iso()
        digest = hashlib.sha256()
        for p in sorted(tree):
            e = tree[p]
            digest.update(f"{p}\0{e['sha256']}\0{int(e['lfs'])}\n".encode())
        seed = json.dumps([parent, title, message, author, date, digest.hexdigest(), secrets.token_hex(8)])
        cid = hashlib.sha1(seed.encode()).hexdigest()
        for p in changed:
            if p in tree:
                tree[p] = dict(tree[p], last=cid)
        commit = {
            "id": cid,
            "parent": parent,
            "title": title,
            "message": message,
            "author": author,
            "date": date,
            "tree": tree,
        }
        write_json_atomic(os.path.join(repo.path, "commits", cid + ".json"), commit, self.tmp_dir)
        self._commits[(repo.path, cid)] = commit
        repo.last_modified = date
        return commit

    def apply_commit(self, repo, branch, summary, description, parent_commit, ops, author, regular_max):
        """ops: parsed NDJSON lines [(key, value)]. Validates everything before writing anything.
        Raises HubError: 404 RevisionNotFound (branch), 412 (stale parentCommit), 404 EntryNotFound
        (deleting a missing path), 400 (malformed operation, unknown LFS object, oversized file)."""
        with self.lock:
            if branch not in repo.refs:
                raise revision_not_found(branch)
            head_id = repo.refs[branch]
            if parent_commit is not None:
                p = str(parent_commit).lower()
                if len(p) < 7 or not head_id.startswith(p):
                    raise HubError(412, STALE_PARENT_MESSAGE)
            head = self.get_commit(repo, head_id)
            tree = dict(head["tree"])
            changed = set()
            new_regular = {}  # path -> bytes, written once everything is valid
            lfs_paths = []
            for key, value in ops:
                if not isinstance(value, dict):
                    raise bad_request(f"line '{key}': value must be an object")
                path = value.get("path")
                if key == "deletedFolder" and isinstance(path, str):
                    path = path.rstrip("/")
                problem = check_path(path)
                if problem:
                    raise bad_request(f"line '{key}': {problem}")
                old = value.get("oldPath")
                if old is not None and key in ("file", "lfsFile"):
                    if old not in tree:
                        raise entry_not_found(old)
                    del tree[old]
                    changed.add(old)
                if key == "file":
                    data = self._decode_content(path, value)
                    if len(data) > regular_max:
                        raise bad_request(
                            f"Your push was rejected because it contains files larger than "
                            f"{regular_max} bytes ('{path}'): use LFS (preupload says 'lfs' for it)"
                        )
                    new_regular[path] = data
                    tree[path] = None  # filled below
                    changed.add(path)
                elif key == "lfsFile":
                    oid = value.get("oid")
                    algo = value.get("algo", "sha256")
                    if algo != "sha256":
                        raise bad_request(f"lfsFile '{path}': algo must be 'sha256', got '{algo}'")
                    if not is_sha256(oid):
                        raise bad_request(f"lfsFile '{path}': oid must be 64 lowercase hex digits")
                    known = self._repo_size(repo, oid)
                    if known is None or not self.has_object(oid):
                        raise bad_request(f"lfsFile '{path}': object {oid} was not uploaded to this repo")
                    size = value.get("size")
                    if size is not None and size != known:
                        raise bad_request(f"lfsFile '{path}': size {size} differs from the uploaded object's {known}")
                    tree[path] = {
                        "sha256": oid,
                        "size": known,
                        "lfs": True,
                        "blob": git_blob_sha1(lfs_pointer(oid, known)),
                    }
                    new_regular.pop(path, None)
                    changed.add(path)
                    lfs_paths.append(path)
                elif key == "deletedFile":
                    if path not in tree:
                        raise HubError(404, f"A file with this name doesn't exist: '{path}'", code="EntryNotFound")
                    del tree[path]
                    new_regular.pop(path, None)
                    changed.add(path)
                elif key == "deletedFolder":
                    prefix = path + "/"
                    gone = [p for p in tree if p.startswith(prefix)]
                    if not gone:
                        raise HubError(404, f"A folder with this name doesn't exist: '{path}'", code="EntryNotFound")
                    for p in gone:
                        del tree[p]
                        new_regular.pop(p, None)
                    changed.update(gone)
                else:
                    raise bad_request(f"unknown line key '{key}' (expected file, lfsFile, deletedFile or deletedFolder)")
            self._check_conflicts(tree)
            # The Hub adds LFS paths that .gitattributes does not cover (api-commit.ts comment).
            ga = new_regular.get(".gitattributes")
            if ga is None and tree.get(".gitattributes"):
                ga = self.read_object(tree[".gitattributes"]["sha256"])
            rules = LfsRules((ga or b"").decode("utf-8", "replace"))
            lfs_paths = [p for p in dict.fromkeys(lfs_paths) if tree.get(p) is not None and tree[p]["lfs"]]
            missing = [p for p in lfs_paths if not rules.is_lfs(p)]
            if missing:
                text = (ga or b"")
                if text and not text.endswith(b"\n"):
                    text += b"\n"
                for p in missing:
                    text += (escape_pattern(p) + " filter=lfs diff=lfs merge=lfs -text\n").encode()
                new_regular[".gitattributes"] = text
                changed.add(".gitattributes")
            for p, data in new_regular.items():
                tree[p] = self._regular_entry(data)
            commit = self._new_commit(repo, head_id, summary, description or "", author, tree, changed)
            old_snap = tuple(sorted(repo.refs.items()))
            repo.refs[branch] = commit["id"]
            cache = repo._objects_cache
            if cache and cache[0] == old_snap:
                # history only grew: extend the cached object set instead of walking it again
                for e in commit["tree"].values():
                    cache[1][e["sha256"]] = e["size"]
                repo._objects_cache = (tuple(sorted(repo.refs.items())), cache[1])
            for p in lfs_paths:
                repo.pending.pop(tree[p]["sha256"], None)
            self._save_repo(repo)
            return commit

    @staticmethod
    def _decode_content(path, value):
        content = value.get("content")
        encoding = value.get("encoding", "utf-8")
        if not isinstance(content, str):
            raise bad_request(f"file '{path}': content must be a string")
        if encoding == "base64":
            try:
                return base64.b64decode(content, validate=True)
            except ValueError:
                raise bad_request(f"file '{path}': content is not valid base64")
        if encoding in ("utf-8", "utf8"):
            return content.encode()
        raise bad_request(f"file '{path}': unknown encoding '{encoding}' (expected base64 or utf-8)")

    @staticmethod
    def _check_conflicts(tree):
        for p in tree:
            parts = p.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d in tree:
                    raise bad_request(f"path '{p}' needs '{d}' to be a folder, but it is a file")

    def squash(self, repo, branch, message, author):
        """Replaces the branch history by one commit with the head's tree, then collects garbage."""
        with self.lock:
            if branch not in repo.refs:
                raise revision_not_found(branch)
            head = self.get_commit(repo, repo.refs[branch])
            tree = {p: {k: v for k, v in e.items() if k != "last"} for p, e in head["tree"].items()}
            commit = self._new_commit(repo, None, message, "", author, tree, set(tree))
            repo.refs[branch] = commit["id"]
            self._save_repo(repo)
            self._gc_commits(repo)
            self._gc_objects()
            return commit

    # ---- storage accounting and garbage collection

    def _reachable(self, repo):
        seen = set()
        for cid in repo.refs.values():
            while cid and cid not in seen:
                seen.add(cid)
                cid = self.get_commit(repo, cid)["parent"]
        return seen

    def _referenced(self, repo):
        """{sha256: size} of every object in a commit reachable from a ref (cached per refs)."""
        snap = tuple(sorted(repo.refs.items()))
        if repo._objects_cache and repo._objects_cache[0] == snap:
            return repo._objects_cache[1]
        objs = {}
        for cid in self._reachable(repo):
            for e in self.get_commit(repo, cid)["tree"].values():
                objs[e["sha256"]] = e["size"]
        repo._objects_cache = (snap, objs)
        return objs

    def _repo_size(self, repo, sha):
        size = self._referenced(repo).get(sha)
        return repo.pending.get(sha) if size is None else size

    def _repo_objects(self, repo):
        return {**repo.pending, **self._referenced(repo)}

    def _gc_commits(self, repo):
        keep = self._reachable(repo)
        cdir = os.path.join(repo.path, "commits")
        for fname in os.listdir(cdir):
            cid = fname[: -len(".json")]
            if cid not in keep:
                os.unlink(os.path.join(cdir, fname))
                self._commits.pop((repo.path, cid), None)

    def _gc_objects(self):
        live = set()
        for repo in self.repos.values():
            live.update(self._repo_objects(repo))
        for dirpath, _dirs, files in os.walk(self.objects_dir):
            for fname in files:
                if fname not in live:
                    os.unlink(os.path.join(dirpath, fname))

    def repo_used_storage(self, repo):
        with self.lock:
            return sum(self._repo_objects(repo).values())

    def storage_report(self):
        with self.lock:
            live = {}
            by_repo = {}
            for repo in self.repos.values():
                objs = self._repo_objects(repo)
                live.update(objs)
                by_repo[repo.display] = sum(objs.values())
            return {"stored_bytes": sum(live.values()), "objects": len(live), "by_repo": by_repo}
