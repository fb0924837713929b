// RMSprop (Hinton, Neural Networks for Machine Learning, lecture 6e, 2012), with the centered variant of Graves
// (2013, "Generating Sequences With Recurrent Neural Networks") and momentum, as torch.optim.RMSprop computes it:
//   g ← ±grad (+ weight_decay·p);  v ← α·v + (1 − α)·g²;  centered: ḡ ← ḡ + (1 − α)(g − ḡ), v̂ = v − ḡ²
//   d = g / (√v̂ + eps);  momentum: b ← momentum·b + d, p ← p − lr·b;  else p ← p − lr·d
#pragma once

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

struct RMSpropOptions {
  double lr = 1e-2;           // learning rate
  double alpha = 0.99;        // smoothing constant: decay rate of the squared-gradient average
  double eps = 1e-8;          // added to the denominator (outside the square root) for stability
  double weight_decay = 0.0;  // L2 penalty: adds weight_decay·p to the gradient
  double momentum = 0.0;      // momentum on the scaled step; 0 turns it off
  bool centered = false;      // normalise by the estimated variance (v − ḡ²) instead of v
  bool maximize = false;      // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("alpha", alpha);
    v("eps", eps);
    v("weight_decay", weight_decay);
    v("momentum", momentum);
    v("centered", centered);
    v("maximize", maximize);
  }
  void validate() const;
};

// The kernel: one pass over p, g, square_avg, and momentum_buffer (with momentum) and grad_avg (centered); an
// unused buffer's span is empty.
template <class T>
void rmsprop_update(std::span<T> p, std::span<const T> g, std::span<T> square_avg, std::span<T> momentum_buffer,
                    std::span<T> grad_avg, const RMSpropOptions& o);

class RMSprop : public Rule<RMSprop, RMSpropOptions> {
 public:
  static constexpr std::string_view kName = "RMSprop";
  using Rule::Rule;
  bool elementwise() const override { return true; }

  template <class T>
  void update(const RMSpropOptions& o, const Spans<T>& s, const StepInfo& /*info*/) {
    // Buffers in state_names' order: square_avg, then momentum_buffer and grad_avg when in use.
    const size_t grad_avg = o.momentum > 0.0 ? 2 : 1;
    rmsprop_update<T>(s.param, s.grad, s.state[0], o.momentum > 0.0 ? s.state[1] : std::span<T>(),
                      o.centered ? s.state[grad_avg] : std::span<T>(), o);
  }

 protected:
  std::vector<std::string> state_names(size_t group) const override;
};

}  // namespace descent::optim
