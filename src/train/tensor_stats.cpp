#include "tensor_stats.hpp"

#include <algorithm>
#include <vector>

#include "descent/core/dtype.hpp"
#include "descent/core/error.hpp"
#include "descent/core/threading.hpp"

namespace descent::train::detail {
namespace {

// Σ f(i) over [0, n) in double with 8 independent accumulators: vectorisable without reassociation.
template <class F>
double lane_sum(int64_t n, F f) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += f(i + j);
  double tail = 0.0;
  for (; i < n; ++i) tail += f(i);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

Tensor dense(const Tensor& t) { return t.is_contiguous() ? t : t.contiguous(); }

}  // namespace

bool all_finite(const Tensor& t) {
  const Tensor x = dense(t);
  // x·0 is ±0 for finite x and NaN for NaN or ±Inf: one vectorisable sum tells, per block (in parallel).
  return dispatch(x.dtype(), [&]<class T>() {
    const T* p = x.data<T>();
    const auto probe = [p](int64_t lo, int64_t hi) {
      return lane_sum(hi - lo, [q = p + lo](int64_t i) { return static_cast<double>(q[i]) * 0.0; });
    };
    constexpr int64_t kBlock = 1 << 16;
    const int64_t n = x.numel(), blocks = (n + kBlock - 1) / kBlock;
    if (blocks <= 1) return probe(0, n) == 0.0;
    std::vector<uint8_t> bad(static_cast<size_t>(blocks), 0);
    parallel_blocks(n, kBlock, [&](int64_t b, int64_t lo, int64_t hi) { bad[static_cast<size_t>(b)] = probe(lo, hi) != 0.0; });
    return std::find(bad.begin(), bad.end(), 1) == bad.end();
  });
}

double squared_norm(const Tensor& t) {
  const Tensor x = dense(t);
  return dispatch(x.dtype(), [&]<class T>() {
    const T* p = x.data<T>();
    return lane_sum(x.numel(), [p](int64_t i) {
      const double v = p[i];
      return v * v;
    });
  });
}

double squared_distance(const Tensor& a_in, const Tensor& b_in) {
  DESCENT_CHECK(a_in.shape() == b_in.shape() && a_in.dtype() == b_in.dtype(), "squared_distance: ", a_in.str(),
                " and ", b_in.str(), " differ in shape or dtype");
  const Tensor a = dense(a_in), b = dense(b_in);
  return dispatch(a.dtype(), [&]<class T>() {
    const T *p = a.data<T>(), *q = b.data<T>();
    return lane_sum(a.numel(), [p, q](int64_t i) {
      const double d = static_cast<double>(p[i]) - static_cast<double>(q[i]);
      return d * d;
    });
  });
}

ZeroCounts count_zeros(const Tensor& output) {
  const Tensor x = dense(output);
  ZeroCounts counts;
  counts.elements = x.numel();
  if (x.dim() == 0 || x.numel() == 0) return counts;
  const int64_t rows = x.size(0), units = x.numel() / rows;
  counts.units = units;
  std::vector<uint8_t> fired(static_cast<size_t>(units), 0);
  dispatch(x.dtype(), [&]<class T>() {
    const T* p = x.data<T>();
    int64_t zeros = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = p + r * units;
      for (int64_t u = 0; u < units; ++u) {
        const bool zero = row[u] == T(0);
        zeros += zero;
        fired[static_cast<size_t>(u)] |= static_cast<uint8_t>(!zero);
      }
    }
    counts.zeros = zeros;
  });
  for (uint8_t f : fired) counts.dead_units += f == 0;
  return counts;
}

}  // namespace descent::train::detail
