#!/usr/bin/env python3
"""What `descent train --diagnose` costs: the same training run with and without the gradient diagnostics,
alternated in one run so both see the same machine load, and the ratio of their median seconds per epoch.

Usage: python3 bench/diagnose_overhead.py [--descent build/release/descent] [--model mlp:256,256]
                                          [--optimizer sgd] [--batch-size 128] [--every 10] [--epochs 2]
                                          [--repeats 3] [--threads 1] [--limit 0]
"""
import argparse
import json
import statistics
import subprocess


def seconds_per_epoch(args, diagnose):
    cmd = [args.descent, "train", "--model", args.model, "--optimizer", args.optimizer, "--batch-size",
           str(args.batch_size), "--epochs", str(args.epochs), "--threads", str(args.threads), "--json"]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    if diagnose:
        cmd += ["--diagnose", "--diagnose-every", str(args.every)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["seconds_per_epoch"], result.get("warnings", [])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--descent", default="build/release/descent")
    parser.add_argument("--model", default="mlp:256,256")
    parser.add_argument("--optimizer", default="sgd")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()

    plain, watched, warnings = [], [], []
    for _ in range(args.repeats):
        plain += seconds_per_epoch(args, False)[0]
        seconds, warnings = seconds_per_epoch(args, True)
        watched += seconds
    p, w = statistics.median(plain), statistics.median(watched)
    print(f"{args.model} {args.optimizer} batch {args.batch_size}, {args.threads} thread(s), "
          f"{args.repeats}x{args.epochs} epochs each, alternated")
    print(f"  seconds/epoch, median: plain {p:.3f}, --diagnose --diagnose-every {args.every} {w:.3f}")
    print(f"  overhead ratio: {w / p:.3f}")
    print(f"  warnings in the last diagnosed run: {[x['rule'] for x in warnings] or 'none'}")


if __name__ == "__main__":
    main()
