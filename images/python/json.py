"""json: the Python twin of images/functions/json (byte-identical answers for valid input).

Parses a JSON object or array (at most 8 MiB) and returns a summary: the number of values of
each type, the number of object keys, the nesting depth, and the top-level keys sorted (object)
or the top-level length (array). Invalid JSON, or a top-level value that is not an object or
array, gives 400. The body is encoded as Go's encoding/json (Go 1.19) encodes the Go summary.
"""
import os
import sys

# This file is json.py: drop its own folder's shadowing before importing the standard json.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
import json  # noqa: E402

sys.path.insert(0, _HERE)
import faasbed_contract as c  # noqa: E402

TYPES = ("object", "array", "string", "number", "bool", "null")


def _no_constant(name):
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


def go_string(s):
    """A JSON string as Go's encoding/json writes it: UTF-8 as is, <>& and U+2028/9 escaped."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or ch in "<>&" or o in (0x2028, 0x2029):
            out.append(f"\\u{o:04x}")
        elif 0xD800 <= o <= 0xDFFF:  # a lone surrogate: Go's decoder made it U+FFFD
            out.append("\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def walk(v, depth, s):
    s["max_depth"] = max(s["max_depth"], depth)
    if isinstance(v, dict):
        s["counts"]["object"] += 1
        s["keys"] += len(v)
        for x in v.values():
            walk(x, depth + 1, s)
    elif isinstance(v, list):
        s["counts"]["array"] += 1
        for x in v:
            walk(x, depth + 1, s)
    elif isinstance(v, str):
        s["counts"]["string"] += 1
    elif isinstance(v, bool):
        s["counts"]["bool"] += 1
    elif v is None:
        s["counts"]["null"] += 1
    else:
        s["counts"]["number"] += 1


def encode(s):
    """The Go struct's field order; the counts map with sorted keys; omitempty as Go does it."""
    counts = ",".join(f'"{k}":{s["counts"][k]}' for k in sorted(TYPES))
    parts = [f'"top":{go_string(s["top"])}', f'"bytes":{s["bytes"]}', f'"counts":{{{counts}}}',
             f'"keys":{s["keys"]}', f'"max_depth":{s["max_depth"]}']
    if s.get("top_keys"):
        parts.append('"top_keys":[' + ",".join(go_string(k) for k in s["top_keys"]) + "]")
    if "top_length" in s:
        parts.append(f'"top_length":{s["top_length"]}')
    return ("{" + ",".join(parts) + "}\n").encode()


def handle(req):
    try:
        v = json.loads(req.body.decode("utf-8", "replace"), parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        return c.text(400, f"invalid json: {e}; send one JSON object or array\n")
    s = {"bytes": len(req.body), "counts": {t: 0 for t in TYPES}, "keys": 0, "max_depth": 0}
    if isinstance(v, dict):
        s["top"] = "object"
        # Go sorts the keys' UTF-8 bytes; sort by the same so non-ASCII keys order alike.
        s["top_keys"] = sorted(v, key=lambda k: k.encode("utf-8", "surrogatepass"))
    elif isinstance(v, list):
        s["top"] = "array"
        s["top_length"] = len(v)
    else:
        return c.text(400, "the top-level json value must be an object or array\n")
    try:
        walk(v, 1, s)
    except RecursionError:
        return c.text(400, "invalid json: exceeded max depth; send one JSON object or array\n")
    return 200, "application/json", encode(s)


if __name__ == "__main__":
    c.main("json", handle)
