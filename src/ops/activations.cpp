// Activation functions with PyTorch's definitions, derivative formulas and conventions (relu'(0) = 0,
// leaky_relu'(0) = slope, elu'(0) = alpha; gelu and softplus as torch.nn.functional). A first-order backward is one
// fused kernel; when the backward is itself being recorded (create_graph) it is built from differentiable ops.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "descent/autograd/function.hpp"
#include "descent/autograd/grad_mode.hpp"
#include "descent/ops/elementwise.hpp"
#include "loops.hpp"

namespace descent {
namespace {

// out = f(x) in x's dtype; f is a template lambda []<class T>(T v) { ... }.
template <class F>
Tensor unary_kernel(const Tensor& x, F f) {
  return dispatch(x.dtype(), [&]<class T>() { return loops::map_unary<T>(x, [f](T v) { return f(v); }); });
}

// g * d(x) in one kernel, for a first-order backward; g has x's shape.
template <class D>
Tensor times_derivative(const Tensor& g, const Tensor& x, D d, const char* op) {
  return dispatch(x.dtype(), [&]<class T>() {
    return loops::map_binary<T>(
        g, x, [d](T gv, T v) { return gv * d(v); }, op);
  });
}

// Inside a backward closure grad mode is on only when the engine runs with create_graph: the closure must then
// build its result from differentiable ops; otherwise one fused kernel will do.
bool recording_backward() { return is_grad_enabled(); }

// g * d(x) for a derivative d that is piecewise constant (relu, leaky_relu). `backward(g, x)` computes g * d(x) with
// selects whose arms hold no arithmetic, which GCC (with its default -ftrapping-math) vectorises. When recorded
// (create_graph) the result is g times the constant d(x) = backward(1, x): only g stays differentiable.
template <class B>
Tensor times_piecewise_constant(const Tensor& g, const Tensor& x, B backward, const char* op) {
  if (recording_backward() && g.requires_grad()) {
    return mul(g, unary_kernel(x, [backward]<class T>(T v) { return backward(T(1), v); }));
  }
  return dispatch(x.dtype(), [&]<class T>() {
    return loops::map_binary<T>(
        g, x, [backward](T gv, T v) { return backward(gv, v); }, op);
  });
}

// 0/1 mask of scale * x > threshold, a constant for the recorded backward of piecewise-defined activations.
Tensor greater_mask(const Tensor& x, double scale, double threshold) {
  return unary_kernel(x, [scale, threshold]<class T>(T v) { return v * T(scale) > T(threshold) ? T(1) : T(0); });
}

// GELU constants, as PyTorch's GeluKernel.cpp: 1/sqrt(2), 1/sqrt(2 pi), sqrt(2/pi) and the tanh form's 0.044715.
constexpr double kInvSqrt2 = 1.0 / std::numbers::sqrt2;
constexpr double kInvSqrt2Pi = std::numbers::inv_sqrtpi / std::numbers::sqrt2;
constexpr double kSqrt2OverPi = std::numbers::sqrt2 * std::numbers::inv_sqrtpi;
constexpr double kKappa = 0.044715;

// GELU and its derivative for one element, as PyTorch's GeluKernel.cpp: x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)),
// d/dx = Phi(x) + x phi(x); with approximate='tanh', 0.5 x (1 + tanh(u)) with u = sqrt(2/pi) (x + 0.044715 x^3),
// d/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) du/dx.
template <class T>
T gelu_erf_value(T v) {
  return v * T(0.5) * (T(1) + std::erf(v * T(kInvSqrt2)));
}
template <class T>
T gelu_erf_grad(T v) {
  const T cdf = T(0.5) * (T(1) + std::erf(v * T(kInvSqrt2)));
  const T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * v * v);
  return cdf + v * pdf;
}
template <class T>
T gelu_tanh_value(T v) {
  const T inner = T(kSqrt2OverPi) * (v + T(kKappa) * v * v * v);
  return T(0.5) * v * (T(1) + std::tanh(inner));
}
template <class T>
T gelu_tanh_grad(T v) {
  const T t = std::tanh(T(kSqrt2OverPi) * (v + T(kKappa) * v * v * v));
  const T inner_derivative = T(kSqrt2OverPi) * (T(1) + T(3 * kKappa) * v * v);
  return T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * inner_derivative;
}

// d/dx of the exact GELU as an op of its own: its backward, phi(x) (2 - x^2), is built from differentiable ops, so
// the recorded GELU backward can be differentiated to any order (there is no differentiable erf to compose with).
Tensor gelu_erf_derivative(const Tensor& x) {
  Tensor out = unary_kernel(x, []<class T>(T v) { return gelu_erf_grad(v); });
  if (!autograd::needs_grad({x})) return out;
  return autograd::record("gelu_backward", out, {x}, [x](const Tensor& g) {
    const Tensor pdf = exp(x * x * -0.5) * kInvSqrt2Pi;
    return std::vector<Tensor>{mul(g, mul(pdf, 2.0 - x * x))};
  });
}

// d/dx of the tanh GELU (gelu_tanh_grad) from differentiable ops, which give every higher derivative.
Tensor gelu_tanh_derivative(const Tensor& x) {
  const Tensor t = tanh((x + x * x * x * kKappa) * kSqrt2OverPi);
  const Tensor inner_derivative = (x * x * (3.0 * kKappa) + 1.0) * kSqrt2OverPi;
  return (t + 1.0) * 0.5 + x * 0.5 * (1.0 - t * t) * inner_derivative;
}

}  // namespace

Tensor relu(const Tensor& x) {
  // Written as x < 0 ? 0 : x so that NaN propagates, as PyTorch's clamp_min-based relu.
  Tensor out = unary_kernel(x, []<class T>(T v) { return v < T(0) ? T(0) : v; });
  if (!autograd::needs_grad({x})) return out;
  return autograd::record("relu", out, {x}, [x](const Tensor& g) {
    // PyTorch's threshold_backward: the gradient passes where x > 0, so relu'(0) = 0.
    const auto backward = []<class T>(T gv, T v) { return v > T(0) ? gv : T(0); };
    return std::vector<Tensor>{times_piecewise_constant(g, x.detach(), backward, "relu backward")};
  });
}

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  // max(x, 0) + slope min(x, 0) equals x > 0 ? x : slope x exactly (NaN included), and vectorises where the
  // select with a product in one arm does not.
  Tensor out = unary_kernel(
      x, [negative_slope]<class T>(T v) { return std::max(v, T(0)) + T(negative_slope) * std::min(v, T(0)); });
  if (!autograd::needs_grad({x})) return out;
  return autograd::record("leaky_relu", out, {x}, [x, negative_slope](const Tensor& g) {
    // PyTorch's leaky_relu_backward: x > 0 ? g : g * slope, so the derivative at 0 is the slope.
    const auto backward = [negative_slope]<class T>(T gv, T v) {
      return (v > T(0) ? gv : T(0)) + (v > T(0) ? T(0) : gv) * T(negative_slope);
    };
    return std::vector<Tensor>{times_piecewise_constant(g, x.detach(), backward, "leaky_relu backward")};
  });
}

Tensor elu(const Tensor& x, double alpha) {
  Tensor out = unary_kernel(x, [alpha]<class T>(T v) { return v > T(0) ? v : T(alpha) * std::expm1(v); });
  if (!autograd::needs_grad({x})) return out;
  return autograd::record("elu", out, {x}, [x, alpha](const Tensor& g) {
    // elu'(x) = 1 for x > 0, alpha exp(x) = elu(x) + alpha otherwise (PyTorch's elu_backward, which gives alpha
    // at 0). The recorded form uses elu(x) + alpha rather than exp(x), which would overflow for large x.
    if (recording_backward()) {
      const Tensor d = where(greater_mask(x.detach(), 1.0, 0.0), Tensor::scalar(1.0, x.dtype()), elu(x, alpha) + alpha);
      return std::vector<Tensor>{mul(g, d)};
    }
    const auto d = [alpha]<class T>(T v) { return v > T(0) ? T(1) : T(alpha) * std::exp(v); };
    return std::vector<Tensor>{times_derivative(g, x, d, "elu backward")};
  });
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = unary_kernel(x, []<class T>(T v) { return T(1) / (T(1) + std::exp(-v)); });
  if (!autograd::needs_grad({x})) return out;
  return autograd::record("sigmoid", out, {x}, [x, y = out.detach()](const Tensor& g) {
    if (recording_backward()) {
      const Tensor s = sigmoid(x);  // recomputed so that second derivatives flow through it
      return std::vector<Tensor>{mul(g, mul(s, 1.0 - s))};
    }
    return std::vector<Tensor>{dispatch(x.dtype(), [&]<class T>() {
      return loops::map_binary<T>(
          g, y, [](T gv, T s) { return gv * s * (T(1) - s); }, "sigmoid backward");
    })};
  });
}

Tensor tanh(const Tensor& x) {
  Tensor out = unary_kernel(x, []<class T>(T v) { return std::tanh(v); });
  if (!autograd::needs_grad({x})) return out;
  return autograd::record("tanh", out, {x}, [x, y = out.detach()](const Tensor& g) {
    if (recording_backward()) {
      const Tensor t = tanh(x);  // recomputed so that second derivatives flow through it
      return std::vector<Tensor>{mul(g, 1.0 - t * t)};
    }
    return std::vector<Tensor>{dispatch(x.dtype(), [&]<class T>() {
      return loops::map_binary<T>(
          g, y, [](T gv, T t) { return gv * (T(1) - t * t); }, "tanh backward");
    })};
  });
}

Tensor gelu(const Tensor& x, bool tanh_approximation) {
  Tensor out = tanh_approximation ? unary_kernel(x, []<class T>(T v) { return gelu_tanh_value(v); })
                                  : unary_kernel(x, []<class T>(T v) { return gelu_erf_value(v); });
  if (!autograd::needs_grad({x})) return out;
  return autograd::record("gelu", out, {x}, [x, tanh_approximation](const Tensor& g) {
    if (recording_backward()) {
      return std::vector<Tensor>{mul(g, tanh_approximation ? gelu_tanh_derivative(x) : gelu_erf_derivative(x))};
    }
    return std::vector<Tensor>{tanh_approximation
                                   ? times_derivative(
                                         g, x, []<class T>(T v) { return gelu_tanh_grad(v); }, "gelu backward")
                                   : times_derivative(
                                         g, x, []<class T>(T v) { return gelu_erf_grad(v); }, "gelu backward")};
  });
}

Tensor softplus(const Tensor& x, double beta, double threshold) {
  // PyTorch: log(1 + exp(beta x)) / beta, reverting to x where beta x > threshold for numerical stability.
  Tensor out = unary_kernel(x, [beta, threshold]<class T>(T v) {
    const T bx = v * T(beta);
    return bx > T(threshold) ? v : std::log1p(std::exp(bx)) / T(beta);
  });
  if (!autograd::needs_grad({x})) return out;
  return autograd::record("softplus", out, {x}, [x, beta, threshold](const Tensor& g) {
    // d/dx = sigmoid(beta x), and 1 above the threshold (PyTorch's softplus_backward).
    if (recording_backward()) {
      const Tensor above = greater_mask(x.detach(), beta, threshold);
      return std::vector<Tensor>{mul(g, where(above, Tensor::scalar(1.0, x.dtype()), sigmoid(x * beta)))};
    }
    const auto d = [beta, threshold]<class T>(T v) {
      const T bx = v * T(beta);
      return bx > T(threshold) ? T(1) : T(1) / (T(1) + std::exp(-bx));
    };
    return std::vector<Tensor>{times_derivative(g, x, d, "softplus backward")};
  });
}

}  // namespace descent
