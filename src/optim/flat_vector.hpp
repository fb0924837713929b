// The few reductions the closure methods (L-BFGS, Newton-CG, Newton) and their line searches take over flat float64
// vectors. Plain sequential loops: these vectors are the optimizer's own, and their sums must not depend on the
// thread count (L-BFGS's trajectory is compared with PyTorch's).
#pragma once

#include <algorithm>
#include <cmath>
#include <span>

namespace descent::optim::detail {

inline double dot(std::span<const double> a, std::span<const double> b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

inline double norm2(std::span<const double> v) { return std::sqrt(dot(v, v)); }

inline double max_abs(std::span<const double> v) {
  double m = 0.0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

inline bool all_finite(double f, std::span<const double> g) {
  return std::isfinite(f) && std::all_of(g.begin(), g.end(), [](double x) { return std::isfinite(x); });
}

}  // namespace descent::optim::detail
