// Matrix products through CBLAS (sgemm/dgemm). Transposed views are passed to BLAS as transposes, never copied.
#pragma once

#include "descent/core/tensor.hpp"

namespace descent {

// NumPy matmul semantics: 2-D × 2-D; batched (…, m, k) × (…, k, n) with the batch axes broadcast; a 1-D operand
// is a vector (prepended/appended 1 axis, removed from the result). Shapes that do not align give an Error
// naming both.
Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace descent
