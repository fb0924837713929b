// What the two Newton methods share — Newton-CG (newton_cg.hpp) and damped Newton (newton.hpp): their common
// options, Hessian-vector products, and the outer loop (direction, line search, stopping tests). Each method
// supplies only its direction, d ≈ −H⁻¹g.
//
// Hessian-vector products, chosen by the option hvp:
//   autograd           exact, by double backward: H·v = ∇(∇f·v). The closure must call backward with
//                      create_graph = true, so that the gradients it leaves carry their graph; a gradient without
//                      one is refused with an error saying so.
//   finite_difference  (∇f(x + εv) − ∇f(x))/ε, ε = √(machine ε)·max(1, ‖x‖)/‖v‖: one more closure evaluation
//                      per product, for a closure that computes its gradient by hand (minimize() with a function
//                      that returns its own gradient, Problem::evaluate).
//   auto (default)     autograd when the closure's gradients carry a graph, finite differences otherwise.
#pragma once

#include <string>
#include <vector>

#include "descent/optim/closure_method.hpp"

namespace descent::optim {

// The options both Newton methods have, with L-BFGS's names.
struct NewtonLoopOptions {
  double lr = 1.0;                              // step the line search tries first (the full Newton step)
  int64_t max_iter = 20;                        // iterations per step(closure)
  int64_t max_eval = 0;                         // closure evaluations per step; 0: no limit but max_iter
  double tolerance_grad = 1e-7;                 // converged when max|∇f| ≤ this
  double tolerance_change = 1e-9;               // converged when the step max|t·d| is below this
  std::string line_search_fn = "strong_wolfe";  // strong_wolfe or backtracking
  std::string hvp = "auto";                     // auto, autograd or finite_difference (see above)
  bool maximize = false;                        // ascend instead of descend
};

template <class O, class V>
void visit_newton_loop_fields(O& o, V& v) {
  v("lr", o.lr);
  v("max_iter", o.max_iter);
  v("max_eval", o.max_eval);
  v("tolerance_grad", o.tolerance_grad);
  v("tolerance_change", o.tolerance_change);
  v("line_search_fn", o.line_search_fn);
  v("hvp", o.hvp);
  v("maximize", o.maximize);
}
void validate_newton_loop(const NewtonLoopOptions& o, std::string_view name);

class SecondOrderBase : public ClosureMethodBase {
 public:
  bool wants_graph() const override { return loop_options().hvp != "finite_difference"; }

 protected:
  enum class Hvp { Autograd, FiniteDifference };
  virtual const NewtonLoopOptions& loop_options() const = 0;
  // The search direction at x (gradient g, loss f there) into d; false when none can be had (the reason is set).
  virtual bool direction(const Closure& closure, Hvp hvp, std::span<const double> x, std::span<const double> g,
                         std::span<double> d) = 0;

  // The outer loop: what step(closure) does for both methods.
  double run(const Closure& closure);

  // H·v at the parameters x (gradient g there), into hv. Autograd needs the closure's graph at x: when the last
  // evaluation was elsewhere (a line-search trial), the closure is evaluated at x again first.
  void hessian_vector(const Closure& closure, Hvp hvp, std::span<const double> x, std::span<const double> g,
                      std::span<const double> v, std::span<double> hv);

  StateDict second_order_state_dict(const HyperMap& hypers) const;
  void load_counters(const StateDict& dict);

 private:
  Hvp resolve_hvp() const;   // after an evaluation: auto by the gradients' graph; autograd checked
  bool graph_at_x_ = false;  // the parameters' gradients carry the graph of the current point
};

}  // namespace descent::optim
