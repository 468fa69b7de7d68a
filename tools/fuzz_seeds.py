#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/seed-*).

Each seed is a byte string that `tests/checks/input.rs` decodes into an
adversarial row: every special value (±0, ±inf, NaN payloads, ±MAX,
subnormals, the exp thresholds ±88.72 / −103.28 / ±103.97, ±1e30) repeated,
mixed with ordinary values, as masks (−inf) and as huge spreads, at lengths
around the SIMD widths (1…33) and a long one (1000). Regenerate with
`python3 tools/fuzz_seeds.py`; libFuzzer grows the corpora from here.
"""
import hashlib
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "corpus")
SPECIALS = 36  # len(input::SPECIAL)
# Indices into SPECIAL (tests/checks/input.rs).
ZERO, NEG_ZERO, INF, NEG_INF, NAN, MAX, NEG_MAX, TINY = 0, 1, 2, 3, 4, 8, 9, 12
EXP_EDGES = [15, 16, 17, 18, 19, 20, 21, 22, 23]


def u32(v):
    return struct.pack("<I", v)


def length(n):
    """Input::len with the `below(4101)` branch: byte % 4 == 3."""
    return bytes([3]) + u32(n)


def special(i):
    """Input::f32 choosing SPECIAL[i]: byte % 10 == 0, then below(36)."""
    return bytes([0]) + u32(i)


def ordinary(v):
    """Input::f32 choosing (i8 as f32)/16: byte % 10 == 5."""
    return bytes([5, v & 0xFF])


def independent(values):
    """Input::row mode 0 (byte % 6 == 0) followed by the values."""
    return bytes([0]) + b"".join(values)


def rows():
    out = []
    for n in [1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 1000]:
        for s in range(SPECIALS):
            # all equal to one special value (mode 1)
            out.append(length(n) + bytes([1]) + special(s))
            if n in (1, 9, 33):
                # one special among ordinary values
                vals = [ordinary(3 * i + 1) for i in range(n)]
                vals[(7 * s) % n] = special(s)
                out.append(length(n) + independent(vals))
        # masks: −inf everywhere except one ordinary value
        vals = [special(NEG_INF)] * n
        vals[n // 2] = ordinary(5)
        out.append(length(n) + independent(vals))
        # huge spreads: ±MAX alternating, and MAX with −MAX
        out.append(length(n) + independent([special(MAX if i % 2 else NEG_MAX) for i in range(n)]))
        # exp thresholds mixed with zeros and subnormals
        out.append(length(n) + independent(
            [special(EXP_EDGES[i % len(EXP_EDGES)] if i % 3 else TINY) for i in range(n)]))
    return out


# Leading selector bytes of each target's check (which branch it takes).
PREFIXES = {
    "lane_math": [b""],
    "log_sum_exp": [b""],
    "softmax": [b""],
    "cross_entropy": [bytes([0]), bytes([1])],
    "bce": [bytes([0]), bytes([1])],
    "fixed": [bytes([11])],
}


def main():
    body = rows()
    for target, prefixes in PREFIXES.items():
        d = os.path.join(ROOT, target)
        os.makedirs(d, exist_ok=True)
        for old in os.listdir(d):
            if old.startswith("seed-"):
                os.remove(os.path.join(d, old))
        count = 0
        for p in prefixes:
            for b in body:
                data = p + b
                name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
                with open(os.path.join(d, name), "wb") as f:
                    f.write(data)
                count += 1
        print(f"{target}: {count} seeds")


if __name__ == "__main__":
    main()
