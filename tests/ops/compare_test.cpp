// Tests of the comparisons (eq, ne, lt, le, gt, ge), where, maximum and minimum: masks and values against plain
// C++ (contiguous, strided and broadcast operands, float32 and float64), gradients and second derivatives against
// finite differences, PyTorch's tie and NaN conventions, and the errors for mixed dtypes and incompatible shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <tuple>
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

// Small integers in [-2, 2]: comparisons then meet every outcome, ties included.
Tensor small_ints(const Shape& shape, DType dtype, uint64_t seed) {
  std::vector<double> v = values(lcg(shape, kFloat64, seed, -2.5, 2.5));
  for (double& x : v) x = std::round(x);
  return Tensor::from(v, shape, dtype);
}

using BinaryOp = Tensor (*)(const Tensor&, const Tensor&);

struct NamedOp {
  std::string name;
  BinaryOp op;
  std::function<double(double, double)> reference;
};

std::vector<NamedOp> comparisons() {
  return {{"eq", eq, [](double x, double y) { return x == y ? 1.0 : 0.0; }},
          {"ne", ne, [](double x, double y) { return x != y ? 1.0 : 0.0; }},
          {"lt", lt, [](double x, double y) { return x < y ? 1.0 : 0.0; }},
          {"le", le, [](double x, double y) { return x <= y ? 1.0 : 0.0; }},
          {"gt", gt, [](double x, double y) { return x > y ? 1.0 : 0.0; }},
          {"ge", ge, [](double x, double y) { return x >= y ? 1.0 : 0.0; }}};
}

std::vector<NamedOp> extrema() {
  return {{"maximum", maximum, [](double x, double y) { return std::isnan(x) || x > y ? x : y; }},
          {"minimum", minimum, [](double x, double y) { return std::isnan(x) || x < y ? x : y; }}};
}

std::vector<NamedOp> all_binary() {
  std::vector<NamedOp> ops = comparisons();
  for (const NamedOp& op : extrema()) ops.push_back(op);
  return ops;
}

// Checks out == f(a, b) exactly, elementwise with NumPy broadcasting (NaN matches NaN).
void expect_binary(const Tensor& out, const Tensor& a, const Tensor& b,
                   const std::function<double(double, double)>& f) {
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), "test");
  ASSERT_EQ(out.shape(), shape);
  ASSERT_EQ(out.dtype(), a.dtype());
  const std::vector<double> va = values(a.expand(shape));
  const std::vector<double> vb = values(b.expand(shape));
  const std::vector<double> vo = values(out);
  for (size_t i = 0; i < vo.size(); ++i) {
    const double expected = f(va[i], vb[i]);
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(vo[i])) << "element " << i;
    } else {
      EXPECT_EQ(vo[i], expected) << "element " << i << ": f(" << va[i] << ", " << vb[i] << ")";
    }
  }
}

// Second derivatives: gradcheck of (inputs…, seed) -> d(f(inputs) · seed)/d(inputs[wrt]) taken with create_graph.
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
  }
}

const std::vector<std::pair<Shape, Shape>> kBroadcastCases = {{{2, 3}, {2, 3}}, {{3, 1}, {1, 4}}, {{}, {2, 3}},
                                                              {{2, 3}, {}},     {{4}, {2, 3, 4}}, {{2, 1, 4}, {3, 1}}};

// ---- values ---------------------------------------------------------------------------------------------------

TEST(CompareTest, ComparisonsAndExtremaMatchPlainCppWhenBroadcasting) {
  for (DType dtype : {kFloat32, kFloat64}) {
    for (const auto& [sa, sb] : kBroadcastCases) {
      const Tensor a = small_ints(sa, dtype, 1);
      const Tensor b = small_ints(sb, dtype, 2);
      for (const NamedOp& op : all_binary()) {
        SCOPED_TRACE(concat(op.name, " ", sa, " with ", sb, " ", dtype));
        expect_binary(op.op(a, b), a, b, op.reference);
      }
    }
  }
}

TEST(CompareTest, ComparisonsAndExtremaMatchPlainCppOnStridedInputs) {
  for (DType dtype : {kFloat32, kFloat64}) {
    const Tensor a = small_ints({5, 4}, dtype, 3).t();                  // [4, 5]
    const Tensor b = small_ints({4, 10}, dtype, 4).slice(1, 1, 10, 2);  // [4, 5]
    for (const NamedOp& op : all_binary()) {
      SCOPED_TRACE(concat(op.name, " ", dtype));
      expect_binary(op.op(a, b), a, b, op.reference);
      expect_binary(op.op(a.contiguous(), b), a, b, op.reference);
      expect_binary(op.op(a, b.select(0, 1)), a, b.select(0, 1), op.reference);
    }
  }
}

TEST(CompareTest, MasksAreZeroOrOneInTheOperandsDtypeAndNotDifferentiable) {
  for (DType dtype : {kFloat32, kFloat64}) {
    Tensor a = lcg({2, 3}, dtype, 5);
    a.set_requires_grad(true);
    const Tensor b = Tensor::scalar(0.0, dtype);
    for (const NamedOp& op : comparisons()) {
      const Tensor m = op.op(a, b);
      EXPECT_EQ(m.dtype(), dtype) << op.name;
      EXPECT_FALSE(m.requires_grad()) << op.name;
      for (double v : values(m)) EXPECT_TRUE(v == 0.0 || v == 1.0) << op.name;
    }
  }
}

TEST(CompareTest, ComparisonsWithNaNFollowIeee) {
  const Tensor a = Tensor::from({std::nan(""), 1.0}, {2}, kFloat64);
  const Tensor b = Tensor::from({std::nan(""), std::nan("")}, {2}, kFloat64);
  EXPECT_EQ(values(eq(a, b)), (std::vector<double>{0, 0}));
  EXPECT_EQ(values(ne(a, b)), (std::vector<double>{1, 1}));
  EXPECT_EQ(values(lt(a, b)), (std::vector<double>{0, 0}));
  EXPECT_EQ(values(ge(a, b)), (std::vector<double>{0, 0}));
}

TEST(CompareTest, MaximumAndMinimumPropagateNaNFromEitherSideLikePyTorch) {
  const double nan = std::nan("");
  const Tensor a = Tensor::from({nan, 1.0, nan}, {3}, kFloat32);
  const Tensor b = Tensor::from({1.0, nan, nan}, {3}, kFloat32);
  for (const Tensor& out : {maximum(a, b), minimum(a, b), maximum(b, a), minimum(b, a)}) {
    for (double v : values(out)) EXPECT_TRUE(std::isnan(v));
  }
}

TEST(CompareTest, WhereSelectsAndBroadcastsAllThree) {
  for (DType dtype : {kFloat32, kFloat64}) {
    const Tensor mask = Tensor::from({1.0, 0.0, 1.0}, {3, 1}, dtype);
    const Tensor a = lcg({1, 4}, dtype, 6);
    const Tensor b = lcg({2, 1, 1}, dtype, 7);
    const Tensor out = where(mask, a, b);
    ASSERT_EQ(out.shape(), (Shape{2, 3, 4}));
    for (int64_t i = 0; i < 2; ++i) {
      for (int64_t j = 0; j < 3; ++j) {
        for (int64_t k = 0; k < 4; ++k) {
          EXPECT_EQ(out.at({i, j, k}), mask.at({j, 0}) != 0 ? a.at({0, k}) : b.at({i, 0, 0}));
        }
      }
    }
  }
}

TEST(CompareTest, WhereMatchesSelectionOnContiguousStridedAndScalarOperands) {
  for (DType dtype : {kFloat32, kFloat64}) {
    const Tensor a = lcg({3, 4}, dtype, 8);
    const Tensor b = lcg({4, 3}, dtype, 9).t();
    const Tensor mask = gt(a, Tensor::scalar(0.0, dtype));
    const auto check = [](const Tensor& out, const Tensor& m, const Tensor& x, const Tensor& y) {
      const std::vector<double> vm = values(m.expand(out.shape()));
      const std::vector<double> vx = values(x.expand(out.shape()));
      const std::vector<double> vy = values(y.expand(out.shape()));
      const std::vector<double> vo = values(out);
      for (size_t i = 0; i < vo.size(); ++i) EXPECT_EQ(vo[i], vm[i] != 0 ? vx[i] : vy[i]) << i;
    };
    check(where(mask, a, b.contiguous()), mask, a, b);  // all contiguous: the flat loop
    check(where(mask, a, b), mask, a, b);               // transposed b
    const Tensor zero = Tensor::scalar(0.0, dtype);
    check(where(mask, a, zero), mask, a, zero);  // relu-like
    check(where(mask.t().t(), zero, b), mask, zero, b);
  }
}

TEST(CompareTest, WhereAcceptsAMaskOfTheOtherDtype) {
  const Tensor mask = Tensor::from({1.0, 0.0}, {2}, kFloat32);
  const Tensor a = Tensor::from({1.0, 2.0}, {2}, kFloat64);
  const Tensor b = Tensor::from({3.0, 4.0}, {2}, kFloat64);
  const Tensor out = where(mask, a, b);
  EXPECT_EQ(out.dtype(), kFloat64);
  EXPECT_EQ(values(out), (std::vector<double>{1.0, 4.0}));
}

TEST(CompareTest, LargeInputsMatchAcrossThreads) {
  const Tensor a = lcg({300, 200}, kFloat32, 10);  // above kParallelGrain
  const Tensor b = lcg({200}, kFloat32, 11);
  expect_binary(maximum(a, b), a, b, extrema()[0].reference);
  expect_binary(le(a.t(), b.unsqueeze(1)), a.t(), b.unsqueeze(1), comparisons()[3].reference);
  const Tensor m = gt(a, Tensor::scalar(0.0, kFloat32));
  const std::vector<double> vo = values(where(m, a, -a));
  const std::vector<double> va = values(a);
  for (size_t i = 0; i < va.size(); ++i) ASSERT_EQ(vo[i], std::abs(va[i]));
}

// ---- gradients ------------------------------------------------------------------------------------------------

TEST(CompareTest, MaximumAndMinimumGradientsMatchFiniteDifferencesWhenBroadcasting) {
  for (const auto& [sa, sb] : kBroadcastCases) {
    // Continuous values: no ties, so the function is differentiable at every point.
    const Tensor a = lcg(sa, kFloat64, 12);
    const Tensor b = lcg(sb, kFloat64, 13);
    for (const NamedOp& op : extrema()) {
      SCOPED_TRACE(concat(op.name, " ", sa, " with ", sb));
      EXPECT_GRADCHECK([f = op.op](const std::vector<Tensor>& in) { return f(in[0], in[1]); },
                       (std::vector<Tensor>{a, b}));
    }
  }
}

TEST(CompareTest, WhereGradientsMatchFiniteDifferencesWhenBroadcasting) {
  const std::vector<std::tuple<Shape, Shape, Shape>> cases = {{{2, 3}, {2, 3}, {2, 3}},
                                                              {{3, 1}, {1, 4}, {3, 4}},
                                                              {{2, 3}, {}, {2, 3}},
                                                              {{4}, {2, 3, 4}, {3, 1}},
                                                              {{2, 1, 4}, {3, 1}, {}}};
  for (const auto& [sm, sa, sb] : cases) {
    SCOPED_TRACE(concat(sm, " ", sa, " ", sb));
    const Tensor mask = small_ints(sm, kFloat64, 14);  // nonzero where |value| >= 1
    const Tensor a = lcg(sa, kFloat64, 15);
    const Tensor b = lcg(sb, kFloat64, 16);
    EXPECT_GRADCHECK([mask](const std::vector<Tensor>& in) { return where(mask, in[0], in[1]); },
                     (std::vector<Tensor>{a, b}));
  }
}

TEST(CompareTest, GradientsOnStridedInputsMatchFiniteDifferences) {
  const Tensor a = lcg({4, 3}, kFloat64, 17);
  const Tensor b = lcg({3, 8}, kFloat64, 18);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return maximum(in[0].t(), in[1].slice(1, 0, 8, 2)); },
                   (std::vector<Tensor>{a, b}));
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        const Tensor x = in[0].t();
        return where(gt(x, Tensor::scalar(0.0, kFloat64)), x, in[1].slice(1, 1, 8, 2));
      },
      (std::vector<Tensor>{a, b}));
}

TEST(CompareTest, SecondDerivativesMatchFiniteDifferences) {
  const Tensor a = lcg({2, 3}, kFloat64, 19);
  const Tensor b = lcg({3}, kFloat64, 20);
  const Tensor mask = small_ints({2, 1}, kFloat64, 21);
  for (const NamedOp& op : extrema()) {
    SCOPED_TRACE(op.name);
    expect_double_backward([f = op.op](const std::vector<Tensor>& in) { return f(in[0], in[1]); }, {a, b});
  }
  SCOPED_TRACE("where");
  // where(mask, a * a, b * b): the second derivatives come from the products, routed by where.
  expect_double_backward([mask](const std::vector<Tensor>& in) { return where(mask, in[0] * in[0], in[1] * in[1]); },
                         {a, b});
}

TEST(CompareTest, MaximumAndMinimumSplitTheGradientEquallyOnTiesLikePyTorch) {
  for (const NamedOp& op : extrema()) {
    SCOPED_TRACE(op.name);
    Tensor a = Tensor::from({1.0, 2.0, 3.0}, {3}, kFloat64);
    Tensor b = Tensor::from({2.0, 2.0, 2.0}, {3}, kFloat64);
    a.set_requires_grad(true);
    b.set_requires_grad(true);
    sum(op.op(a, b)).backward();
    const bool is_max = op.name == "maximum";
    EXPECT_EQ(values(a.grad()), (std::vector<double>{is_max ? 0.0 : 1.0, 0.5, is_max ? 1.0 : 0.0}));
    EXPECT_EQ(values(b.grad()), (std::vector<double>{is_max ? 1.0 : 0.0, 0.5, is_max ? 0.0 : 1.0}));
  }
}

TEST(CompareTest, BroadcastTiesSumHalvesIntoTheBroadcastOperand) {
  Tensor a = Tensor::from({1.0, 2.0, 2.0, 5.0}, {4}, kFloat64);
  Tensor b = Tensor::scalar(2.0, kFloat64);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  sum(maximum(a, b)).backward();
  EXPECT_EQ(values(a.grad()), (std::vector<double>{0.0, 0.5, 0.5, 1.0}));
  EXPECT_EQ(b.grad().item(), 2.0);  // 1 + 0.5 + 0.5
}

TEST(CompareTest, WhereRoutesAnInfiniteGradientWithoutMakingNaN) {
  // The backward selects rather than multiplies by the mask, so inf * 0 never appears in the other branch.
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor mask = Tensor::from({1.0, 0.0}, {2}, kFloat64);
  Tensor a = Tensor::from({1.0, 2.0}, {2}, kFloat64);
  Tensor b = Tensor::from({3.0, 4.0}, {2}, kFloat64);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  where(mask, a, b).backward(Tensor::from({inf, 1.0}, {2}, kFloat64));
  EXPECT_EQ(values(a.grad()), (std::vector<double>{inf, 0.0}));
  EXPECT_EQ(values(b.grad()), (std::vector<double>{0.0, 1.0}));
}

TEST(CompareTest, MaximumRoutesAnInfiniteGradientWithoutMakingNaN) {
  const double inf = std::numeric_limits<double>::infinity();
  Tensor a = Tensor::from({1.0, 3.0, 2.0}, {3}, kFloat64);
  Tensor b = Tensor::from({2.0, 1.0, 2.0}, {3}, kFloat64);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  maximum(a, b).backward(Tensor::full({3}, inf, kFloat64));
  EXPECT_EQ(values(a.grad()), (std::vector<double>{0.0, inf, inf}));
  EXPECT_EQ(values(b.grad()), (std::vector<double>{inf, 0.0, inf}));
}

TEST(CompareTest, OnlyInputsThatRequireGradReceiveOne) {
  Tensor a = lcg({2, 3}, kFloat64, 22);
  const Tensor b = lcg({3}, kFloat64, 23);
  a.set_requires_grad(true);
  sum(maximum(a, b) + minimum(b, a) + where(gt(a, b), b, a)).backward();
  EXPECT_TRUE(a.grad().defined());
  EXPECT_FALSE(b.grad().defined());
  EXPECT_FALSE(maximum(b, b).requires_grad());
  EXPECT_FALSE(where(a, b, b).requires_grad());  // a is only the mask
}

// ---- errors ---------------------------------------------------------------------------------------------------

TEST(CompareTest, MixedDtypesAreAnErrorNamingTheOpAndBothTensors) {
  const Tensor a = Tensor::ones({2, 3}, kFloat32);
  const Tensor b = Tensor::ones({3}, kFloat64);
  for (const NamedOp& op : all_binary()) {
    SCOPED_TRACE(op.name);
    EXPECT_THROW(op.op(a, b), Error);
    EXPECT_ERROR_MENTIONS(op.op(a, b), op.name + ": dtypes differ (Tensor(float32, [2, 3]) and Tensor(float64, [3]))");
  }
  EXPECT_ERROR_MENTIONS(where(Tensor::ones({3}, kFloat64), a, b),
                        "where: dtypes differ (Tensor(float32, [2, 3]) and Tensor(float64, [3]))");
}

TEST(CompareTest, IncompatibleShapesAreAnErrorNamingTheOpAndTheShapes) {
  const Tensor a = Tensor::ones({2, 3}, kFloat64);
  const Tensor b = Tensor::ones({4}, kFloat64);
  for (const NamedOp& op : all_binary()) {
    SCOPED_TRACE(op.name);
    EXPECT_THROW(op.op(a, b), Error);
    EXPECT_ERROR_MENTIONS(op.op(a, b), op.name + ": shapes [2, 3] and [4] cannot be broadcast");
  }
  EXPECT_THROW(where(b, a, a), Error);
  EXPECT_ERROR_MENTIONS(where(b, a, a), "where: shapes [4] (mask), [2, 3] (a) and [2, 3] (b) cannot be broadcast");
  EXPECT_ERROR_MENTIONS(where(a, a, b), "where: shapes [2, 3] (mask), [2, 3] (a) and [4] (b) cannot be broadcast");
}

}  // namespace
}  // namespace descent
