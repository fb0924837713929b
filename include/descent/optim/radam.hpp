// RAdam (Liu et al., 2020, "On the Variance of the Adaptive Learning Rate and Beyond"): Adam whose adaptive step
// is switched on only once the variance of v is tractable (ρ_t > 5) and then rectified, as torch.optim.RAdam
// computes it (with optional decoupled weight decay):
//   m ← m + (1 − β1)(g − m);  v ← β2·v + (1 − β2)·g²;  ρ∞ = 2/(1 − β2) − 1;  ρ_t = ρ∞ − 2tβ2ᵗ/(1 − β2ᵗ)
//   ρ_t > 5: p ← p − lr · m/(1 − β1ᵗ) · √(1 − β2ᵗ)/(√v + eps) · r_t;  otherwise p ← p − lr · m/(1 − β1ᵗ)
#pragma once

#include <array>

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

struct RAdamOptions {
  double lr = 1e-3;                            // learning rate
  std::array<double, 2> betas = {0.9, 0.999};  // decay rates of the first and second moment estimates
  double eps = 1e-8;                           // added to the denominator for stability
  double weight_decay = 0.0;                   // L2 penalty (coupled), or decay rate when decoupled
  bool decoupled_weight_decay = false;         // RAdamW: shrink p by (1 − lr·weight_decay) instead of adding to g
  bool maximize = false;                       // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("betas", betas);
    v("eps", eps);
    v("weight_decay", weight_decay);
    v("decoupled_weight_decay", decoupled_weight_decay);
    v("maximize", maximize);
  }
  void validate() const;
};

// The kernel: one pass over p, g, exp_avg and exp_avg_sq.
template <class T>
void radam_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, std::span<T> exp_avg_sq,
                  const RAdamOptions& o, int64_t step);

class RAdam : public Rule<RAdam, RAdamOptions> {
 public:
  static constexpr std::string_view kName = "RAdam";
  using Rule::Rule;
  bool elementwise() const override { return true; }

  template <class T>
  void update(const RAdamOptions& o, const Spans<T>& s, const StepInfo& info) {
    radam_update<T>(s.param, s.grad, s.state[0], s.state[1], o, info.step);
  }

 protected:
  std::vector<std::string> state_names(size_t group) const override;
};

}  // namespace descent::optim
