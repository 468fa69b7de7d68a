#!/usr/bin/env python3
"""PyTorch's CPU kernels on one thread, for side-by-side comparisons with
`logitkit-callgrind KERNEL 4096 R` (docs/performance.md, "Against PyTorch").

Run: python3 tools/torch_bench.py [N] [CALLS]   (needs torch: pip install torch)

N float32 values uniform in [-8, 8) (default 2^20, the driver's 256*4096
logits); each kernel is called CALLS times (default 21), and the fastest and
the median call are printed in ns per element.
"""
import sys
import time

import torch

torch.set_num_threads(1)
n = int(sys.argv[1]) if len(sys.argv) > 1 else 1 << 20
calls = int(sys.argv[2]) if len(sys.argv) > 2 else 21
x = (torch.rand(n, dtype=torch.float32) - 0.5) * 16.0
y = torch.empty_like(x)
kernels = [
    ("sigmoid", lambda: torch.sigmoid(x, out=y)),
    ("exp", lambda: torch.exp(x, out=y)),
    ("softmax", lambda: torch.softmax(x, 0)),
    ("log_softmax", lambda: torch.log_softmax(x, 0)),
]
for name, kernel in kernels:
    kernel()  # warm-up
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        kernel()
        times.append(time.perf_counter() - start)
    times.sort()
    print(f"{name} n={n}: fastest {times[0] / n * 1e9:.3f} ns/elem, "
          f"median {times[len(times) // 2] / n * 1e9:.3f}")
print("torch", torch.__version__, torch.backends.cpu.get_cpu_capability())
