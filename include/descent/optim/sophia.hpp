// Sophia (Liu et al., 2023, "Sophia: A Scalable Stochastic Second-order Optimizer for Language Model
// Pre-training"), the Sophia-H variant: momentum divided elementwise by an EMA of Hutchinson estimates of the
// Hessian diagonal, refreshed every update_period steps (hutchinson.hpp: those steps' backward passes need
// create_graph), and clipped elementwise so that no coordinate moves by more than lr:
//   every update_period-th step (t = 1, 1 + k, 1 + 2k, …):  h ← β2·h + (1 − β2)·(z ⊙ Hz)
//   p ← p·(1 − lr·weight_decay);  m ← β1·m + (1 − β1)·g
//   p ← p − lr·sign(m)·min(|m| / max(rho·h, eps), 1)            = p − lr·clip(m / max(rho·h, eps), 1)
// Names and defaults are those of the authors' code (Liuhong99/Sophia, sophia.py: SophiaG, whose update is the
// same with rho·bs·h + 1e-15 in the denominator; bs, the batch size, belongs to its Gauss–Newton–Bartlett
// estimator and has no place in Sophia-H). The denominator is the paper's max(rho·h, eps) (Algorithm 3, with
// rho its γ) rather than the code's rho·h + eps: a Hutchinson estimate can be negative, and then the code's form
// would step uphill. The paper's first version writes the same update as lr'·clip(m / max(h, eps'), ρ) with
// clipping threshold ρ: that is this rule with rho = ρ, lr = lr'·ρ and eps = eps'·ρ.
// The estimate is taken before the update on steps 1, 1 + k, …, as the paper's Algorithm 3 does (the authors'
// training script refreshes h after step k − 1, 2k − 1, …, so its first k − 1 steps see h = 0). Under maximize
// the gradient and the curvature both change sign (the rule minimises −f).
//
// State: exp_avg and hessian, as the authors' code names them.
#pragma once

#include <array>

#include "descent/optim/hutchinson.hpp"

namespace descent::optim {

struct SophiaOptions {
  double lr = 1e-4;                             // learning rate: the largest step of any coordinate
  std::array<double, 2> betas = {0.965, 0.99};  // decay rates of the momentum and of the Hessian-diagonal EMA
  double rho = 0.04;                            // scale of h in the denominator (the paper's γ)
  double weight_decay = 0.1;                    // decoupled: p ← p·(1 − lr·weight_decay)
  int64_t update_period = 10;                   // k: steps between Hessian estimates
  double eps = 1e-15;                           // floor of the denominator
  int64_t seed = 0;                             // of the Hutchinson probes
  bool maximize = false;                        // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("betas", betas);
    v("rho", rho);
    v("weight_decay", weight_decay);
    v("update_period", update_period);
    v("eps", eps);
    v("seed", seed);
    v("maximize", maximize);
  }
  void validate() const;
};

// The kernel: one pass over p, g, exp_avg and hessian; `estimate` (z ⊙ Hz) is empty on steps without one.
template <class T>
void sophia_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, std::span<T> hessian,
                   std::span<const T> estimate, const SophiaOptions& o);

class Sophia : public HessianRule<Sophia, SophiaOptions> {
 public:
  static constexpr std::string_view kName = "Sophia";
  using HessianRule::HessianRule;

  bool hessian_step(const SophiaOptions& o, int64_t step) const { return (step - 1) % o.update_period == 0; }
  void estimate(const SophiaOptions& o, const Tensor& param, const Tensor& z, const Tensor& hz, Tensor& out) const;

  template <class T>
  void update(const SophiaOptions& o, const Spans<T>& s, const StepInfo& info) {
    const Tensor* e = hessian_estimate(info);
    const std::span<const T> estimate =
        e == nullptr ? std::span<const T>() : std::span<const T>(e->data<T>(), static_cast<size_t>(e->numel()));
    sophia_update<T>(s.param, s.grad, s.state[0], s.state[1], estimate, o);
  }

 protected:
  std::vector<std::string> state_names(size_t /*group*/) const override { return {"exp_avg", "hessian"}; }
  bool per_tensor() const override { return true; }
};

}  // namespace descent::optim
