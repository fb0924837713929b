// AdaHessian (Yao et al., 2021, "ADAHESSIAN: An Adaptive Second Order Optimizer for Machine Learning"): Adam whose
// second moment is the squared Hessian diagonal instead of the squared gradient, the diagonal estimated by
// Hutchinson's method every step (hutchinson.hpp: the backward pass needs create_graph). Reference:
// amirgholami/adahessian, image_classification/optim_adahessian.py (the paper's code), with its names and defaults:
//   D ← |H·z| (= |z ⊙ Hz| for z = ±1), averaged over the kernel window for convolution kernels (spatial averaging)
//   m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·D²
//   p ← p − lr·(m / (1 − β1ᵗ) / ((√v)^k / √(1 − β2ᵗ)^k + eps) + weight_decay·p)       (k = hessian_power)
// Weight decay is the reference's: added to the preconditioned step (decoupled from the moments, scaled by lr).
// Spatial averaging: the reference averages a PyTorch conv kernel [out, in, kh, kw] over its last two axes (the
// window); descent's kernels are channels-last ([kh, kw, C_in, filters]), so a parameter of three or more
// dimensions is averaged over all axes but the last two. Vectors and matrices are not averaged, as in the reference.
// Differences: the probes come from descent's generator (seeded: see hutchinson.hpp), and descent adds maximize.
//
// State: exp_avg and exp_hessian_diag_sq, as the reference names them.
#pragma once

#include <array>

#include "descent/optim/hutchinson.hpp"

namespace descent::optim {

struct AdaHessianOptions {
  double lr = 0.15;                            // learning rate
  std::array<double, 2> betas = {0.9, 0.999};  // decay rates of the gradient and Hessian-diagonal moments
  double eps = 1e-4;                           // added to the denominator
  double weight_decay = 0.0;                   // p ← p − lr·weight_decay·p, beside the preconditioned step
  double hessian_power = 1.0;                  // k in [0, 1]: the denominator is (√v)^k
  int64_t seed = 0;                            // of the Hutchinson probes
  bool maximize = false;                       // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("betas", betas);
    v("eps", eps);
    v("weight_decay", weight_decay);
    v("hessian_power", hessian_power);
    v("seed", seed);
    v("maximize", maximize);
  }
  void validate() const;
};

// D = |hz|, averaged over the leading (window) axes of a parameter with three or more dimensions.
template <class T>
void adahessian_diagonal(std::span<const T> hz, const Shape& shape, std::span<T> out);

// The kernel: one pass over p, g, exp_avg, exp_hessian_diag_sq and the estimate D.
template <class T>
void adahessian_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, std::span<T> exp_hessian_diag_sq,
                       std::span<const T> diagonal, const AdaHessianOptions& o, int64_t step);

class AdaHessian : public HessianRule<AdaHessian, AdaHessianOptions> {
 public:
  static constexpr std::string_view kName = "AdaHessian";
  using HessianRule::HessianRule;

  bool hessian_step(const AdaHessianOptions& /*o*/, int64_t /*step*/) const { return true; }
  void estimate(const AdaHessianOptions& o, const Tensor& param, const Tensor& z, const Tensor& hz, Tensor& out) const;

  template <class T>
  void update(const AdaHessianOptions& o, const Spans<T>& s, const StepInfo& info) {
    const Tensor* d = hessian_estimate(info);
    DESCENT_CHECK(d != nullptr, kName, ": no Hessian estimate for parameter ", info.index, " of group ", info.group);
    adahessian_update<T>(s.param, s.grad, s.state[0], s.state[1],
                         std::span<const T>(d->data<T>(), static_cast<size_t>(d->numel())), o, info.step);
  }

 protected:
  std::vector<std::string> state_names(size_t /*group*/) const override { return {"exp_avg", "exp_hessian_diag_sq"}; }
  bool per_tensor() const override { return true; }
};

}  // namespace descent::optim
