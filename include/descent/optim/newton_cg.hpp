// Newton-CG, "Hessian-free" (Nocedal & Wright, Numerical Optimization, 2nd ed., Algorithm 7.1, line-search
// Newton-CG; Martens 2010 for the name): each iteration solves H·d = −g approximately by conjugate gradients on
// Hessian-vector products — never forming H — stopping when ‖H·d + g‖ ≤ η‖g‖ with the forcing term
// η = min(0.5, √‖g‖) (superlinear convergence), then takes a line-searched step along d.
// Negative curvature (pᵀHp ≤ 0 for a CG direction p) ends CG with the iterate so far — a descent direction — or,
// at the first CG iteration, with the steepest-descent step −g scaled by gᵀg/|gᵀHg| (as scipy's newton-cg does).
// Hessian-vector products by double backward or by finite differences of gradients: option hvp (second_order.hpp).
#pragma once

#include "descent/optim/second_order.hpp"

namespace descent::optim {

struct NewtonCGOptions : NewtonLoopOptions {
  int64_t max_cg_iter = 0;  // CG iterations per Newton iteration; 0: 20·n (scipy's cap)

  template <class V>
  void visit(V&& v) {
    visit_newton_loop_fields(*this, v);
    v("max_cg_iter", max_cg_iter);
  }
  void validate() const;
};

class NewtonCG : public ClosureMethod<NewtonCG, NewtonCGOptions, SecondOrderBase> {
 public:
  static constexpr std::string_view kName = "NewtonCG";
  using ClosureMethod::ClosureMethod;

  double step(const Closure& closure) override { return run(closure); }
  using ClosureMethodBase::step;

  StateDict state_dict() const override { return second_order_state_dict(hypers()); }
  void load_state_dict(const StateDict& dict) override;

  int64_t cg_iterations() const { return cg_iterations_; }  // in the last Newton iteration

 protected:
  const NewtonLoopOptions& loop_options() const override { return options_; }
  bool direction(const Closure& closure, Hvp hvp, std::span<const double> x, std::span<const double> g,
                 std::span<double> d) override;

 private:
  int64_t cg_iterations_ = 0;
};

}  // namespace descent::optim
