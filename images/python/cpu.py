"""cpu: the Python twin of images/functions/cpu (the same sha256 for the same query)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faasbed_contract as c  # noqa: E402
import hashlib  # noqa: E402

BLOCK = bytes(range(256)) * 4


def handle(req):
    kib = req.int_param("kib", 64, 1, 65536)
    rounds = req.int_param("rounds", 1, 1, 1000)
    h = hashlib.sha256()
    for _ in range(kib * rounds):
        h.update(BLOCK)
    return c.as_json(200, {"sha256": h.hexdigest(), "kib": kib, "rounds": rounds,
                           "bytes": kib * 1024 * rounds,
                           "input": "1 KiB block with byte i = i mod 256, repeated kib*rounds times"})


if __name__ == "__main__":
    c.main("cpu", handle)
