"""The Flask application: one dispatcher over the raw request path, fault injection, the control
API under /_emulator/, and Hub-style error responses.

Routing uses the raw request target (not Flask's decoded path) so that a revision like
refs%2Fpr%2F1 stays one segment; captured segments are percent-decoded afterwards (reference
section 1.4).
"""

import json
import logging
import re
import secrets
import socket
import struct
import time
import traceback

from flask import Flask, Response, request

from . import api_commit, api_files, api_repo
from .web import Ctx, _header_safe, error_response, json_response
from .auth import Auth
from .errors import HubError, bad_request
from .faults import FaultError, Faults
from .lfs import Lfs
from .stats import Stats
from .store import Store

log = logging.getLogger("hub-emulator")

# What the access log shows for a request whose connection a fault dropped (no reply is sent).
DROPPED_STATUS = 499

API_REPO = r"/api/(?P<type>models|datasets|spaces)/(?P<ns>[^/]+)/(?P<name>[^/]+)"
GIT_REPO = r"/(?:(?P<prefix>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+?)"

# (route name, methods, raw-path regex, handler)
ROUTES = [
    ("lfs_upload", ("PUT",), r"/_lfs/upload/(?P<uid>[0-9a-f]+)", api_files.lfs_upload),
    ("lfs_part", ("PUT",), r"/_lfs/part/(?P<uid>[0-9a-f]+)/(?P<n>[0-9]+)", api_files.lfs_part),
    ("lfs_complete", ("POST",), r"/_lfs/complete/(?P<uid>[0-9a-f]+)", api_files.lfs_complete),
    ("lfs_object", ("GET", "HEAD"), r"/_lfs/objects/(?P<sha>[0-9a-f]{64})", api_files.lfs_object),
    ("whoami", ("GET",), r"/api/whoami-v2", api_repo.whoami),
    ("repo_create", ("POST",), r"/api/repos/create", api_repo.create),
    ("repo_delete", ("DELETE",), r"/api/repos/delete", api_repo.delete),
    ("repo_info", ("GET",), API_REPO + r"(?:/revision/(?P<rev>.+))?", api_repo.info),
    ("repo_settings", ("PUT",), API_REPO + r"/settings", api_repo.settings),
    ("refs", ("GET",), API_REPO + r"/refs", api_repo.refs),
    ("commits", ("GET",), API_REPO + r"/commits/(?P<rev>.+)", api_repo.commits),
    ("tree", ("GET",), API_REPO + r"/tree/(?P<rest>.+)", api_files.tree),
    ("paths_info", ("POST",), API_REPO + r"/paths-info/(?P<rev>.+)", api_files.paths_info),
    ("preupload", ("POST",), API_REPO + r"/preupload/(?P<rev>.+)", api_commit.preupload),
    ("commit", ("POST",), API_REPO + r"/commit/(?P<rev>.+)", api_commit.commit),
    ("super_squash", ("POST",), API_REPO + r"/super-squash/(?P<rev>.+)", api_commit.super_squash),
    ("lfs_batch", ("POST",), GIT_REPO + r"\.git/info/lfs/objects/batch", api_files.lfs_batch),
    ("lfs_verify", ("POST",), GIT_REPO + r"\.git/info/lfs/objects/verify", api_files.lfs_verify),
    ("resolve", ("GET", "HEAD"), GIT_REPO + r"/resolve/(?P<rest>.+)", api_files.resolve),
    ("raw", ("GET", "HEAD"), GIT_REPO + r"/raw/(?P<rest>.+)", api_files.raw),
]
COMPILED = [(name, methods, re.compile(rx), fn) for name, methods, rx, fn in ROUTES]

class Emu:
    """Everything a handler needs: the store and the knobs chosen on the command line."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.store = Store(cfg.data)
        self.stats = Stats()
        self.faults = Faults()
        self.auth = Auth(cfg.write_tokens, cfg.read_tokens, cfg.orgs, cfg.user)
        self.lfs = Lfs(self.store, self.stats, cfg.lfs_chunk_size, cfg.lfs_multipart_threshold)


def _drop_connection(sock=None):
    """Closes the client connection at once, without a reply (RST once the server lets go)."""
    if sock is None:
        sock = request.environ.get("werkzeug.socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _truncated(resp, fault):
    """Sends the headers and part of the body, then drops the connection."""
    length = resp.content_length
    if length is None or not resp.direct_passthrough:
        body = resp.get_data()
        length = len(body)
        chunks = [body]
    else:
        chunks = resp.response
    limit = fault.body_bytes if fault.body_bytes is not None else length // 2
    limit = min(limit, max(length - 1, 0))
    sock = request.environ.get("werkzeug.socket")  # the generator runs after the request context

    def gen():
        sent = 0
        for chunk in chunks:
            if sent + len(chunk) >= limit:
                yield chunk[: limit - sent]
                break
            sent += len(chunk)
            yield chunk
        if fault.stall:
            time.sleep(fault.stall)
        _drop_connection(sock)

    headers = [(k, v) for k, v in resp.headers if k.lower() != "content-length"]
    headers.append(("Content-Length", str(length)))
    return Response(gen(), status=resp.status_code, headers=headers, direct_passthrough=True)


def _fault_response(fault):
    body = fault.spec.get("body")
    if body is None:
        body = {"error": fault.spec.get("error_message") or f"injected fault: HTTP {fault.status}"}
    headers = dict(fault.headers)
    if fault.spec.get("error_code"):
        headers["X-Error-Code"] = fault.spec["error_code"]
    if fault.spec.get("error_message"):
        headers["X-Error-Message"] = _header_safe(fault.spec["error_message"])
    if isinstance(body, str):
        return Response(body, status=fault.status, headers=headers, mimetype="text/plain")
    return json_response(body, fault.status, headers)


def create_app(emu):
    app = Flask("hub-emulator")
    app.config["MAX_CONTENT_LENGTH"] = None

    @app.before_request
    def dispatch():
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
        raw_path = raw.split("?", 1)[0]
        if raw_path.startswith("http://") or raw_path.startswith("https://"):
            raw_path = "/" + raw_path.split("/", 3)[3] if raw_path.count("/") >= 3 else "/"
        if raw_path.startswith("/_emulator/"):
            return control(emu, raw_path)
        request_id = "Root=1-" + secrets.token_hex(12)
        route, fn, groups, method_ok = "unmatched", None, {}, False
        for name, methods, rx, handler in COMPILED:
            m = rx.fullmatch(raw_path)
            if m:
                route, fn, groups = name, handler, m.groupdict()
                method_ok = request.method in methods
                if method_ok:
                    break
        emu.stats.request(route)
        fault = emu.faults.take(request.method, raw_path, route)
        if fault is not None:
            emu.stats.fault_fired()
            log.info("fault %d acts on %s %s", fault.id, request.method, raw_path)
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop == "before":
                _drop_connection()
                emu.stats.status("dropped")
                return Response(b"", status=DROPPED_STATUS)
            if fault.status is not None:
                emu.stats.status(fault.status)
                resp = _fault_response(fault)
                resp.headers["X-Request-Id"] = request_id
                return resp
        try:
            if fn is None:
                raise HubError(404, f"no emulator route for {raw_path}")
            if not method_ok:
                raise HubError(405, f"method {request.method} not allowed on {raw_path}")
            resp = fn(Ctx(emu, route, groups, raw_path))
        except HubError as e:
            resp = error_response(e)
        except Exception as e:  # a bug in the emulator: say so loudly, keep serving
            log.error("internal error on %s %s:\n%s", request.method, raw_path, traceback.format_exc())
            resp = json_response({"error": f"emulator internal error: {type(e).__name__}: {e}"}, 500)
        resp.headers["X-Request-Id"] = request_id
        if fault is not None and fault.drop == "after":
            _drop_connection()
            emu.stats.status("dropped")
            return Response(b"", status=DROPPED_STATUS)
        if fault is not None and fault.drop == "body":
            emu.stats.status("dropped")
            return _truncated(resp, fault)
        emu.stats.status(resp.status_code)
        return resp

    return app


def control(emu, raw_path):
    """GET /_emulator/health|stats|faults, POST /_emulator/faults|stats/reset, DELETE /_emulator/faults."""
    method = request.method
    try:
        if raw_path == "/_emulator/health" and method in ("GET", "HEAD"):
            return json_response({"ok": True})
        if raw_path == "/_emulator/stats" and method == "GET":
            return json_response(stats_document(emu))
        if raw_path == "/_emulator/stats/reset" and method == "POST":
            emu.stats.reset()
            return json_response({"ok": True})
        if raw_path == "/_emulator/faults":
            if method == "GET":
                return json_response({"faults": emu.faults.pending()})
            if method == "DELETE":
                return json_response({"cleared": emu.faults.clear()})
            if method == "POST":
                try:
                    body = json.loads(request.get_data() or b"null")
                except ValueError as e:
                    raise bad_request(f"body is not valid JSON: {e}")
                specs = body.get("faults") if isinstance(body, dict) and "faults" in body else body
                if isinstance(specs, dict):
                    specs = [specs]
                if not isinstance(specs, list) or not specs:
                    raise bad_request("expected a fault object, a list of them, or {\"faults\": [...]}")
                try:
                    ids = emu.faults.add(specs)
                except FaultError as e:
                    raise bad_request(str(e))
                return json_response({"added": len(ids), "ids": ids})
        raise HubError(404, f"unknown control endpoint {method} {raw_path}")
    except HubError as e:
        return error_response(e)


def stats_document(emu):
    doc = emu.stats.snapshot()
    store = emu.store
    doc["storage"] = store.storage_report()
    repos = {}
    with store.lock:
        for repo in store.repos.values():
            heads = dict(repo.refs)
            repos[repo.display] = {
                "private": repo.private,
                "refs": heads,
                "history": {b: len(store.history(repo, store.get_commit(repo, c))) for b, c in heads.items()},
                "used_storage": store.repo_used_storage(repo),
                "pending_uploads": len(repo.pending),
            }
    doc["repos"] = repos
    doc["faults"] = {"fired": doc.pop("faults_fired"), "pending": emu.faults.pending()}
    cfg = emu.cfg
    doc["config"] = {
        "lfs_chunk_size": cfg.lfs_chunk_size,
        "lfs_multipart_threshold": cfg.lfs_multipart_threshold,
        "regular_max_size": cfg.regular_max_size,
        "page_size": cfg.page_size,
        "private_default": cfg.private_default,
    }
    return doc
