// Reductions (sum, sum_to, mean, max, min, argmax, variance): forward values against plain loops in float64 and
// float32 over every kind of axis list and on strided views, gradients by finite differences (first and second
// order), bit-for-bit determinism across thread counts, and the errors a user can hit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <set>

#include "support/testing.hpp"

namespace descent {
namespace {

using testing::sample;
using testing::values;

// Reference reduction by plain loops: gathers each output element's slice (in row-major order of the input) and
// hands it to `f`. `axes` as the op takes them (empty = all, negative allowed).
std::vector<double> reference(const Tensor& x, const Axes& axes,
                              const std::function<double(const std::vector<double>&)>& f) {
  const Shape& shape = x.shape();
  const int64_t nd = x.dim();
  std::set<int64_t> reduced;
  for (int64_t a : axes) reduced.insert(a < 0 ? a + nd : a);
  if (axes.empty())
    for (int64_t d = 0; d < nd; ++d) reduced.insert(d);
  int64_t kept = 1;
  for (int64_t d = 0; d < nd; ++d)
    if (!reduced.count(d)) kept *= shape[d];
  std::vector<std::vector<double>> slices(static_cast<size_t>(kept));
  const std::vector<double> v = x.to_vector();
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t rest = i;
    int64_t out = 0;
    int64_t scale = 1;
    for (int64_t d = nd - 1; d >= 0; --d) {
      const int64_t c = rest % shape[d];
      rest /= shape[d];
      if (!reduced.count(d)) {
        out += c * scale;
        scale *= shape[d];
      }
    }
    slices[out].push_back(v[i]);
  }
  std::vector<double> result;
  for (const auto& s : slices) result.push_back(f(s));
  return result;
}

double ref_sum(const std::vector<double>& s) {
  double t = 0;
  for (double v : s) t += v;
  return t;
}
double ref_mean(const std::vector<double>& s) { return ref_sum(s) / static_cast<double>(s.size()); }
double ref_max(const std::vector<double>& s) { return *std::max_element(s.begin(), s.end()); }
double ref_min(const std::vector<double>& s) { return *std::min_element(s.begin(), s.end()); }
double ref_var(const std::vector<double>& s, int64_t correction) {
  const double m = ref_mean(s);
  double t = 0;
  for (double v : s) t += (v - m) * (v - m);
  return t / static_cast<double>(static_cast<int64_t>(s.size()) - correction);
}

// The shape a reduction should produce.
Shape reduced_shape(const Shape& shape, const Axes& axes, bool keepdims) {
  const int64_t nd = static_cast<int64_t>(shape.size());
  std::set<int64_t> reduced;
  for (int64_t a : axes) reduced.insert(a < 0 ? a + nd : a);
  Shape out;
  for (int64_t d = 0; d < nd; ++d) {
    const bool r = axes.empty() || reduced.count(d);
    if (!r)
      out.push_back(shape[d]);
    else if (keepdims)
      out.push_back(1);
  }
  return out;
}

void expect_close(const Tensor& got, const std::vector<double>& want, double tol, const std::string& what) {
  const std::vector<double> g = got.to_vector();
  ASSERT_EQ(g.size(), want.size()) << what;
  for (size_t i = 0; i < g.size(); ++i)
    EXPECT_NEAR(g[i], want[i], tol * (1.0 + std::abs(want[i]))) << what << " at " << i;
}

const std::vector<Axes> kAxisLists = {{},     {0},    {1},      {2},    {-1},   {-2},
                                      {0, 2}, {2, 0}, {-3, -1}, {0, 1}, {1, 2}, {0, 1, 2}};

using ReduceFn = std::function<Tensor(const Tensor&, const Axes&, bool)>;
using RefFn = std::function<double(const std::vector<double>&)>;

// Checks one reduction over every axis list, with and without keepdims, in float64 and float32.
void check_against_loops(const ReduceFn& op, const RefFn& ref, const char* name) {
  for (DType dtype : {kFloat64, kFloat32}) {
    const Tensor x = sample({3, 4, 5}, dtype, 7);
    const double tol = dtype == kFloat64 ? 1e-12 : 1e-5;
    for (const Axes& axes : kAxisLists) {
      for (bool keepdims : {false, true}) {
        const Tensor y = op(x, axes, keepdims);
        const std::string what = concat(name, " ", dtype_name(dtype), " axes ", axes, " keepdims ", keepdims);
        EXPECT_EQ(y.shape(), reduced_shape(x.shape(), axes, keepdims)) << what;
        EXPECT_EQ(y.dtype(), dtype) << what;
        expect_close(y, reference(x, axes, ref), tol, what);
      }
    }
  }
}

// Strided inputs: a transpose, a permutation, a stepped slice and a broadcast view.
std::vector<Tensor> strided_views(DType dtype) {
  return {sample({5, 4}, dtype, 3).t(), sample({2, 3, 4}, dtype, 4).permute({2, 0, 1}),
          sample({6, 7}, dtype, 5).slice(0, 1, 6, 2).slice(1, 0, 7, 3), sample({3, 1}, dtype, 6).expand({3, 4})};
}

// ---- forward values ---------------------------------------------------------------------------------------

TEST(ReductionTest, SumMatchesLoops) {
  check_against_loops([](const Tensor& x, const Axes& a, bool k) { return sum(x, a, k); }, ref_sum, "sum");
}

TEST(ReductionTest, MeanMatchesLoops) {
  check_against_loops([](const Tensor& x, const Axes& a, bool k) { return mean(x, a, k); }, ref_mean, "mean");
}

TEST(ReductionTest, MaxMatchesLoops) {
  check_against_loops([](const Tensor& x, const Axes& a, bool k) { return max(x, a, k); }, ref_max, "max");
}

TEST(ReductionTest, MinMatchesLoops) {
  check_against_loops([](const Tensor& x, const Axes& a, bool k) { return min(x, a, k); }, ref_min, "min");
}

TEST(ReductionTest, VarianceMatchesLoopsWithBothCorrections) {
  for (int64_t c : {0, 1}) {
    check_against_loops([c](const Tensor& x, const Axes& a, bool k) { return variance(x, a, c, k); },
                        [c](const std::vector<double>& s) { return ref_var(s, c); }, "variance");
  }
}

TEST(ReductionTest, ReductionsReadStridedViewsInLogicalOrder) {
  for (DType dtype : {kFloat64, kFloat32}) {
    const double tol = dtype == kFloat64 ? 1e-12 : 1e-5;
    for (const Tensor& x : strided_views(dtype)) {
      ASSERT_FALSE(x.is_contiguous());
      for (const Axes& axes : std::vector<Axes>{{}, {0}, {-1}}) {
        const std::string what = concat(x.str(), " axes ", axes);
        expect_close(sum(x, axes), reference(x, axes, ref_sum), tol, "sum " + what);
        expect_close(mean(x, axes), reference(x, axes, ref_mean), tol, "mean " + what);
        expect_close(max(x, axes), reference(x, axes, ref_max), tol, "max " + what);
        expect_close(min(x, axes), reference(x, axes, ref_min), tol, "min " + what);
        expect_close(variance(x, axes, 0), reference(x, axes, [](const auto& s) { return ref_var(s, 0); }), tol,
                     "variance " + what);
      }
    }
  }
}

TEST(ReductionTest, SumOfLongRunAccumulatesInDouble) {
  // 2^24 + 1 ones in float32 would stall at 2^24 with a float accumulator.
  const int64_t n = (int64_t{1} << 24) + 4;
  EXPECT_EQ(sum(Tensor::ones({n})).item(), static_cast<float>(n));
  EXPECT_EQ(mean(Tensor::ones({n})).item(), 1.0);
}

TEST(ReductionTest, LongRunsMatchLoopsAcrossBlocks) {
  // Runs longer than the block size take the blocked path; kept > 1 exercises it per output element.
  const Tensor x = sample({2, 70001}, kFloat64, 11, 0.0, 2.0);
  expect_close(sum(x, {1}), reference(x, {1}, ref_sum), 1e-12, "sum");
  expect_close(mean(x, {1}), reference(x, {1}, ref_mean), 1e-12, "mean");
  expect_close(max(x, {1}), reference(x, {1}, ref_max), 0, "max");
  expect_close(min(x, {1}), reference(x, {1}, ref_min), 0, "min");
  expect_close(variance(x, {1}), reference(x, {1}, [](const auto& s) { return ref_var(s, 1); }), 1e-12, "var");
  expect_close(variance(x), reference(x, {}, [](const auto& s) { return ref_var(s, 1); }), 1e-12, "var all");
}

TEST(ReductionTest, VarianceKnownValuesAndLargeOffset) {
  const Tensor x = Tensor::from({1, 2, 3, 4}, {4}, kFloat64);
  EXPECT_DOUBLE_EQ(variance(x).item(), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(variance(x, {}, 0).item(), 1.25);
  // Two passes keep the answer exact where E[x²] - E[x]² would cancel catastrophically.
  const Tensor shifted = Tensor::from({1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4}, {4}, kFloat64);
  EXPECT_DOUBLE_EQ(variance(shifted).item(), 5.0 / 3.0);
  // Too few elements for the correction: PyTorch's N - correction clamped at 0, no error.
  EXPECT_TRUE(std::isnan(variance(Tensor::from({3}, {1}, kFloat64)).item()));
}

TEST(ReductionTest, MeanOfEmptyIsNaNAndSumIsZero) {
  const Tensor x = Tensor::zeros({0, 3}, kFloat64);
  EXPECT_EQ(values(sum(x, {0})), (std::vector<double>{0, 0, 0}));
  EXPECT_TRUE(std::isnan(mean(x).item()));
  EXPECT_EQ(max(x, {1}).shape(), (Shape{0}));  // reducing a non-empty axis of an empty tensor is fine
}

TEST(ReductionTest, MaxAndMinPropagateNaN) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor x = Tensor::from({1, nan, 3, 4, 5, 6}, {2, 3}, kFloat64);
  EXPECT_TRUE(std::isnan(max(x).item()));
  EXPECT_TRUE(std::isnan(min(x, {1}).at({0})));
  EXPECT_EQ(max(x, {1}).at({1}), 6.0);
  EXPECT_EQ(argmax(x, 1).at({0}), 1.0);
}

TEST(ReductionTest, ArgmaxGivesFirstMaximalIndexAsFloats) {
  const Tensor x = Tensor::from({1, 5, 5, 2, 7, 0, 7, 7}, {2, 4}, kFloat32);
  const Tensor i = argmax(x, 1);
  EXPECT_EQ(i.dtype(), kFloat32);
  EXPECT_EQ(values(i), (std::vector<double>{1, 0}));
  EXPECT_EQ(values(argmax(x, -2)), (std::vector<double>{1, 0, 1, 1}));
  EXPECT_EQ(argmax(x, 0, true).shape(), (Shape{1, 4}));
  // On a transposed view: the maxima of x's columns.
  EXPECT_EQ(values(argmax(x.t(), 1)), (std::vector<double>{1, 0, 1, 1}));
  EXPECT_FALSE(argmax(sample({3}, kFloat64).set_requires_grad(), 0).requires_grad());
}

TEST(ReductionTest, SumToUndoesBroadcasting) {
  const Tensor x = sample({2, 3, 4}, kFloat64, 9);
  expect_close(sum_to(x, {3, 1}), reference(x, {0, 2}, ref_sum), 1e-12, "[3, 1]");
  expect_close(sum_to(x, {4}), reference(x, {0, 1}, ref_sum), 1e-12, "[4]");
  expect_close(sum_to(x, {}), reference(x, {}, ref_sum), 1e-12, "[]");
  expect_close(sum_to(x, {1, 3, 1}), reference(x, {0, 2}, ref_sum), 1e-12, "[1, 3, 1]");
  EXPECT_EQ(sum_to(x, {3, 1}).shape(), (Shape{3, 1}));
  EXPECT_EQ(sum_to(x, x.shape()).impl(), x.impl());  // nothing to do: the same tensor
}

// ---- gradients --------------------------------------------------------------------------------------------

const std::vector<std::pair<Shape, Axes>> kGradCases = {
    {{5}, {}}, {{3, 4}, {}}, {{3, 4}, {0}}, {{3, 4}, {-1}}, {{2, 3, 4}, {0, 2}}, {{2, 3, 4}, {1}}, {{}, {}}};

TEST(ReductionGradTest, SumAndMeanPassGradcheck) {
  for (const auto& [shape, axes] : kGradCases) {
    for (bool keep : {false, true}) {
      const Tensor x = sample(shape, kFloat64, 21);
      EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return sum(in[0], axes, keep); }, {x});
      EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return mean(in[0], axes, keep); }, {x});
    }
  }
}

TEST(ReductionGradTest, MaxAndMinPassGradcheck) {
  for (const auto& [shape, axes] : kGradCases) {
    for (bool keep : {false, true}) {
      const Tensor x = sample(shape, kFloat64, 22);
      EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return max(in[0], axes, keep); }, {x});
      EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return min(in[0], axes, keep); }, {x});
    }
  }
}

TEST(ReductionGradTest, VariancePassesGradcheck) {
  for (const auto& [shape, axes] : kGradCases) {
    if (shape.empty()) continue;  // one element: the corrected variance is NaN
    for (int64_t c : {0, 1}) {
      const Tensor x = sample(shape, kFloat64, 23);
      EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return variance(in[0], axes, c, true); }, {x});
    }
  }
}

TEST(ReductionGradTest, SumToPassesGradcheck) {
  for (const Shape& target : std::vector<Shape>{{3, 1}, {4}, {}, {1, 3, 4}, {2, 1, 1}}) {
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return sum_to(in[0], target); }, {sample({2, 3, 4})});
  }
}

TEST(ReductionGradTest, GradientsReachStridedInputs) {
  const Tensor x = sample({4, 3}, kFloat64, 24);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return max(in[0].t(), {1}); }, {x});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return variance(in[0].t(), {0}); }, {x});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return mean(in[0].slice(0, 0, 4, 2), {-1}); }, {x});
}

TEST(ReductionGradTest, MaxGradientGoesToFirstMaximalElement) {
  Tensor x = Tensor::from({1, 3, 3, 2, 0, 0}, {2, 3}, kFloat64).set_requires_grad();
  sum(max(x, {1})).backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{0, 1, 0, 1, 0, 0}));
  Tensor y = Tensor::from({2, 2, 1, 2}, {2, 2}, kFloat64).set_requires_grad();
  max(y).backward();  // over all axes: one element only, the first in row-major order
  EXPECT_EQ(values(y.grad()), (std::vector<double>{1, 0, 0, 0}));
  Tensor z = Tensor::from({0, -1, 0, -1}, {2, 2}, kFloat64).set_requires_grad();
  sum(min(z.t(), {1})).backward();  // min of z's columns (ties in both): the first row wins in each
  EXPECT_EQ(values(z.grad()), (std::vector<double>{1, 1, 0, 0}));
}

// Second derivatives: gradcheck the gradient itself, computed with create_graph.
Tensor grad_of(const std::function<Tensor(const Tensor&)>& f, const Tensor& x, const Tensor& weights) {
  EnableGradGuard enable;  // gradcheck evaluates with grad mode off
  const Tensor loss = sum(mul(f(x), weights));
  return autograd::grad({loss}, {x}, {}, false, true)[0];
}

TEST(ReductionGradTest, DoubleBackwardPassesGradcheck) {
  const Tensor w = sample({3, 1}, kFloat64, 30);
  const Tensor x = sample({3, 4}, kFloat64, 31);
  for (auto f : std::vector<std::function<Tensor(const Tensor&)>>{
           [](const Tensor& t) { return variance(t, {1}, 1, true); },
           [](const Tensor& t) { return mul(variance(t, {}, 0, true), mean(t, {1}, true)); },
           [](const Tensor& t) { return mul(max(t, {1}, true), min(t, {-1}, true)); },
           [](const Tensor& t) { return mul(sum(t, {1}, true), mean(t, {1}, true)); }}) {
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return grad_of(f, in[0], w); }, {x});
  }
}

// ---- determinism and errors -------------------------------------------------------------------------------

template <class T>
std::vector<unsigned char> bits(const Tensor& t) {
  std::vector<unsigned char> b(sizeof(T) * static_cast<size_t>(t.numel()));
  std::memcpy(b.data(), t.contiguous().data<T>(), b.size());
  return b;
}

TEST(ReductionDeterminismTest, SumOfMillionFloatsHasSameBitsOnOneAndTwoThreads) {
  const Tensor x = sample({1000000}, kFloat32, 40, -1.0, 3.0);
  const int saved = num_threads();
  set_num_threads(1);
  const Tensor one = sum(x);
  const Tensor mean_one = mean(x);
  const Tensor var_one = variance(x);
  set_num_threads(2);
  const Tensor two = sum(x);
  const Tensor mean_two = mean(x);
  const Tensor var_two = variance(x);
  set_num_threads(saved);
  EXPECT_EQ(bits<float>(one), bits<float>(two));
  EXPECT_EQ(bits<float>(mean_one), bits<float>(mean_two));
  EXPECT_EQ(bits<float>(var_one), bits<float>(var_two));
}

TEST(ReductionDeterminismTest, AxisReductionsHaveSameBitsOnOneAndTwoThreads) {
  const Tensor x = sample({64, 3000}, kFloat32, 41);
  const int saved = num_threads();
  set_num_threads(1);
  const std::vector<Tensor> one = {sum(x, {0}), mean(x, {1}), variance(x, {0}), max(x, {1})};
  set_num_threads(2);
  const std::vector<Tensor> two = {sum(x, {0}), mean(x, {1}), variance(x, {0}), max(x, {1})};
  set_num_threads(saved);
  for (size_t i = 0; i < one.size(); ++i) EXPECT_EQ(bits<float>(one[i]), bits<float>(two[i])) << i;
}

TEST(ReductionErrorTest, EmptyMaxAndMinNameTheOp) {
  const Tensor x = Tensor::zeros({2, 0});
  EXPECT_ERROR_MENTIONS(max(x, {1}), "max: cannot reduce");
  EXPECT_ERROR_MENTIONS(min(x), "min: cannot reduce");
  EXPECT_THROW(max(Tensor::zeros({0})), Error);
  EXPECT_ERROR_MENTIONS(argmax(x, 1), "argmax: axis 1 of shape [2, 0] has size 0");
}

TEST(ReductionErrorTest, AxisOutOfRangeNamesTheOp) {
  const Tensor x = Tensor::zeros({2, 3});
  EXPECT_ERROR_MENTIONS(argmax(x, 2), "argmax: axis 2 is out of range");
  EXPECT_ERROR_MENTIONS(argmax(x, -3), "argmax: axis -3 is out of range");
  EXPECT_ERROR_MENTIONS(mean(x, {5}), "mean: axis 5 is out of range");
  EXPECT_ERROR_MENTIONS(variance(x, {-3}), "variance: axis -3");
  EXPECT_ERROR_MENTIONS(max(x, {0, -2}), "max: axis -2 is listed twice");
  EXPECT_ERROR_MENTIONS(sum(x, {1, 1}), "sum: axis 1 is listed twice");
}

TEST(ReductionErrorTest, SumToRejectsShapesThatDoNotBroadcast) {
  const Tensor x = Tensor::zeros({2, 3});
  EXPECT_THROW(sum_to(x, {4}), Error);
  EXPECT_ERROR_MENTIONS(sum_to(x, {2, 3, 1}), "sum_to");
}

}  // namespace
}  // namespace descent
