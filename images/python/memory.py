"""memory: the Python twin of images/functions/memory (the same checksum for the same query)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faasbed_contract as c  # noqa: E402
from faasbed_seed import Rng  # noqa: E402

PAGE = 4096


def work(mib, touches, seed):
    size = mib << 20
    b = bytearray(size)
    pages = size // PAGE
    for i in range(pages):
        b[i * PAGE] = i & 255
    rng, s = Rng(seed), 0
    for _ in range(touches):
        p = rng.below(size)
        s = (s * 31 + b[p]) & 0xFFFFFFFF
        b[p] = (b[p] + 1) & 255
    return s, pages


def vm_hwm_kib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def handle(req):
    mib = req.int_param("mib", 64, 1, 2048)
    touches = req.int_param("touches", 100000, 0, 10000000)
    s, pages = work(mib, touches, req.seed())
    return c.as_json(200, {"mib": mib, "pages": pages, "touches": touches, "checksum": s,
                           "vm_hwm_kib": vm_hwm_kib()})


if __name__ == "__main__":
    c.main("memory", handle)
