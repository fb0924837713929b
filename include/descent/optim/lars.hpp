// LARS (You et al., 2017, "Large Batch Training of Convolutional Networks"): SGD whose step for each tensor is
// scaled by a trust ratio trust_coeff·‖p‖/(‖g‖ + weight_decay·‖p‖), so layers with small gradients relative to
// their weights still move. Reference: timm.optim.Lars 1.0.31 (timm's LARS/LARC after NVIDIA apex's LARC), its
// single-tensor path, with its names and defaults:
//   g ← ±grad;  when weight_decay ≠ 0 or always_adapt:
//     r ← trust_coeff·‖p‖ / (‖g‖ + weight_decay·‖p‖ + eps), or 1 when ‖p‖ or ‖g‖ is 0
//     trust_clip (LARC): r ← min(r / lr, 1);   g ← (g + weight_decay·p)·r
//   then torch.optim.SGD's momentum: step 1: b = g; later b = momentum·b + (1 − dampening)·g;
//   p ← p − lr·(nesterov ? g + momentum·b : b)
// Without weight decay and always_adapt this is plain SGD, as in timm. descent adds maximize (a sign flip).
//
// Each tensor takes two passes when adapting: the norms first, then the step.
#pragma once

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

struct LARSOptions {
  double lr = 1.0;            // learning rate (timm's default: the trust ratio makes steps small)
  double momentum = 0.0;      // β; 0 turns momentum off
  double dampening = 0.0;     // scales the gradient added to the buffer by (1 − dampening)
  double weight_decay = 0.0;  // L2 penalty, inside the trust ratio; nonzero switches adaptation on
  bool nesterov = false;      // Nesterov momentum (PyTorch's formulation)
  double trust_coeff = 1e-3;  // η: the trust ratio's scale
  double eps = 1e-8;          // added to the trust ratio's denominator
  bool trust_clip = false;    // LARC: clip the ratio at lr (r ← min(r/lr, 1))
  bool always_adapt = false;  // adapt even when weight_decay = 0
  bool maximize = false;      // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("momentum", momentum);
    v("dampening", dampening);
    v("weight_decay", weight_decay);
    v("nesterov", nesterov);
    v("trust_coeff", trust_coeff);
    v("eps", eps);
    v("trust_clip", trust_clip);
    v("always_adapt", always_adapt);
    v("maximize", maximize);
  }
  void validate() const;
};

// The kernel for one tensor: one or two passes over p, g and the momentum buffer (unused when momentum is 0).
template <class T>
void lars_update(std::span<T> p, std::span<const T> g, std::span<T> momentum_buffer, const LARSOptions& o,
                 int64_t step);

class LARS : public Rule<LARS, LARSOptions> {
 public:
  static constexpr std::string_view kName = "LARS";
  using Rule::Rule;

  template <class T>
  void update(const LARSOptions& o, const Spans<T>& s, const StepInfo& info) {
    lars_update<T>(s.param, s.grad, s.state[0], o, info.step);
  }

 protected:
  std::vector<std::string> state_names(size_t group) const override;
  bool per_tensor() const override { return true; }
};

}  // namespace descent::optim
