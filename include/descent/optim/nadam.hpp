// NAdam (Dozat, 2016, "Incorporating Nesterov Momentum into Adam"), with the momentum schedule
// μ_t = β1·(1 − 0.5·0.96^(t·momentum_decay)) and optional decoupled weight decay, as torch.optim.NAdam computes it:
//   m ← m + (1 − β1)(g − m);  v ← β2·v + (1 − β2)·g²;  d = √(v / (1 − β2ᵗ)) + eps;  Π_t = μ_1···μ_t
//   p ← p − lr·(1 − μ_t)/(1 − Π_t) · g / d − lr·μ_{t+1}/(1 − Π_t·μ_{t+1}) · m / d
#pragma once

#include <array>

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

struct NAdamOptions {
  double lr = 2e-3;                            // learning rate
  std::array<double, 2> betas = {0.9, 0.999};  // decay rates of the first and second moment estimates
  double eps = 1e-8;                           // added to the denominator for stability
  double weight_decay = 0.0;                   // L2 penalty (coupled), or decay rate when decoupled
  double momentum_decay = 4e-3;                // ψ in μ_t = β1·(1 − 0.5·0.96^(t·ψ))
  bool decoupled_weight_decay = false;         // NAdamW: shrink p by (1 − lr·weight_decay) instead of adding to g
  bool maximize = false;                       // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("betas", betas);
    v("eps", eps);
    v("weight_decay", weight_decay);
    v("momentum_decay", momentum_decay);
    v("decoupled_weight_decay", decoupled_weight_decay);
    v("maximize", maximize);
  }
  void validate() const;
};

// The kernel: one pass over p, g, exp_avg and exp_avg_sq; mu_product is Π_t, the product of μ_1 … μ_t.
template <class T>
void nadam_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, std::span<T> exp_avg_sq,
                  const NAdamOptions& o, int64_t step, double mu_product);

// μ_t of the momentum schedule.
double nadam_mu(const NAdamOptions& o, int64_t step);

class NAdam : public Rule<NAdam, NAdamOptions> {
 public:
  static constexpr std::string_view kName = "NAdam";
  using Rule::Rule;
  bool elementwise() const override { return true; }

  template <class T>
  void update(const NAdamOptions& o, const Spans<T>& s, const StepInfo& info) {
    nadam_update<T>(s.param, s.grad, s.state[0], s.state[1], o, info.step, mu_product(info.group, info.step));
  }

 protected:
  std::vector<std::string> state_names(size_t group) const override;

 private:
  // Π_t for a group's parameters at `step`. PyTorch keeps mu_product per parameter; here it is the group scalar
  // "mu_product" (with "mu_product_step", the step it belongs to), advanced once per step and recomputed from
  // the schedule only when a group's parameters are at different steps.
  double mu_product(size_t group, int64_t step);
};

}  // namespace descent::optim
