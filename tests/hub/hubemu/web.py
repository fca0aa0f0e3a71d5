"""Request context and response helpers shared by the handlers."""

import json
from urllib.parse import unquote

from flask import Response, request

from .errors import bad_request

TYPE_OF_API = {"models": "model", "datasets": "dataset", "spaces": "space"}
TYPE_OF_PREFIX = {None: "model", "datasets": "dataset", "spaces": "space"}


class Ctx:
    """One request: matched groups (decoded), base URL, caller."""

    def __init__(self, emu, route, groups, raw_path):
        self.emu = emu
        self.route = route
        self.raw_groups = groups
        self.groups = {k: (unquote(v) if v is not None else None) for k, v in groups.items()}
        self.raw_path = raw_path
        self.base = request.host_url.rstrip("/")
        self._principal = False

    @property
    def principal(self):
        if self._principal is False:
            self._principal = self.emu.auth.authenticate(request.headers.get("Authorization"))
        return self._principal

    def repo_type(self):
        g = self.raw_groups
        return TYPE_OF_API[g["type"]] if "type" in g else TYPE_OF_PREFIX[g.get("prefix")]

    def repo(self):
        """The addressed repo, or None (callers pass it to auth.check_read/check_write)."""
        return self.emu.store.get_repo(self.repo_type(), self.groups["ns"], self.groups["name"])

    def json_body(self, required=True):
        data = request.get_data()
        if not data:
            if required:
                raise bad_request("empty body: a JSON object was expected")
            return {}
        try:
            return json.loads(data)
        except ValueError as e:
            raise bad_request(f"body is not valid JSON: {e}")


def json_response(obj, status=200, headers=None, mimetype="application/json"):
    return Response(json.dumps(obj), status=status, headers=headers, mimetype=mimetype)


def _header_safe(text):
    return text.encode("latin-1", "backslashreplace").decode("latin-1").replace("\r", " ").replace("\n", " ")


def error_response(e):
    body = e.body if e.body is not None else {"error": e.message}
    headers = dict(e.headers)
    headers["X-Error-Message"] = _header_safe(e.message)
    if e.code:
        headers["X-Error-Code"] = e.code
    return json_response(body, e.status, headers)


def split_rev_path(rest):
    """'main/a/b.txt' -> ('main', 'a/b.txt'); 'refs/pr/1/x' -> ('refs/pr/1', 'x'); each part
    percent-decoded, so 'refs%2Fpr%2F1/x' works too."""
    segs = rest.split("/")
    n = 3 if len(segs) >= 3 and segs[0] == "refs" and segs[1] in ("pr", "convert") else 1
    rev = unquote("/".join(segs[:n]))
    path = unquote("/".join(segs[n:]))
    return rev, path
