// Yogi (Zaheer et al., 2018, "Adaptive Methods for Nonconvex Optimization"): Adam whose second moment moves
// additively, by at most (1 − β2)·g² per step, towards g², so it cannot forget a large past gradient at once.
// Reference: pytorch_optimizer.Yogi 4.1.0 (the authors released no PyTorch implementation), its per-parameter path:
//   g ← ±grad (+ weight_decay·p unless decoupled);  decoupled: p ← p·(1 − lr·weight_decay), or
//   p ← p·(1 − weight_decay) with fixed_decay
//   m ← m + (1 − β1)(g − m);  v ← v − (1 − β2)·sign(v − g²)·g²
//   p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + eps)
// m and v start at initial_accumulator (the paper's ε-initialisation), not at 0. Like the reference, eps is large
// (1e-3) and weight decay is decoupled by default.
#pragma once

#include <array>

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

struct YogiOptions {
  double lr = 1e-2;                            // learning rate
  std::array<double, 2> betas = {0.9, 0.999};  // decay rates of the first and second moment estimates
  double initial_accumulator = 1e-6;           // value both moments start at
  double weight_decay = 0.0;                   // decay rate (decoupled) or L2 penalty (coupled)
  bool weight_decouple = true;                 // shrink p directly (AdamW-style) instead of adding to g
  bool fixed_decay = false;                    // decoupled decay not scaled by lr: p ← p·(1 − weight_decay)
  double eps = 1e-3;                           // added to the denominator
  bool maximize = false;                       // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("betas", betas);
    v("initial_accumulator", initial_accumulator);
    v("weight_decay", weight_decay);
    v("weight_decouple", weight_decouple);
    v("fixed_decay", fixed_decay);
    v("eps", eps);
    v("maximize", maximize);
  }
  void validate() const;
};

// The kernel: one pass over p, g, exp_avg and exp_avg_sq.
template <class T>
void yogi_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, std::span<T> exp_avg_sq,
                 const YogiOptions& o, int64_t step);

class Yogi : public Rule<Yogi, YogiOptions> {
 public:
  static constexpr std::string_view kName = "Yogi";
  using Rule::Rule;
  bool elementwise() const override { return true; }

  template <class T>
  void update(const YogiOptions& o, const Spans<T>& s, const StepInfo& info) {
    yogi_update<T>(s.param, s.grad, s.state[0], s.state[1], o, info.step);
  }

 protected:
  std::vector<std::string> state_names(size_t /*group*/) const override { return {"exp_avg", "exp_avg_sq"}; }
  double state_initial_value(size_t group, size_t /*buffer*/) const override {
    return options_[group].initial_accumulator;
  }
};

}  // namespace descent::optim
