#!/usr/bin/env python3
"""Per-step cost of the preconditioned optimizers relative to Adam, measured side by side in one run.

Runs `descent train` (Fashion-MNIST, --model mlp:256,256 by default, batch 128, no validation split) for one epoch
over the first --rows training rows with each optimizer in turn, --rounds times interleaved (adam, muon, shampoo,
adam, muon, …) so that load from other processes spreads over all of them, and prints each optimizer's median
milliseconds per training step (forward, backward and update: the whole step a user waits for) and its ratio to
Adam's. Only the standard library is needed:
    python3 bench/precond_vs_adam.py --descent build/release/descent [--rows 12800] [--rounds 3] [--threads 1]
        [--optimizers adam,muon,shampoo,adahessian,sophia] [--set shampoo:precondition_frequency=50 …]
The Hessian-based optimizers (adahessian, sophia) pay for the recorded backward pass (create_graph) that fit runs
for them, so their figure includes it.
"""
import argparse
import json
import math
import statistics
import subprocess
import sys


def run_once(args, optimizer, settings):
    cmd = [args.descent, "train", "--model", args.model, "--optimizer", optimizer, "--batch-size",
           str(args.batch_size), "--epochs", "1", "--limit", str(args.rows), "--validation-split", "0", "--seed", "0",
           "--threads", str(args.threads), "--json"]
    for s in settings:
        cmd += ["--set", s]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    steps = math.ceil(args.rows / args.batch_size)
    return result["seconds_per_epoch"][0] / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--descent", default="build/release/descent")
    parser.add_argument("--model", default="mlp:256,256")
    parser.add_argument("--rows", type=int, default=12800)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--optimizers", default="adam,muon,shampoo")
    parser.add_argument("--set", action="append", default=[], metavar="OPTIMIZER:KEY=VALUE",
                        help="a setting for one optimizer, e.g. shampoo:precondition_frequency=50")
    args = parser.parse_args()
    names = args.optimizers.split(",")
    if "adam" not in names:
        names.insert(0, "adam")
    settings = {n: [s.split(":", 1)[1] for s in args.set if s.split(":", 1)[0] == n] for n in names}

    times = {n: [] for n in names}
    for r in range(args.rounds):
        for n in names:
            times[n].append(run_once(args, n, settings[n]))
            print(f"round {r + 1}: {n:10s} {1e3 * times[n][-1]:8.3f} ms/step", file=sys.stderr)
    adam = statistics.median(times["adam"])
    print(f"{args.model}, batch {args.batch_size}, {args.rows} rows, {args.threads} thread(s), "
          f"median of {args.rounds} interleaved rounds")
    print(f"{'optimizer':12s} {'ms/step':>9s} {'x Adam':>7s}  settings")
    for n in names:
        t = statistics.median(times[n])
        print(f"{n:12s} {1e3 * t:9.3f} {t / adam:7.2f}  {' '.join(settings[n]) or '(defaults)'}")


if __name__ == "__main__":
    main()
