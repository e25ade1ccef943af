"""The faasbed function contract in Python (the twin of images/functions/contract, stdlib only).

Listen on $HOST:$PORT (port default 8080), serve GET /_/health, and put X-Faasbed-Instance,
X-Faasbed-Started (unix ns), X-Faasbed-Arch (GOARCH spelling: amd64, arm64, arm/v7),
X-Faasbed-Node ($NODE_NAME) and X-Duration-Seconds (the handler's own time) on every response.
"""
import time

STARTED_NS = time.time_ns()  # as early as the function's imports allow

import os  # noqa: E402
import sys  # noqa: E402

# images/python/json.py (the json function) would shadow the standard json module: import the
# standard library with this folder off sys.path, then put it back.
_HERE = os.path.dirname(os.path.abspath(__file__))
_PATH = sys.path[:]
sys.path[:] = [p for p in _PATH if os.path.abspath(p or ".") != _HERE]
import http.server  # noqa: E402
import json  # noqa: E402
from urllib.parse import parse_qs, urlsplit  # noqa: E402
sys.path[:] = _PATH

HEALTH = "/_/health"
MAX_BODY = 8 << 20  # bytes

_MACHINES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm/v7", "armv8l": "arm/v7"}


def arch():
    """The machine in Go's spelling, so Go and Python replicas of one node say the same."""
    m = os.uname().machine
    return _MACHINES.get(m, m)


class BadRequest(Exception):
    """A request the handler refuses with 400 and this message."""


class Request:
    """What a handler sees: method, path, query (first value of each name) and body bytes."""

    def __init__(self, method, target, body):
        parts = urlsplit(target)
        self.method = method
        self.path = parts.path
        self.query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self.body = body

    def int_param(self, name, default, lo, hi):
        s = self.query.get(name, "")
        if s == "":
            return default
        try:
            v = int(s)
        except ValueError:
            v = None
        if v is None or v < lo or v > hi:
            raise BadRequest(f"query {name}={s!r} must be an integer from {lo} to {hi}")
        return v

    def seed(self):
        s = self.query.get("seed", "")
        if s == "":
            return 1
        if not s.isdigit() or int(s) >= 1 << 64:
            raise BadRequest(f"query seed={s!r} must be an unsigned 64-bit integer")
        return int(s)


def text(status, body):
    return status, "text/plain; charset=utf-8", body.encode()


def as_json(status, value):
    return status, "application/json", (json.dumps(value, separators=(",", ":")) + "\n").encode()


IDENTITY = {}  # node, arch, instance of this replica (set by main), as Go's contract.Current()


def main(name, handler):
    """Serve handler(Request) -> (status, content_type, body[, extra headers]) until killed.

    Extra headers (a dict) go out before the contract's own ones, which win, as in Go."""
    instance = os.urandom(8).hex()
    IDENTITY.update(node=os.environ.get("NODE_NAME", ""), arch=arch(), instance=instance)
    ident = [
        ("X-Faasbed-Instance", instance),
        ("X-Faasbed-Started", str(STARTED_NS)),
        ("X-Faasbed-Arch", arch()),
        ("X-Faasbed-Node", os.environ.get("NODE_NAME", "")),
    ]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self):
            t0 = time.perf_counter_ns()
            extra = {}
            n = int(self.headers.get("Content-Length") or 0)
            if n > MAX_BODY:
                status, ctype, body = text(413, f"request body is larger than {MAX_BODY} bytes; send less\n")
                self.close_connection = True
            else:
                raw = self.rfile.read(n) if n else b""
                if self.path.split("?", 1)[0] == HEALTH:
                    status, ctype, body = text(200, "ok\n")
                else:
                    try:
                        status, ctype, body, *more = handler(Request(self.command, self.path, raw))
                        extra = more[0] if more else {}
                    except BadRequest as e:
                        status, ctype, body = text(400, f"{e}\n")
                    except Exception as e:  # a bug in the function: say it, keep serving
                        status, ctype, body = text(500, f"{name}: {type(e).__name__}: {e}\n")
            took = (time.perf_counter_ns() - t0) / 1e9
            self.send_response(status)
            own = {k.lower() for k, _ in ident} | {"x-duration-seconds", "content-type", "content-length"}
            for k, v in extra.items():
                if k.lower() not in own:
                    self.send_header(k, v)
            for k, v in ident:
                self.send_header(k, v)
            self.send_header("X-Duration-Seconds", f"{took:.9f}")
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

        def log_message(self, fmt, *args):
            pass

    host = os.environ.get("HOST", "")
    port = int(os.environ.get("PORT") or 8080)
    try:
        srv = http.server.ThreadingHTTPServer((host, port), Handler)
    except OSError as e:
        sys.exit(f"function {name}: cannot serve on {host}:{port}: {e}; set PORT to a free port")
    print(f"function {name} instance {instance} arch {arch()} node {os.environ.get('NODE_NAME', '')!r} "
          f"python {sys.version.split()[0]} listening on {host}:{port}", file=sys.stderr, flush=True)
    srv.serve_forever()
