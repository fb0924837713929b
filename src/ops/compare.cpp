// Comparisons (0/1 masks in the operands' dtype, not differentiable), where(mask, a, b), and the elementwise
// maximum and minimum. NaN handling and gradients follow PyTorch: maximum/minimum propagate NaN and split the
// gradient equally between a and b where they tie (derivatives.yaml).
#include <algorithm>
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

// out = f(a, b) with broadcasting; a and b must share a dtype. f is a generic lambda.
template <class F>
Tensor binary_kernel(const Tensor& a, const Tensor& b, const char* op, F f) {
  check_same_dtype(a, b, op);
  return dispatch(a.dtype(), [&]<class T>() {
    return loops::map_binary<T>(
        a, b, [f](T x, T y) { return f(x, y); }, op);
  });
}

template <class Pred>
Tensor compare(const Tensor& a, const Tensor& b, const char* op, Pred pred) {
  return binary_kernel(a, b, op, [pred](auto x, auto y) {
    using T = decltype(x);
    return pred(x, y) ? T(1) : T(0);
  });
}

// The gradient reaching one operand of maximum/minimum, summed down to that operand's shape. `share(g, a, b)` is
// that operand's part of g (all of it, half on a tie, or none), written with selects so that an infinite g is never
// multiplied by 0. When recorded (create_graph): g times the constant share(1, a, b), differentiable in g only.
template <class Share>
Tensor extremum_grad(const Tensor& g, const Tensor& a, const Tensor& b, const Shape& shape, Share share,
                     const char* op) {
  Tensor part;
  if (is_grad_enabled() && g.requires_grad()) {
    const auto weight = [share](auto x, auto y) { return share(decltype(x)(1), x, y); };
    part = mul(g, binary_kernel(a.detach(), b.detach(), op, weight));
  } else {
    part = dispatch(g.dtype(), [&]<class T>() { return loops::map_ternary<T>(g, a, b, share, op); });
  }
  return sum_to(part, shape);
}

// Shared by maximum (`a_wins` = a > b) and minimum (a < b). NaN propagates: a NaN operand is returned, as
// PyTorch's maximum/minimum do. On ties each operand receives half the gradient, as PyTorch.
template <class AWins>
Tensor extremum(const Tensor& a, const Tensor& b, const char* op, const char* backward_op, AWins a_wins) {
  Tensor out = binary_kernel(a, b, op, [a_wins](auto x, auto y) { return (a_wins(x, y) | (x != x)) ? x : y; });
  if (!autograd::needs_grad({a, b})) return out;
  return autograd::record(op, out, {a, b}, [a, b, a_wins, backward_op](const Tensor& g) {
    const auto share_a = [a_wins](auto gv, auto x, auto y) {
      using T = decltype(gv);
      return a_wins(x, y) ? gv : (x == y ? T(0.5) * gv : T(0));
    };
    const auto share_b = [a_wins](auto gv, auto x, auto y) {
      using T = decltype(gv);
      return a_wins(y, x) ? gv : (x == y ? T(0.5) * gv : T(0));
    };
    return std::vector<Tensor>{a.requires_grad() ? extremum_grad(g, a, b, a.shape(), share_a, backward_op) : Tensor(),
                               b.requires_grad() ? extremum_grad(g, a, b, b.shape(), share_b, backward_op) : Tensor()};
  });
}

// The broadcast shape of where's three operands, or an error naming all three shapes.
Shape where_shape(const Tensor& mask, const Tensor& a, const Tensor& b) {
  const Shape& m = mask.shape();
  if (m == a.shape() && m == b.shape()) return m;
  const size_t n = std::max({m.size(), a.shape().size(), b.shape().size()});
  Shape out(n, 1);
  for (const Shape* s : {&m, &a.shape(), &b.shape()}) {
    for (size_t i = 0; i < s->size(); ++i) {
      const int64_t d = (*s)[i];
      int64_t& o = out[n - s->size() + i];
      DESCENT_CHECK(d == o || d == 1 || o == 1, "where: shapes ", m, " (mask), ", a.shape(), " (a) and ", b.shape(),
                    " (b) cannot be broadcast together");
      if (o == 1) o = d;
    }
  }
  return out;
}

}  // namespace

Tensor eq(const Tensor& a, const Tensor& b) {
  return compare(a, b, "eq", [](auto x, auto y) { return x == y; });
}
Tensor ne(const Tensor& a, const Tensor& b) {
  return compare(a, b, "ne", [](auto x, auto y) { return x != y; });
}
Tensor lt(const Tensor& a, const Tensor& b) {
  return compare(a, b, "lt", [](auto x, auto y) { return x < y; });
}
Tensor le(const Tensor& a, const Tensor& b) {
  return compare(a, b, "le", [](auto x, auto y) { return x <= y; });
}
Tensor gt(const Tensor& a, const Tensor& b) {
  return compare(a, b, "gt", [](auto x, auto y) { return x > y; });
}
Tensor ge(const Tensor& a, const Tensor& b) {
  return compare(a, b, "ge", [](auto x, auto y) { return x >= y; });
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  return extremum(a, b, "maximum", "maximum backward", [](auto x, auto y) { return x > y; });
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  return extremum(a, b, "minimum", "minimum backward", [](auto x, auto y) { return x < y; });
}

Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b) {
  // The mask may be of either dtype: it is only tested against 0, never mixed into the arithmetic.
  check_same_dtype(a, b, "where");
  const Shape shape = where_shape(mask, a, b);
  Tensor out = dispatch(a.dtype(), [&]<class T>() {
    return dispatch(mask.dtype(), [&]<class M>() {
      const auto select = [](M m, T x, T y) { return m != M(0) ? x : y; };
      const bool flat = mask.is_contiguous() && a.is_contiguous() && b.is_contiguous() && mask.shape() == shape &&
                        a.shape() == shape && b.shape() == shape;
      if (!flat) return loops::map_ternary<T, T, M>(mask, a, b, select, "where");
      // map_ternary walks rows with run-time strides; same-shape contiguous operands get one flat loop.
      Tensor result = Tensor::empty(shape, a.dtype());
      T* o = result.data<T>();
      const M* pm = mask.data<M>();
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      parallel_for(result.numel(), kParallelGrain, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) o[i] = select(pm[i], pa[i], pb[i]);
      });
      return result;
    });
  });
  if (!autograd::needs_grad({a, b})) return out;
  return autograd::record("where", out, {a, b},
                          [m = mask.detach(), sa = a.shape(), sb = b.shape(), na = a.requires_grad(),
                           nb = b.requires_grad()](const Tensor& g) {
                            // Each branch receives the gradient where it was selected: a select, not a product
                            // with the mask, so an infinite gradient never becomes NaN in the other branch.
                            const Tensor zero = Tensor::scalar(0.0, g.dtype());
                            return std::vector<Tensor>{na ? sum_to(where(m, g, zero), sa) : Tensor(),
                                                       nb ? sum_to(where(m, zero, g), sb) : Tensor()};
                          });
}

}  // namespace descent
