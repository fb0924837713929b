// Reductions that training diagnostics and fit's non-finite checks run over parameters, gradients and layer
// outputs: in double, one pass, whatever the tensor's layout (a non-contiguous view is copied first).
#pragma once

#include <cstdint>

#include "descent/core/tensor.hpp"

namespace descent::train::detail {

// True when no element is NaN or infinite.
bool all_finite(const Tensor& t);

// Σ x² (NaN or infinity when an element is).
double squared_norm(const Tensor& t);

// Σ (a − b)² over two tensors of the same shape and dtype.
double squared_distance(const Tensor& a, const Tensor& b);

// Zeros in a layer's output, a batch axis first: how many elements are exactly 0, and how many units (the
// positions of one row) are 0 in every row — ReLU units that did not fire for any example of the batch.
struct ZeroCounts {
  int64_t zeros = 0, elements = 0;
  int64_t dead_units = 0, units = 0;
};
ZeroCounts count_zeros(const Tensor& output);

}  // namespace descent::train::detail
