#!/usr/bin/env python3
"""Optimizer step speed: descent against its same-traffic roofline and against torch.optim, side by side.

For each optimizer and thread count this runs `descent bench optimizer --json` (which times step() and a trivial
kernel with the same memory traffic in one process) and then times torch.optim on the same number of float32
parameters with every implementation torch offers on CPUs (fused=True where supported, foreach, single-tensor),
in the same run, and prints ratios. Ratios, not absolute times, are the result: the machines are shared.

Usage: python3 bench/optim_vs_torch.py [--descent build/release/descent] [--params 16777216] [--threads 1,2]
Needs a current torch (fused CPU optimizers arrived in torch 2.4): e.g. a virtual environment with `pip install
torch`. Without torch only the descent columns are printed.
"""
import argparse
import json
import subprocess
import time

CONFIGS = [  # name in descent, --set arguments, torch class, torch kwargs
    ("adam", [], "Adam", {}),
    ("adamw", [], "AdamW", {}),
    ("sgd", [], "SGD", {"lr": 1e-3}),
    ("momentum", [], "SGD", {"lr": 1e-3, "momentum": 0.9}),
]


def time_torch(torch, cls, kwargs, n, threads, impl, min_seconds, repeats):
    torch.set_num_threads(threads)
    p = torch.rand(n, dtype=torch.float32, requires_grad=True)
    p.grad = torch.randn(n, dtype=torch.float32) * 1e-3
    extra = {"fused": True} if impl == "fused" else {"foreach": impl == "foreach"}
    try:
        opt = getattr(torch.optim, cls)([p], **kwargs, **extra)
        opt.step()
    except (RuntimeError, TypeError, ValueError):
        return None
    best = float("inf")
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while True:
            opt.step()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        best = min(best, elapsed / calls)
    return n / best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--descent", default="build/release/descent")
    ap.add_argument("--params", type=int, default=16 << 20)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--min-seconds", type=float, default=0.3)
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
        print("torch is not installed: printing descent's figures only")

    header = f"{'optimizer':<10} {'thr':>3} {'descent Mp/s':>12} {'roofline':>9} {'of roof':>8}"
    if torch is not None:
        header += f" {'torch fused':>11} {'foreach':>9} {'single':>9} {'vs best torch':>13}   (torch {torch.__version__})"
    print(header)
    for threads in [int(t) for t in args.threads.split(",")]:
        for name, sets, cls, kwargs in CONFIGS:
            cmd = [args.descent, "bench", "optimizer", "--name", name, "--params", str(args.params), "--threads",
                   str(threads), "--repeats", str(args.repeats), "--min-seconds", str(args.min_seconds), "--json"]
            for s in sets:
                cmd += ["--set", s]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            r = json.loads(out)
            line = (f"{name:<10} {threads:>3} {r['params_per_second'] / 1e6:>12.1f} "
                    f"{r['roofline_params_per_second'] / 1e6:>9.1f} {r['fraction_of_roofline']:>8.2f}")
            if torch is not None:
                rates = {impl: time_torch(torch, cls, kwargs, args.params, threads, impl, args.min_seconds,
                                          args.repeats) for impl in ("fused", "foreach", "single")}
                cells = [f"{rates[i] / 1e6:.1f}" if rates[i] else "n/a" for i in ("fused", "foreach", "single")]
                best = max(v for v in rates.values() if v)
                line += f" {cells[0]:>11} {cells[1]:>9} {cells[2]:>9} {r['params_per_second'] / best:>12.2f}x"
            print(line, flush=True)


if __name__ == "__main__":
    main()
