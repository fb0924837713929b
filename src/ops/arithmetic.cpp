// The four arithmetic operations, negation and their scalar forms. Backward of a broadcasting op sums the
// incoming gradient back down to each operand's shape (sum_to).
#include <vector>

#include "descent/autograd/function.hpp"
#include "descent/ops/elementwise.hpp"
#include "descent/ops/reduction.hpp"
#include "loops.hpp"

namespace descent {
namespace {

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  DESCENT_CHECK(a.dtype() == b.dtype(), op, ": dtypes differ (", a.str(), " and ", b.str(),
                "); convert one with .to()");
}

// Runs a binary kernel with broadcasting for the operands' dtype.
template <class F>
Tensor binary_kernel(const Tensor& a, const Tensor& b, const char* op, F f) {
  check_same_dtype(a, b, op);
  return dispatch(a.dtype(), [&]<class T>() { return loops::map_binary<T>(a, b, [f](T x, T y) { return f(x, y); }, op); });
}

Tensor scalar_like(double value, const Tensor& t) { return Tensor::scalar(value, t.dtype()); }

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_kernel(a, b, "add", [](auto x, auto y) { return x + y; });
  if (!autograd::needs_grad({a, b})) return out;
  return autograd::record("add", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(g, sb)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_kernel(a, b, "sub", [](auto x, auto y) { return x - y; });
  if (!autograd::needs_grad({a, b})) return out;
  return autograd::record("sub", out, {a, b}, [sa = a.shape(), sb = b.shape(), nb = b.requires_grad()](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), nb ? sum_to(neg(g), sb) : Tensor()};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_kernel(a, b, "mul", [](auto x, auto y) { return x * y; });
  if (!autograd::needs_grad({a, b})) return out;
  return autograd::record("mul", out, {a, b}, [a, b](const Tensor& g) {
    return std::vector<Tensor>{a.requires_grad() ? sum_to(mul(g, b), a.shape()) : Tensor(),
                               b.requires_grad() ? sum_to(mul(g, a), b.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_kernel(a, b, "div", [](auto x, auto y) { return x / y; });
  if (!autograd::needs_grad({a, b})) return out;
  return autograd::record("div", out, {a, b}, [a, b](const Tensor& g) {
    // d(a/b)/da = 1/b, d(a/b)/db = -a/b².
    return std::vector<Tensor>{a.requires_grad() ? sum_to(div(g, b), a.shape()) : Tensor(),
                               b.requires_grad() ? sum_to(neg(div(mul(g, a), mul(b, b))), b.shape()) : Tensor()};
  });
}

Tensor neg(const Tensor& x) {
  Tensor out = dispatch(x.dtype(), [&]<class T>() { return loops::map_unary<T>(x, [](T v) { return -v; }); });
  if (!autograd::needs_grad({x})) return out;
  return autograd::record("neg", out, {x}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
}

Tensor& add_(Tensor& dst, const Tensor& src) {
  check_same_dtype(dst, src, "add_");
  const Shape b = broadcast_shapes(src.shape(), dst.shape(), "add_");
  DESCENT_CHECK(b == dst.shape(), "add_: ", src.str(), " does not broadcast to ", dst.str());
  dispatch(dst.dtype(), [&]<class T>() {
    T* d = dst.data<T>();
    const T* s = src.data<T>();
    if (dst.is_contiguous() && src.is_contiguous() && src.shape() == dst.shape()) {
      parallel_for(dst.numel(), kParallelGrain, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) d[i] += s[i];
      });
      return;
    }
    loops::for_each_row<2>(dst.shape(), {dst.strides(), broadcast_strides(src.shape(), src.strides(), dst.shape())},
                           [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
                             for (int64_t j = 0; j < n; ++j) d[off[0] + j * st[0]] += s[off[1] + j * st[1]];
                           });
  });
  return dst;
}

Tensor operator+(const Tensor& a, double b) { return add(a, scalar_like(b, a)); }
Tensor operator-(const Tensor& a, double b) { return sub(a, scalar_like(b, a)); }
Tensor operator*(const Tensor& a, double b) { return mul(a, scalar_like(b, a)); }
Tensor operator/(const Tensor& a, double b) { return div(a, scalar_like(b, a)); }
Tensor operator+(double a, const Tensor& b) { return add(scalar_like(a, b), b); }
Tensor operator-(double a, const Tensor& b) { return sub(scalar_like(a, b), b); }
Tensor operator*(double a, const Tensor& b) { return mul(scalar_like(a, b), b); }
Tensor operator/(double a, const Tensor& b) { return div(scalar_like(a, b), b); }

}  // namespace descent
