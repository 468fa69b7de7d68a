#!/usr/bin/env python3
"""Times logitkit's elementwise slice kernels as a downstream library runs
them: the C-ABI cdylib of tools/downstream (built by tools/downstream.sh),
called through ctypes. With two libraries (say one built before a change and
one after) they alternate, so their ratio comes from one run.

    python3 tools/downstream_time.py LIB.so [LIB2.so] [--kernels sigmoid_slice ...]
        [--n 1024] [--lo -10] [--hi 10] [--rounds 3]

Prints, per kernel, the fastest time over all rounds in ns per element for
each library. Standard library only (array, ctypes).
"""
import argparse
import array
import ctypes
import random
import time

KERNELS = ["exp_slice", "sigmoid_slice", "softplus_slice", "log_sigmoid_slice"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("libs", nargs="+")
    ap.add_argument("--kernels", nargs="+", default=KERNELS)
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--lo", type=float, default=-10.0)
    ap.add_argument("--hi", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=2000, help="calls per timing")
    a = ap.parse_args()
    rng = random.Random(1)
    xs = array.array("f", [rng.uniform(a.lo, a.hi) for _ in range(a.n)])
    out = array.array("f", [0.0] * a.n)
    px, po = (ctypes.c_void_p(v.buffer_info()[0]) for v in (xs, out))
    libs = [ctypes.CDLL(p) for p in a.libs]
    for k in a.kernels:
        fns = [getattr(lib, k) for lib in libs]
        for f in fns:
            f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
            f.restype = None
        best = [float("inf")] * len(fns)
        for _ in range(a.rounds):
            for i, f in enumerate(fns):
                for _ in range(15):
                    t = time.perf_counter()
                    f(px, po, a.n, a.reps)
                    best[i] = min(best[i], (time.perf_counter() - t) / (a.reps * a.n) * 1e9)
        cells = " ".join(f"{b:.3f}" for b in best)
        ratio = f"  ({best[0] / best[-1]:.2f}x)" if len(fns) > 1 else ""
        print(f"{k}: {cells} ns per element{ratio}")


if __name__ == "__main__":
    main()
