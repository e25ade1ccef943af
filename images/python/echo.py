"""echo: the Python twin of images/functions/echo (the body back, or ok; no ?secret here)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faasbed_contract as c  # noqa: E402


def handle(req):
    if not req.body:
        return c.text(200, "ok\n")
    return 200, "application/octet-stream", req.body


if __name__ == "__main__":
    c.main("echo", handle)
