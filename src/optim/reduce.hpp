// Helpers for the kernels of rules that reduce over their parameters (LAMB's and LARS's trust ratios, Adafactor's
// RMS clipping, Prodigy's d): sums whose bits do not depend on the thread count, and torch.lerp's formula.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "descent/core/threading.hpp"
#include "descent/optim/kernel.hpp"

namespace descent::optim::detail {

// Sums N quantities over [0, n): body(lo, hi) returns the block's partial sums. Blocks of `block` items are
// fixed and added in order, so the result is the same with any number of threads. Sums are kept in double for
// float32 parameters too (the references sum in the parameter's dtype; the difference is within the float32
// tolerance of the golden tests).
template <size_t N, class Body>
std::array<double, N> blocked_sums(int64_t n, int64_t block, Body&& body) {
  const int64_t blocks = n <= 0 ? 0 : (n + block - 1) / block;
  if (blocks <= 1) return n <= 0 ? std::array<double, N>{} : body(int64_t{0}, n);
  std::vector<std::array<double, N>> partial(static_cast<size_t>(blocks));  // only for runs of >1 block
  parallel_blocks(n, block, [&](int64_t b, int64_t lo, int64_t hi) { partial[static_cast<size_t>(b)] = body(lo, hi); });
  std::array<double, N> total{};
  for (const auto& part : partial)
    for (size_t k = 0; k < N; ++k) total[k] += part[k];
  return total;
}

template <size_t N, class Body>
std::array<double, N> blocked_sums(int64_t n, Body&& body) {
  return blocked_sums<N>(n, kUpdateGrain, body);
}

// torch.lerp(a, b, w) with a scalar weight: the formula switches sides at |w| = 0.5 to stay exact at w = 1.
template <class T>
inline T torch_lerp(T a, T b, T w) {
  return std::abs(w) < T(0.5) ? a + w * (b - a) : b - (b - a) * (T(1) - w);
}

// torch.sign: −1, 0 or 1.
template <class T>
inline T sign(T x) {
  return static_cast<T>((T(0) < x) - (x < T(0)));
}

}  // namespace descent::optim::detail
