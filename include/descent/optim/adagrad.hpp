// Adagrad (Duchi, Hazan & Singer, 2011, "Adaptive Subgradient Methods for Online Learning and Stochastic
// Optimization"), as torch.optim.Adagrad computes it (dense gradients only):
//   g ← ±grad (+ weight_decay·p);  sum ← sum + g²;  p ← p − lr / (1 + (t − 1)·lr_decay) · g / (√sum + eps)
#pragma once

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

struct AdagradOptions {
  double lr = 1e-2;                        // learning rate
  double lr_decay = 0.0;                   // the step at t uses lr / (1 + (t − 1)·lr_decay)
  double weight_decay = 0.0;               // L2 penalty: adds weight_decay·p to the gradient
  double initial_accumulator_value = 0.0;  // where the sum of squared gradients starts
  double eps = 1e-10;                      // added to the denominator for stability
  bool maximize = false;                   // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("lr_decay", lr_decay);
    v("weight_decay", weight_decay);
    v("initial_accumulator_value", initial_accumulator_value);
    v("eps", eps);
    v("maximize", maximize);
  }
  void validate() const;
};

// The kernel: one pass over p, g and the accumulator `sum`.
template <class T>
void adagrad_update(std::span<T> p, std::span<const T> g, std::span<T> sum, const AdagradOptions& o, int64_t step);

class Adagrad : public Rule<Adagrad, AdagradOptions> {
 public:
  static constexpr std::string_view kName = "Adagrad";
  using Rule::Rule;
  bool elementwise() const override { return true; }

  template <class T>
  void update(const AdagradOptions& o, const Spans<T>& s, const StepInfo& info) {
    adagrad_update<T>(s.param, s.grad, s.state[0], o, info.step);
  }

 protected:
  std::vector<std::string> state_names(size_t group) const override;
  double state_initial_value(size_t group, size_t buffer) const override;
};

}  // namespace descent::optim
