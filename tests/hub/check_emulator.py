#!/usr/bin/env python3
"""Checks of the emulator's own behaviour at the HTTP level, as a C client sees it: fault knobs,
Range and redirects, commit rules, auth answers, history, super-squash and storage accounting,
and state that survives a restart.

    check_emulator.py URL STATE_FILE                  main checks; writes STATE_FILE
    check_emulator.py URL STATE_FILE --after-restart  the state in STATE_FILE is still served

The emulator must run with --token hf_test (user "user"), --token hf_other=other,
--read-token hf_reader and --private-default. Prints "PASS name" or "FAIL name" and
"  | detail" lines, like conformance.mjs; exits 1 if anything failed.
"""

import base64
import hashlib
import http.client
import json
import os
import sys
import time
import traceback
from urllib.parse import urlsplit

TOKEN, OTHER, READER = "hf_test", "hf_other", "hf_reader"
REPO = "datasets/user/pycheck"
PUBLIC = "datasets/user/pypublic"


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"HTTP {self.status} {self.headers.get('x-error-message', '')} {self.body[:300]!r}"


class Client:
    def __init__(self, url):
        u = urlsplit(url)
        self.url = url.rstrip("/")
        self.host, self.port = u.hostname, u.port

    def req(self, method, path, body=None, token=TOKEN, headers=None, js=None):
        """path may be absolute (same host) or start with '/'. Raises on a dropped connection."""
        if path.startswith("http"):
            u = urlsplit(path)
            path = u.path + ("?" + u.query if u.query else "")
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        if js is not None:
            body = json.dumps(js).encode()
            h.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            return Resp(r.status, r.getheaders(), data)
        finally:
            conn.close()

    def stats(self):
        return self.req("GET", "/_emulator/stats", token=None).json()

    def fault(self, **spec):
        r = self.req("POST", "/_emulator/faults", js=spec, token=None)
        assert r.status == 200, f"adding fault {spec}: {r}"

    def commit(self, repo, ops, summary="py commit", parent=None, token=TOKEN, branch="main"):
        header = {"summary": summary}
        if parent is not None:
            header["parentCommit"] = parent
        lines = [{"key": "header", "value": header}] + [{"key": k, "value": v} for k, v in ops]
        body = "\n".join(json.dumps(x) for x in lines).encode()
        return self.req("POST", f"/api/{repo}/commit/{branch}", body=body, token=token,
                        headers={"Content-Type": "application/x-ndjson"})

    def put_file(self, repo, path, data, **kw):
        r = self.commit(repo, [("file", {"path": path, "content": base64.b64encode(data).decode(), "encoding": "base64"})], **kw)
        assert r.status == 200, f"commit of {path}: {r}"
        return r.json()["commitOid"]

    def upload_lfs(self, repo, data, transfers=("basic", "multipart")):
        """Batch + PUT (basic or every part + completion) like a C client would; returns the oid."""
        oid = hashlib.sha256(data).hexdigest()
        r = self.req("POST", f"/{repo}.git/info/lfs/objects/batch",
                     js={"operation": "upload", "transfers": list(transfers), "hash_algo": "sha256",
                         "ref": {"name": "main"}, "objects": [{"oid": oid, "size": len(data)}]})
        assert r.status == 200, f"batch: {r}"
        obj = r.json()["objects"][0]
        assert "error" not in obj, f"batch object error: {obj}"
        if "actions" not in obj:
            return oid
        up = obj["actions"]["upload"]
        header = up.get("header") or {}
        if "chunk_size" in header:
            chunk = int(header["chunk_size"])
            keys = [k for k in header if k.isdigit()]
            assert keys == sorted(keys) and len(keys) == -(-len(data) // chunk), f"part keys {keys}"
            parts = []
            for k in keys:
                n = int(k)
                pr = self.req("PUT", header[k], body=data[(n - 1) * chunk:n * chunk], token=None)
                assert pr.status == 200 and pr.headers.get("etag"), f"part {k}: {pr}"
                parts.append({"partNumber": n, "etag": pr.headers["etag"]})
            cr = self.req("POST", up["href"], js={"oid": oid, "parts": parts}, token=None,
                          headers={"Content-Type": "application/vnd.git-lfs+json"})
            assert cr.status == 200, f"completion: {cr}"
        else:
            pr = self.req("PUT", up["href"], body=data, token=None)
            assert pr.status == 200, f"basic PUT: {pr}"
        if "verify" in obj["actions"]:
            vr = self.req("POST", obj["actions"]["verify"]["href"], js={"oid": oid, "size": len(data)})
            assert vr.status == 200, f"verify: {vr}"
        return oid


failed = 0


def check(name):
    def run(fn):
        global failed
        try:
            fn()
            print(f"PASS {name}", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported, the rest still runs
            failed += 1
            print(f"FAIL {name}")
            detail = f"{type(e).__name__}: {e}\n" + "".join(traceback.format_tb(e.__traceback__)[-2:])
            for line in detail.rstrip().split("\n"):
                print(f"  | {line}")
            sys.stdout.flush()
        return fn
    return run


def expect(resp, status, what, code=None):
    assert resp.status == status, f"{what}: expected HTTP {status}, got {resp}"
    if code:
        got = resp.headers.get("x-error-code")
        assert got == code, f"{what}: expected X-Error-Code {code}, got {got}"


def dropped(fn):
    try:
        fn()
    except (ConnectionError, http.client.HTTPException, OSError):
        return True
    return False


def head_of(c, repo):
    return c.req("GET", f"/api/{repo}/revision/main").json()["sha"]


def main_checks(c, state_file):
    @check("a repo created without 'private' follows --private-default; 'private': false makes it public")
    def _():
        r = c.req("POST", "/api/repos/create", js={"name": "pycheck", "organization": "user", "type": "dataset"})
        expect(r, 200, "create pycheck")
        r = c.req("POST", "/api/repos/create", js={"name": "pypublic", "organization": "user", "type": "dataset", "private": False})
        expect(r, 200, "create pypublic")
        s = c.stats()["repos"]
        assert s[REPO]["private"] is True and s[PUBLIC]["private"] is False, s
        expect(c.req("GET", f"/api/{REPO}/tree/main", token=None), 401, "anonymous tree of a private repo", "RepoNotFound")
        expect(c.req("GET", f"/api/{PUBLIC}/tree/main", token=None), 200, "anonymous tree of a public repo")

    @check("auth: bad token 401, missing repo 404, other user 404/403, read-only token 403 on writes")
    def _():
        r = c.req("GET", f"/api/{PUBLIC}/tree/main", token="hf_nope")
        expect(r, 401, "bad token")
        assert r.headers.get("x-error-message") == "Invalid credentials in Authorization header", r.headers
        expect(c.req("GET", "/api/datasets/user/missing/tree/main"), 404, "missing repo", "RepoNotFound")
        expect(c.req("GET", f"/api/{REPO}/tree/main", token=OTHER), 404, "other user reads a private repo", "RepoNotFound")
        expect(c.req("GET", f"/api/{PUBLIC}/tree/main", token=OTHER), 200, "other user reads a public repo")
        r = c.commit(PUBLIC, [("file", {"path": "x", "content": "x"})], token=OTHER)
        expect(r, 403, "other user commits to a public repo")
        expect(c.req("GET", f"/api/{REPO}/tree/main", token=READER), 200, "read token reads")
        expect(c.commit(REPO, [("file", {"path": "x", "content": "x"})], token=READER), 403, "read token commits")
        who = c.req("GET", "/api/whoami-v2", token=READER).json()
        assert who["name"] == "user" and who["auth"]["accessToken"]["role"] == "read", who

    @check("preupload: uploadMode from .gitattributes, size, binary sample; gitAttributes overrides")
    def _():
        files = [
            {"path": "a.txt", "size": 10, "sample": base64.b64encode(b"plain text").decode()},
            {"path": "w.bin", "size": 10, "sample": base64.b64encode(b"plain text").decode()},
            {"path": "blob.dat", "size": 4, "sample": base64.b64encode(b"a\0b\0").decode()},
            {"path": "empty.bin", "size": 0, "sample": ""},
            {"path": "huge.txt", "size": 11 * 1024 * 1024, "sample": base64.b64encode(b"text").decode()},
        ]
        r = c.req("POST", f"/api/{REPO}/preupload/main", js={"files": files})
        expect(r, 200, "preupload")
        modes = {f["path"]: f["uploadMode"] for f in r.json()["files"]}
        assert modes == {"a.txt": "regular", "w.bin": "lfs", "blob.dat": "lfs", "empty.bin": "regular", "huge.txt": "lfs"}, modes
        assert all(f["shouldIgnore"] is False for f in r.json()["files"])
        r = c.req("POST", f"/api/{REPO}/preupload/main",
                  js={"files": files[:1], "gitAttributes": "*.txt filter=lfs diff=lfs merge=lfs -text\n"})
        assert r.json()["files"][0]["uploadMode"] == "lfs", r.json()

    @check("LFS by hand: multipart parts + completion + verify, then an lfsFile commit lists it as LFS")
    def _():
        data = os.urandom(3 * 1024 * 1024 + 777)
        before = c.stats()
        oid = c.upload_lfs(REPO, data)
        after = c.stats()
        assert after["lfs"]["multipart_parts"].get(oid, 0) > 1, after["lfs"]
        assert after["requests"]["by_route"].get("lfs_verify", 0) > before["requests"]["by_route"].get("lfs_verify", 0)
        r = c.commit(REPO, [("lfsFile", {"path": "data/big.bin", "algo": "sha256", "oid": oid, "size": len(data)})])
        expect(r, 200, "lfsFile commit")
        info = c.req("POST", f"/api/{REPO}/paths-info/main", js={"paths": ["data/big.bin"]}).json()
        assert info[0]["lfs"]["oid"] == oid and info[0]["size"] == len(data), info

    @check("an lfsFile path that .gitattributes does not cover is added to it, spaces escaped")
    def _():
        data = os.urandom(5000)
        oid = c.upload_lfs(REPO, data)
        expect(c.commit(REPO, [("lfsFile", {"path": "vols/a b.hfsv", "algo": "sha256", "oid": oid})]), 200, "commit")
        ga = c.req("GET", f"/{REPO}/resolve/main/.gitattributes").body.decode()
        assert ga.endswith("vols/a[[:space:]]b.hfsv filter=lfs diff=lfs merge=lfs -text\n"), ga[-200:]
        r = c.req("POST", f"/api/{REPO}/preupload/main",
                  js={"files": [{"path": "vols/a b.hfsv", "size": 10, "sample": base64.b64encode(b"text").decode()}]})
        f = r.json()["files"][0]
        assert f["uploadMode"] == "lfs" and f["oid"] == oid, f

    @check("LFS: a basic PUT with the wrong bytes is refused; an lfsFile never uploaded is refused")
    def _():
        data = b"the announced content"
        oid = hashlib.sha256(data).hexdigest()
        r = c.req("POST", f"/{REPO}.git/info/lfs/objects/batch",
                  js={"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(data)}]})
        href = r.json()["objects"][0]["actions"]["upload"]["href"]
        expect(c.req("PUT", href, body=b"different content!!!!", token=None), 400, "PUT with a wrong sha256")
        expect(c.req("PUT", href, body=b"short", token=None), 400, "PUT with a wrong size")
        r = c.commit(REPO, [("lfsFile", {"path": "ghost.bin", "algo": "sha256", "oid": oid, "size": len(data)})])
        expect(r, 400, "commit of an object never uploaded")

    @check("commit: 412 on a stale parentCommit, short parent accepted, 404 deleting a missing file, 400 malformed")
    def _():
        head = head_of(c, REPO)
        c.put_file(REPO, "p1.txt", b"1", parent=head)
        r = c.commit(REPO, [("file", {"path": "p2.txt", "content": "2"})], parent=head)
        expect(r, 412, "stale parent")
        assert "branch was updated" in r.json()["error"], r
        c.put_file(REPO, "p2.txt", b"2", parent=head_of(c, REPO)[:7])
        expect(c.commit(REPO, [("deletedFile", {"path": "nope.txt"})]), 404, "delete a missing file", "EntryNotFound")
        expect(c.commit(REPO, []), 400, "no operation lines")
        r = c.req("POST", f"/api/{REPO}/commit/main", body=b'{"key":"header","value":{}}\n{"key":"file","value":{"path":"a","content":"b"}}')
        expect(r, 400, "header without summary")
        expect(c.commit(REPO, [("file", {"path": "../up.txt", "content": "x"})]), 400, "path with '..'")

    @check("commit: deletedFolder removes a whole folder")
    def _():
        c.commit(REPO, [("file", {"path": "tmpdir/a.txt", "content": "a"}), ("file", {"path": "tmpdir/b/c.txt", "content": "c"})])
        expect(c.commit(REPO, [("deletedFolder", {"path": "tmpdir/"})]), 200, "deletedFolder")
        expect(c.req("GET", f"/api/{REPO}/tree/main/tmpdir"), 404, "tree of the deleted folder", "EntryNotFound")

    @check("resolve: Range 206, suffix range, 416 past the end, HEAD, 404 EntryNotFound / RevisionNotFound")
    def _():
        c.put_file(REPO, "r.txt", b"0123456789")
        r = c.req("GET", f"/{REPO}/resolve/main/r.txt", headers={"Range": "bytes=2-5"})
        expect(r, 206, "range")
        assert r.body == b"2345" and r.headers["content-range"] == "bytes 2-5/10", r.headers
        assert r.headers.get("x-repo-commit") == head_of(c, REPO), r.headers
        r = c.req("GET", f"/{REPO}/resolve/main/r.txt", headers={"Range": "bytes=-3"})
        assert r.status == 206 and r.body == b"789", r
        r = c.req("GET", f"/{REPO}/resolve/main/r.txt", headers={"Range": "bytes=10-20"})
        expect(r, 416, "range past the end")
        assert r.headers.get("content-range") == "bytes */10", r.headers
        r = c.req("HEAD", f"/{REPO}/resolve/main/r.txt")
        assert r.status == 200 and r.headers["content-length"] == "10" and r.body == b"", r
        expect(c.req("GET", f"/{REPO}/resolve/main/missing.txt"), 404, "missing file", "EntryNotFound")
        expect(c.req("GET", f"/{REPO}/resolve/nobranch/r.txt"), 404, "missing revision", "RevisionNotFound")
        r = c.req("GET", f"/{REPO}/resolve/{head_of(c, REPO)}/r.txt")
        assert r.status == 200 and r.body == b"0123456789", f"by commit id: {r}"

    @check("resolve: an LFS file redirects (302) with X-Linked-Size/X-Linked-Etag; the target honours Range; raw gives the pointer")
    def _():
        data = os.urandom(200_000)
        oid = c.upload_lfs(REPO, data)
        expect(c.commit(REPO, [("lfsFile", {"path": "l.bin", "algo": "sha256", "oid": oid, "size": len(data)})]), 200, "commit")
        r = c.req("GET", f"/{REPO}/resolve/main/l.bin")
        expect(r, 302, "resolve of an LFS file")
        loc = r.headers["location"]
        assert loc.startswith(c.url + "/"), loc
        assert r.headers["x-linked-size"] == str(len(data)) and r.headers["x-linked-etag"] == f'"{oid}"', r.headers
        g = c.req("GET", loc, token=None, headers={"Range": "bytes=1000-1999"})
        assert g.status == 206 and g.body == data[1000:2000], g
        g = c.req("GET", loc, token=None)
        assert g.status == 200 and g.body == data, "full LFS body differs"
        bad = loc.replace("sig=", "sig=0")
        expect(c.req("GET", bad, token=None), 403, "tampered signature")
        r = c.req("GET", f"/{REPO}/raw/main/l.bin")
        assert r.status == 200 and r.body.startswith(b"version https://git-lfs.github.com/spec/v1\noid sha256:" + oid.encode()), r

    @check("paths-info accepts the form encoding huggingface_hub sends")
    def _():
        r = c.req("POST", f"/api/{REPO}/paths-info/main", body=b"paths=r.txt&paths=nope&expand=false",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        expect(r, 200, "form paths-info")
        assert [e["path"] for e in r.json()] == ["r.txt"], r.json()

    @check("faults: 429 with Retry-After and RateLimit is served when injected, then the route recovers")
    def _():
        fired = c.stats()["faults"]["fired"]
        c.fault(method="GET", path=r"/tree/", status=429, retry_after=7, ratelimit={"remaining": 0, "reset": 7})
        r = c.req("GET", f"/api/{REPO}/tree/main")
        expect(r, 429, "injected 429")
        assert r.headers.get("retry-after") == "7", r.headers
        assert r.headers.get("ratelimit") == '"api";r=0;t=7', r.headers
        expect(c.req("GET", f"/api/{REPO}/tree/main"), 200, "next request")
        assert c.stats()["faults"]["fired"] == fired + 1

    @check("faults: skip and count select which matching requests fail; pending faults are listed and cleared")
    def _():
        c.fault(route="tree", status=503, count=2, skip=1, body="busy")
        got = [c.req("GET", f"/api/{REPO}/tree/main").status for _ in range(4)]
        assert got == [200, 503, 503, 200], got
        c.fault(route="whoami", status=500, count=5)
        pending = c.req("GET", "/_emulator/faults", token=None).json()["faults"]
        assert len(pending) == 1 and pending[0]["remaining"] == 5, pending
        assert c.req("DELETE", "/_emulator/faults", token=None).json()["cleared"] == 1
        expect(c.req("GET", "/api/whoami-v2"), 200, "whoami after clearing")

    @check("faults: a dropped connection, a delay, a truncated body")
    def _():
        c.fault(route="whoami", drop=True)
        assert dropped(lambda: c.req("GET", "/api/whoami-v2")), "the connection was not dropped"
        expect(c.req("GET", "/api/whoami-v2"), 200, "after the drop")
        c.fault(route="whoami", delay=0.4)
        t0 = time.monotonic()
        expect(c.req("GET", "/api/whoami-v2"), 200, "delayed request")
        assert time.monotonic() - t0 >= 0.4, "no delay"
        c.put_file(REPO, "t.txt", b"x" * 1000)
        c.fault(route="resolve", drop="body", body_bytes=100)
        try:
            r = c.req("GET", f"/{REPO}/resolve/main/t.txt")
            raise AssertionError(f"the body was not cut: {r.status}, {len(r.body)} bytes")
        except http.client.IncompleteRead as e:
            assert len(e.partial) == 100, len(e.partial)

    @check("faults: a lost commit reply: the commit lands, the client sees a dropped connection, a retry on the old parent gets 412")
    def _():
        head = head_of(c, REPO)
        before = c.stats()["commits"]["by_repo"].get(REPO, 0)
        c.fault(route="commit", lose_reply=True)
        assert dropped(lambda: c.put_file(REPO, "lost.txt", b"L", parent=head)), "the reply was not dropped"
        assert c.stats()["commits"]["by_repo"][REPO] == before + 1, "the commit was not applied"
        r = c.req("GET", f"/{REPO}/resolve/main/lost.txt")
        assert r.status == 200 and r.body == b"L", r
        expect(c.commit(REPO, [("file", {"path": "lost.txt", "content": "L"})], parent=head), 412, "retry on the old parent")

    @check("faults: a bad fault spec is refused with 400 naming the field")
    def _():
        r = c.req("POST", "/_emulator/faults", js={"route": "tree", "status": 429, "bogus": 1}, token=None)
        expect(r, 400, "bad spec")
        assert "bogus" in r.json()["error"], r.json()

    @check("commit history: newest first, X-Total-Count, Link pagination with limit")
    def _():
        full = c.req("GET", f"/api/{REPO}/commits/main?limit=1000")
        expect(full, 200, "history")
        ids = [x["id"] for x in full.json()]
        assert int(full.headers["x-total-count"]) == len(ids) > 3, full.headers
        assert ids[0] == head_of(c, REPO) and full.json()[-1]["title"] == "initial commit"
        paged, url = [], f"/api/{REPO}/commits/main?limit=2"
        while url:
            r = c.req("GET", url)
            paged += [x["id"] for x in r.json()]
            link = r.headers.get("link", "")
            url = link[1:link.index(">")] if 'rel="next"' in link else None
        assert paged == ids, "paged history differs from the full one"

    @check("super-squash: deleting a large file keeps its bytes stored until a squash frees them; history becomes one commit")
    def _():
        data = os.urandom(2 * 1024 * 1024)
        oid = c.upload_lfs(REPO, data)
        expect(c.commit(REPO, [("lfsFile", {"path": "old/volume.bin", "oid": oid, "size": len(data)})]), 200, "add")
        with_file = c.stats()["storage"]
        expect(c.commit(REPO, [("deletedFile", {"path": "old/volume.bin"})]), 200, "delete")
        after_delete = c.stats()["storage"]
        assert after_delete["by_repo"][REPO] == with_file["by_repo"][REPO], "deleting freed storage before any squash"
        old_head = head_of(c, REPO)
        r = c.req("POST", f"/api/{REPO}/super-squash/main", js={"message": "squashed"})
        expect(r, 200, "super-squash")
        after = c.stats()["storage"]
        freed = after_delete["by_repo"][REPO] - after["by_repo"][REPO]
        assert freed >= len(data), f"squash freed {freed} bytes of the repo, expected >= {len(data)}"
        assert after_delete["stored_bytes"] - after["stored_bytes"] >= len(data), (after_delete, after)
        hist = c.req("GET", f"/api/{REPO}/commits/main").json()
        assert [x["title"] for x in hist] == ["squashed"], hist
        expect(c.req("GET", f"/{REPO}/resolve/{old_head}/r.txt"), 404, "old commit", "RevisionNotFound")
        r = c.req("GET", f"/{REPO}/resolve/main/data/big.bin")
        expect(r, 302, "kept LFS file")
        assert c.req("GET", r.headers["location"], token=None).status == 200

    @check("stats count requests by route and status")
    def _():
        before = c.stats()["requests"]
        c.req("GET", "/api/whoami-v2")
        c.req("GET", "/api/whoami-v2", token="hf_nope")
        after = c.stats()["requests"]
        assert after["by_route"]["whoami"] == before["by_route"].get("whoami", 0) + 2, after
        assert after["by_status"]["401"] >= before["by_status"].get("401", 0) + 1, after

    r = c.req("GET", f"/{REPO}/resolve/main/r.txt")
    state = {"head": head_of(c, REPO), "r.txt": r.body.decode(),
             "history": len(c.req("GET", f"/api/{REPO}/commits/main").json()),
             "storage": c.stats()["storage"]["by_repo"][REPO]}
    with open(state_file, "w") as f:
        json.dump(state, f)


def after_restart_checks(c, state_file):
    with open(state_file) as f:
        state = json.load(f)

    @check("after a restart on the same --data: same head, history, storage and file bytes")
    def _():
        assert head_of(c, REPO) == state["head"], "head changed"
        r = c.req("GET", f"/{REPO}/resolve/main/r.txt")
        assert r.status == 200 and r.body.decode() == state["r.txt"], r
        assert len(c.req("GET", f"/api/{REPO}/commits/main").json()) == state["history"]
        assert c.stats()["storage"]["by_repo"][REPO] == state["storage"]
        r = c.req("GET", f"/{REPO}/resolve/main/data/big.bin")
        assert r.status == 302 and c.req("GET", r.headers["location"], token=None).status == 200, r
        c.put_file(REPO, "after-restart.txt", b"ok", parent=state["head"])


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    c = Client(sys.argv[1])
    if "--after-restart" in sys.argv[3:]:
        after_restart_checks(c, sys.argv[2])
    else:
        main_checks(c, sys.argv[2])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
