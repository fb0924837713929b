// Adafactor (Shazeer & Stern, 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost"): Adam-like
// steps whose second moment, for a parameter of two or more dimensions, is kept as its row and column means
// (O(R + C) memory for an R×C matrix) and rebuilt as their outer product over the mean of the rows. Reference:
// transformers.optimization.Adafactor 5.23.0 (a port of fairseq's), with its names and defaults:
//   ρ_t = relative_step ? min(warmup_init ? 1e-6·t : 1e-2, 1/√t) : lr;  α_t = max(eps[1], RMS(p))·ρ_t (scale_parameter)
//   β2_t = 1 − t^decay_rate;  G = g² + eps[0]
//   ≥ 2-D: R ← β2_t·R + (1 − β2_t)·mean_last(G);  C ← β2_t·C + (1 − β2_t)·mean_second_last(G)
//          u = g / √(R·C / mean(R))  (R, C broadcast over the last two axes)
//   else:  V ← β2_t·V + (1 − β2_t)·G;  u = g / √V
//   u ← u / max(1, RMS(u)/clip_threshold) · α_t;  beta1 > 0: m ← β1·m + (1 − β1)·u, u ← m
//   p ← p − weight_decay·α_t·p − u
// State as the reference names it: exp_avg_sq_row and exp_avg_sq_col (≥ 2-D), or exp_avg_sq; exp_avg with beta1.
// Differences: the reference's lr = None (required with relative_step) is descent's lr being ignored while
// relative_step is on; its beta1 = None (no first moment) is descent's beta1 = 0, which keeps no exp_avg; descent
// adds maximize (a sign flip of the gradient).
//
// Each tensor takes two passes over g when unfactored, three when factored (the row and column means, the RMS
// of u, the step), recomputing u instead of storing it.
#pragma once

#include <array>
#include <vector>

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

struct AdafactorOptions {
  double lr = 1e-3;                           // external learning rate, used only when relative_step is off
  std::array<double, 2> eps = {1e-30, 1e-3};  // added to g²; floor of RMS(p) in the parameter scale
  double clip_threshold = 1.0;                // RMS of the update above which it is scaled down
  double decay_rate = -0.8;                   // β2_t = 1 − t^decay_rate
  double beta1 = 0.0;                         // first-moment decay; 0 keeps no first moment (the reference's None)
  double weight_decay = 0.0;                  // p ← p − weight_decay·α_t·p
  bool scale_parameter = true;                // scale the step by max(eps[1], RMS(p))
  bool relative_step = true;                  // time-dependent step min(1e-2, 1/√t) instead of lr
  bool warmup_init = false;                   // relative step min(1e-6·t, 1/√t) (needs relative_step)
  bool maximize = false;                      // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("eps", eps);
    v("clip_threshold", clip_threshold);
    v("decay_rate", decay_rate);
    v("beta1", beta1);
    v("weight_decay", weight_decay);
    v("scale_parameter", scale_parameter);
    v("relative_step", relative_step);
    v("warmup_init", warmup_init);
    v("maximize", maximize);
  }
  void validate() const;
};

// A parameter as the kernel sees it: shape [batch, rows, cols] when factored (batch = the product of all axes
// but the last two), with its row and column statistics; else exp_avg_sq of the parameter's size.
template <class T>
struct AdafactorTensor {
  std::span<T> p;
  std::span<const T> g;
  std::span<T> exp_avg;  // empty when beta1 = 0
  bool factored = false;
  int64_t batch = 1, rows = 1, cols = 1;
  std::span<T> exp_avg_sq_row, exp_avg_sq_col;  // [batch·rows], [batch·cols] when factored
  std::span<T> exp_avg_sq;                      // like p when not factored
};

// The kernel for one tensor; `scratch` (grown as needed, kept by the caller) holds per-column sums.
template <class T>
void adafactor_update(const AdafactorTensor<T>& t, const AdafactorOptions& o, int64_t step,
                      std::vector<double>& scratch);

class Adafactor : public Rule<Adafactor, AdafactorOptions> {
 public:
  static constexpr std::string_view kName = "Adafactor";
  using Rule::Rule;

  template <class T>
  void update(const AdafactorOptions& o, const Spans<T>& s, const StepInfo& info) {
    const Tensor& param = *info.param;  // per_tensor(): every run is one parameter
    AdafactorTensor<T> t;
    t.p = s.param;
    t.g = s.grad;
    if (o.beta1 > 0.0) t.exp_avg = s.state[0];
    t.factored = param.dim() >= 2;
    if (t.factored) {
      t.rows = param.size(-2);
      t.cols = param.size(-1);
      t.batch = t.rows * t.cols == 0 ? 0 : param.numel() / (t.rows * t.cols);
      t.exp_avg_sq_row = span_of<T>(extra_state(info.group, info.index, "exp_avg_sq_row"));
      t.exp_avg_sq_col = span_of<T>(extra_state(info.group, info.index, "exp_avg_sq_col"));
    } else {
      t.exp_avg_sq = span_of<T>(extra_state(info.group, info.index, "exp_avg_sq"));
    }
    adafactor_update<T>(t, o, info.step, scratch_);
  }

 protected:
  std::vector<std::string> state_names(size_t group) const override;
  bool per_tensor() const override { return true; }
  std::map<std::string, Shape> extra_state_shapes(size_t group, const Tensor& param) const override;

 private:
  template <class T>
  static std::span<T> span_of(const Tensor& t) {
    return {t.data<T>(), static_cast<size_t>(t.numel())};
  }
  std::vector<double> scratch_;  // column sums of the factored parameter being stepped
};

}  // namespace descent::optim
