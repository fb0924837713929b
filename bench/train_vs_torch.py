#!/usr/bin/env python3
"""Training speed and accuracy on Fashion-MNIST: `descent train` against PyTorch eager, side by side in one run.

For each configuration of the training issue's targets this runs `descent train ... --json` and then the same
network in PyTorch (same layers, Keras' initialisation — Glorot-uniform kernels, zero biases — same optimizer,
batch size, epochs and thread count, shuffled every epoch, no validation split), and prints the test accuracy
of each and the ratio of their seconds per epoch. Ratios, not absolute times, are the result: the machines are
shared.

Usage: python3 bench/train_vs_torch.py [--descent build/release/descent] [--threads 1] [--epochs 10]
                                       [--configs mlp10,mlp256,cnn] [--cnn-epochs 10] [--seeds 1]
Needs torch and numpy in the Python that runs it (a virtual environment with `pip install torch numpy`); without
torch only descent's column is printed.
"""
import argparse
import gzip
import json
import os
import subprocess
import time

DATA = "/usr/share/datasets/fashion-mnist"

# name: (descent --model, optimizer, --set, batch size, torch builder)
CONFIGS = {
    "mlp10": ("mlp:10", "sgd", ["lr=0.01"], 32),
    "mlp256": ("mlp:256,256", "adam", ["lr=0.001"], 128),
    "cnn": ("cnn", "adam", ["lr=0.001"], 128),
}


def read_idx(path):
    import numpy as np
    for candidate in (path, path + ".gz"):
        if os.path.exists(candidate):
            opener = gzip.open if candidate.endswith(".gz") else open
            with opener(candidate, "rb") as f:
                raw = f.read()
            ndim = raw[3]
            dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
            return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    raise FileNotFoundError(path)


def run_descent(exe, model, optimizer, settings, batch, epochs, threads, seed):
    cmd = [exe, "train", "--model", model, "--optimizer", optimizer, "--batch-size", str(batch), "--epochs",
           str(epochs), "--threads", str(threads), "--validation-split", "0", "--seed", str(seed), "--json"]
    for s in settings:
        cmd += ["--set", s]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    r = json.loads(out)
    return r["test_accuracy"], sum(r["seconds_per_epoch"]) / len(r["seconds_per_epoch"])


def torch_model(torch, name):
    nn = torch.nn
    if name == "mlp10":
        layers = [nn.Linear(784, 10), nn.ReLU(), nn.Linear(10, 10)]
    elif name == "mlp256":
        layers = [nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)]
    else:  # channels-first twin of descent's cnn
        layers = [nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
                  nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10)]
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return model  # softmax folded into the loss (cross_entropy on logits), as descent's fused form


def run_torch(torch, name, optimizer, settings, batch, epochs, threads, data, seed):
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x_train, y_train, x_test, y_test = data
    model = torch_model(torch, name)
    lr = float(dict(s.split("=") for s in settings)["lr"])
    opt = (torch.optim.SGD(model.parameters(), lr=lr) if optimizer == "sgd" else
           torch.optim.Adam(model.parameters(), lr=lr))
    loss_fn = torch.nn.functional.cross_entropy
    n = x_train.shape[0]
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(n)
        for lo in range(0, n, batch):
            idx = order[lo:lo + batch]
            opt.zero_grad()
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
        seconds.append(time.perf_counter() - start)
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    return accuracy, sum(seconds) / len(seconds)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--descent", default="build/release/descent")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--cnn-epochs", type=int, default=None, help="epochs for cnn (default: --epochs)")
    ap.add_argument("--configs", default="mlp10,mlp256,cnn")
    ap.add_argument("--seeds", type=int, default=1,
                    help="train each side with seeds 0..N-1; accuracy is their mean (range in brackets), "
                         "seconds per epoch the mean over all runs")
    a = ap.parse_args()
    try:
        import numpy as np
        import torch
        images = lambda f: torch.from_numpy(read_idx(os.path.join(DATA, f)).reshape(-1, 784).astype(np.float32) / 255)
        labels = lambda f: torch.from_numpy(read_idx(os.path.join(DATA, f)).astype(np.int64))
        data = (images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte"),
                images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte"))
        version = f"torch {torch.__version__}"
    except ImportError:
        torch, version = None, "no torch"
    print(f"{'config':8} {'threads':>7} {'epochs':>6} {'descent acc':>11} {'torch acc':>9} {'descent s/ep':>12} "
          f"{'torch s/ep':>10} {'speed-up':>8}   ({version})")
    seeds = range(a.seeds)
    for name in a.configs.split(","):
        model, optimizer, settings, batch = CONFIGS[name]
        epochs = a.cnn_epochs if name == "cnn" and a.cnn_epochs else a.epochs
        d_acc, d_sec = zip(*[run_descent(a.descent, model, optimizer, settings, batch, epochs, a.threads, s)
                             for s in seeds])
        if torch is None:
            print(f"{name:8} {a.threads:7} {epochs:6} {mean(d_acc):11.4f} {'-':>9} {mean(d_sec):12.3f} {'-':>10} "
                  f"{'-':>8}{spread(d_acc, None)}")
            continue
        t_acc, t_sec = zip(*[run_torch(torch, name, optimizer, settings, batch, epochs, a.threads, data, s)
                             for s in seeds])
        print(f"{name:8} {a.threads:7} {epochs:6} {mean(d_acc):11.4f} {mean(t_acc):9.4f} {mean(d_sec):12.3f} "
              f"{mean(t_sec):10.3f} {mean(t_sec) / mean(d_sec):7.2f}x{spread(d_acc, t_acc)}", flush=True)


def mean(values):
    return sum(values) / len(values)


def spread(descent_acc, torch_acc):
    """With several seeds, the range of each side's test accuracy."""
    if len(descent_acc) < 2:
        return ""
    text = f"   accuracy over {len(descent_acc)} seeds: descent {min(descent_acc):.4f}-{max(descent_acc):.4f}"
    return text + (f", torch {min(torch_acc):.4f}-{max(torch_acc):.4f}" if torch_acc else "")

if __name__ == "__main__":
    main()
