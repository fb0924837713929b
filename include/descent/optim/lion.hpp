// Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms"): the update is the sign of an
// interpolation between the momentum and the gradient, so every coordinate moves by exactly lr; weight decay is
// decoupled. Reference: lion-pytorch 0.2.5 (lucidrains; a port of the authors' code in google/automl):
//   p ← p·(1 − lr·weight_decay);  p ← p − lr·sign(β1·m + (1 − β1)·g);  m ← β2·m + (1 − β2)·g
// Differences from lion-pytorch: descent adds maximize (a sign flip of the gradient), and leaves out its
// decoupled_weight_decay switch (weight_decay divided by the lr the optimizer was built with), which ties the
// decay to a learning rate that schedules and state dicts do not carry.
#pragma once

#include <array>

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

struct LionOptions {
  double lr = 1e-4;                           // learning rate: the size of every coordinate's step
  std::array<double, 2> betas = {0.9, 0.99};  // β1 interpolates the update's sign, β2 is the momentum's decay
  double weight_decay = 0.0;                  // decoupled: p ← p·(1 − lr·weight_decay) before each step
  bool maximize = false;                      // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("betas", betas);
    v("weight_decay", weight_decay);
    v("maximize", maximize);
  }
  void validate() const;
};

// The kernel: one pass over p, g and exp_avg.
template <class T>
void lion_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, const LionOptions& o);

class Lion : public Rule<Lion, LionOptions> {
 public:
  static constexpr std::string_view kName = "Lion";
  using Rule::Rule;
  bool elementwise() const override { return true; }

  template <class T>
  void update(const LionOptions& o, const Spans<T>& s, const StepInfo& /*info*/) {
    lion_update<T>(s.param, s.grad, s.state[0], o);
  }

 protected:
  std::vector<std::string> state_names(size_t /*group*/) const override { return {"exp_avg"}; }
};

}  // namespace descent::optim
