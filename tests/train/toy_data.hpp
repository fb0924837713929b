// Toy classification data the training tests share.
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "descent/core/random.hpp"
#include "descent/core/tensor.hpp"

namespace descent::train::toy {

struct BlobsOptions {
  DType dtype = kFloat32;
  uint64_t seed = 7;
  double radius = 3.0;  // class c is centred at radius·(cos 2πc/3, sin 2πc/3)
  double spread = 0.5;  // standard deviation around the centre
};

// Three Gaussian blobs in 2-D, n rows, row i of class i % 3: x [n, 2] and class ids y [n].
inline std::pair<Tensor, Tensor> blobs(int64_t n, const BlobsOptions& o = {}) {
  Generator gen(o.seed);
  std::vector<double> x(static_cast<size_t>(2 * n)), y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double a = 2.0 * M_PI * static_cast<double>(i % 3) / 3.0;
    x[2 * i] = o.radius * std::cos(a) + o.spread * gen.normal();
    x[2 * i + 1] = o.radius * std::sin(a) + o.spread * gen.normal();
    y[i] = static_cast<double>(i % 3);
  }
  return {Tensor::from(std::span<const double>(x), {n, 2}, o.dtype),
          Tensor::from(std::span<const double>(y), {n}, o.dtype)};
}

}  // namespace descent::train::toy
