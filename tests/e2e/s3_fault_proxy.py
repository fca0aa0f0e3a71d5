#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for the S3 end-to-end tests (Python standard library only).

It listens on 127.0.0.1 in front of an S3 server (moto_server) and forwards every request byte
for byte: the client signs its requests (SigV4) for the proxy's address and the Host header it
sent is passed on unchanged; moto does not check signatures unless told to. Responses come back
byte for byte too.

Rules say which requests fail and how. A rule matches a request by method and a regular
expression searched in its target (path and query); the first rule with faults left that matches
takes the request: after letting `after` matching requests through, it injects its fault into the
next `count` ones. Faults:
  429            answer 429 with Retry-After: <retry_after> (default 1) and an XML error body
  503            answer 503 with an S3 <Code>SlowDown</Code> body (Retry-After if given)
  500            answer 500 with an S3 <Code>InternalError</Code> body
  501            answer 501 with an S3 <Code>NotImplemented</Code> body (a service without the call)
  drop-response  forward, then send the response headers and only <bytes> bytes of its body
                 (default: half; with an empty body, nothing at all), and close the connection
  drop-request   read the headers and <bytes> bytes of the request body (default: half), then
                 close the connection without an answer (the request never reaches the server)
  stall          read the request, then send nothing for <seconds> (default 30) and close
Error answers keep the connection open (keep-alive); the other faults close it.

Control, on the proxy's own port (paths under /_proxy/, which no S3 bucket can be named):
  POST   /_proxy/faults   add one rule or a list of rules (JSON)
  DELETE /_proxy/faults   remove every rule and forget the log
  GET    /_proxy/faults   {"rules": [... each with "left", the faults not injected yet],
                           "log": [{"t", "method", "target", "range", "fault", "status"}, ...]}
                          (t: seconds since the proxy started; range: the Range header or null)
A rules file given with --faults is loaded at start.

Usage: s3_fault_proxy.py --upstream http://127.0.0.1:PORT --port-file FILE [--faults FILE]
"""
import argparse
import json
import os
import re
import socket
import socketserver
import sys
import threading
import time

MAX_HEAD = 64 << 10
FAULTS = ("429", "503", "500", "501", "drop-response", "drop-request", "stall")
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests",
           500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable"}


class Rule:
    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("a rule is a JSON object")
        unknown = set(spec) - {"method", "path", "fault", "count", "after", "retry_after",
                               "bytes", "seconds"}
        if unknown:
            raise ValueError(f"unknown rule fields: {sorted(unknown)}")
        self.fault = spec.get("fault")
        if self.fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}, not {self.fault!r}")
        self.spec = dict(spec)
        self.method = spec.get("method")
        self.path = re.compile(spec.get("path", ""))
        self.left = int(spec.get("count", 1))
        self.after = int(spec.get("after", 0))

    def matches(self, method, target):
        return (self.left > 0 and (self.method is None or self.method == method)
                and self.path.search(target) is not None)

    def as_json(self):
        return dict(self.spec, left=self.left, after_left=self.after)


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.log = []
        self.start = time.monotonic()

    def take(self, method, target):
        """The rule whose fault this request gets, or None (forward it)."""
        with self.lock:
            for r in self.rules:
                if r.matches(method, target):
                    if r.after > 0:
                        r.after -= 1
                        return None
                    r.left -= 1
                    return r
            return None

    def record(self, method, target, headers, fault, status):
        with self.lock:
            self.log.append({"t": round(time.monotonic() - self.start, 3), "method": method,
                             "target": target, "range": headers.get("range"), "fault": fault,
                             "status": status})


STATE = State()
UPSTREAM = ("127.0.0.1", 0)


def recv_until(sock, buf, marker, limit):
    while marker not in buf:
        if len(buf) > limit:
            raise ValueError("header too large")
        chunk = sock.recv(65536)
        if not chunk:
            return buf, False
        buf += chunk
    return buf, True


def recv_exact(sock, buf, n):
    """Bytes until buf holds at least n; returns (buf, complete)."""
    while len(buf) < n:
        chunk = sock.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            return buf, False
        buf += chunk
    return buf, True


def parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0].split(" ")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return first, headers


def error_reply(status, code, message, extra=()):
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            "<RequestId>fault-proxy</RequestId></Error>").encode()
    head = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}", "Content-Type: application/xml",
            f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def json_reply(status, obj):
    body = json.dumps(obj).encode()
    return (f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


def control(method, target, body):
    if target.split("?")[0] != "/_proxy/faults":
        return json_reply(404, {"error": f"no such control path {target}"})
    if method == "DELETE":
        with STATE.lock:
            STATE.rules.clear()
            STATE.log.clear()
        return json_reply(200, {"ok": True})
    if method == "GET":
        with STATE.lock:
            return json_reply(200, {"rules": [r.as_json() for r in STATE.rules],
                                    "log": list(STATE.log)})
    if method == "POST":
        try:
            spec = json.loads(body or b"null")
            rules = [Rule(s) for s in (spec if isinstance(spec, list) else [spec])]
        except (ValueError, re.error) as e:
            return json_reply(400, {"error": str(e)})
        with STATE.lock:
            STATE.rules.extend(rules)
        return json_reply(200, {"ok": True, "added": len(rules)})
    return json_reply(405, {"error": f"method {method} not allowed"})


def forward(head, body):
    """Send the request upstream; the whole response as (head bytes, body bytes, status)."""
    up = socket.create_connection(UPSTREAM, timeout=60)
    try:
        up.sendall(head + body)
        buf, ok = recv_until(up, b"", b"\r\n\r\n", MAX_HEAD)
        if not ok:
            raise ConnectionError("upstream closed before answering")
        end = buf.index(b"\r\n\r\n") + 4
        rhead, rest = buf[:end], buf[end:]
        first, headers = parse_head(rhead[:-4])
        status = int(first[1])
        method = head.split(b" ", 1)[0]
        if method == b"HEAD" or status in (204, 304) or 100 <= status < 200:
            return rhead, b"", status, headers
        if "content-length" in headers:
            rest, _ = recv_exact(up, rest, int(headers["content-length"]))
        else:  # until the server closes
            while True:
                chunk = up.recv(1 << 20)
                if not chunk:
                    break
                rest += chunk
        return rhead, rest, status, headers
    finally:
        up.close()


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        buf = b""
        try:
            while self.one(sock, buf):
                buf = b""
        except (OSError, ValueError) as e:
            print(f"s3_fault_proxy: {e}", file=sys.stderr)

    def one(self, sock, buf):
        """Serve one request; False when the connection is done."""
        buf, ok = recv_until(sock, buf, b"\r\n\r\n", MAX_HEAD)
        if not ok:
            return False
        end = buf.index(b"\r\n\r\n") + 4
        head, body = buf[:end], buf[end:]
        first, headers = parse_head(head[:-4])
        if len(first) < 3:
            sock.sendall(error_reply(400, "BadRequest", "malformed request line"))
            return False
        method, target = first[0], first[1]
        if "chunked" in headers.get("transfer-encoding", "").lower():
            sock.sendall(error_reply(501, "NotImplemented", "the fault proxy takes no chunked bodies",
                                     ["Connection: close"]))
            return False
        length = int(headers.get("content-length", "0") or 0)
        rule = None if target.startswith("/_proxy/") else STATE.take(method, target)
        fault = rule.fault if rule else None

        if fault == "drop-request":
            want = int(rule.spec.get("bytes", length // 2))
            recv_exact(sock, body, min(want, length))
            STATE.record(method, target, headers, fault, None)
            sock.shutdown(socket.SHUT_RDWR)
            return False
        body, complete = recv_exact(sock, body, length)
        if not complete:
            return False
        body, extra = body[:length], body[length:]
        if extra:  # pipelining is not something curl does here
            raise ValueError("bytes after the request body")

        if target.startswith("/_proxy/"):
            sock.sendall(control(method, target, body))
            return False
        if fault in ("429", "503", "500", "501"):
            status = int(fault)
            extra_headers = []
            if fault == "429" or "retry_after" in rule.spec:
                extra_headers.append(f"Retry-After: {rule.spec.get('retry_after', 1)}")
            code, msg = {
                429: ("TooManyRequests", "Please reduce your request rate."),
                503: ("SlowDown", "Please reduce your request rate."),
                500: ("InternalError", "We encountered an internal error. Please try again."),
                501: ("NotImplemented", "A header you provided implies functionality that is "
                      "not implemented"),
            }[status]
            STATE.record(method, target, headers, fault, status)
            sock.sendall(error_reply(status, code, msg, extra_headers))
            return True
        if fault == "stall":
            STATE.record(method, target, headers, fault, None)
            deadline = time.monotonic() + float(rule.spec.get("seconds", 30))
            sock.settimeout(0.2)
            while time.monotonic() < deadline:
                try:
                    if sock.recv(1) == b"":
                        break  # the client gave up
                except socket.timeout:
                    continue
            return False

        rhead, rbody, status, rheaders = forward(head, body)
        if fault == "drop-response":
            STATE.record(method, target, headers, fault, status)
            if rbody:
                want = int(rule.spec.get("bytes", len(rbody) // 2))
                sock.sendall(rhead + rbody[:min(want, len(rbody) - 1)])
            # nothing to cut in an empty body: the answer is lost whole
            sock.shutdown(socket.SHUT_RDWR)
            return False
        STATE.record(method, target, headers, None, status)
        sock.sendall(rhead + rbody)
        return "close" not in rheaders.get("connection", "").lower()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global UPSTREAM
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT of the S3 server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--faults", help="a JSON file of rules to load at start")
    a = ap.parse_args()
    m = re.fullmatch(r"http://([^:/]+):(\d+)/?", a.upstream)
    if not m:
        sys.exit("--upstream must be http://HOST:PORT")
    UPSTREAM = (m.group(1), int(m.group(2)))
    if a.faults:
        with open(a.faults) as f:
            spec = json.load(f)
        STATE.rules.extend(Rule(s) for s in (spec if isinstance(spec, list) else [spec]))
    srv = Server(("127.0.0.1", a.port), Handler)
    port = srv.server_address[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.replace(a.port_file + ".tmp", a.port_file)
    else:
        print(port, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
