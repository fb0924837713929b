// Stochastic gradient descent, with PyTorch's momentum, dampening, Nesterov and weight decay
// (torch.optim.SGD), and the articles' exponential-moving-average momentum.
//
// PyTorch form (default), for gradient g (plus weight_decay·p), buffer b:
//   step 1: b = g;  later: b = momentum·b + (1 − dampening)·g;  p -= lr · (nesterov ? g + momentum·b : b)
// EMA form (ema_momentum = true), the articles' v ← βv + (1−β)g, w ← w − αv with v starting at 0:
//   every step: b = momentum·b + (1 − momentum)·g;  p -= lr · (nesterov ? g + momentum·b : b)
// The two differ on the first step (PyTorch takes the whole gradient, the EMA form (1 − β) of it) and in scale:
// the PyTorch form's steady-state step is 1/(1 − β) times larger for the same lr.
#pragma once

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

struct SGDOptions {
  double lr = 1e-3;            // learning rate (torch.optim.SGD's default since 2.2)
  double momentum = 0.0;       // β; 0 turns momentum off
  double dampening = 0.0;      // PyTorch form only: scales the gradient added to the buffer by (1 − dampening)
  double weight_decay = 0.0;   // L2 penalty: adds weight_decay·p to the gradient
  bool nesterov = false;       // Nesterov momentum (Sutskever et al. 2013, PyTorch's formulation)
  bool maximize = false;       // ascend instead of descend
  bool ema_momentum = false;   // the articles' EMA momentum instead of PyTorch's

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("momentum", momentum);
    v("dampening", dampening);
    v("weight_decay", weight_decay);
    v("nesterov", nesterov);
    v("maximize", maximize);
    v("ema_momentum", ema_momentum);
  }
  void validate() const;
};

// The kernel: one pass over p, g and the momentum buffer (unused when momentum is 0).
template <class T>
void sgd_update(std::span<T> p, std::span<const T> g, std::span<T> momentum_buffer, const SGDOptions& o,
                int64_t step);

class SGD : public Rule<SGD, SGDOptions> {
 public:
  static constexpr std::string_view kName = "SGD";
  using Rule::Rule;
  bool elementwise() const override { return true; }

  template <class T>
  void update(const SGDOptions& o, const Spans<T>& s, const StepInfo& info) {
    sgd_update<T>(s.param, s.grad, s.state[0], o, info.step);
  }

 protected:
  std::vector<std::string> state_names(size_t group) const override;
};

}  // namespace descent::optim
