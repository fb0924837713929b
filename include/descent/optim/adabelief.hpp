// AdaBelief (Zhuang et al., 2020, "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
// Gradients"): Adam whose second moment tracks the squared deviation of g from its mean m, so steps are large
// where the gradient is predictable. Reference: the authors' adabelief-pytorch 0.2.1, with its defaults
// (eps = 1e-16, decoupled weight decay, RAdam's rectification on):
//   decoupled: p ← p·(1 − lr·weight_decay) (fixed_decay: p·(1 − weight_decay));  coupled: g ← g + weight_decay·p
//   m ← β1·m + (1 − β1)·g;  s ← β2·s + (1 − β2)·(g − m)² + eps;  ŝmax ← max(ŝmax, s) with amsgrad
//   plain:     p ← p − (lr / (1 − β1ᵗ)) · m / (√s / √(1 − β2ᵗ) + eps)
//   rectified: ρ_t ≥ 5: p ← p − lr · r_t/(1 − β1ᵗ) · m / (√s + eps);  else p ← p − lr/(1 − β1ᵗ) · m
//              (degenerated_to_sgd), or no move (degenerated_to_sgd off)
// As the reference does: eps is added to s itself every step (and kept in the state), and the rectified step
// uses s, not the AMSGrad maximum. descent adds maximize (a sign flip of the gradient).
#pragma once

#include <array>

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

struct AdaBeliefOptions {
  double lr = 1e-3;                            // learning rate
  std::array<double, 2> betas = {0.9, 0.999};  // decay rates of the first moment and of the belief s
  double eps = 1e-16;                          // added to s each step and to the denominator
  double weight_decay = 0.0;                   // decay rate (decoupled) or L2 penalty (coupled)
  bool amsgrad = false;                        // divide by the running maximum of s (plain step only)
  bool weight_decouple = true;                 // shrink p directly (AdamW-style) instead of adding to g
  bool fixed_decay = false;                    // decoupled decay not scaled by lr: p ← p·(1 − weight_decay)
  bool rectify = true;                         // RAdam's rectified step
  bool degenerated_to_sgd = true;              // rectified, ρ_t < 5: an SGD-with-momentum step (else none)
  bool maximize = false;                       // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("betas", betas);
    v("eps", eps);
    v("weight_decay", weight_decay);
    v("amsgrad", amsgrad);
    v("weight_decouple", weight_decouple);
    v("fixed_decay", fixed_decay);
    v("rectify", rectify);
    v("degenerated_to_sgd", degenerated_to_sgd);
    v("maximize", maximize);
  }
  void validate() const;
};

// The kernel: one pass over p, g, exp_avg, exp_avg_var (and max_exp_avg_var with amsgrad; empty otherwise).
template <class T>
void adabelief_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, std::span<T> exp_avg_var,
                      std::span<T> max_exp_avg_var, const AdaBeliefOptions& o, int64_t step);

class AdaBelief : public Rule<AdaBelief, AdaBeliefOptions> {
 public:
  static constexpr std::string_view kName = "AdaBelief";
  using Rule::Rule;
  bool elementwise() const override { return true; }

  template <class T>
  void update(const AdaBeliefOptions& o, const Spans<T>& s, const StepInfo& info) {
    adabelief_update<T>(s.param, s.grad, s.state[0], s.state[1], s.state[2], o, info.step);
  }

 protected:
  std::vector<std::string> state_names(size_t group) const override {
    if (options_[group].amsgrad) return {"exp_avg", "exp_avg_var", "max_exp_avg_var"};
    return {"exp_avg", "exp_avg_var"};
  }
};

}  // namespace descent::optim
