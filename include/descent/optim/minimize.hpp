// descent::minimize(f, x0, optimizer, options): any optimizer on a function of one vector, as scipy.optimize.minimize
// and ensmallen's Optimize do — what `descent minimize` runs. f is either written with descent's ops (its gradient
// by autograd; double backward for the Newton methods' Hessian products) or hands back its own gradient, like
// Problem::evaluate (problems.hpp).
//
// First-order optimizers take one step per iteration, each after one evaluation of f and ∇f, and stop when
// ‖∇f‖₂ ≤ gradient_tolerance. The closure methods (lbfgs, newton-cg, newton) run step(closure) with the run's
// whole remaining budget as their max_iter and max_eval (their per-step limits are for training loops that call
// step once per batch), and stop on their own tolerances (tolerance_grad on max|∇f|, tolerance_change; set them
// with `settings`). Either way a run also stops after max_iterations, after max_evaluations, or when f or ∇f stops
// being finite, and the result says which.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "descent/core/tensor.hpp"
#include "descent/optim/optimizer.hpp"

namespace descent::optim {

// f(x) for x of shape [n], computed with descent's ops; returns a one-element tensor.
using Objective = std::function<Tensor(const Tensor& x)>;
// f(x), writing ∇f(x) into grad (Problem::evaluate's form).
using ObjectiveWithGradient = std::function<double(std::span<const double> x, std::span<double> grad)>;
// Builds the optimizer over the one parameter minimize() creates ({"x", tensor of shape [n]}).
using OptimizerFactory = std::function<std::unique_ptr<Optimizer>(const NamedTensors& params)>;

// One evaluation of f and ∇f, as on_evaluation sees it.
struct Evaluation {
  // The iteration it belongs to: 0 for the starting point; k for the evaluation after a first-order method's
  // k-th step, and for every evaluation within a closure method's k-th iteration (line-search trials, Hessian
  // products by finite differences).
  int64_t iteration;
  int64_t evaluation;  // 1 for the first
  double f;
  double grad_norm;           // ‖∇f‖₂
  std::span<const double> x;  // where
};

struct MinimizeOptions {
  int64_t max_iterations = 1000;
  int64_t max_evaluations = 0;       // evaluations of f and ∇f (finite-difference Hessian products too); 0: no limit
  double gradient_tolerance = 1e-8;  // first-order methods: converged when ‖∇f‖₂ ≤ this
  std::vector<std::string> settings{};  // hyperparameters, "key=value" (apply_settings): "lr=0.01", "line_search_fn=…"
  DType dtype = kFloat64;               // of the parameter the optimizer steps
  std::function<void(const Evaluation&)> on_evaluation{};  // called after every evaluation (tracing, progress)
};

struct MinimizeResult {
  std::vector<double> x;   // the last iterate
  double f = 0.0;          // f(x)
  double grad_norm = 0.0;  // ‖∇f(x)‖₂
  int64_t iterations = 0;
  int64_t evaluations = 0;  // every evaluation of f and ∇f
  bool converged = false;   // stopped on a tolerance
  // gradient_tolerance, step_tolerance, function_change_tolerance, directional_derivative_tolerance (converged);
  // max_iterations, max_evaluations, non_finite, line_search_failed.
  std::string reason;
};

// The optimizer by registry name ("adam", "lbfgs", …), configured by options.settings.
MinimizeResult minimize(const Objective& f, std::span<const double> x0, std::string_view optimizer,
                        const MinimizeOptions& options = {});
MinimizeResult minimize(const ObjectiveWithGradient& f, std::span<const double> x0, std::string_view optimizer,
                        const MinimizeOptions& options = {});
// An optimizer the caller builds (options.settings still apply).
MinimizeResult minimize(const Objective& f, std::span<const double> x0, const OptimizerFactory& make_optimizer,
                        const MinimizeOptions& options = {});
MinimizeResult minimize(const ObjectiveWithGradient& f, std::span<const double> x0,
                        const OptimizerFactory& make_optimizer, const MinimizeOptions& options = {});

}  // namespace descent::optim

namespace descent {
using optim::minimize;
using optim::MinimizeOptions;
using optim::MinimizeResult;
}  // namespace descent
