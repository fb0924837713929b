// L-BFGS (Liu & Nocedal 1989; Nocedal & Wright, Numerical Optimization, 2nd ed., Algorithm 7.4 — the two-loop
// recursion) as torch.optim.LBFGS computes it (itself after minFunc): one step(closure) runs up to max_iter
// iterations over the flat parameter vector, each a quasi-Newton direction from the last history_size curvature
// pairs (s, y), kept only when y·s > 1e-10, and a step along it:
//   line_search_fn = "none":          t = lr (the very first iteration: t = lr·min(1, 1/‖g‖₁)), one evaluation
//   line_search_fn = "strong_wolfe":  PyTorch's strong-Wolfe search from that t (line_search.hpp)
//   line_search_fn = "backtracking":  Armijo backtracking from that t (descent's; not in PyTorch)
// The step stops on ‖g‖∞ ≤ tolerance_grad, max|t·d| ≤ tolerance_change, |Δf| < tolerance_change or
// g·d > −tolerance_change (the tolerances: converged), after max_iter iterations or max_eval evaluations, or when f
// or ∇f stops being finite (descent's addition; PyTorch goes on with NaN). last_step() says which.
//
// Like PyTorch's: one parameter group; history, direction and previous gradient are the optimizer's state
// (state dict names d, t, old_dirs, old_stps, ro, H_diag, prev_flat_grad, prev_loss, n_iter, func_evals), kept in
// float64 for float32 parameters too.
#pragma once

#include <string>
#include <vector>

#include "descent/optim/closure_method.hpp"

namespace descent::optim {

struct LBFGSOptions {
  double lr = 1.0;                      // step length tried first (the line search's initial step)
  int64_t max_iter = 20;                // iterations per step(closure)
  int64_t max_eval = 0;                 // closure evaluations per step; 0: max_iter·5/4 (PyTorch's None)
  double tolerance_grad = 1e-7;         // converged when max|∇f| ≤ this
  double tolerance_change = 1e-9;       // converged when the step or the change in f is below this
  int64_t history_size = 100;           // curvature pairs kept (PyTorch's default; 3–20 is the textbook range)
  std::string line_search_fn = "none";  // none, strong_wolfe or backtracking
  bool maximize = false;                // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("max_iter", max_iter);
    v("max_eval", max_eval);
    v("tolerance_grad", tolerance_grad);
    v("tolerance_change", tolerance_change);
    v("history_size", history_size);
    v("line_search_fn", line_search_fn);
    v("maximize", maximize);
  }
  void validate() const;
};

class LBFGS : public ClosureMethod<LBFGS, LBFGSOptions> {
 public:
  static constexpr std::string_view kName = "LBFGS";
  using ClosureMethod::ClosureMethod;

  double step(const Closure& closure) override;
  using ClosureMethodBase::step;

  StateDict state_dict() const override;
  void load_state_dict(const StateDict& dict) override;

  size_t history_length() const { return old_dirs_.size(); }  // curvature pairs held now

 private:
  // The quasi-Newton direction −H·g by the two-loop recursion, into d_.
  void lbfgs_direction(const std::vector<double>& g);

  // State, as torch.optim.LBFGS keeps it (valid once n_iter_ > 0).
  std::vector<double> d_, prev_flat_grad_;
  std::vector<std::vector<double>> old_dirs_, old_stps_;  // y's and s's, oldest first
  std::vector<double> ro_;                                // 1/(y·s)
  double t_ = 0.0, h_diag_ = 1.0, prev_loss_ = 0.0;
};

}  // namespace descent::optim
