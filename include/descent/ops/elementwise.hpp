// Elementwise operations with NumPy broadcasting, each differentiable. Both operands must have the same dtype
// (descent never promotes silently); a double scalar takes the tensor's dtype. Comparisons return masks: 1 where
// true, 0 where false, in the operands' dtype, and are not differentiable.
#pragma once

#include "descent/core/tensor.hpp"

namespace descent {

// ---- arithmetic -------------------------------------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& x);
Tensor pow(const Tensor& base, const Tensor& exponent);
Tensor pow(const Tensor& base, double exponent);
Tensor maximum(const Tensor& a, const Tensor& b);  // NaN propagates; on ties each operand gets half the gradient
Tensor minimum(const Tensor& a, const Tensor& b);  // as maximum (PyTorch's conventions)

// ---- unary math -------------------------------------------------------------------------------------------
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);  // subgradient 0 at 0
Tensor clamp(const Tensor& x, double lo, double hi);  // gradient 1 for lo <= x <= hi, else 0 (PyTorch)

// ---- activations ------------------------------------------------------------------------------------------
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor elu(const Tensor& x, double alpha = 1.0);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor gelu(const Tensor& x, bool tanh_approximation = false);  // exact (erf) form by default, as PyTorch
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);  // PyTorch's definition

// ---- comparisons and selection ----------------------------------------------------------------------------
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
// a where mask != 0, else b; all three broadcast together (the mask may be of either dtype). Differentiable in
// a and b.
Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b);

// ---- in place, not recorded -------------------------------------------------------------------------------
// dst += src (src broadcasts to dst's shape). Used to accumulate gradients into existing buffers.
Tensor& add_(Tensor& dst, const Tensor& src);

// ---- operators --------------------------------------------------------------------------------------------
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);

}  // namespace descent
