// Adamax (Kingma & Ba, 2015, "Adam: A Method for Stochastic Optimization", section 7.1): Adam with the
// infinity norm in place of the second moment, as torch.optim.Adamax computes it:
//   g ← ±grad (+ weight_decay·p);  m ← m + (1 − β1)(g − m);  u ← max(β2·u, |g| + eps)
//   p ← p − (lr / (1 − β1ᵗ)) · m / u
#pragma once

#include <array>

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

struct AdamaxOptions {
  double lr = 2e-3;                            // learning rate
  std::array<double, 2> betas = {0.9, 0.999};  // decay rates of the first moment and of the infinity norm
  double eps = 1e-8;                           // added to |g| before the maximum, keeping the denominator > 0
  double weight_decay = 0.0;                   // L2 penalty: adds weight_decay·p to the gradient
  bool maximize = false;                       // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("betas", betas);
    v("eps", eps);
    v("weight_decay", weight_decay);
    v("maximize", maximize);
  }
  void validate() const;
};

// The kernel: one pass over p, g, exp_avg and exp_inf.
template <class T>
void adamax_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, std::span<T> exp_inf,
                   const AdamaxOptions& o, int64_t step);

class Adamax : public Rule<Adamax, AdamaxOptions> {
 public:
  static constexpr std::string_view kName = "Adamax";
  using Rule::Rule;
  bool elementwise() const override { return true; }

  template <class T>
  void update(const AdamaxOptions& o, const Spans<T>& s, const StepInfo& info) {
    adamax_update<T>(s.param, s.grad, s.state[0], s.state[1], o, info.step);
  }

 protected:
  std::vector<std::string> state_names(size_t group) const override;
};

}  // namespace descent::optim
