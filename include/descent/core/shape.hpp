// Shapes and strides (in elements, row-major), and the NumPy broadcasting rule.
#pragma once

#include <cstdint>
#include <vector>

namespace descent {

using Shape = std::vector<int64_t>;

int64_t numel_of(const Shape& shape);
Shape contiguous_strides(const Shape& shape);

// Wraps a possibly negative axis into [0, ndim); throws descent::Error naming `op` when out of range.
int64_t normalize_axis(int64_t axis, int64_t ndim, const char* op);

// The NumPy broadcast of two shapes; throws descent::Error naming `op` and both shapes when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// Strides that read a tensor of shape `from` (with `strides`) as if it had the broadcast shape `to`:
// stride 0 along broadcast dimensions. `from` must broadcast to `to`.
std::vector<int64_t> broadcast_strides(const Shape& from, const std::vector<int64_t>& strides, const Shape& to);

}  // namespace descent
