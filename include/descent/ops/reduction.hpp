// Reductions over all axes or given axes (negative axes count from the end), with keepdims as in NumPy, and
// the numerically stable softmax family. Sums accumulate in double and combine per-block results in a fixed
// order, so a result has the same bits with any thread count.
#pragma once

#include <vector>

#include "descent/core/tensor.hpp"

namespace descent {

using Axes = std::vector<int64_t>;  // empty = all axes

Tensor sum(const Tensor& x, const Axes& axes = {}, bool keepdims = false);
Tensor mean(const Tensor& x, const Axes& axes = {}, bool keepdims = false);
// Gradient flows to the first maximal element along each reduced slice (as PyTorch's max(dim)).
Tensor max(const Tensor& x, const Axes& axes = {}, bool keepdims = false);
Tensor min(const Tensor& x, const Axes& axes = {}, bool keepdims = false);
// Index of the first maximal element along `axis`, as float values in x's dtype. Not differentiable.
Tensor argmax(const Tensor& x, int64_t axis, bool keepdims = false);
// Variance with `correction` (0: population, 1: sample/Bessel, PyTorch's default).
Tensor variance(const Tensor& x, const Axes& axes = {}, int64_t correction = 1, bool keepdims = false);

Tensor softmax(const Tensor& x, int64_t axis = -1);
Tensor log_softmax(const Tensor& x, int64_t axis = -1);
Tensor logsumexp(const Tensor& x, const Axes& axes = {}, bool keepdims = false);

// Sums `x` down to `shape`, undoing a broadcast from `shape` to x.shape(): the backward of every broadcasting
// op. Returns x itself when the shapes already match. Differentiable.
Tensor sum_to(const Tensor& x, const Shape& shape);

}  // namespace descent
