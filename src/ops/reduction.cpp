// Reductions other than sum: mean, max/min (with the first maximal element's position for backward), argmax,
// variance and logsumexp. Every kernel reads x with kept axes first and reduced axes last (reduce_plan.hpp),
// accumulates in double, and splits a long run into fixed blocks combined in order, so no result depends on the
// thread count.
#include <cmath>
#include <limits>
#include <vector>

#include "descent/autograd/function.hpp"
#include "descent/ops/elementwise.hpp"
#include "descent/ops/reduction.hpp"
#include "loops.hpp"
#include "reduce_plan.hpp"

namespace descent {
namespace {

// The same block as sum.cpp, so mean over all axes is sum's double total divided by n.
constexpr int64_t kBlock = 16384;

// x permuted to kept-then-reduced order and contiguous: output element i reduces [i * reduced, (i + 1) * reduced).
// No copy when the reduced axes are already trailing in a contiguous x.
Tensor runs_of(const Tensor& x, const ReducePlan& plan) {
  NoGradGuard no_grad;  // layout bookkeeping, not part of the graph
  return x.permute(plan.kept_then_reduced).contiguous();
}

// For each output element i: store(i, run(i, p, n, first)) where run reduces n elements at p, the `first`-th
// onwards of the run. A run of 2 * kBlock or more is cut into fixed blocks reduced in parallel and combined in
// block order by `combine`; shorter runs are reduced whole, output elements in parallel. Which path a run takes
// depends on its length only, never on the thread count.
template <class T, class P, class Run, class Combine, class Store>
void reduce_runs(const T* data, const ReducePlan& plan, Run run, Combine combine, Store store) {
  const int64_t len = plan.reduced;
  if (len >= 2 * kBlock) {
    std::vector<P> partial(static_cast<size_t>((len + kBlock - 1) / kBlock));
    for (int64_t i = 0; i < plan.kept; ++i) {
      const T* p = data + i * len;
      parallel_blocks(len, kBlock,
                      [&](int64_t b, int64_t lo, int64_t hi) { partial[b] = run(i, p + lo, hi - lo, lo); });
      P acc = partial[0];
      for (size_t b = 1; b < partial.size(); ++b) acc = combine(acc, partial[b]);
      store(i, acc);
    }
    return;
  }
  parallel_for(plan.kept, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(len, 1)),
               [&](int64_t lo, int64_t hi) {
                 for (int64_t i = lo; i < hi; ++i) store(i, run(i, data + i * len, len, int64_t{0}));
               });
}

// Double-precision sums of every run (the first pass of mean and variance).
template <class T>
std::vector<double> run_sums(const T* data, const ReducePlan& plan) {
  std::vector<double> sums(static_cast<size_t>(plan.kept));
  reduce_runs<T, double>(
      data, plan,
      [](int64_t, const T* p, int64_t n, int64_t) {
        double s = 0.0;
        for (int64_t j = 0; j < n; ++j) s += p[j];
        return s;
      },
      [](double a, double b) { return a + b; }, [&](int64_t i, double s) { sums[i] = s; });
  return sums;
}

// NaN counts as beyond every number and the first NaN wins, so max/min propagate NaN as PyTorch does.
template <bool kMax, class T>
bool beats(T v, T best) {
  if (std::isnan(best)) return false;
  if (std::isnan(v)) return true;
  return kMax ? v > best : v < best;
}

template <class T>
struct Extreme {
  T value;
  int64_t index;  // position within the run
};

// The extreme value of each run and the position of its first occurrence.
template <bool kMax, class T>
std::vector<Extreme<T>> run_extremes(const T* data, const ReducePlan& plan) {
  std::vector<Extreme<T>> result(static_cast<size_t>(plan.kept));
  reduce_runs<T, Extreme<T>>(
      data, plan,
      [](int64_t, const T* p, int64_t n, int64_t first) {
        Extreme<T> e{p[0], first};
        for (int64_t j = 1; j < n; ++j)
          if (beats<kMax>(p[j], e.value)) e = {p[j], first + j};
        return e;
      },
      // `b` comes from a later block, so it must strictly beat `a` to keep the first occurrence.
      [](const Extreme<T>& a, const Extreme<T>& b) { return beats<kMax>(b.value, a.value) ? b : a; },
      [&](int64_t i, const Extreme<T>& e) { result[i] = e; });
  return result;
}

std::vector<int64_t> inverse_permutation(const std::vector<int64_t>& perm) {
  std::vector<int64_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = static_cast<int64_t>(i);
  return inverse;
}

Shape permuted_shape(const Shape& shape, const std::vector<int64_t>& perm) {
  Shape out;
  for (int64_t axis : perm) out.push_back(shape[axis]);
  return out;
}

std::string axes_str(const Axes& axes) { return axes.empty() ? std::string("all axes") : "axes " + shape_str(axes); }

template <bool kMax>
Tensor extreme(const Tensor& x, const Axes& axes, bool keepdims, const char* op) {
  const ReducePlan plan = plan_reduction(x.shape(), axes, keepdims, op);
  DESCENT_CHECK(plan.reduced > 0, op, ": cannot reduce ", axes_str(axes), " of shape ", x.shape(),
                ": a zero-size axis has no ", op);
  const bool grad = autograd::needs_grad({x});
  Tensor out = Tensor::empty(plan.out_shape, x.dtype());
  // 1 at the first extreme element of each reduced slice: routes the gradient in backward.
  Tensor mask;
  dispatch(x.dtype(), [&]<class T>() {
    const Tensor runs = runs_of(x, plan);
    const std::vector<Extreme<T>> ext = run_extremes<kMax>(runs.data<T>(), plan);
    T* o = out.data<T>();
    for (int64_t i = 0; i < plan.kept; ++i) o[i] = ext[i].value;
    if (!grad) return;
    Tensor m = Tensor::zeros(permuted_shape(x.shape(), plan.kept_then_reduced), x.dtype());
    T* pm = m.data<T>();
    for (int64_t i = 0; i < plan.kept; ++i) pm[i * plan.reduced + ext[i].index] = T(1);
    mask = m.permute(inverse_permutation(plan.kept_then_reduced));
  });
  if (!grad) return out;
  return autograd::record(op, out, {x}, [mask, keep = plan.keepdims_shape](const Tensor& g) {
    return std::vector<Tensor>{mul(g.reshape(keep), mask)};
  });
}

// softmax of x over the axes `plan` reduces, built from differentiable ops (the gradient of logsumexp, in the form
// that can be differentiated again).
Tensor softmax_over(const Tensor& x, const ReducePlan& plan) {
  Shape flat;
  for (size_t i = 0; i < plan.is_reduced.size(); ++i)
    if (!plan.is_reduced[i]) flat.push_back(x.shape()[i]);
  flat.push_back(plan.reduced);
  const Tensor p = softmax(x.permute(plan.kept_then_reduced).reshape(flat), -1);
  return p.reshape(permuted_shape(x.shape(), plan.kept_then_reduced))
      .permute(inverse_permutation(plan.kept_then_reduced));
}

}  // namespace

Tensor mean(const Tensor& x, const Axes& axes, bool keepdims) {
  const ReducePlan plan = plan_reduction(x.shape(), axes, keepdims, "mean");
  Tensor out = Tensor::empty(plan.out_shape, x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    const Tensor runs = runs_of(x, plan);
    const std::vector<double> sums = run_sums(runs.data<T>(), plan);
    T* o = out.data<T>();
    // An empty slice gives 0 / 0 = NaN, as in NumPy and PyTorch.
    for (int64_t i = 0; i < plan.kept; ++i) o[i] = static_cast<T>(sums[i] / static_cast<double>(plan.reduced));
  });
  if (!autograd::needs_grad({x})) return out;
  return autograd::record(
      "mean", out, {x}, [shape = x.shape(), keep = plan.keepdims_shape, n = plan.reduced](const Tensor& g) {
        return std::vector<Tensor>{(g * (1.0 / static_cast<double>(n))).reshape(keep).expand(shape)};
      });
}

Tensor max(const Tensor& x, const Axes& axes, bool keepdims) { return extreme<true>(x, axes, keepdims, "max"); }
Tensor min(const Tensor& x, const Axes& axes, bool keepdims) { return extreme<false>(x, axes, keepdims, "min"); }

Tensor argmax(const Tensor& x, int64_t axis, bool keepdims) {
  const ReducePlan plan = plan_reduction(x.shape(), {normalize_axis(axis, x.dim(), "argmax")}, keepdims, "argmax");
  DESCENT_CHECK(plan.reduced > 0, "argmax: axis ", axis, " of shape ", x.shape(), " has size 0");
  Tensor out = Tensor::empty(plan.out_shape, x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    const Tensor runs = runs_of(x, plan);
    const std::vector<Extreme<T>> ext = run_extremes<true>(runs.data<T>(), plan);
    T* o = out.data<T>();
    for (int64_t i = 0; i < plan.kept; ++i) o[i] = static_cast<T>(ext[i].index);
  });
  return out;
}

Tensor variance(const Tensor& x, const Axes& axes, int64_t correction, bool keepdims) {
  const ReducePlan plan = plan_reduction(x.shape(), axes, keepdims, "variance");
  // PyTorch divides by max(0, N - correction): too few elements give inf or NaN, not an error.
  const double denom = static_cast<double>(std::max<int64_t>(0, plan.reduced - correction));
  Tensor out = Tensor::empty(plan.out_shape, x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    const Tensor runs = runs_of(x, plan);
    const T* data = runs.data<T>();
    // Two passes (mean, then squared deviations from it): accurate where E[x²] - E[x]² cancels.
    std::vector<double> means = run_sums(data, plan);
    for (double& m : means) m /= static_cast<double>(plan.reduced);
    T* o = out.data<T>();
    reduce_runs<T, double>(
        data, plan,
        [&](int64_t i, const T* p, int64_t n, int64_t) {
          double s = 0.0;
          for (int64_t j = 0; j < n; ++j) {
            const double d = static_cast<double>(p[j]) - means[i];
            s += d * d;
          }
          return s;
        },
        [](double a, double b) { return a + b; }, [&](int64_t i, double s) { o[i] = static_cast<T>(s / denom); });
  });
  if (!autograd::needs_grad({x})) return out;
  return autograd::record("variance", out, {x}, [x, axes, denom, keep = plan.keepdims_shape](const Tensor& g) {
    // d var / dx = 2 (x - mean(x)) / (N - correction), written with differentiable ops for double backward.
    return std::vector<Tensor>{mul(g.reshape(keep) * (2.0 / denom), x - mean(x, axes, true))};
  });
}

Tensor logsumexp(const Tensor& x, const Axes& axes, bool keepdims) {
  const ReducePlan plan = plan_reduction(x.shape(), axes, keepdims, "logsumexp");
  // An empty slice sums to 0, whose log is -inf, as in PyTorch.
  Tensor out = Tensor::full(plan.out_shape, -std::numeric_limits<double>::infinity(), x.dtype());
  if (plan.reduced > 0) {
    dispatch(x.dtype(), [&]<class T>() {
      const Tensor runs = runs_of(x, plan);
      const T* data = runs.data<T>();
      // Shift by the maximum so exp never overflows: lse = m + log Σ exp(x - m).
      const std::vector<Extreme<T>> ext = run_extremes<true>(data, plan);
      T* o = out.data<T>();
      reduce_runs<T, double>(
          data, plan,
          [&](int64_t i, const T* p, int64_t n, int64_t) {
            const double m = static_cast<double>(ext[i].value);
            double s = 0.0;
            for (int64_t j = 0; j < n; ++j) s += std::exp(static_cast<double>(p[j]) - m);
            return s;
          },
          [](double a, double b) { return a + b; },
          [&](int64_t i, double s) {
            const double m = static_cast<double>(ext[i].value);
            // All -inf gives -inf (not -inf - -inf = NaN); +inf and NaN pass through, as in PyTorch.
            o[i] = static_cast<T>(std::isfinite(m) ? m + std::log(s) : m);
          });
    });
  }
  if (!autograd::needs_grad({x})) return out;
  return autograd::record("logsumexp", out, {x}, [x, plan, lse = out.detach()](const Tensor& g) {
    Tensor p;  // d lse / dx: the softmax over the reduced axes
    if (is_grad_enabled()) {
      p = softmax_over(x, plan);  // create_graph: differentiable in x
    } else {
      const Tensor lse_keep = lse.reshape(plan.keepdims_shape);
      p = dispatch(x.dtype(), [&]<class T>() {
        return loops::map_binary<T>(
            x, lse_keep, [](T v, T l) { return static_cast<T>(std::exp(v - l)); }, "logsumexp");
      });
    }
    return std::vector<Tensor>{mul(g.reshape(plan.keepdims_shape), p)};
  });
}

}  // namespace descent
