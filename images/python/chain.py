"""chain: the Python twin of images/functions/chain (a hop of a chain, Go and Python mixed).

Query `next` lists the functions still to call, comma-separated (at most 8, each a plain
function name). An empty `next` ends the chain here. Otherwise this replica POSTs its request
body to $gateway_url/function/<first>?next=<rest> and answers with the downstream's hops plus
its own, outermost first: {"hops":[{"node","arch","instance","total_ns","call_ns"}, ...]} and
the X-Faasbed-Hops header (`node/arch/total_ns/call_ns` per hop), as the Go function does.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faasbed_contract as c  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.parse  # noqa: E402
import urllib.request  # noqa: E402

MAX_NEXT = 8
PLAIN = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
TIMEOUT_S = 120


def parse_next(s):
    if s == "":
        return []
    names = s.split(",")
    if len(names) > MAX_NEXT:
        raise c.BadRequest(f"query next names {len(names)} functions; at most {MAX_NEXT}")
    for n in names:
        if not PLAIN.fullmatch(n):
            raise c.BadRequest(f"query next: {n!r} is not a function name (lowercase letters, digits, '-')")
    return names


class CallError(Exception):
    """The downstream call failed (502 with this message)."""


def call(gateway, nxt, body):
    u = gateway.rstrip("/") + "/function/" + nxt[0]
    if len(nxt) > 1:
        u += "?next=" + urllib.parse.quote_plus(",".join(nxt[1:]))
    req = urllib.request.Request(u, data=body, method="POST",
                                 headers={"Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:
            b = r.read(1 << 20)
    except urllib.error.HTTPError as e:
        raise CallError(f"{u} answered {e.code}: {e.read(1 << 20).decode(errors='replace').strip()}")
    except OSError as e:
        raise CallError(f"call {u}: {e}")
    try:
        hops = json.loads(b)["hops"]
        if not isinstance(hops, list):
            raise ValueError("hops is not a list")
    except (ValueError, KeyError, TypeError) as e:
        raise CallError(f"{u} did not answer chain json ({e}); every function of `next` must be a chain function")
    return hops


def handle(req):
    t0 = time.perf_counter_ns()
    nxt = parse_next(req.query.get("next", ""))
    hops, call_ns = [], 0
    if nxt:
        gw = os.environ.get("gateway_url", "")
        if gw == "":
            return c.text(500, "gateway_url is not set; the platform (or the function's environment) must name the gateway for a chain to call on\n")
        c0 = time.perf_counter_ns()
        try:
            hops = call(gw, nxt, req.body)
        except CallError as e:
            return c.text(502, f"chain: {e}\n")
        call_ns = time.perf_counter_ns() - c0
    me = {"node": c.IDENTITY["node"], "arch": c.IDENTITY["arch"], "instance": c.IDENTITY["instance"],
          "total_ns": time.perf_counter_ns() - t0, "call_ns": call_ns}
    hops = [me] + hops
    header = ",".join(f"{h['node']}/{h['arch']}/{h['total_ns']}/{h['call_ns']}" for h in hops)
    status, ctype, body = c.as_json(200, {"hops": hops})
    return status, ctype, body, {"X-Faasbed-Hops": header}


if __name__ == "__main__":
    c.main("chain", handle)
