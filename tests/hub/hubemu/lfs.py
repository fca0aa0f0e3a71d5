"""Git LFS batch API and the storage side of uploads (shared/reference/hf-hub-api.md section 5).

The batch endpoint hands out absolute URLs on the emulator itself, standing in for presigned S3
URLs: neither official client sends credentials to them, so each carries an unguessable upload
id (uploads) or an HMAC signature with an expiry (downloads).

- basic: PUT the whole object to actions.upload.href.
- multipart (HF's custom adapter): actions.upload.header holds "chunk_size" and one key per part,
  "00001".."NNNNN" in ascending order, each a PUT URL; every part PUT answers an ETag; then the
  client POSTs {"oid", "parts": [{"partNumber", "etag"}]} to actions.upload.href (completion).
- verify: POST {"oid", "size"} with the client's Bearer token; 200 when the object is stored.

Every upload is checked (size and sha256) before the object is stored and offered to commits.
"""

import hashlib
import hmac
import json
import os
import secrets
import time

from .errors import HubError, bad_request
from .store import is_sha256

READ_CHUNK = 1 << 20
OBJECT_URL_TTL = 3600


class Lfs:
    def __init__(self, store, stats, chunk_size, multipart_threshold):
        self.store = store
        self.stats = stats
        self.chunk_size = chunk_size
        self.multipart_threshold = multipart_threshold
        self.secret = secrets.token_bytes(32)

    # ---- signed download URLs ("the CDN")

    def _sig(self, sha, exp):
        return hmac.new(self.secret, f"{sha}:{exp}".encode(), hashlib.sha256).hexdigest()[:32]

    def object_url(self, base, sha):
        exp = int(time.time()) + OBJECT_URL_TTL
        return f"{base}/_lfs/objects/{sha}?exp={exp}&sig={self._sig(sha, exp)}"

    def check_object_url(self, sha, exp, sig):
        try:
            exp_i = int(exp)
        except (TypeError, ValueError):
            raise HubError(403, "missing or malformed 'exp' in the signed URL")
        if not hmac.compare_digest(self._sig(sha, exp_i), sig or ""):
            raise HubError(403, "bad signature on the object URL")
        if exp_i < time.time():
            raise HubError(403, "the object URL expired")
        if not self.store.has_object(sha):
            raise HubError(404, "object not found")

    # ---- batch

    def batch(self, repo, body, base):
        if not isinstance(body, dict):
            raise bad_request("batch body must be a JSON object")
        operation = body.get("operation")
        objects = body.get("objects")
        if operation not in ("upload", "download"):
            raise bad_request(f"operation must be 'upload' or 'download', got {operation!r}")
        if not isinstance(objects, list):
            raise bad_request("'objects' must be an array")
        if len(objects) > 1000:
            raise HubError(413, f"too many objects in one batch ({len(objects)}, at most 1000)")
        transfers = body.get("transfers") or ["basic"]
        if not isinstance(transfers, list):
            raise bad_request("'transfers' must be an array")
        can_basic = "basic" in transfers
        can_multi = "multipart" in transfers
        if operation == "upload" and not (can_basic or can_multi):
            raise HubError(422, f"none of the offered transfers {transfers} is served here (basic, multipart)")
        self.stats.lfs_count("batch_requests")
        self.stats.lfs_count("batch_objects", len(objects))
        verify_href = f"{base}/{repo.display}.git/info/lfs/objects/verify"
        out = []
        used_multipart = False
        for obj in objects:
            oid = obj.get("oid") if isinstance(obj, dict) else None
            size = obj.get("size") if isinstance(obj, dict) else None
            entry = {"oid": oid, "size": size}
            if not is_sha256(oid):
                entry["error"] = {"code": 422, "message": f"invalid oid {oid!r}: expected 64 lowercase hex digits"}
                out.append(entry)
                continue
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                entry["error"] = {"code": 422, "message": f"invalid size {size!r} for {oid}"}
                out.append(entry)
                continue
            known = self.store.repo_object_size(repo, oid) if self.store.repo_has_object(repo, oid) else None
            if operation == "download":
                if known is None:
                    entry["error"] = {"code": 404, "message": f"object {oid} does not exist"}
                else:
                    entry["actions"] = {"download": {"href": self.object_url(base, oid), "expires_in": OBJECT_URL_TTL}}
                out.append(entry)
                continue
            if known is not None:
                if known != size:
                    entry["error"] = {"code": 422, "message": f"object {oid} is stored with size {known}, not {size}"}
                else:
                    # already stored: no "actions" key at all (PY crashes on "actions": {})
                    self.stats.lfs_count("objects_already_present")
                out.append(entry)
                continue
            if can_multi and size > self.multipart_threshold and size > self.chunk_size:
                used_multipart = True
                nparts = -(-size // self.chunk_size)
                uid = self._new_session(repo, oid, size, self.chunk_size, nparts)
                header = {"chunk_size": str(self.chunk_size)}
                for n in range(1, nparts + 1):
                    header[f"{n:05d}"] = f"{base}/_lfs/part/{uid}/{n}"
                self.stats.lfs_count("multipart_started")
                entry["actions"] = {
                    "upload": {"href": f"{base}/_lfs/complete/{uid}", "header": header, "expires_in": 86400},
                    "verify": {"href": verify_href},
                }
            else:
                if not can_basic:
                    entry["error"] = {"code": 422, "message": "object too small for multipart and 'basic' not offered"}
                    out.append(entry)
                    continue
                uid = self._new_session(repo, oid, size, None, 1)
                entry["actions"] = {
                    "upload": {"href": f"{base}/_lfs/upload/{uid}", "expires_in": 86400},
                    "verify": {"href": verify_href},
                }
            entry["authenticated"] = True
            out.append(entry)
        return {"transfer": "multipart" if used_multipart else "basic", "objects": out, "hash_algo": "sha256"}

    # ---- upload sessions (uploads/<id>/meta.json, part-NNNNN, part-NNNNN.etag)

    def _new_session(self, repo, oid, size, chunk, nparts):
        uid = secrets.token_hex(16)
        d = os.path.join(self.store.uploads_dir, uid)
        os.makedirs(d)
        meta = {
            "type": repo.type,
            "namespace": repo.namespace,
            "name": repo.name,
            "oid": oid,
            "size": size,
            "chunk": chunk,
            "parts": nparts,
            "created": time.time(),
        }
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(meta, f)
        return uid

    def _session(self, uid, multipart):
        if not all(c in "0123456789abcdef" for c in uid) or len(uid) != 32:
            raise HubError(404, "no such upload")
        d = os.path.join(self.store.uploads_dir, uid)
        try:
            with open(os.path.join(d, "meta.json")) as f:
                meta = json.load(f)
        except FileNotFoundError:
            raise HubError(404, "no such upload")
        if (meta["chunk"] is not None) != multipart:
            raise HubError(400, "this upload id is for a " + ("multipart" if meta["chunk"] else "basic") + " upload")
        repo = self.store.get_repo(meta["type"], meta["namespace"], meta["name"])
        if repo is None:
            raise HubError(404, "the repo of this upload no longer exists")
        return d, meta, repo

    def _receive(self, stream, dest, expected):
        """Copies at most expected+1 bytes; returns (bytes received, sha256 hex, md5 hex)."""
        sha = hashlib.sha256()
        md5 = hashlib.md5()
        got = 0
        with open(dest, "wb") as f:
            while got <= expected:
                chunk = stream.read(min(READ_CHUNK, expected + 1 - got))
                if not chunk:
                    break
                got += len(chunk)
                sha.update(chunk)
                md5.update(chunk)
                f.write(chunk)
        return got, sha.hexdigest(), md5.hexdigest()

    def put_basic(self, uid, stream):
        d, meta, repo = self._session(uid, multipart=False)
        tmp = self.store.new_tmp_path("put.")
        try:
            got, sha, md5 = self._receive(stream, tmp, meta["size"])
            if got != meta["size"]:
                raise bad_request(f"expected {meta['size']} bytes for {meta['oid']}, received {got}")
            if sha != meta["oid"]:
                raise bad_request(f"sha256 mismatch: the batch announced {meta['oid']}, the body hashes to {sha}")
            self.store.finish_upload(repo, tmp, sha, got)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self.stats.lfs_count("basic_uploads")
        return f'"{md5}"'

    def put_part(self, uid, n, stream):
        d, meta, _repo = self._session(uid, multipart=True)
        if not (1 <= n <= meta["parts"]):
            raise bad_request(f"part number {n} out of range 1..{meta['parts']}")
        expected = min(meta["chunk"], meta["size"] - (n - 1) * meta["chunk"])
        part = os.path.join(d, f"part-{n:05d}")
        tmp = part + f".tmp{secrets.token_hex(4)}"
        got, _sha, md5 = self._receive(stream, tmp, expected)
        if got != expected:
            os.unlink(tmp)
            raise bad_request(f"part {n}: expected {expected} bytes, received {got}")
        os.replace(tmp, part)
        etag = f'"{md5}"'
        with open(part + ".etag", "w") as f:
            f.write(etag)
        self.stats.lfs_count("parts_uploaded")
        return etag

    def complete(self, uid, body):
        d, meta, repo = self._session(uid, multipart=True)
        if not isinstance(body, dict):
            raise bad_request("completion body must be a JSON object")
        if body.get("oid") != meta["oid"]:
            raise bad_request(f"completion oid {body.get('oid')!r} does not match the upload's {meta['oid']}")
        done = os.path.join(d, "done")
        if os.path.exists(done) and self.store.repo_has_object(repo, meta["oid"]):
            # a retried completion (the first reply was lost) succeeds again
            return {"success": True, "oid": meta["oid"], "size": meta["size"]}
        parts = body.get("parts")
        if not isinstance(parts, list) or len(parts) != meta["parts"]:
            raise bad_request(f"completion must list all {meta['parts']} parts")
        by_number = {}
        for p in parts:
            num = p.get("partNumber") if isinstance(p, dict) else None
            if not isinstance(num, int) or not (1 <= num <= meta["parts"]) or num in by_number:
                raise bad_request(f"bad or duplicate partNumber {num!r}")
            by_number[num] = str(p.get("etag", ""))
        tmp = self.store.new_tmp_path("mpu.")
        try:
            sha = hashlib.sha256()
            total = 0
            with open(tmp, "wb") as out:
                for n in range(1, meta["parts"] + 1):
                    part = os.path.join(d, f"part-{n:05d}")
                    try:
                        with open(part + ".etag") as f:
                            etag = f.read()
                    except FileNotFoundError:
                        raise bad_request(f"part {n} was never uploaded")
                    if by_number[n].strip('"') != etag.strip('"'):
                        raise bad_request(f"part {n}: etag {by_number[n]} does not match the uploaded part's {etag}")
                    with open(part, "rb") as f:
                        while True:
                            chunk = f.read(READ_CHUNK)
                            if not chunk:
                                break
                            sha.update(chunk)
                            total += len(chunk)
                            out.write(chunk)
            if total != meta["size"] or sha.hexdigest() != meta["oid"]:
                raise bad_request(
                    f"assembled object is {total} bytes with sha256 {sha.hexdigest()}, "
                    f"expected {meta['size']} bytes with {meta['oid']}"
                )
            self.store.finish_upload(repo, tmp, meta["oid"], total)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        for fname in os.listdir(d):
            if fname.startswith("part-"):
                os.unlink(os.path.join(d, fname))
        with open(done, "w"):
            pass
        self.stats.multipart_done(meta["oid"], meta["parts"])
        return {"success": True, "oid": meta["oid"], "size": meta["size"]}

    def verify(self, repo, body):
        self.stats.lfs_count("verify_requests")
        if not isinstance(body, dict) or not is_sha256(body.get("oid")):
            raise bad_request("verify body must be {\"oid\": <sha256>, \"size\": <int>}")
        oid = body["oid"]
        if not self.store.repo_has_object(repo, oid):
            raise HubError(404, f"object {oid} not found in this repo")
        known = self.store.repo_object_size(repo, oid)
        if body.get("size") is not None and body.get("size") != known:
            raise HubError(422, f"object {oid} has size {known}, not {body.get('size')}")
        return {"success": True}

