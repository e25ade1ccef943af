"""thumbnail: the Python twin of images/functions/thumbnail (pure Python PNG codec and box filter).

No body: a seeded w x h picture (the Go function's `gen`, same bytes) is PNG-encoded, then decoded,
shrunk with an area-average filter and encoded again. A body must be an 8-bit RGB or RGBA,
non-interlaced PNG (no JPEG: the standard library has no JPEG decoder). pixels_sha256 equals the
Go function's for the same query. Pure Python is slow: keep w and h small on emulated nodes.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faasbed_contract as c  # noqa: E402
import hashlib  # noqa: E402
import struct  # noqa: E402
import zlib  # noqa: E402
from faasbed_seed import Rng  # noqa: E402

SIG = b"\x89PNG\r\n\x1a\n"


def gen(seed, w, h):
    rng = Rng(seed)
    r0, g0, b0 = rng.below(256), rng.below(256), rng.below(256)
    rows = []
    for y in range(h):
        row = bytearray(w * 3)
        for x in range(w):
            row[3 * x] = (x + r0) & 255
            row[3 * x + 1] = (y + g0) & 255
            row[3 * x + 2] = ((x ^ y) + b0) & 255
        rows.append(row)
    for _ in range(8):
        x0, y0 = rng.below(w), rng.below(h)
        rw, rh = 1 + rng.below(w // 4 + 1), 1 + rng.below(h // 4 + 1)
        col = rng.below(1 << 24)
        px = bytes(((col >> 16) & 255, (col >> 8) & 255, col & 255))
        x1 = min(x0 + rw, w)
        for y in range(y0, min(y0 + rh, h)):
            rows[y][3 * x0:3 * x1] = px * (x1 - x0)
    return rows


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode(rows, w, h):
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return SIG + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def paeth(a, b, cc):
    p = a + b - cc
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - cc)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else cc


def decode(data):
    """RGB rows of an 8-bit RGB/RGBA non-interlaced PNG; BadRequest otherwise."""
    if not data.startswith(SIG):
        raise c.BadRequest("the body is not a PNG; send a PNG, or no body to use a generated one")
    pos, idat, hdr = 8, [], None
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + n
    if hdr is None or hdr[2] != 8 or hdr[3] not in (2, 6) or hdr[6] != 0:
        raise c.BadRequest("only 8-bit RGB or RGBA non-interlaced PNGs are decoded here")
    w, h, bpp = hdr[0], hdr[1], 3 if hdr[3] == 2 else 4
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as e:
        raise c.BadRequest(f"the PNG's image data is corrupt: {e}")
    stride, prev, rows = w * bpp, bytearray(w * bpp), []
    for y in range(h):
        ft = raw[y * (stride + 1)]
        cur = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = cur[i - bpp] if i >= bpp else 0
            if ft == 1:
                cur[i] = (cur[i] + a) & 255
            elif ft == 2:
                cur[i] = (cur[i] + prev[i]) & 255
            elif ft == 3:
                cur[i] = (cur[i] + ((a + prev[i]) >> 1)) & 255
            elif ft == 4:
                cur[i] = (cur[i] + paeth(a, prev[i], prev[i - bpp] if i >= bpp else 0)) & 255
        prev = cur
        rows.append(cur if bpp == 3 else bytearray(b for i, b in enumerate(cur) if i % 4 != 3))
    return rows, w, h


def box(rows, w, h, tw, th):
    out = bytearray()
    for oy in range(th):
        y0, y1 = oy * h // th, (oy + 1) * h // th
        for ox in range(tw):
            x0, x1 = ox * w // tw, (ox + 1) * w // tw
            sr = sg = sb = 0
            for y in range(y0, y1):
                row = rows[y]
                sr += sum(row[3 * x0:3 * x1:3])
                sg += sum(row[3 * x0 + 1:3 * x1:3])
                sb += sum(row[3 * x0 + 2:3 * x1:3])
            n = (y1 - y0) * (x1 - x0)
            out += bytes((sr // n, sg // n, sb // n))
    return out


def handle(req):
    body, source = req.body, "request body"
    if not body:
        s = req.seed()
        w = req.int_param("w", 256, 16, 2048)
        h = req.int_param("h", 256, 16, 2048)
        body, source = encode(gen(s, w, h), w, h), "generated from seed"
    rows, w, h = decode(body)
    tw = req.int_param("tw", min(64, w), 1, w)
    th = req.int_param("th", min(64, h), 1, h)
    px = box(rows, w, h, tw, th)
    thumb = encode([px[y * tw * 3:(y + 1) * tw * 3] for y in range(th)], tw, th)
    return c.as_json(200, {
        "width": w, "height": h, "thumb_width": tw, "thumb_height": th,
        "input_bytes": len(body), "thumb_bytes": len(thumb),
        "pixels_sha256": hashlib.sha256(px).hexdigest(), "input": source,
    })


if __name__ == "__main__":
    c.main("thumbnail", handle)
