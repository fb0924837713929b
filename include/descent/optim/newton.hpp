// Damped exact Newton for small problems: each iteration forms the dense Hessian — n Hessian-vector products, by
// double backward or finite differences of gradients (option hvp, second_order.hpp) — symmetrises it, and solves
// (H + τI)·d = −g by Cholesky (LAPACK dpotrf/dpotrs), with τ the smallest shift of the sequence of Nocedal &
// Wright's Algorithm 3.3 (Cholesky with added multiple of the identity) for which the factorisation succeeds:
//   τ₀ = 0 if min Hᵢᵢ > 0, else −min Hᵢᵢ + β;  then τ ← max(2τ, β) until H + τI is positive definite,
// with β = damping·max(1, max|Hᵢᵢ|) (Levenberg-style damping). Where H is positive definite this is the pure
// Newton step; where it is not, d still points downhill. A line search then chooses the step along d.
// O(n²) memory and n products per iteration: use newton-cg beyond a few thousand parameters.
#pragma once

#include <span>
#include <vector>

#include "descent/optim/second_order.hpp"

namespace descent::optim {

struct NewtonOptions : NewtonLoopOptions {
  double damping = 1e-3;  // β of N&W Algorithm 3.3, relative to the largest diagonal entry

  template <class V>
  void visit(V&& v) {
    visit_newton_loop_fields(*this, v);
    v("damping", damping);
  }
  void validate() const;
};

// Solves (H + τI)·x = b for the n×n symmetric `h` (row-major; only read), with τ chosen as above; writes x into
// b and returns τ. Throws descent::Error when H is not finite.
double damped_cholesky_solve(std::span<const double> h, std::span<double> b, double damping);

class Newton : public ClosureMethod<Newton, NewtonOptions, SecondOrderBase> {
 public:
  static constexpr std::string_view kName = "Newton";
  static constexpr int64_t kMaxParameters = 10000;  // an 800 MB Hessian; beyond that, newton-cg
  Newton(const std::vector<Tensor>& params, const NewtonOptions& options = {}) : Newton(unnamed(params), options) {}
  Newton(const NamedTensors& params, const NewtonOptions& options = {});

  double step(const Closure& closure) override { return run(closure); }
  using ClosureMethodBase::step;

  StateDict state_dict() const override;
  void load_state_dict(const StateDict& dict) override;

  double last_damping() const { return damping_; }  // τ of the last iteration (0: the pure Newton step)

 protected:
  const NewtonLoopOptions& loop_options() const override { return options_; }
  bool direction(const Closure& closure, Hvp hvp, std::span<const double> x, std::span<const double> g,
                 std::span<double> d) override;

 private:
  double damping_ = 0.0;
};

}  // namespace descent::optim
