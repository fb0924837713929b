// Unary math (exp, log, sqrt, abs, clamp) and pow, with PyTorch's derivative formulas and subgradient conventions
// (tools/autograd/derivatives.yaml and FunctionsManual.cpp). A first-order backward is one fused kernel; when the
// backward is itself being recorded (create_graph) it is built from differentiable ops, so higher derivatives work.
#include <algorithm>
#include <cmath>
#include <vector>

#include "descent/autograd/function.hpp"
#include "descent/autograd/grad_mode.hpp"
#include "descent/ops/elementwise.hpp"
#include "descent/ops/reduction.hpp"
#include "loops.hpp"

namespace descent {
namespace {

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  DESCENT_CHECK(a.dtype() == b.dtype(), op, ": dtypes differ (", a.str(), " and ", b.str(),
                "); convert one with .to()");
}

// out = f(x) in x's dtype; f is a template lambda []<class T>(T v) { ... }.
template <class F>
Tensor unary_kernel(const Tensor& x, F f) {
  return dispatch(x.dtype(), [&]<class T>() { return loops::map_unary<T>(x, [f](T v) { return f(v); }); });
}

// out = f(a, b) with broadcasting; a and b must share a dtype.
template <class F>
Tensor binary_kernel(const Tensor& a, const Tensor& b, const char* op, F f) {
  check_same_dtype(a, b, op);
  return dispatch(a.dtype(), [&]<class T>() {
    return loops::map_binary<T>(
        a, b, [f](T x, T y) { return f(x, y); }, op);
  });
}

// Inside a backward closure grad mode is on only when the engine runs with create_graph: the closure must then
// build its result from differentiable ops (and recompute a saved result from the inputs so that second
// derivatives flow through it); otherwise one fused kernel will do.
bool recording_backward() { return is_grad_enabled(); }

// g * d(x) for a derivative d that is piecewise constant (abs, clamp). `backward(g, x)` computes g * d(x) as
// selects between g, -g and 0: GCC (with its default -ftrapping-math) vectorises a select only when its arms hold no
// arithmetic. When recorded (create_graph) the result is g times the constant d(x) = backward(1, x): d has no
// derivative of its own away from the kinks, so only g stays differentiable.
template <class B>
Tensor times_piecewise_constant(const Tensor& g, const Tensor& x, B backward, const char* op) {
  if (recording_backward() && g.requires_grad()) {
    return mul(g, unary_kernel(x, [backward]<class T>(T v) { return backward(T(1), v); }));
  }
  return binary_kernel(g, x, op, backward);
}

}  // namespace

Tensor exp(const Tensor& x) {
  Tensor out = unary_kernel(x, []<class T>(T v) { return std::exp(v); });
  if (!autograd::needs_grad({x})) return out;
  return autograd::record("exp", out, {x}, [x, y = out.detach()](const Tensor& g) {
    return std::vector<Tensor>{mul(g, recording_backward() ? exp(x) : y)};
  });
}

Tensor log(const Tensor& x) {
  Tensor out = unary_kernel(x, []<class T>(T v) { return std::log(v); });
  if (!autograd::needs_grad({x})) return out;
  return autograd::record("log", out, {x}, [x](const Tensor& g) { return std::vector<Tensor>{div(g, x)}; });
}

Tensor sqrt(const Tensor& x) {
  Tensor out = unary_kernel(x, []<class T>(T v) { return std::sqrt(v); });
  if (!autograd::needs_grad({x})) return out;
  return autograd::record("sqrt", out, {x}, [x, y = out.detach()](const Tensor& g) {
    // d sqrt(x) = 1 / (2 sqrt(x)): infinite at 0, as in PyTorch.
    if (recording_backward()) return std::vector<Tensor>{div(g, sqrt(x) * 2.0)};
    return std::vector<Tensor>{
        binary_kernel(g, y, "sqrt backward", [](auto gv, auto yv) { return gv / (decltype(yv)(2) * yv); })};
  });
}

Tensor abs(const Tensor& x) {
  Tensor out = unary_kernel(x, []<class T>(T v) { return std::abs(v); });
  if (!autograd::needs_grad({x})) return out;
  return autograd::record("abs", out, {x}, [x](const Tensor& g) {
    // g * sign(x), with the subgradient 0 at 0 (PyTorch's abs backward is grad * self.sgn()).
    const auto backward = [](auto gv, auto v) { return v > 0 ? gv : (v < 0 ? -gv : decltype(gv)(0)); };
    return std::vector<Tensor>{times_piecewise_constant(g, x.detach(), backward, "abs backward")};
  });
}

Tensor clamp(const Tensor& x, double lo, double hi) {
  // min(max(x, lo), hi) as PyTorch: NaN propagates, and lo > hi gives hi everywhere.
  Tensor out = unary_kernel(x, [lo, hi]<class T>(T v) { return std::min(std::max(v, T(lo)), T(hi)); });
  if (!autograd::needs_grad({x})) return out;
  return autograd::record("clamp", out, {x}, [x, lo, hi](const Tensor& g) {
    // PyTorch's clamp_backward passes the gradient where lo <= x <= hi, bounds included (subgradient 1 there).
    const auto backward = [lo, hi]<class T>(T gv, T v) { return (v >= T(lo)) & (v <= T(hi)) ? gv : T(0); };
    return std::vector<Tensor>{times_piecewise_constant(g, x.detach(), backward, "clamp backward")};
  });
}

Tensor pow(const Tensor& base, double exponent) {
  // Exact shortcuts for the common exponents, as PyTorch's pow kernel takes; std::pow otherwise.
  const double e = exponent;
  Tensor out;
  if (e == 1.0) {
    out = unary_kernel(base, []<class T>(T v) { return v; });
  } else if (e == 2.0) {
    out = unary_kernel(base, []<class T>(T v) { return v * v; });
  } else if (e == 3.0) {
    out = unary_kernel(base, []<class T>(T v) { return v * v * v; });
  } else if (e == 0.5) {
    out = unary_kernel(base, []<class T>(T v) { return std::sqrt(v); });
  } else if (e == -1.0) {
    out = unary_kernel(base, []<class T>(T v) { return T(1) / v; });
  } else {
    out = unary_kernel(base, [e]<class T>(T v) { return std::pow(v, T(e)); });
  }
  if (!autograd::needs_grad({base})) return out;
  return autograd::record("pow", out, {base}, [x = base, e](const Tensor& g) {
    // PyTorch's pow_backward: e * x^(e-1), and exactly 0 for e == 0 (no 0 * inf at x == 0).
    if (e == 0.0) return std::vector<Tensor>{Tensor::zeros_like(x)};
    if (recording_backward()) return std::vector<Tensor>{mul(g, pow(x, e - 1.0) * e)};
    if (e == 2.0) {
      return std::vector<Tensor>{
          binary_kernel(g, x, "pow backward", [](auto gv, auto v) { return gv * decltype(v)(2) * v; })};
    }
    return std::vector<Tensor>{binary_kernel(g, x, "pow backward", [e](auto gv, auto v) {
      using T = decltype(v);
      return gv * T(e) * std::pow(v, T(e - 1.0));
    })};
  });
}

Tensor pow(const Tensor& base, const Tensor& exponent) {
  Tensor out = binary_kernel(base, exponent, "pow", [](auto x, auto y) { return std::pow(x, y); });
  if (!autograd::needs_grad({base, exponent})) return out;
  return autograd::record("pow", out, {base, exponent}, [a = base, b = exponent, y = out.detach()](const Tensor& g) {
    // PyTorch's pow_backward_self and pow_backward_exponent, including where they define the gradient as 0 to
    // avoid 0 * inf: for the base where the exponent is 0, for the exponent where base == 0 and exponent >= 0.
    const Tensor zero = Tensor::scalar(0.0, g.dtype());
    Tensor ga;
    Tensor gb;
    if (a.requires_grad()) {
      const Tensor d = mul(b, pow(a, b - 1.0));
      ga = sum_to(mul(g, where(eq(b, zero), zero, d)), a.shape());
    }
    if (b.requires_grad()) {
      const Tensor d = mul(recording_backward() ? pow(a, b) : y, log(a));
      gb = sum_to(mul(g, where(mul(eq(a, zero), ge(b, zero)), zero, d)), b.shape());
    }
    return std::vector<Tensor>{ga, gb};
  });
}

}  // namespace descent
