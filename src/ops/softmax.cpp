// softmax and log_softmax along one axis, shifted by each slice's maximum so that no exp overflows (logits of
// ±1000 give exact results). Sums are formed in double; each slice is computed alone, so results do not depend
// on the thread count.
#include <cmath>
#include <limits>
#include <vector>

#include "descent/autograd/function.hpp"
#include "descent/ops/elementwise.hpp"
#include "descent/ops/reduction.hpp"
#include "loops.hpp"

namespace descent {
namespace {

// max that propagates NaN: a NaN anywhere in a slice makes the whole slice NaN, as in PyTorch.
inline double nan_max(double m, double v) { return (v > m || std::isnan(v)) && !std::isnan(m) ? v : m; }

// y = softmax(x) or log_softmax(x) along `axis`. x is read as contiguous [outer, len, inner]; for inner > 1 a
// slice is strided, so the max and sum run over whole rows of `inner` values at a time (cache-friendly).
template <class T, bool kLog>
Tensor softmax_kernel(const Tensor& x_in, int64_t axis) {
  Tensor x;
  {
    NoGradGuard no_grad;
    x = x_in.contiguous();
  }
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  int64_t outer = 1;
  int64_t inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (int64_t d = axis + 1; d < x.dim(); ++d) inner *= x.shape()[d];
  const int64_t len = x.shape()[axis];
  if (out.numel() == 0) return out;
  const T* px = x.data<T>();
  T* py = out.data<T>();
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / (len * inner));
  parallel_for(outer, grain, [&](int64_t lo, int64_t hi) {
    std::vector<double> m(static_cast<size_t>(inner));
    std::vector<double> s(static_cast<size_t>(inner));
    for (int64_t o = lo; o < hi; ++o) {
      const T* xs = px + o * len * inner;
      T* ys = py + o * len * inner;
      std::fill(m.begin(), m.end(), -std::numeric_limits<double>::infinity());
      std::fill(s.begin(), s.end(), 0.0);
      for (int64_t j = 0; j < len; ++j)
        for (int64_t t = 0; t < inner; ++t) m[t] = nan_max(m[t], static_cast<double>(xs[j * inner + t]));
      for (int64_t j = 0; j < len; ++j)
        for (int64_t t = 0; t < inner; ++t) s[t] += std::exp(static_cast<double>(xs[j * inner + t]) - m[t]);
      if constexpr (kLog) {
        for (int64_t t = 0; t < inner; ++t) s[t] = m[t] + std::log(s[t]);  // logsumexp of the slice
        for (int64_t j = 0; j < len; ++j)
          for (int64_t t = 0; t < inner; ++t)
            ys[j * inner + t] = static_cast<T>(static_cast<double>(xs[j * inner + t]) - s[t]);
      } else {
        for (int64_t j = 0; j < len; ++j)
          for (int64_t t = 0; t < inner; ++t)
            ys[j * inner + t] = static_cast<T>(std::exp(static_cast<double>(xs[j * inner + t]) - m[t]) / s[t]);
      }
    }
  });
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t axis_in) {
  const int64_t axis = normalize_axis(axis_in, x.dim(), "softmax");
  Tensor out = dispatch(x.dtype(), [&]<class T>() { return softmax_kernel<T, false>(x, axis); });
  if (!autograd::needs_grad({x})) return out;
  return autograd::record("softmax", out, {x}, [x, axis, y_saved = out.detach()](const Tensor& g) {
    // dx = y ⊙ (g - Σ_axis g ⊙ y). Under create_graph y is recomputed from x so second derivatives see it.
    const Tensor y = is_grad_enabled() ? softmax(x, axis) : y_saved;
    return std::vector<Tensor>{mul(y, g - sum(mul(g, y), {axis}, true))};
  });
}

Tensor log_softmax(const Tensor& x, int64_t axis_in) {
  const int64_t axis = normalize_axis(axis_in, x.dim(), "log_softmax");
  Tensor out = dispatch(x.dtype(), [&]<class T>() { return softmax_kernel<T, true>(x, axis); });
  if (!autograd::needs_grad({x})) return out;
  return autograd::record("log_softmax", out, {x}, [x, axis, y_saved = out.detach()](const Tensor& g) {
    // dx = g - softmax(x) ⊙ Σ_axis g, with softmax(x) = exp(y).
    Tensor p;
    if (is_grad_enabled()) {
      p = softmax(x, axis);  // create_graph: differentiable in x
    } else {
      p = dispatch(y_saved.dtype(), [&]<class T>() {
        return loops::map_unary<T>(y_saved, [](T v) { return static_cast<T>(std::exp(v)); });
      });
    }
    return std::vector<Tensor>{g - mul(p, sum(g, {axis}, true))};
  });
}

}  // namespace descent
