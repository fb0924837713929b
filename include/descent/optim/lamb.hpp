// LAMB (You et al., 2020, "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes"): Adam's
// direction scaled per tensor by a trust ratio ‖p‖/‖direction‖, so every layer moves by a similar fraction of its
// weights. Reference: pytorch_optimizer.Lamb 4.1.0, its per-parameter path (foreach=False):
//   g ← ±grad;  m ← β1·m + β3·g (β3 = 1 − β1, or 1 without grad_averaging);  v ← β2·v + (1 − β2)·g²
//   decoupled: p ← p·(1 − lr·weight_decay) (fixed_decay: p·(1 − weight_decay))
//   u ← m / (√v + eps)  (+ weight_decay·p when coupled)
//   r ← min(‖p‖, 10) / (‖u‖ + eps), or 1 when either norm is 0 (or with adam = true)
//   p ← p − (lr / (1 − β1ᵗ)) · r · u
// Unlike the paper, the reference corrects the bias of m (not of v) and decouples weight decay by default (so
// the decay is outside the trust ratio); coupled (weight_decouple = false) puts it inside, as the paper does.
// Left out: the reference's rectify / degenerated_to_sgd / n_sma_threshold (RAdam's rectification), pre_norm /
// max_grad_norm (gradients scaled by their global norm: a clipping step, see clipping) and adanorm.
//
// Each tensor takes two passes over memory, without a temporary: the first updates m and v and sums ‖p‖² and
// ‖u‖²; the second recomputes u from them and steps.
#pragma once

#include <array>

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

struct LAMBOptions {
  double lr = 1e-3;                            // learning rate
  std::array<double, 2> betas = {0.9, 0.999};  // decay rates of the first and second moment estimates
  double weight_decay = 0.0;                   // decay rate (decoupled) or L2 penalty inside the trust ratio
  bool weight_decouple = true;                 // shrink p directly instead of adding weight_decay·p to u
  bool fixed_decay = false;                    // decoupled decay not scaled by lr: p ← p·(1 − weight_decay)
  bool grad_averaging = true;                  // m takes (1 − β1)·g; false: m takes g whole
  bool adam = false;                           // trust ratio fixed at 1 (plain Adam-like steps)
  double eps = 1e-6;                           // added to √v and to ‖u‖
  bool maximize = false;                       // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("betas", betas);
    v("weight_decay", weight_decay);
    v("weight_decouple", weight_decouple);
    v("fixed_decay", fixed_decay);
    v("grad_averaging", grad_averaging);
    v("adam", adam);
    v("eps", eps);
    v("maximize", maximize);
  }
  void validate() const;
};

// The reference caps ‖p‖ at this value in the trust ratio (pytorch_optimizer's Lamb.clamp).
inline constexpr double kLambWeightNormCap = 10.0;

// The kernel for one tensor: two passes over p, g, exp_avg and exp_avg_sq.
template <class T>
void lamb_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, std::span<T> exp_avg_sq,
                 const LAMBOptions& o, int64_t step);

class LAMB : public Rule<LAMB, LAMBOptions> {
 public:
  static constexpr std::string_view kName = "LAMB";
  using Rule::Rule;

  template <class T>
  void update(const LAMBOptions& o, const Spans<T>& s, const StepInfo& info) {
    lamb_update<T>(s.param, s.grad, s.state[0], s.state[1], o, info.step);
  }

 protected:
  std::vector<std::string> state_names(size_t /*group*/) const override { return {"exp_avg", "exp_avg_sq"}; }
  bool per_tensor() const override { return true; }
};

}  // namespace descent::optim
