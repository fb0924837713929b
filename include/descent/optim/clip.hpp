// What happens to gradients between backward() and optimizer.step(): norm and value clipping with the semantics
// of torch.nn.utils (clip_grad_norm_, get_total_norm, clip_grads_with_norm_, clip_grad_value_), per-parameter
// clipping, adaptive gradient clipping (Brock et al. 2021, "High-Performance Large-Scale Image Recognition Without
// Normalization", as timm.utils.agc.adaptive_clip_grad), skipping steps with non-finite gradients, and gradient
// accumulation over micro-batches.
//
// Gradients that lie side by side (a GradArena's) are reduced and scaled as one contiguous run; other gradients
// tensor by tensor. Norms are summed in double over fixed blocks combined in order: the same bits with any thread
// count. Parameters without a gradient are skipped; a non-contiguous gradient is replaced by a contiguous copy
// (as the optimizer driver does).
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "descent/core/tensor.hpp"
#include "descent/optim/optimizer.hpp"

namespace descent::optim {

inline constexpr double kInfNorm = std::numeric_limits<double>::infinity();

// Every parameter of every group of an optimizer, in order: what the functions below take.
std::vector<Tensor> all_params(const Optimizer& optimizer);

struct GradNormOptions {
  double norm_type = 2.0;           // p > 0, or kInfNorm (the largest |g|)
  bool error_if_nonfinite = false;  // throw descent::Error when the total norm is NaN or infinite
};

// The p-norm of all gradients together, as if concatenated (torch.nn.utils.get_total_norm over the grads).
double grad_norm(const std::vector<Tensor>& params, const GradNormOptions& options = {});

// Scales every gradient by min(1, max_norm / (total_norm + 1e-6)) (torch.nn.utils.clip_grads_with_norm_), e.g.
// with a total norm that was all-reduced across processes.
void clip_grads_with_norm(const std::vector<Tensor>& params, double max_norm, double total_norm);

// grad_norm, then clip_grads_with_norm (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping. As in
// torch, a non-finite norm (without error_if_nonfinite) still scales: by NaN, or by 0 for an infinite norm.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, const GradNormOptions& options = {});

// Clamps every gradient element into [−clip_value, clip_value] (torch.nn.utils.clip_grad_value_); NaN stays NaN.
void clip_grad_value(const std::vector<Tensor>& params, double clip_value);

// Clips each parameter's gradient to its own norm max_norm (same coefficient rule as clip_grad_norm); returns each
// gradient's norm before clipping (0 for parameters without a gradient).
std::vector<double> clip_grad_norm_per_param(const std::vector<Tensor>& params, double max_norm,
                                             double norm_type = 2.0);

// Adaptive gradient clipping: for each unit (a row — output unit — of a parameter with 2 or more dimensions, the
// whole parameter otherwise) the gradient is rescaled to norm clip_factor·max(‖w‖, eps) when its norm exceeds that,
// where w is the unit's weights. Defaults are the NFNets paper's (timm's eps); norms in double.
struct AdaptiveClipOptions {
  double clip_factor = 0.01;  // λ > 0
  double eps = 1e-3;          // floor on the weight norm, so zero-initialised units can move
  double norm_type = 2.0;     // p > 0, or kInfNorm
};
void adaptive_clip_grad(const std::vector<Tensor>& params, const AdaptiveClipOptions& options = {});

// True when no gradient holds a NaN or an infinity (one pass; parameters without a gradient count as finite).
bool grads_finite(const std::vector<Tensor>& params);

// Skips optimizer steps whose gradients are not finite (a loss spike, an overflow) and counts them:
//   if (!guard.skip()) opt.step();      or simply    guard.step(opt);
// Skipping leaves parameters and optimizer state untouched; zero the gradients as usual before the next step.
class NonFiniteGuard {
 public:
  explicit NonFiniteGuard(std::vector<Tensor> params) : params_(std::move(params)) {}
  explicit NonFiniteGuard(const Optimizer& optimizer) : params_(all_params(optimizer)) {}

  // True (and counted) when some gradient is not finite.
  bool skip();
  // Steps the optimizer unless skip(); returns whether it stepped.
  bool step(Optimizer& optimizer);

  int64_t skipped() const { return skipped_; }                  // in total
  int64_t consecutive_skipped() const { return consecutive_; }  // since the last finite step: a run means trouble
  int64_t checked() const { return checked_; }
  void reset_counts() { skipped_ = consecutive_ = checked_ = 0; }

 private:
  std::vector<Tensor> params_;
  int64_t skipped_ = 0, consecutive_ = 0, checked_ = 0;
};

// Gradient accumulation over k micro-batches. backward() already adds into .grad (into the GradArena's buffer for
// arena parameters), so accumulating means not zeroing between micro-batches, then dividing by k once — one pass
// over the gradients (one run for an arena) — before clipping and stepping:
//   loss.backward();
//   if (accumulation.ready()) { clip_grad_norm(params, 1.0); opt.step(); opt.zero_grad(); }
// The mean this gives equals scaling each micro-batch's loss by 1/k up to rounding. For a mean over examples
// when micro-batches differ in size, scale each loss by its size yourself and use k = 1.
class GradAccumulation {
 public:
  GradAccumulation(std::vector<Tensor> params, int64_t steps);
  GradAccumulation(const Optimizer& optimizer, int64_t steps) : GradAccumulation(all_params(optimizer), steps) {}

  // Counts one micro-batch (call after its backward). True when `steps` have been counted: the gradients now hold
  // their mean; step and zero them. Otherwise false: do not step, do not zero.
  bool ready();
  // Closes a partial window (the end of an epoch): divides by the micro-batches counted so far, which may be fewer
  // than `steps`. False when none were counted (nothing to step).
  bool flush();
  int64_t pending() const { return pending_; }  // micro-batches counted since the last step
  int64_t steps() const { return steps_; }

 private:
  std::vector<Tensor> params_;
  int64_t steps_;
  int64_t pending_ = 0;
};

// Multiplies, or divides, every gradient by a number in one pass per run (GradAccumulation divides once per window).
void scale_grads(const std::vector<Tensor>& params, double multiplier);
void divide_grads(const std::vector<Tensor>& params, double divisor);

}  // namespace descent::optim
