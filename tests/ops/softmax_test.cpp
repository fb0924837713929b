// softmax, log_softmax and logsumexp: values against plain loops in float64 and float32 along every axis and on
// strided views, stability at extreme logits (±1000, ±inf, NaN), PyTorch's conventions for the edge cases, and
// first and second derivatives by finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "support/testing.hpp"

namespace descent {
namespace {

using testing::sample;
using testing::values;

constexpr double kInf = std::numeric_limits<double>::infinity();

// Reference along one axis by plain loops in long double: out[i] = f(slice values, position in slice).
std::vector<double> along_axis(const Tensor& x, int64_t axis,
                               const std::function<double(const std::vector<long double>&, size_t)>& f) {
  const Shape& s = x.shape();
  axis = axis < 0 ? axis + x.dim() : axis;
  int64_t outer = 1;
  int64_t inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= s[d];
  for (int64_t d = axis + 1; d < x.dim(); ++d) inner *= s[d];
  const int64_t len = s[axis];
  const std::vector<double> v = x.to_vector();
  std::vector<double> out(v.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t t = 0; t < inner; ++t) {
      std::vector<long double> slice;
      for (int64_t j = 0; j < len; ++j) slice.push_back(v[(o * len + j) * inner + t]);
      for (int64_t j = 0; j < len; ++j) out[(o * len + j) * inner + t] = f(slice, static_cast<size_t>(j));
    }
  }
  return out;
}

// Naive formulas: fine for the moderate test values, which is the point of a reference.
long double naive_sum_exp(const std::vector<long double>& s) {
  long double t = 0;
  for (long double v : s) t += std::exp(v);
  return t;
}
double ref_softmax(const std::vector<long double>& s, size_t j) {
  return static_cast<double>(std::exp(s[j]) / naive_sum_exp(s));
}
double ref_log_softmax(const std::vector<long double>& s, size_t j) {
  return static_cast<double>(s[j] - std::log(naive_sum_exp(s)));
}

void expect_close(const Tensor& got, const std::vector<double>& want, double tol, const std::string& what) {
  const std::vector<double> g = got.to_vector();
  ASSERT_EQ(g.size(), want.size()) << what;
  for (size_t i = 0; i < g.size(); ++i)
    EXPECT_NEAR(g[i], want[i], tol * (1.0 + std::abs(want[i]))) << what << " at " << i;
}

// ---- forward values ---------------------------------------------------------------------------------------

TEST(SoftmaxTest, MatchesLoopsAlongEveryAxis) {
  for (DType dtype : {kFloat64, kFloat32}) {
    const double tol = dtype == kFloat64 ? 1e-14 : 1e-6;
    const Tensor x = sample({3, 4, 5}, dtype, 1, -4.0, 4.0);
    for (int64_t axis : {0, 1, 2, -1, -3}) {
      const std::string what = concat(dtype_name(dtype), " axis ", axis);
      const Tensor y = softmax(x, axis);
      EXPECT_EQ(y.shape(), x.shape());
      EXPECT_EQ(y.dtype(), dtype);
      expect_close(y, along_axis(x, axis, ref_softmax), tol, "softmax " + what);
      expect_close(log_softmax(x, axis), along_axis(x, axis, ref_log_softmax), tol, "log_softmax " + what);
    }
  }
}

TEST(SoftmaxTest, ReadsStridedViewsInLogicalOrder) {
  for (DType dtype : {kFloat64, kFloat32}) {
    const double tol = dtype == kFloat64 ? 1e-14 : 1e-6;
    for (const Tensor& x : {sample({5, 4}, dtype, 2).t(), sample({2, 3, 4}, dtype, 3).permute({1, 2, 0}),
                            sample({6, 8}, dtype, 4).slice(1, 1, 8, 2)}) {
      ASSERT_FALSE(x.is_contiguous());
      for (int64_t axis : {0, -1}) {
        expect_close(softmax(x, axis), along_axis(x, axis, ref_softmax), tol, "softmax " + x.str());
        expect_close(log_softmax(x, axis), along_axis(x, axis, ref_log_softmax), tol, "log_softmax " + x.str());
      }
    }
  }
}

TEST(SoftmaxTest, RowsSumToOne) {
  const Tensor y = softmax(sample({7, 13}, kFloat32, 5, -20.0, 20.0));
  for (double s : values(sum(y, {1}))) EXPECT_NEAR(s, 1.0, 1e-6);
}

TEST(SoftmaxTest, StableForLargeLogits) {
  for (DType dtype : {kFloat64, kFloat32}) {
    const Tensor x = Tensor::from({1000, -1000, 0, 1000, 1000, 999}, {2, 3}, dtype);
    const std::vector<double> p = values(softmax(x));
    const std::vector<double> lp = values(log_softmax(x));
    const double e = std::exp(-1.0);
    const std::vector<double> want_p = {1, 0, 0, 1 / (2 + e), 1 / (2 + e), e / (2 + e)};
    const std::vector<double> want_lp = {0, -2000, -1000, -std::log(2 + e), -std::log(2 + e), -1 - std::log(2 + e)};
    for (size_t i = 0; i < p.size(); ++i) {
      EXPECT_TRUE(std::isfinite(p[i]) && std::isfinite(lp[i])) << dtype << " at " << i;
      EXPECT_NEAR(p[i], want_p[i], 1e-6) << dtype << " at " << i;
      EXPECT_NEAR(lp[i], want_lp[i], 1e-6 * (1 + std::abs(want_lp[i]))) << dtype << " at " << i;
    }
  }
}

TEST(SoftmaxTest, NegativeInfinityLogitsGetZeroProbability) {
  const Tensor x = Tensor::from({-kInf, 0, -kInf, 0}, {4}, kFloat64);
  EXPECT_EQ(values(softmax(x)), (std::vector<double>{0, 0.5, 0, 0.5}));
  EXPECT_EQ(log_softmax(x).at({0}), -kInf);
  // A slice of nothing but -inf has no distribution: NaN, as in PyTorch.
  EXPECT_TRUE(std::isnan(softmax(Tensor::full({3}, -kInf, kFloat64)).at({0})));
}

TEST(SoftmaxTest, NaNMakesItsWholeSliceNaN) {
  const Tensor x = Tensor::from({1, std::nan(""), 2, 1, 2, 3}, {2, 3}, kFloat64);
  const Tensor y = softmax(x, 1);
  for (int64_t j = 0; j < 3; ++j) EXPECT_TRUE(std::isnan(y.at({0, j})));
  EXPECT_FALSE(std::isnan(y.at({1, 0})));
}

TEST(SoftmaxTest, EmptyAxisGivesEmptyResult) {
  EXPECT_EQ(softmax(Tensor::zeros({2, 0}), 1).shape(), (Shape{2, 0}));
  EXPECT_EQ(log_softmax(Tensor::zeros({0, 3}), 1).numel(), 0);
}

TEST(SoftmaxTest, LogSumExpMatchesLoops) {
  for (DType dtype : {kFloat64, kFloat32}) {
    const double tol = dtype == kFloat64 ? 1e-13 : 1e-6;
    const Tensor x = sample({3, 4, 5}, dtype, 6, -5.0, 5.0);
    // Along one axis the reference is log Σ exp; several axes: reduce one at a time (logsumexp composes).
    for (int64_t axis : {0, 1, -1}) {
      std::vector<double> want = along_axis(x, axis, [](const std::vector<long double>& s, size_t) {
        return static_cast<double>(std::log(naive_sum_exp(s)));
      });
      const Tensor y = logsumexp(x, {axis}, true);
      EXPECT_EQ(y.shape()[axis < 0 ? axis + 3 : axis], 1);
      const Tensor expanded = y.expand(x.shape());
      expect_close(expanded, want, tol, concat("logsumexp ", dtype_name(dtype), " axis ", axis));
    }
    expect_close(logsumexp(x, {0, 2}), values(logsumexp(logsumexp(x, {2}), {0})), tol, "axes [0, 2]");
    expect_close(logsumexp(x), values(logsumexp(logsumexp(logsumexp(x, {2}), {1}), {0})), tol, "all axes");
    EXPECT_EQ(logsumexp(x, {1, 2}).shape(), (Shape{3}));
    EXPECT_EQ(logsumexp(x, {-1}, true).shape(), (Shape{3, 4, 1}));
    expect_close(logsumexp(x.permute({2, 0, 1}), {0}), values(logsumexp(x, {2})), tol, "permuted");
  }
}

TEST(SoftmaxTest, LogSumExpStableAndFollowsPyTorchAtInfinities) {
  for (DType dtype : {kFloat64, kFloat32}) {
    EXPECT_NEAR(logsumexp(Tensor::from({1000, 1000}, {2}, dtype)).item(), 1000 + std::log(2.0), 1e-4);
    EXPECT_NEAR(logsumexp(Tensor::from({-1000, -1000}, {2}, dtype)).item(), -1000 + std::log(2.0), 1e-4);
    EXPECT_EQ(logsumexp(Tensor::full({3}, -kInf, dtype)).item(), -kInf);
    EXPECT_EQ(logsumexp(Tensor::from({-kInf, 0}, {2}, dtype)).item(), 0.0);
    EXPECT_EQ(logsumexp(Tensor::from({kInf, 1}, {2}, dtype)).item(), kInf);
    EXPECT_TRUE(std::isnan(logsumexp(Tensor::from({-kInf, std::nan("")}, {2}, dtype)).item()));
    EXPECT_EQ(logsumexp(Tensor::zeros({0}, dtype)).item(), -kInf);  // log of an empty sum
  }
}

TEST(SoftmaxTest, LogSumExpOfLongRunIsDeterministic) {
  const Tensor x = sample({200000}, kFloat32, 7, -30.0, 30.0);
  const int saved = num_threads();
  set_num_threads(1);
  const double one = logsumexp(x).item();
  set_num_threads(2);
  const double two = logsumexp(x).item();
  set_num_threads(saved);
  EXPECT_EQ(one, two);
}

// ---- gradients --------------------------------------------------------------------------------------------

TEST(SoftmaxGradTest, SoftmaxAndLogSoftmaxPassGradcheck) {
  const std::vector<std::pair<Shape, int64_t>> cases = {
      {{5}, 0}, {{3, 4}, -1}, {{3, 4}, 0}, {{2, 3, 4}, 1}, {{1, 1}, 1}};
  for (const auto& [shape, axis] : cases) {
    const Tensor x = sample(shape, kFloat64, 10, -3.0, 3.0);
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return softmax(in[0], axis); }, {x});
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return log_softmax(in[0], axis); }, {x});
  }
}

TEST(SoftmaxGradTest, LogSumExpPassesGradcheck) {
  const std::vector<std::pair<Shape, Axes>> cases = {
      {{5}, {}}, {{3, 4}, {1}}, {{3, 4}, {0}}, {{2, 3, 4}, {0, 2}}, {{2, 3, 4}, {}}};
  for (const auto& [shape, axes] : cases) {
    for (bool keep : {false, true}) {
      const Tensor x = sample(shape, kFloat64, 11, -3.0, 3.0);
      EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return logsumexp(in[0], axes, keep); }, {x});
    }
  }
}

TEST(SoftmaxGradTest, GradientsReachStridedInputs) {
  const Tensor x = sample({4, 3}, kFloat64, 12);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return softmax(in[0].t(), -1); }, {x});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return log_softmax(in[0].slice(1, 0, 3, 2), 0); }, {x});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return logsumexp(in[0].t(), {0}); }, {x});
}

TEST(SoftmaxGradTest, GradientsStayFiniteForLargeLogits) {
  Tensor x = Tensor::from({1000, -1000, 0}, {3}, kFloat64).set_requires_grad();
  sum(mul(log_softmax(x), Tensor::from({1, 2, 3}, {3}, kFloat64))).backward();
  // d/dx Σ w log_softmax(x) = w - softmax(x) Σ w = [1 - 6, 2, 3].
  EXPECT_EQ(values(x.grad()), (std::vector<double>{-5, 2, 3}));
  Tensor z = Tensor::from({1000, 1000}, {2}, kFloat64).set_requires_grad();
  logsumexp(z).backward();
  for (double g : values(z.grad())) EXPECT_NEAR(g, 0.5, 1e-12);
}

// Second derivatives: gradcheck the gradient itself, computed with create_graph.
Tensor grad_of(const std::function<Tensor(const Tensor&)>& f, const Tensor& x, const Tensor& weights) {
  EnableGradGuard enable;  // gradcheck evaluates with grad mode off
  const Tensor loss = sum(mul(f(x), weights));
  return autograd::grad({loss}, {x}, {}, false, true)[0];
}

TEST(SoftmaxGradTest, DoubleBackwardPassesGradcheck) {
  const Tensor x = sample({3, 4}, kFloat64, 13, -2.0, 2.0);
  const Tensor w = sample({3, 4}, kFloat64, 14);
  const std::vector<std::function<Tensor(const Tensor&)>> fns = {
      [](const Tensor& t) { return softmax(t, 1); },
      [](const Tensor& t) { return log_softmax(t, 0); },
      [](const Tensor& t) { return logsumexp(t, {1}, true); },
      [](const Tensor& t) { return logsumexp(t, {}, true); },
  };
  for (const auto& f : fns) {
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return grad_of(f, in[0], w); }, {x});
  }
}

// ---- errors -----------------------------------------------------------------------------------------------

TEST(SoftmaxTest, AxisOutOfRangeNamesTheOp) {
  const Tensor x = Tensor::zeros({2, 3});
  EXPECT_ERROR_MENTIONS(softmax(x, 2), "softmax: axis 2 is out of range");
  EXPECT_ERROR_MENTIONS(log_softmax(x, -3), "log_softmax: axis -3 is out of range");
  EXPECT_ERROR_MENTIONS(logsumexp(x, {3}), "logsumexp: axis 3 is out of range");
}

}  // namespace
}  // namespace descent
