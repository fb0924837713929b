#!/usr/bin/env python3
"""Second-order methods: descent's L-BFGS, Newton-CG and Newton against scipy and torch, side by side.

The figures are counts, not times: function-and-gradient evaluations (every one, Hessian-vector products by finite
differences included), iterations, and the f reached, on Rosenbrock in float64 from (−1.2, 1, −1.2, 1, …) with
n = 2, 10, 100, and Newton-CG's outer iterations on descent's logistic-regression problem. Each descent figure comes
from one `descent minimize … --json` run; scipy (L-BFGS-B and Newton-CG with the exact gradient and no Hessian) and
torch.optim.LBFGS (strong Wolfe, in one step with a large max_iter) run in the same invocation.

Usage: python3 bench/second_order_vs_scipy.py [--descent build/release/descent]
Needs numpy and scipy (pip install scipy) and, for the torch column, torch; without them those columns are blank.
By-hand tool only: neither the build nor the tests run it.
"""
import argparse
import json
import subprocess
import warnings

# L-BFGS's tolerance_change is lowered from PyTorch's 1e-9, at which the 2-variable run stops at f = 4e-10.
LBFGS = ["line_search_fn=strong_wolfe", "tolerance_change=1e-12"]


def descent(binary, function, n, optimizer, settings, steps=10000, extra=()):
    cmd = [binary, "minimize", "--function", function, "--dim", str(n), "--optimizer", optimizer,
           "--steps", str(steps), "--json", *extra]
    for s in settings:
        cmd += ["--set", s]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return {"evals": r["evaluations"], "iters": r["iterations"], "f": r["f"], "note": r["reason"], "cmd": " ".join(cmd)}


def rosen_x0(n):
    return [-1.2 if i % 2 == 0 else 1.0 for i in range(n)]


def scipy_rows(n):
    try:
        import numpy as np
        from scipy.optimize import minimize, rosen, rosen_der
        import scipy
    except ImportError:
        return {}
    x0 = np.array(rosen_x0(n))
    rows = {}
    r = minimize(rosen, x0, jac=rosen_der, method="L-BFGS-B")
    rows["lbfgs"] = {"evals": r.nfev, "iters": r.nit, "f": r.fun, "note": f"scipy {scipy.__version__} L-BFGS-B"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = minimize(rosen, x0, jac=rosen_der, method="Newton-CG")
    # Without hess/hessp scipy's Newton-CG takes Hessian products by differences of gradients; njev counts every
    # gradient evaluation (those and the line search's), nfev the function values, mostly at the same points.
    rows["newton-cg"] = {"evals": r.njev, "iters": r.nit, "f": r.fun,
                         "note": f"scipy Newton-CG (njev {r.njev}, nfev {r.nfev})"}
    return rows


def torch_row(n):
    try:
        import torch
    except ImportError:
        return None
    x = torch.tensor(rosen_x0(n), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([x], max_iter=100000, max_eval=100000, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")

    def f():
        return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()

    def closure():
        opt.zero_grad()
        loss = f()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        value = float(f())
    state = opt.state[x]
    return {"evals": state["func_evals"], "iters": state["n_iter"], "f": value,
            "note": f"torch {torch.__version__} LBFGS, same settings"}


def show(label, row):
    if row is None:
        print(f"  {label:<26} {'-':>7} {'-':>7} {'-':>11}")
        return
    print(f"  {label:<26} {row['evals']:>7} {row['iters']:>7} {row['f']:>11.3e}  {row['note']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--descent", default="build/release/descent")
    args = ap.parse_args()
    commands = []
    print("Rosenbrock, float64, from (-1.2, 1, ...): function-and-gradient evaluations, iterations, f reached")
    print(f"  {'':<26} {'evals':>7} {'iters':>7} {'f':>11}")
    for n in (2, 10, 100):
        print(f"n = {n}")
        ref = scipy_rows(n)
        lbfgs = descent(args.descent, "rosenbrock", n, "lbfgs", LBFGS)
        commands.append(lbfgs["cmd"])
        show("descent lbfgs", lbfgs)
        show("torch LBFGS", torch_row(n))
        show("scipy L-BFGS-B", ref.get("lbfgs"))
        cg = descent(args.descent, "rosenbrock", n, "newton-cg", [])
        commands.append(cg["cmd"])
        show("descent newton-cg (FD hvp)", cg)
        show("scipy Newton-CG", ref.get("newton-cg"))
        newton = descent(args.descent, "rosenbrock", n, "newton", [])
        commands.append(newton["cmd"])
        show("descent newton (FD H)", newton)
    print("logistic-regression (descent's problem: 256 samples, l2 1e-3): Newton-CG outer iterations")
    for n in (10, 50):
        r = descent(args.descent, "logistic-regression", n, "newton-cg", [])
        commands.append(r["cmd"])
        show(f"descent newton-cg, dim {n}", r)
    print("commands:")
    for c in commands:
        print("  " + c)


if __name__ == "__main__":
    main()
