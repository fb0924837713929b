// Tests of exp, log, sqrt, abs, clamp and pow: values against <cmath> (contiguous and strided, float32 and float64,
// broadcasting for pow), gradients and second derivatives against finite differences, PyTorch's subgradient
// conventions at kinks, and the errors for mixed dtypes and incompatible shapes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "support/testing.hpp"

namespace descent {
namespace {

using testing::values;
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Deterministic values in [lo, hi) from a 64-bit LCG (Knuth's MMIX constants): the tests need no library RNG.
Tensor lcg(const Shape& shape, DType dtype, uint64_t seed, double lo = -2.0, double hi = 2.0) {
  std::vector<double> v(static_cast<size_t>(numel_of(shape)));
  uint64_t s = seed;
  for (double& x : v) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    x = lo + (hi - lo) * static_cast<double>(s >> 11) * 0x1.0p-53;
  }
  return Tensor::from(v, shape, dtype);
}

// Values with |v| in [0.2, 2] and mixed signs: away from the kink of abs at 0.
Tensor nonzero(const Shape& shape, DType dtype, uint64_t seed) {
  std::vector<double> v = values(lcg(shape, kFloat64, seed, 0.2, 2.0));
  for (size_t i = 0; i < v.size(); ++i)
    if ((i * 7 + seed) % 3 == 0) v[i] = -v[i];
  return Tensor::from(v, shape, dtype);
}

// Checks out == f(x) elementwise, f evaluated in double on x's values. float32 results are compared at float
// precision, float64 ones at a few ulps.
void expect_unary(const Tensor& out, const Tensor& x, const std::function<double(double)>& f) {
  ASSERT_EQ(out.shape(), x.shape());
  ASSERT_EQ(out.dtype(), x.dtype());
  ASSERT_TRUE(out.is_contiguous());
  const double tol = x.dtype() == kFloat32 ? 1e-6 : 1e-14;
  const std::vector<double> vx = values(x);
  const std::vector<double> vo = values(out);
  for (size_t i = 0; i < vo.size(); ++i) {
    const double expected = f(vx[i]);
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(vo[i])) << "element " << i << " of f(" << vx[i] << ")";
    } else if (std::isinf(expected)) {
      EXPECT_EQ(vo[i], expected) << "element " << i << " of f(" << vx[i] << ")";
    } else {
      EXPECT_NEAR(vo[i], expected, tol * (1.0 + std::abs(expected))) << "element " << i << " of f(" << vx[i] << ")";
    }
  }
}

// Second derivatives: gradcheck of (inputs…, seed) -> d(f(inputs) · seed)/d(inputs[wrt]) taken with create_graph,
// which differentiates the recorded backward; and that recorded backward must give the plain first derivative.
void expect_double_backward(const Fn& f, const std::vector<Tensor>& inputs) {
  Shape out_shape;
  {
    NoGradGuard no_grad;
    out_shape = f(inputs).shape();
  }
  std::vector<Tensor> all = inputs;
  all.push_back(lcg(out_shape, kFloat64, 99, 0.5, 1.5));
  const size_t n = inputs.size();
  for (size_t wrt = 0; wrt < n; ++wrt) {
    SCOPED_TRACE(concat("second derivative through input ", wrt));
    EXPECT_GRADCHECK(
        [f, n, wrt](const std::vector<Tensor>& in) {
          EnableGradGuard enable;  // gradcheck evaluates under no_grad; grad() needs the graph
          const std::vector<Tensor> xs(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
          return autograd::grad({f(xs)}, {in[wrt]}, {in[n]}, false, /*create_graph=*/true)[0];
        },
        all);
    std::vector<Tensor> xs;
    for (const Tensor& t : inputs) xs.push_back(t.detach().clone().set_requires_grad(true));
    const Tensor plain = autograd::grad({f(xs)}, {xs[wrt]}, {all[n]})[0];
    const Tensor recorded = autograd::grad({f(xs)}, {xs[wrt]}, {all[n]}, false, true)[0];
    const std::vector<double> vp = values(plain);
    const std::vector<double> vr = values(recorded);
    for (size_t i = 0; i < vp.size(); ++i) EXPECT_NEAR(vr[i], vp[i], 1e-12 * (1.0 + std::abs(vp[i])));
  }
}

Fn unary(Tensor (*op)(const Tensor&)) {
  return [op](const std::vector<Tensor>& in) { return op(in[0]); };
}

// ---- values ---------------------------------------------------------------------------------------------------

TEST(UnaryTest, ExpLogSqrtAbsMatchStdMathOnContiguousInput) {
  for (DType dtype : {kFloat32, kFloat64}) {
    const Tensor x = nonzero({3, 5}, dtype, 1);
    const Tensor pos = lcg({3, 5}, dtype, 2, 0.01, 10.0);
    expect_unary(exp(x), x, [](double v) { return std::exp(v); });
    expect_unary(log(pos), pos, [](double v) { return std::log(v); });
    expect_unary(sqrt(pos), pos, [](double v) { return std::sqrt(v); });
    expect_unary(abs(x), x, [](double v) { return std::abs(v); });
  }
}

TEST(UnaryTest, ExpMatchesStdExpOnStridedInput) {
  for (DType dtype : {kFloat32, kFloat64}) {
    const Tensor base = lcg({4, 6}, dtype, 3);
    for (const Tensor& x : {base.t(), base.slice(1, 1, 6, 2), base.t().slice(0, 0, 6, 3), base.select(1, 2)}) {
      expect_unary(exp(x), x, [](double v) { return std::exp(v); });
      expect_unary(abs(x), x, [](double v) { return std::abs(v); });
    }
  }
}

TEST(UnaryTest, LogSqrtOfStridedAndSpecialValuesFollowStdMath) {
  for (DType dtype : {kFloat32, kFloat64}) {
    const double inf = std::numeric_limits<double>::infinity();
    const Tensor x = Tensor::from({0.0, -1.0, 4.0, inf, 1e-3, 2.0}, {2, 3}, dtype).t();
    expect_unary(log(x), x, [](double v) { return std::log(v); });  // -inf at 0, NaN below
    expect_unary(sqrt(x), x, [](double v) { return std::sqrt(v); });
  }
}

TEST(UnaryTest, ClampMatchesMinOfMaxAndPropagatesNaN) {
  for (DType dtype : {kFloat32, kFloat64}) {
    const Tensor x = lcg({5, 4}, dtype, 4).t();
    expect_unary(clamp(x, -0.5, 1.0), x, [](double v) { return std::min(std::max(v, -0.5), 1.0); });
    const Tensor special = Tensor::from({std::nan(""), -10.0, 10.0}, {3}, dtype);
    expect_unary(clamp(special, -1.0, 1.0), special,
                 [](double v) { return std::isnan(v) ? v : std::clamp(v, -1.0, 1.0); });
  }
}

TEST(UnaryTest, ClampWithLowAboveHighGivesHighEverywhereAsPyTorch) {
  const Tensor x = Tensor::from({-3.0, 0.0, 3.0}, {3}, kFloat64);
  EXPECT_EQ(values(clamp(x, 2.0, 1.0)), (std::vector<double>{1.0, 1.0, 1.0}));
}

TEST(UnaryTest, PowWithScalarExponentMatchesStdPow) {
  for (DType dtype : {kFloat32, kFloat64}) {
    const Tensor any = nonzero({3, 4}, dtype, 5).t();
    const Tensor pos = lcg({3, 4}, dtype, 6, 0.1, 3.0);
    for (double e : {0.0, 1.0, 2.0, 3.0, -1.0, -2.0, 4.0}) {
      SCOPED_TRACE(e);
      expect_unary(pow(any, e), any, [e](double v) { return std::pow(v, e); });
    }
    for (double e : {0.5, -0.5, 2.5, -1.75, 1.0 / 3.0}) {
      SCOPED_TRACE(e);
      const double ef = dtype == kFloat32 ? static_cast<float>(e) : e;  // the exponent is taken in the dtype
      expect_unary(pow(pos, e), pos, [ef](double v) { return std::pow(v, ef); });
    }
    // A negative base with a fractional exponent is NaN, as std::pow.
    const Tensor neg_base = Tensor::from({-2.0}, {1}, dtype);
    EXPECT_TRUE(std::isnan(pow(neg_base, 0.5).item()));
  }
}

TEST(UnaryTest, PowOfTensorsBroadcastsAndMatchesStdPow) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{2, 3}, {2, 3}}, {{3, 1}, {1, 4}}, {{}, {2, 3}}, {{4}, {2, 3, 4}}};
  for (DType dtype : {kFloat32, kFloat64}) {
    for (const auto& [sa, sb] : cases) {
      SCOPED_TRACE(concat(sa, " with ", sb));
      const Tensor a = lcg(sa, dtype, 7, 0.1, 3.0);
      const Tensor b = lcg(sb, dtype, 8, -2.0, 2.0);
      const Tensor out = pow(a, b);
      const Shape shape = broadcast_shapes(sa, sb, "test");
      ASSERT_EQ(out.shape(), shape);
      const std::vector<double> va = values(a.expand(shape));
      const std::vector<double> vb = values(b.expand(shape));
      const std::vector<double> vo = values(out);
      const double tol = dtype == kFloat32 ? 2e-6 : 1e-14;
      for (size_t i = 0; i < vo.size(); ++i) {
        const double expected = std::pow(va[i], vb[i]);
        EXPECT_NEAR(vo[i], expected, tol * (1.0 + std::abs(expected)));
      }
    }
  }
}

TEST(UnaryTest, LargeStridedInputMatchesStdMathAcrossThreads) {
  const Tensor x = lcg({260, 300}, kFloat64, 9);  // above kParallelGrain
  expect_unary(exp(x), x, [](double v) { return std::exp(v); });
  expect_unary(exp(x.t()), x.t(), [](double v) { return std::exp(v); });
  expect_unary(clamp(x.t(), -1.0, 1.0), x.t(), [](double v) { return std::clamp(v, -1.0, 1.0); });
}

// ---- gradients ------------------------------------------------------------------------------------------------

TEST(UnaryTest, GradientsMatchFiniteDifferences) {
  for (const Shape& shape : {Shape{}, Shape{5}, Shape{2, 3}, Shape{2, 1, 3}}) {
    SCOPED_TRACE(shape_str(shape));
    const Tensor x = nonzero(shape, kFloat64, 10);
    const Tensor pos = lcg(shape, kFloat64, 11, 0.2, 3.0);
    EXPECT_GRADCHECK(unary(exp), std::vector<Tensor>{x});
    EXPECT_GRADCHECK(unary(log), std::vector<Tensor>{pos});
    EXPECT_GRADCHECK(unary(sqrt), std::vector<Tensor>{pos});
    EXPECT_GRADCHECK(unary(abs), std::vector<Tensor>{x});
    // Bounds chosen so that no value lies within eps of them.
    EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return clamp(in[0], -0.7, 1.1); }, std::vector<Tensor>{x});
  }
}

TEST(UnaryTest, GradientsOnStridedInputsMatchFiniteDifferences) {
  const Tensor x = nonzero({4, 3}, kFloat64, 12);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return exp(in[0].t()); }, std::vector<Tensor>{x});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return abs(in[0].slice(0, 0, 4, 2)); }, std::vector<Tensor>{x});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return pow(in[0].t(), 3.0); }, std::vector<Tensor>{x});
}

TEST(UnaryTest, PowWithScalarExponentGradientsMatchFiniteDifferences) {
  const Tensor any = nonzero({2, 3}, kFloat64, 13);
  const Tensor pos = lcg({2, 3}, kFloat64, 14, 0.2, 3.0);
  for (double e : {0.0, 1.0, 2.0, 3.0, -1.0, -2.0}) {
    SCOPED_TRACE(e);
    EXPECT_GRADCHECK([e](const std::vector<Tensor>& in) { return pow(in[0], e); }, std::vector<Tensor>{any});
  }
  for (double e : {0.5, -0.5, 2.5, -1.75}) {
    SCOPED_TRACE(e);
    EXPECT_GRADCHECK([e](const std::vector<Tensor>& in) { return pow(in[0], e); }, std::vector<Tensor>{pos});
  }
}

TEST(UnaryTest, PowOfTensorsGradientsMatchFiniteDifferencesWhenBroadcasting) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{2, 3}, {2, 3}}, {{3, 1}, {1, 4}}, {{}, {2, 3}}, {{2, 3}, {}}, {{4}, {2, 3, 4}}};
  for (const auto& [sa, sb] : cases) {
    SCOPED_TRACE(concat(sa, " with ", sb));
    const Tensor a = lcg(sa, kFloat64, 15, 0.2, 2.5);
    const Tensor b = lcg(sb, kFloat64, 16, -2.0, 2.0);
    EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return pow(in[0], in[1]); }, (std::vector<Tensor>{a, b}));
  }
}

TEST(UnaryTest, SecondDerivativesMatchFiniteDifferences) {
  const Tensor x = nonzero({2, 3}, kFloat64, 17);
  const Tensor pos = lcg({2, 3}, kFloat64, 18, 0.2, 3.0);
  {
    SCOPED_TRACE("exp");
    expect_double_backward(unary(exp), {x});
  }
  {
    SCOPED_TRACE("log");
    expect_double_backward(unary(log), {pos});
  }
  {
    SCOPED_TRACE("sqrt");
    expect_double_backward(unary(sqrt), {pos});
  }
  {
    SCOPED_TRACE("abs");
    expect_double_backward(unary(abs), {x});
  }
  {
    SCOPED_TRACE("clamp");
    expect_double_backward([](const std::vector<Tensor>& in) { return clamp(in[0], -0.7, 1.1); }, {x});
  }
  for (double e : {2.0, 3.0, -1.0, 2.5}) {
    SCOPED_TRACE(concat("pow ", e));
    expect_double_backward([e](const std::vector<Tensor>& in) { return pow(in[0], e); }, {pos});
  }
  {
    SCOPED_TRACE("pow of tensors");
    expect_double_backward([](const std::vector<Tensor>& in) { return pow(in[0], in[1]); },
                           {pos, lcg({3}, kFloat64, 19, -1.5, 1.5)});
  }
}

TEST(UnaryTest, ThirdDerivativeOfExpIsExp) {
  Tensor x = Tensor::from({-1.0, 0.5}, {2}, kFloat64);
  x.set_requires_grad(true);
  const Tensor seed = Tensor::ones({2}, kFloat64);
  Tensor d = exp(x);
  for (int order = 0; order < 3; ++order) d = autograd::grad({d}, {x}, {seed}, false, true)[0];
  EXPECT_NEAR(d.at({0}), std::exp(-1.0), 1e-15);
  EXPECT_NEAR(d.at({1}), std::exp(0.5), 1e-15);
}

// ---- conventions at kinks and special points (PyTorch's) ------------------------------------------------------

Tensor grad_of(const std::function<Tensor(const Tensor&)>& f, std::initializer_list<double> v) {
  Tensor x = Tensor::from(v, {static_cast<int64_t>(v.size())}, kFloat64);
  x.set_requires_grad(true);
  sum(f(x)).backward();
  return x.grad();
}

TEST(UnaryTest, AbsGradientAtZeroIsZero) {
  EXPECT_EQ(values(grad_of([](const Tensor& x) { return abs(x); }, {-2.0, 0.0, 3.0})),
            (std::vector<double>{-1.0, 0.0, 1.0}));
}

TEST(UnaryTest, ClampPassesGradientInsideAndAtBothBoundsLikePyTorch) {
  EXPECT_EQ(values(grad_of([](const Tensor& x) { return clamp(x, -1.0, 1.0); }, {-2.0, -1.0, 0.0, 1.0, 2.0})),
            (std::vector<double>{0.0, 1.0, 1.0, 1.0, 0.0}));
}

TEST(UnaryTest, PowGradientIsZeroForZeroExponentEvenAtZeroBase) {
  EXPECT_EQ(values(grad_of([](const Tensor& x) { return pow(x, 0.0); }, {0.0, 2.0})), (std::vector<double>{0.0, 0.0}));
  Tensor a = Tensor::from({0.0, 2.0}, {2}, kFloat64);
  Tensor b = Tensor::zeros({2}, kFloat64);
  a.set_requires_grad(true);
  sum(pow(a, b)).backward();
  EXPECT_EQ(values(a.grad()), (std::vector<double>{0.0, 0.0}));
}

TEST(UnaryTest, PowExponentGradientIsZeroAtZeroBaseLikePyTorch) {
  // d(a^b)/db = a^b log a, defined as 0 where a == 0 and b >= 0 (instead of 0 * -inf).
  const Tensor a = Tensor::from({0.0, 0.0, 2.0}, {3}, kFloat64);
  Tensor b = Tensor::from({0.0, 2.0, 3.0}, {3}, kFloat64);
  b.set_requires_grad(true);
  sum(pow(a, b)).backward();
  EXPECT_EQ(b.grad().at({0}), 0.0);
  EXPECT_EQ(b.grad().at({1}), 0.0);
  EXPECT_NEAR(b.grad().at({2}), 8.0 * std::log(2.0), 1e-14);
}

TEST(UnaryTest, OnlyInputsThatRequireGradReceiveOne) {
  const Tensor a = lcg({2, 3}, kFloat64, 20, 0.5, 2.0);
  Tensor b = lcg({3}, kFloat64, 21);
  b.set_requires_grad(true);
  sum(pow(a, b)).backward();
  EXPECT_TRUE(b.grad().defined());
  EXPECT_FALSE(a.grad().defined());
  EXPECT_FALSE(exp(a).requires_grad());
}

// ---- errors ---------------------------------------------------------------------------------------------------

TEST(UnaryTest, PowOfMixedDtypesIsAnErrorNamingBothTensors) {
  const Tensor a = Tensor::ones({2}, kFloat32);
  const Tensor b = Tensor::ones({3}, kFloat64);
  EXPECT_THROW(pow(a, b), Error);
  EXPECT_ERROR_MENTIONS(pow(a, b), "pow: dtypes differ (Tensor(float32, [2]) and Tensor(float64, [3]))");
}

TEST(UnaryTest, PowOfIncompatibleShapesIsAnErrorNamingBothShapes) {
  const Tensor a = Tensor::ones({2, 3}, kFloat64);
  const Tensor b = Tensor::ones({2}, kFloat64);
  EXPECT_THROW(pow(a, b), Error);
  EXPECT_ERROR_MENTIONS(pow(a, b), "pow: shapes [2, 3] and [2] cannot be broadcast");
}

}  // namespace
}  // namespace descent
