"""Command line of tests/hub-emulator: parse the options, bind 127.0.0.1, announce, serve."""

import argparse
import logging
import os
import re
import signal
import sys
import tempfile

import werkzeug.serving
from werkzeug.serving import ThreadedWSGIServer

from .app import Emu, create_app

SIZE_RE = re.compile(r"(\d+)\s*([KMG]i?B?|B)?", re.I)
UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


def size_arg(text):
    m = SIZE_RE.fullmatch(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size (bytes, or with K/M/G suffix, e.g. 1M)")
    unit = (m.group(2) or "").lower()[:1]
    value = int(m.group(1)) * UNITS[unit]
    if value <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got '{text}'")
    return value


def token_arg(text):
    token, _, user = text.partition("=")
    if not token:
        raise argparse.ArgumentTypeError(f"'{text}': expected TOKEN or TOKEN=USER")
    return token, user or None


def org_arg(text):
    org, _, users = text.partition("=")
    members = [u for u in users.split(",") if u]
    if not org or not members:
        raise argparse.ArgumentTypeError(f"'{text}': expected ORG=USER[,USER...]")
    return org, members


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="hub-emulator",
        description="Hugging Face Hub emulator for hfsync's tests, on 127.0.0.1 (see tests/hub/README.md).",
    )
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 picks a free one (default 0)")
    p.add_argument("--data", required=True, help="state directory (objects, repos, commits); created if missing")
    p.add_argument("--port-file", help="write the bound port number to this file once listening")
    p.add_argument("--token", action="append", type=token_arg, default=[], metavar="TOKEN[=USER]",
                   help="accept TOKEN with write access, as USER (default --user); repeatable")
    p.add_argument("--read-token", action="append", type=token_arg, default=[], metavar="TOKEN[=USER]",
                   help="accept TOKEN with read access only; repeatable")
    p.add_argument("--user", default="user", help="default user name for tokens (default 'user')")
    p.add_argument("--org", action="append", type=org_arg, default=[], metavar="ORG=USER[,USER...]",
                   help="make users members (writers) of an organisation namespace; repeatable")
    p.add_argument("--private-default", action="store_true",
                   help="repos created without 'private'/'visibility' are private (default public)")
    p.add_argument("--lfs-chunk-size", type=size_arg, default=5 * 1024 ** 2,
                   help="multipart part size, bytes or with K/M/G (default 5M)")
    p.add_argument("--lfs-multipart-threshold", type=size_arg, default=None,
                   help="objects larger than this use multipart when offered (default: the chunk size)")
    p.add_argument("--regular-max-size", type=size_arg, default=10 * 1024 ** 2,
                   help="largest non-LFS file a commit accepts; larger files get 'lfs' at preupload (default 10M)")
    p.add_argument("--page-size", type=int, default=1000, help="tree listing page size (default 1000; 50 max with expand)")
    p.add_argument("--quiet", action="store_true", help="no access log on stderr")
    args = p.parse_args(argv)
    if not (0 <= args.port <= 65535):
        p.error(f"--port {args.port}: expected 0..65535")
    if args.page_size < 1:
        p.error("--page-size must be >= 1")
    if args.lfs_multipart_threshold is None:
        args.lfs_multipart_threshold = args.lfs_chunk_size
    args.write_tokens = {t: u or args.user for t, u in args.token}
    args.read_tokens = {t: u or args.user for t, u in args.read_token}
    both = set(args.write_tokens) & set(args.read_tokens)
    if both:
        p.error(f"token(s) given both as --token and --read-token: {sorted(both)}")
    args.orgs = {}
    for org, members in args.org:
        args.orgs.setdefault(org, set()).update(members)
    return args


class Server(ThreadedWSGIServer):
    request_queue_size = 128  # clients open many connections at once (no keep-alive here)


def write_port_file(path, port):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".port.")
    with os.fdopen(fd, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s", stream=sys.stderr)
    werkzeug.serving._log_add_style = False  # plain access log lines, no terminal colours
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        emu = Emu(args)
    except OSError as e:
        print(f"hub-emulator: cannot use data directory '{args.data}': {e}", file=sys.stderr)
        return 1
    app = create_app(emu)
    try:
        server = Server("127.0.0.1", args.port, app)
    except OSError as e:
        print(f"hub-emulator: cannot listen on 127.0.0.1:{args.port}: {e}", file=sys.stderr)
        return 1
    port = server.server_address[1]
    if args.port_file:
        write_port_file(args.port_file, port)
    print(f"hub-emulator listening on http://127.0.0.1:{port} (data {os.path.abspath(args.data)})", flush=True)

    def stop(_sig, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
