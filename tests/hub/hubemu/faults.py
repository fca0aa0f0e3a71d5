"""Fault injection rules, set through POST /_emulator/faults (format in tests/hub/README.md).

A rule matches a request by method (regex, whole string, case-insensitive), path (regex searched
in the raw path, query excluded) and/or route name; it lets `skip` matching requests pass, then
acts on the next `count` ones. Rules are tried in the order they were added; the first one that
matches and has requests left is used, and only one rule acts on a request.
"""

import re
import threading

DROP_MODES = ("before", "after", "body")
KNOWN_KEYS = {
    "method", "path", "route", "count", "skip",
    "status", "retry_after", "ratelimit", "headers", "body", "error_code", "error_message",
    "drop", "body_bytes", "stall", "delay", "lose_reply",
}


class FaultError(ValueError):
    pass


class Fault:
    def __init__(self, spec, fid):
        if not isinstance(spec, dict):
            raise FaultError("each fault must be a JSON object")
        unknown = sorted(set(spec) - KNOWN_KEYS)
        if unknown:
            raise FaultError(f"unknown fault field(s) {unknown}; known: {sorted(KNOWN_KEYS)}")
        self.id = fid
        self.spec = dict(spec)
        try:
            self.method = re.compile(spec["method"], re.I) if spec.get("method") else None
            self.path = re.compile(spec["path"]) if spec.get("path") else None
        except re.error as e:
            raise FaultError(f"bad regex in fault: {e}")
        self.route = spec.get("route")
        self.count = _int(spec, "count", 1, 1)
        self.skip = _int(spec, "skip", 0, 0)
        self.status = spec.get("status")
        if self.status is not None and not (isinstance(self.status, int) and 100 <= self.status <= 599):
            raise FaultError(f"'status' must be an HTTP status code, got {self.status!r}")
        drop = spec.get("drop")
        if spec.get("lose_reply"):
            drop = "after"
        if drop is True:
            drop = "before"
        if drop not in (None, False) + DROP_MODES:
            raise FaultError(f"'drop' must be one of {DROP_MODES} (or true = before), got {drop!r}")
        self.drop = drop or None
        if self.drop and self.status is not None:
            raise FaultError("a fault either answers a 'status' or drops the connection, not both")
        self.delay = _num(spec, "delay")
        self.stall = _num(spec, "stall")
        self.body_bytes = spec.get("body_bytes")
        if self.body_bytes is not None and not (isinstance(self.body_bytes, int) and self.body_bytes >= 0):
            raise FaultError("'body_bytes' must be a non-negative integer")
        headers = spec.get("headers") or {}
        if not isinstance(headers, dict):
            raise FaultError("'headers' must be an object of header: value")
        self.headers = {str(k): str(v) for k, v in headers.items()}
        if spec.get("retry_after") is not None:
            self.headers["Retry-After"] = str(spec["retry_after"])
        rl = spec.get("ratelimit")
        if isinstance(rl, str):
            self.headers["RateLimit"] = rl
        elif isinstance(rl, dict):
            res = rl.get("resource", "api")
            self.headers["RateLimit"] = f'"{res}";r={int(rl.get("remaining", 0))};t={int(rl.get("reset", 60))}'
            self.headers["RateLimit-Policy"] = (
                f'"fixed window";"{res}";q={int(rl.get("limit", 1000))};w={int(rl.get("window", 300))}'
            )
        elif rl is not None:
            raise FaultError("'ratelimit' must be a header string or {remaining, reset, limit, window, resource}")
        if self.status is None and not self.drop and self.delay is None:
            raise FaultError("a fault needs at least one of 'status', 'drop', 'lose_reply' or 'delay'")

    def matches(self, method, path, route):
        if self.method and not self.method.fullmatch(method):
            return False
        if self.path and not self.path.search(path):
            return False
        if self.route and self.route != route:
            return False
        return True

    def describe(self):
        return dict(self.spec, id=self.id, remaining=self.count, skip_left=self.skip)


def _int(spec, key, default, minimum):
    v = spec.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise FaultError(f"'{key}' must be an integer >= {minimum}, got {v!r}")
    return v


def _num(spec, key):
    v = spec.get(key)
    if v is None:
        return None
    if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0 or v > 600:
        raise FaultError(f"'{key}' must be a number of seconds in 0..600, got {v!r}")
    return float(v)


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.next_id = 1

    def add(self, specs):
        """Validates all specs first, so a bad one adds nothing. Returns the new ids."""
        with self.lock:
            new = []
            for spec in specs:
                new.append(Fault(spec, self.next_id + len(new)))
            self.next_id += len(new)
            self.rules.extend(new)
            return [f.id for f in new]

    def clear(self):
        with self.lock:
            n = len(self.rules)
            self.rules = []
            return n

    def take(self, method, path, route):
        """The rule acting on this request, with one use consumed; None when no rule acts."""
        with self.lock:
            for f in self.rules:
                if not f.matches(method, path, route):
                    continue
                if f.skip > 0:
                    f.skip -= 1
                    continue
                f.count -= 1
                if f.count == 0:
                    self.rules.remove(f)
                return f
            return None

    def pending(self):
        with self.lock:
            return [f.describe() for f in self.rules]
