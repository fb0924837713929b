// Free-function forms of the differentiable view operations on Tensor (reshape, transpose, …), plus
// concatenation and stacking.
#pragma once

#include <vector>

#include "descent/core/tensor.hpp"

namespace descent {

inline Tensor reshape(const Tensor& x, const Shape& shape) { return x.reshape(shape); }
inline Tensor transpose(const Tensor& x, int64_t a, int64_t b) { return x.transpose(a, b); }
inline Tensor permute(const Tensor& x, const std::vector<int64_t>& axes) { return x.permute(axes); }
inline Tensor expand(const Tensor& x, const Shape& shape) { return x.expand(shape); }
Tensor cat(const std::vector<Tensor>& tensors, int64_t axis = 0);  // torch.cat
Tensor stack(const std::vector<Tensor>& tensors, int64_t axis = 0);

}  // namespace descent
