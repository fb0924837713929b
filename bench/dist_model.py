#!/usr/bin/env python3
"""dist_model.py: the expected efficiency of descent's data-parallel training at 8-512 ranks (docs/distributed.md).

A model, not a measurement: it takes figures measured here (bench/dist_scaling.sh) and assumed networks, and
prints the step time and parallel efficiency of ring-allreduce data parallelism:

  allreduce(N)  = 2(N-1)*alpha + 2(N-1)/N * S / bw        (ring: 2(N-1) steps, each rank sends 2(N-1)/N of S)
  step(N)       = compute(b) + exposed(N)
  exposed(N)    between max(0, allreduce(N) - backward(b))  (buckets fully hidden behind backward)
                  and allreduce(N)                          (nothing hidden)
  efficiency    = compute(b) / step(N)                      (weak scaling: b rows per rank, global batch N*b)

S is the gradient bytes, compute(b) a step's forward+backward+update on b rows on one core, backward(b) ~ 2/3 of
it. Strong scaling (global batch B fixed) is the same formula with b = B/N, valid while B/N >= 1.

  python3 bench/dist_model.py --bytes 2.68e6 --step-ms 4.1 --rows 256 [--check N=ms ...]
--check N=MS:LOCAL compares the model with this machine's measured bus bandwidth and latency (--local-bw,
--local-alpha) against the step time MS measured with N ranks; LOCAL is one process's step on the B/N rows a rank
gets (measured, so that what the cores lose when they share memory and run smaller products is in the compute
term, not blamed on communication). With more ranks than cores, a core runs ceil(N/cores) ranks' compute.
"""
import argparse

NETWORKS = [  # assumed, not measured: per-link bandwidth (bytes/s) and per-message latency (s)
    ("25 Gb/s Ethernet (TCP)", 25e9 / 8, 15e-6),
    ("100 Gb/s InfiniBand EDR", 100e9 / 8, 2e-6),
    ("200 Gb/s InfiniBand HDR", 200e9 / 8, 1.5e-6),
]


def allreduce(n, size, bw, alpha):
    return 0.0 if n == 1 else 2 * (n - 1) * alpha + 2 * (n - 1) / n * size / bw


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bytes", type=float, required=True, help="gradient bytes per step (the closing report's MB)")
    p.add_argument("--step-ms", type=float, required=True, help="one rank's step on --rows rows, 1 core (ms)")
    p.add_argument("--rows", type=int, required=True, help="rows of that step")
    p.add_argument("--backward-share", type=float, default=2 / 3, help="backward's share of a step")
    p.add_argument("--local-bw", type=float, help="bus bandwidth measured here (GB/s, bench/dist_allreduce)")
    p.add_argument("--local-alpha", type=float, default=5e-6, help="latency per message here (s)")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--check", nargs="*", default=[], help="N=MS:LOCAL: measured step times (ms), see above")
    a = p.parse_args()
    step = a.step_ms / 1e3
    per_row = step / a.rows

    print(f"gradient {a.bytes / 1e6:.2f} MB, compute {a.step_ms:.2f} ms per step of {a.rows} rows on one core")
    for name, bw, alpha in NETWORKS:
        print(f"\n{name}: weak scaling, {a.rows} rows per rank (efficiency: nothing hidden .. buckets hidden)")
        print(f"{'ranks':>6} {'allreduce ms':>13} {'step ms':>16} {'efficiency':>16}")
        for n in (8, 16, 32, 64, 128, 256, 512):
            ar = allreduce(n, a.bytes, bw, alpha)
            hidden = max(0.0, ar - a.backward_share * step)
            lo, hi = step / (step + ar), step / (step + hidden)
            print(f"{n:>6} {ar * 1e3:>13.3f} {(step + hidden) * 1e3:>7.2f} .. {(step + ar) * 1e3:>6.2f} "
                  f"{lo:>7.1%} .. {hi:>6.1%}")
        print(f"  strong scaling, global batch {a.rows}: ", end="")
        cells = []
        for n in (8, 16, 32, 64, 128, 256, 512):
            if a.rows / n < 1:
                cells.append(f"{n}: -")
                continue
            c = per_row * a.rows / n
            ar = allreduce(n, a.bytes, bw, alpha)
            cells.append(f"{n}: {c / (c + ar):.0%}..{c / (c + max(0.0, ar - a.backward_share * c)):.0%}")
        print(", ".join(cells))

    if a.check and a.local_bw:
        print(f"\nthis machine ({a.cores} cores, bus bandwidth {a.local_bw} GB/s, latency {a.local_alpha * 1e6:.0f} us),"
              f" global batch {a.rows}")
        print(f"{'ranks':>6} {'rank compute ms':>16} {'allreduce ms':>13} {'model ms':>18} {'measured ms':>12}")
        for item in a.check:
            n, times = item.split("=")
            ms, local = (float(v) for v in times.split(":"))
            n = int(n)
            c = local / 1e3 * -(-n // a.cores)
            ar = allreduce(n, a.bytes, a.local_bw * 1e9, a.local_alpha)
            hidden = max(0.0, ar - a.backward_share * c)
            print(f"{n:>6} {c * 1e3:>16.2f} {ar * 1e3:>13.3f} {(c + hidden) * 1e3:>8.2f} .. {(c + ar) * 1e3:>6.2f} "
                  f"{ms:>12.2f}")


if __name__ == "__main__":
    main()
