// Gradient norms, clipping, the non-finite guard and gradient accumulation, over contiguous runs of gradients.
#include "descent/optim/clip.hpp"

#include <algorithm>
#include <cmath>

#include "descent/core/threading.hpp"
#include "descent/optim/tensor_runs.hpp"

namespace descent::optim {

namespace {

// Elements per reduction block: fixed, so partial sums (and the result's bits) do not depend on the thread count.
constexpr int64_t kBlock = 1 << 15;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

enum class NormKind { Two, One, Inf, P };

NormKind norm_kind(std::string_view who, double p) {
  DESCENT_CHECK(p > 0, who, ": norm_type = ", p, " must be > 0 (or infinity)");
  if (p == 2.0) return NormKind::Two;
  if (p == 1.0) return NormKind::One;
  if (std::isinf(p)) return NormKind::Inf;
  return NormKind::P;
}

// The gradients of `params` (undefined where there is none), made contiguous where they were not.
std::vector<Tensor> grads_of(const std::vector<Tensor>& params) {
  std::vector<Tensor> grads;
  grads.reserve(params.size());
  for (const Tensor& p : params) {
    Tensor g = p.defined() ? p.grad() : Tensor();
    if (g.defined() && !g.is_contiguous()) {
      g = g.contiguous();
      Tensor(p).set_grad(g);
    }
    grads.push_back(g);
  }
  return grads;
}

// Σ f(x) in double with 8 independent accumulators: vectorisable without reassociation, fixed order.
template <class T, class F>
double lane_sum(const T* x, int64_t n, F f) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += f(static_cast<double>(x[i + j]));
  double tail = 0.0;
  for (; i < n; ++i) tail += f(static_cast<double>(x[i]));
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

// One block's share: Σ|x|^p, or max |x| (NaN if any element is NaN) for the infinity norm.
template <class T>
double partial_norm(const T* x, int64_t n, NormKind kind, double p) {
  switch (kind) {
    case NormKind::Two:
      return lane_sum(x, n, [](double v) { return v * v; });
    case NormKind::One:
      return lane_sum(x, n, [](double v) { return std::abs(v); });
    case NormKind::P:
      return lane_sum(x, n, [p](double v) { return std::pow(std::abs(v), p); });
    case NormKind::Inf: {
      // max and a sum of ±0/NaN are exact in any order, so the simd reduction keeps the result deterministic.
      // The probe Σ|x|·0 turns NaN when an element is NaN, which max() would drop.
      double most = 0.0, probe = 0.0;
#pragma omp simd reduction(max : most) reduction(+ : probe)
      for (int64_t i = 0; i < n; ++i) {
        const double a = std::abs(static_cast<double>(x[i]));
        most = a > most ? a : most;
        probe += a * 0.0;
      }
      return probe == 0.0 ? most : kNaN;
    }
  }
  return 0.0;
}

double combine(NormKind kind, double a, double b) {
  if (kind != NormKind::Inf) return a + b;
  if (std::isnan(a) || std::isnan(b)) return kNaN;
  return std::max(a, b);
}

double finish(NormKind kind, double acc, double p) {
  switch (kind) {
    case NormKind::Two:
      return std::sqrt(acc);
    case NormKind::P:
      return std::pow(acc, 1.0 / p);
    default:
      return acc;
  }
}

// A contiguous span's share, over fixed blocks (in parallel when there are several) combined in order.
template <class T>
double span_partial(const T* x, int64_t n, NormKind kind, double p) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  if (blocks <= 1) return partial_norm(x, n, kind, p);
  std::vector<double> parts(static_cast<size_t>(blocks));
  parallel_blocks(n, kBlock, [&](int64_t b, int64_t lo, int64_t hi) {
    parts[static_cast<size_t>(b)] = partial_norm(x + lo, hi - lo, kind, p);
  });
  double acc = 0.0;
  for (double part : parts) acc = combine(kind, acc, part);
  return acc;
}

// Applies op(x) elementwise to a run of gradients: over the whole run when `padding_ok` (op keeps the arena's zero
// padding zero), else over each member only.
template <class T, class Op>
void apply_to_run(const std::vector<Tensor>& grads, const TensorRun& run, bool padding_ok, Op op) {
  const auto apply = [&](T* x, int64_t n) {
    parallel_for(n, kParallelGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) x[i] = op(x[i]);
    });
  };
  T* base = static_cast<T*>(run.data);
  if (padding_ok || run.members.size() == 1) {
    apply(base, run.numel);
  } else {
    for (size_t m = 0; m < run.members.size(); ++m) apply(base + run.offsets[m], grads[run.members[m]].numel());
  }
}

void scale_all(const std::vector<Tensor>& grads, double coef) {
  const bool finite = std::isfinite(coef);  // 0·NaN-or-Inf would write NaN into the padding
  for (const TensorRun& run : contiguous_runs(grads, "clip")) {
    dispatch(run.dtype, [&]<class T>() {
      const T c = static_cast<T>(coef);
      apply_to_run<T>(grads, run, finite, [c](T x) { return x * c; });
    });
  }
}

template <class T>
double tensor_norm(const Tensor& t, NormKind kind, double p) {
  return finish(kind, span_partial(t.data<T>(), t.numel(), kind, p), p);
}

}  // namespace

std::vector<Tensor> all_params(const Optimizer& optimizer) {
  std::vector<Tensor> out;
  for (size_t g = 0; g < optimizer.num_groups(); ++g) {
    const auto& params = optimizer.params(g);
    out.insert(out.end(), params.begin(), params.end());
  }
  return out;
}

double grad_norm(const std::vector<Tensor>& params, const GradNormOptions& options) {
  const NormKind kind = norm_kind("grad_norm", options.norm_type);
  const std::vector<Tensor> grads = grads_of(params);
  double acc = 0.0;
  for (const TensorRun& run : contiguous_runs(grads, "grad_norm")) {
    const double part = dispatch(run.dtype, [&]<class T>() {
      return span_partial(static_cast<const T*>(run.data), run.numel, kind, options.norm_type);
    });
    acc = combine(kind, acc, part);
  }
  const double total = finish(kind, acc, options.norm_type);
  DESCENT_CHECK(!options.error_if_nonfinite || std::isfinite(total), "clip_grad_norm: the total norm of order ",
                options.norm_type, " of the gradients is ", total,
                "; some gradient holds NaN or Inf (error_if_nonfinite = true)");
  return total;
}

void clip_grads_with_norm(const std::vector<Tensor>& params, double max_norm, double total_norm) {
  DESCENT_CHECK(max_norm >= 0, "clip_grad_norm: max_norm = ", max_norm, " must be >= 0");
  const double coef = std::min(max_norm / (total_norm + 1e-6), 1.0);  // NaN stays NaN, as torch.clamp
  if (coef == 1.0) return;                                            // x·1 = x: nothing to do
  scale_all(grads_of(params), coef);
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, const GradNormOptions& options) {
  DESCENT_CHECK(max_norm >= 0, "clip_grad_norm: max_norm = ", max_norm, " must be >= 0");
  const double total = grad_norm(params, options);
  clip_grads_with_norm(params, max_norm, total);
  return total;
}

void clip_grad_value(const std::vector<Tensor>& params, double clip_value) {
  DESCENT_CHECK(clip_value >= 0, "clip_grad_value: clip_value = ", clip_value, " must be >= 0");
  const std::vector<Tensor> grads = grads_of(params);
  for (const TensorRun& run : contiguous_runs(grads, "clip_grad_value")) {
    dispatch(run.dtype, [&]<class T>() {
      const T hi = static_cast<T>(clip_value), lo = -hi;
      apply_to_run<T>(grads, run, true, [lo, hi](T x) { return x < lo ? lo : (x > hi ? hi : x); });
    });
  }
}

std::vector<double> clip_grad_norm_per_param(const std::vector<Tensor>& params, double max_norm, double norm_type) {
  DESCENT_CHECK(max_norm >= 0, "clip_grad_norm_per_param: max_norm = ", max_norm, " must be >= 0");
  const NormKind kind = norm_kind("clip_grad_norm_per_param", norm_type);
  const std::vector<Tensor> grads = grads_of(params);
  std::vector<double> norms(grads.size(), 0.0);
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined() || grads[i].numel() == 0) continue;
    norms[i] = dispatch(grads[i].dtype(), [&]<class T>() { return tensor_norm<T>(grads[i], kind, norm_type); });
    const double coef = std::min(max_norm / (norms[i] + 1e-6), 1.0);
    if (coef != 1.0) scale_all({grads[i]}, coef);
  }
  return norms;
}

void adaptive_clip_grad(const std::vector<Tensor>& params, const AdaptiveClipOptions& o) {
  DESCENT_CHECK(o.clip_factor > 0, "adaptive_clip_grad: clip_factor = ", o.clip_factor, " must be > 0");
  DESCENT_CHECK(o.eps >= 0, "adaptive_clip_grad: eps = ", o.eps, " must be >= 0");
  const NormKind kind = norm_kind("adaptive_clip_grad", o.norm_type);
  const std::vector<Tensor> grads = grads_of(params);
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    const Tensor& g = grads[i];
    if (!g.defined() || g.numel() == 0) continue;
    DESCENT_CHECK(p.is_contiguous() && g.shape() == p.shape() && g.dtype() == p.dtype(),
                  "adaptive_clip_grad: ", "parameter ", i, " (", p.str(), ") must be contiguous, its gradient (",
                  g.str(), ") alike");
    // Units are rows for weights of 2 or more dimensions (output unit first, as Linear and Conv lay them out).
    const int64_t units = p.dim() >= 2 ? p.size(0) : 1;
    const int64_t n = p.numel() / units;
    dispatch(p.dtype(), [&]<class T>() {
      const T* w = p.data<T>();
      T* gp = g.data<T>();
      parallel_for(units, std::max<int64_t>(1, kParallelGrain / n), [&](int64_t lo, int64_t hi) {
        for (int64_t u = lo; u < hi; ++u) {
          const double max_norm =
              std::max(finish(kind, partial_norm(w + u * n, n, kind, o.norm_type), o.norm_type), o.eps) * o.clip_factor;
          const double norm = finish(kind, partial_norm(gp + u * n, n, kind, o.norm_type), o.norm_type);
          if (norm < max_norm) continue;  // NaN norms fall through and scale to NaN, as torch.where does
          const T scale = static_cast<T>(max_norm / std::max(norm, 1e-6));
          for (int64_t k = 0; k < n; ++k) gp[u * n + k] *= scale;
        }
      });
    });
  }
}

bool grads_finite(const std::vector<Tensor>& params) {
  const std::vector<Tensor> grads = grads_of(params);
  for (const TensorRun& run : contiguous_runs(grads, "grads_finite")) {
    // x·0 is ±0 for finite x and NaN for NaN or ±Inf: one vectorisable sum tells.
    const double probe = dispatch(run.dtype, [&]<class T>() {
      const T* x = static_cast<const T*>(run.data);
      const int64_t blocks = (run.numel + kBlock - 1) / kBlock;
      if (blocks <= 1) return lane_sum(x, run.numel, [](double v) { return v * 0.0; });
      std::vector<double> parts(static_cast<size_t>(blocks));
      parallel_blocks(run.numel, kBlock, [&](int64_t b, int64_t lo, int64_t hi) {
        parts[static_cast<size_t>(b)] = lane_sum(x + lo, hi - lo, [](double v) { return v * 0.0; });
      });
      double acc = 0.0;
      for (double part : parts) acc += part;
      return acc;
    });
    if (probe != 0.0) return false;
  }
  return true;
}

void scale_grads(const std::vector<Tensor>& params, double multiplier) {
  DESCENT_CHECK(std::isfinite(multiplier), "scale_grads: multiplier = ", multiplier, " must be finite");
  if (multiplier != 1.0) scale_all(grads_of(params), multiplier);
}

void divide_grads(const std::vector<Tensor>& params, double divisor) {
  DESCENT_CHECK(std::isfinite(divisor) && divisor != 0.0, "divide_grads: divisor = ", divisor,
                " must be finite and nonzero");
  if (divisor == 1.0) return;
  const std::vector<Tensor> grads = grads_of(params);
  for (const TensorRun& run : contiguous_runs(grads, "divide_grads")) {
    dispatch(run.dtype, [&]<class T>() {
      const T d = static_cast<T>(divisor);
      apply_to_run<T>(grads, run, true, [d](T x) { return x / d; });
    });
  }
}

// ---- NonFiniteGuard, GradAccumulation -----------------------------------------------------------------------------

bool NonFiniteGuard::skip() {
  ++checked_;
  if (grads_finite(params_)) {
    consecutive_ = 0;
    return false;
  }
  ++skipped_;
  ++consecutive_;
  return true;
}

bool NonFiniteGuard::step(Optimizer& optimizer) {
  if (skip()) return false;
  optimizer.step();
  return true;
}

GradAccumulation::GradAccumulation(std::vector<Tensor> params, int64_t steps)
    : params_(std::move(params)), steps_(steps) {
  DESCENT_CHECK(steps >= 1, "GradAccumulation: steps = ", steps, " must be an integer >= 1");
}

bool GradAccumulation::ready() {
  if (++pending_ < steps_) return false;
  divide_grads(params_, static_cast<double>(pending_));
  pending_ = 0;
  return true;
}

bool GradAccumulation::flush() {
  if (pending_ == 0) return false;
  divide_grads(params_, static_cast<double>(pending_));
  pending_ = 0;
  return true;
}

}  // namespace descent::optim
