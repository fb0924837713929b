// Line searches along a descent direction d from x: choose a step t for x + t·d from evaluations of f and ∇f there.
// The closure methods (L-BFGS, Newton-CG, Newton) share them.
//
// strong_wolfe is PyTorch's _strong_wolfe (torch/optim/lbfgs.py, itself a port of Torch7's lswolfe.lua): bracketing
// with cubic extrapolation, then zoom with safeguarded cubic interpolation — Nocedal & Wright, Numerical
// Optimization (2nd ed.), Algorithms 3.5 and 3.6 — accepting t when
//   f(x + t·d) ≤ f(x) + c1·t·∇f(x)·d          (sufficient decrease, Armijo)
//   |∇f(x + t·d)·d| ≤ c2·|∇f(x)·d|             (strong curvature)
// Unlike PyTorch's, it treats a trial where f or its slope is not finite (an overflow) as too far and steps back
// by tenths, and stops extrapolating before the step overflows, where PyTorch's goes on with NaN.
// backtracking tries t, then shrinks it by safeguarded quadratic interpolation (N&W §3.5, kept within [0.1, 0.5]
// of the previous trial) until the sufficient-decrease condition holds.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace descent::optim {

// f(x + t·d), writing ∇f(x + t·d) into grad.
using LineFunction = std::function<double(double t, std::span<double> grad)>;

struct LineSearchResult {
  double t = 0.0;               // the step taken; 0 when the search found no point below f(x)
  double f = 0.0;               // f(x + t·d)
  std::vector<double> grad;     // ∇f(x + t·d)
  int64_t evaluations = 0;      // calls of the line function
  bool last_evaluated = false;  // the last call was at the returned t (the closure's graph is at that point)
};

struct StrongWolfeOptions {
  double c1 = 1e-4;                // sufficient decrease
  double c2 = 0.9;                 // curvature
  double tolerance_change = 1e-9;  // stop zooming when the bracket times max|d| is below this
  int64_t max_ls = 25;             // evaluations after the first
};

// From the step t, with f = f(x), g = ∇f(x) and gtd = g·d < 0.
LineSearchResult strong_wolfe(const LineFunction& phi, std::span<const double> d, double t, double f,
                              std::span<const double> g, double gtd, const StrongWolfeOptions& options = {});

struct BacktrackingOptions {
  double c1 = 1e-4;     // sufficient decrease
  int64_t max_ls = 25;  // evaluations after the first
};

// From the step t; `g` is returned as the gradient when no step is accepted (t = 0).
LineSearchResult backtracking(const LineFunction& phi, double t, double f, std::span<const double> g, double gtd,
                              const BacktrackingOptions& options = {});

// The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, clipped to `bounds` (default: the
// interval between x1 and x2); the midpoint of the bounds when the cubic has no minimiser (Torch7's polyinterp).
double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2,
                         std::optional<std::pair<double, double>> bounds = std::nullopt);

}  // namespace descent::optim
