"""compress: the Python twin of images/functions/compress (gzip from the standard library).

No body: kib KiB of seeded text, the same bytes as the Go function (input_sha256 matches).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faasbed_contract as c  # noqa: E402
import gzip  # noqa: E402
import hashlib  # noqa: E402
from faasbed_seed import Rng  # noqa: E402

WORDS = [w.encode() for w in (
    "function", "cold", "start", "edge", "cloud", "arm", "latency", "gateway",
    "replica", "node", "raspberry", "pi", "seed", "thumbnail", "memory", "chain")]


def text(seed, n):
    rng, out = Rng(seed), bytearray()
    while len(out) < n:
        out += WORDS[rng.below(len(WORDS))]
        out += b"\n" if rng.below(10) == 0 else b" "
    return bytes(out[:n])


def handle(req):
    level = req.int_param("level", 6, 1, 9)
    body, source = req.body, "request body"
    if not body:
        body = text(req.seed(), req.int_param("kib", 256, 1, 65536) * 1024)
        source = "generated from seed"
    z = gzip.compress(body, compresslevel=level)
    return c.as_json(200, {
        "input_bytes": len(body), "input_sha256": hashlib.sha256(body).hexdigest(),
        "compressed_bytes": len(z), "ratio": len(body) / len(z), "level": level,
        "round_trip": gzip.decompress(z) == body, "input": source,
    })


if __name__ == "__main__":
    c.main("compress", handle)
