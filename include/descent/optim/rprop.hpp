// Rprop (Riedmiller & Braun, 1993, "A Direct Adaptive Method for Faster Backpropagation Learning: The RPROP
// Algorithm"), in torch.optim.Rprop's variant: each element has its own step size, grown by etaplus while the
// gradient keeps its sign and shrunk by etaminus when it flips (and that element then waits one step):
//   s = sign(g·prev);  step_size ← clamp(step_size · (s > 0 ? η+ : s < 0 ? η− : 1), min, max)
//   s < 0: g ← 0;  p ← p − sign(g)·step_size;  prev ← g        (step_size starts at lr, prev at 0)
#pragma once

#include <array>

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

struct RpropOptions {
  double lr = 1e-2;                                 // every element's initial step size
  std::array<double, 2> etas = {0.5, 1.2};          // (η−, η+): step-size factors on a sign flip / on no flip
  std::array<double, 2> step_sizes = {1e-6, 50.0};  // (min, max) allowed step size
  bool maximize = false;                            // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("etas", etas);
    v("step_sizes", step_sizes);
    v("maximize", maximize);
  }
  void validate() const;
};

// The kernel: one pass over p, g, prev and step_size.
template <class T>
void rprop_update(std::span<T> p, std::span<const T> g, std::span<T> prev, std::span<T> step_size,
                  const RpropOptions& o);

class Rprop : public Rule<Rprop, RpropOptions> {
 public:
  static constexpr std::string_view kName = "Rprop";
  using Rule::Rule;
  bool elementwise() const override { return true; }

  template <class T>
  void update(const RpropOptions& o, const Spans<T>& s, const StepInfo& /*info*/) {
    rprop_update<T>(s.param, s.grad, s.state[0], s.state[1], o);
  }

 protected:
  std::vector<std::string> state_names(size_t group) const override;
  // step_size starts at the lr in force when the state is created (torch: full_like(grad, lr)).
  double state_initial_value(size_t group, size_t buffer) const override;
};

}  // namespace descent::optim
