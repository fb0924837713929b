// sum over axes and sum_to (the backward of broadcasting). Accumulation is in double; the full sum combines
// fixed-size blocks in order, so the bits do not depend on the thread count.
#include <algorithm>
#include <vector>

#include "descent/autograd/function.hpp"
#include "descent/ops/reduction.hpp"
#include "loops.hpp"
#include "reduce_plan.hpp"

namespace descent {
namespace {

constexpr int64_t kSumBlock = 16384;

template <class T>
double sum_contiguous(const T* p, int64_t n) {
  if (n < 2 * kSumBlock) {
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += p[i];
    return s;
  }
  std::vector<double> partial(static_cast<size_t>((n + kSumBlock - 1) / kSumBlock));
  parallel_blocks(n, kSumBlock, [&](int64_t b, int64_t lo, int64_t hi) {
    double s = 0.0;
    for (int64_t i = lo; i < hi; ++i) s += p[i];
    partial[b] = s;
  });
  double s = 0.0;
  for (double v : partial) s += v;
  return s;
}

template <class T>
Tensor sum_kernel(const Tensor& x, const ReducePlan& plan) {
  Tensor out = Tensor::empty(plan.out_shape, x.dtype());
  T* o = out.data<T>();
  if (plan.reduce_all) {
    const Tensor c = x.contiguous();
    *o = static_cast<T>(sum_contiguous(c.data<T>(), c.numel()));
    return out;
  }
  if (plan.leading_only && x.is_contiguous()) {
    // Reducing the leading axes of a contiguous tensor (a bias gradient): add whole rows into one accumulator.
    const T* p = x.data<T>();
    std::vector<double> acc(static_cast<size_t>(plan.kept), 0.0);
    for (int64_t r = 0; r < plan.reduced; ++r) {
      const T* row = p + r * plan.kept;
      for (int64_t j = 0; j < plan.kept; ++j) acc[j] += row[j];
    }
    std::copy(acc.begin(), acc.end(), o);
    return out;
  }
  // General case: kept axes first, reduced axes last, one contiguous run per output element.
  const Tensor c = x.permute(plan.kept_then_reduced).contiguous();
  const T* p = c.data<T>();
  parallel_for(plan.kept, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(plan.reduced, 1)),
               [&](int64_t lo, int64_t hi) {
                 for (int64_t i = lo; i < hi; ++i) {
                   double s = 0.0;
                   const T* row = p + i * plan.reduced;
                   for (int64_t j = 0; j < plan.reduced; ++j) s += row[j];
                   o[i] = static_cast<T>(s);
                 }
               });
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, const Axes& axes, bool keepdims) {
  const ReducePlan plan = plan_reduction(x.shape(), axes, keepdims, "sum");
  Tensor out = dispatch(x.dtype(), [&]<class T>() {
    NoGradGuard no_grad;  // the permute/contiguous inside is bookkeeping, not part of the graph
    return sum_kernel<T>(x, plan);
  });
  if (!autograd::needs_grad({x})) return out;
  return autograd::record("sum", out, {x}, [shape = x.shape(), keep = plan.keepdims_shape](const Tensor& g) {
    return std::vector<Tensor>{g.reshape(keep).expand(shape)};
  });
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const Shape target = broadcast_shapes(shape, x.shape(), "sum_to");
  DESCENT_CHECK(target == x.shape(), "sum_to: ", x.shape(), " is not a broadcast of ", shape);
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  Axes axes;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i < lead || (shape[i - lead] == 1 && x.shape()[i] != 1)) axes.push_back(i);
  }
  if (axes.empty()) return x.reshape(shape);
  return sum(x, axes, true).reshape(shape);
}

}  // namespace descent
