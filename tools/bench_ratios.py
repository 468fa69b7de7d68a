#!/usr/bin/env python3
"""Print the ratios of one criterion run as a markdown table.

Usage: python3 tools/bench_ratios.py [GROUP ...] [--lead VARIANT] [--dir target/criterion] [--ghz F]

For each group (e.g. exp, ln, ln_1p, ce_row) and size, prints ns per element
of the lead variant (default `simd`) and every other variant's time divided
by the lead's (how many times faster the lead is), all from the same run.
Sizes like 256x10 count 2560 elements. Reads criterion's estimates.json (mean).
With --ghz F it also prints the lead's cycles per element at a core clock of
F GHz (ns x GHz; say how the clock was measured).
"""
import json
import os
import sys

args = sys.argv[1:]
root = "target/criterion"
lead_name = "simd"
if "--lead" in args:
    i = args.index("--lead")
    lead_name = args[i + 1]
    del args[i:i + 2]
ghz = None
if "--ghz" in args:
    i = args.index("--ghz")
    ghz = float(args[i + 1])
    del args[i:i + 2]
if "--dir" in args:
    i = args.index("--dir")
    root = args[i + 1]
    del args[i:i + 2]
groups = args or sorted(d for d in os.listdir(root) if d != "report")
for group in groups:
    gdir = os.path.join(root, group)
    if not os.path.isdir(gdir):
        continue
    variants = sorted(v for v in os.listdir(gdir) if v != "report")
    times = {}
    for v in variants:
        for size in os.listdir(os.path.join(gdir, v)):
            est = os.path.join(gdir, v, size, "new", "estimates.json")
            if os.path.exists(est):
                with open(est) as f:
                    times[(v, size)] = json.load(f)["mean"]["point_estimate"]
    def size_key(s):
        parts = [int(p) for p in s.split("x") if p.isdigit()]
        return (len(parts), parts)
    sizes = sorted({s for (_, s) in times}, key=size_key)
    lead = lead_name if lead_name in variants else variants[0]
    others = [v for v in variants if v != lead]
    print(f"\n{group}: ns/element of `{lead}`, and speedup of `{lead}` over each baseline")
    cyc = [f" cycles/elem @ {ghz} GHz"] if ghz else []
    print("| n | " + lead + " ns/elem | " + "".join(f"{lead}{c} | " for c in cyc)
          + " | ".join(f"vs {o}" for o in others) + " |")
    print("|---" * (2 + len(cyc) + len(others)) + "|")
    for s in sizes:
        if (lead, s) not in times:
            continue
        t = times[(lead, s)]
        n = 1
        for p in s.split("x"):
            n *= int(p) if p.isdigit() else 1
        cells = [f"{times[(o, s)] / t:.1f}x" if (o, s) in times else "-" for o in others]
        cyc = f"{t / n * ghz:.3f} | " if ghz else ""
        print(f"| {s} | {t / n:.3f} | {cyc}" + " | ".join(cells) + " |")
