// Tests of add, sub, mul, div, neg and the scalar operators: values against plain C++ arithmetic (contiguous,
// strided and broadcast operands, float32 and float64), gradients against finite differences, second derivatives,
// and the errors for mixed dtypes and incompatible shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "support/testing.hpp"

namespace descent {
namespace {

using testing::values;

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

// Checks out == f(a, b) elementwise with NumPy broadcasting, computed in double from the operands' values.
void expect_binary(const Tensor& out, const Tensor& a, const Tensor& b,
                   const std::function<double(double, double)>& f) {
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), "test");
  ASSERT_EQ(out.shape(), shape);
  ASSERT_EQ(out.dtype(), a.dtype());
  const std::vector<double> va = values(a.expand(shape));
  const std::vector<double> vb = values(b.expand(shape));
  const std::vector<double> vo = values(out);
  const double rtol = a.dtype() == kFloat32 ? 1e-6 : 1e-15;
  for (size_t i = 0; i < vo.size(); ++i) {
    const double expected = f(va[i], vb[i]);
    EXPECT_NEAR(vo[i], expected, rtol * (1.0 + std::abs(expected))) << "element " << i;
  }
}

using BinaryOp = Tensor (*)(const Tensor&, const Tensor&);

struct NamedOp {
  const char* name;
  BinaryOp op;
  std::function<double(double, double)> reference;
};

std::vector<NamedOp> arithmetic_ops() {
  return {{"add", add, [](double x, double y) { return x + y; }},
          {"sub", sub, [](double x, double y) { return x - y; }},
          {"mul", mul, [](double x, double y) { return x * y; }},
          {"div", div, [](double x, double y) { return x / y; }}};
}

// Divisors kept away from 0 so that div is well conditioned: |v| in [0.5, 2].
Tensor away_from_zero(const Shape& shape, DType dtype, uint64_t seed) {
  const Tensor u = lcg(shape, dtype, seed, 0.5, 2.0);
  const Tensor sign = lcg(shape, dtype, seed + 100, -1.0, 1.0);
  std::vector<double> v = values(u);
  const std::vector<double> s = values(sign);
  for (size_t i = 0; i < v.size(); ++i) v[i] = s[i] < 0 ? -v[i] : v[i];
  return Tensor::from(v, shape, dtype);
}

TEST(ArithmeticTest, MatchesPlainArithmeticOnContiguousInputs) {
  for (DType dtype : {kFloat32, kFloat64}) {
    const Tensor a = lcg({2, 3, 5}, dtype, 1);
    const Tensor b = away_from_zero({2, 3, 5}, dtype, 2);
    for (const NamedOp& op : arithmetic_ops()) {
      SCOPED_TRACE(op.name);
      expect_binary(op.op(a, b), a, b, op.reference);
    }
  }
}

TEST(ArithmeticTest, MatchesPlainArithmeticOnStridedInputs) {
  for (DType dtype : {kFloat32, kFloat64}) {
    const Tensor a = lcg({4, 3}, dtype, 3).t();                           // [3, 4], transposed view
    const Tensor b = away_from_zero({3, 8}, dtype, 4).slice(1, 0, 8, 2);  // [3, 4], every other column
    ASSERT_FALSE(a.is_contiguous());
    ASSERT_FALSE(b.is_contiguous());
    for (const NamedOp& op : arithmetic_ops()) {
      SCOPED_TRACE(op.name);
      expect_binary(op.op(a, b), a, b, op.reference);
      expect_binary(op.op(a, b.contiguous()), a, b, op.reference);
    }
  }
}

TEST(ArithmeticTest, BroadcastsLikeNumPy) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3, 1}, {1, 4}}, {{}, {2, 3}}, {{2, 3}, {}}, {{4}, {2, 3, 4}}, {{2, 1, 4}, {3, 1}}};
  for (DType dtype : {kFloat32, kFloat64}) {
    for (const auto& [sa, sb] : cases) {
      const Tensor a = lcg(sa, dtype, 5);
      const Tensor b = away_from_zero(sb, dtype, 6);
      for (const NamedOp& op : arithmetic_ops()) {
        SCOPED_TRACE(concat(op.name, " ", sa, " with ", sb));
        expect_binary(op.op(a, b), a, b, op.reference);
      }
    }
  }
}

TEST(ArithmeticTest, LargeInputsSplitAcrossThreadsGiveTheSameValues) {
  const Tensor a = lcg({300, 257}, kFloat64, 7);  // above kParallelGrain, so the parallel path runs
  const Tensor b = away_from_zero({257}, kFloat64, 8);
  expect_binary(mul(a, b), a, b, [](double x, double y) { return x * y; });
  expect_binary(div(a.t(), b.unsqueeze(1)), a.t(), b.unsqueeze(1), [](double x, double y) { return x / y; });
}

TEST(ArithmeticTest, NegAndScalarOperatorsMatchPlainArithmetic) {
  for (DType dtype : {kFloat32, kFloat64}) {
    const Tensor x = lcg({2, 3}, dtype, 9).t();
    const std::vector<double> v = values(x);
    const std::vector<std::pair<Tensor, std::function<double(double)>>> cases = {
        {-x, [](double u) { return -u; }},           {neg(x), [](double u) { return -u; }},
        {x + 1.5, [](double u) { return u + 1.5; }}, {x - 1.5, [](double u) { return u - 1.5; }},
        {x * 1.5, [](double u) { return u * 1.5; }}, {x / 1.5, [](double u) { return u / 1.5; }},
        {1.5 + x, [](double u) { return 1.5 + u; }}, {1.5 - x, [](double u) { return 1.5 - u; }},
        {1.5 * x, [](double u) { return 1.5 * u; }}, {1.5 / x, [](double u) { return 1.5 / u; }},
    };
    for (const auto& [out, f] : cases) {
      ASSERT_EQ(out.shape(), x.shape());
      ASSERT_EQ(out.dtype(), dtype);  // a double scalar takes the tensor's dtype
      const std::vector<double> got = values(out);
      for (size_t i = 0; i < v.size(); ++i) {
        const double expected = f(v[i]);
        EXPECT_NEAR(got[i], expected, (dtype == kFloat32 ? 1e-6 : 1e-15) * (1.0 + std::abs(expected)));
      }
    }
  }
}

TEST(ArithmeticTest, GradientsMatchFiniteDifferences) {
  const std::vector<std::pair<Shape, Shape>> cases = {{{5}, {5}},   {{2, 3}, {2, 3}}, {{3, 1}, {1, 4}},
                                                      {{}, {2, 3}}, {{4}, {2, 3, 4}}, {{2, 3}, {}}};
  for (const auto& [sa, sb] : cases) {
    const Tensor a = lcg(sa, kFloat64, 11);
    const Tensor b = away_from_zero(sb, kFloat64, 12);
    for (const NamedOp& op : arithmetic_ops()) {
      SCOPED_TRACE(concat(op.name, " ", sa, " with ", sb));
      EXPECT_GRADCHECK([f = op.op](const std::vector<Tensor>& in) { return f(in[0], in[1]); },
                       (std::vector<Tensor>{a, b}));
    }
  }
}

TEST(ArithmeticTest, NegAndScalarOperatorGradientsMatchFiniteDifferences) {
  const Tensor x = away_from_zero({2, 3}, kFloat64, 13);
  const std::vector<std::function<Tensor(const Tensor&)>> fns = {
      [](const Tensor& u) { return -u; },      [](const Tensor& u) { return u + 2.0; },
      [](const Tensor& u) { return u - 2.0; }, [](const Tensor& u) { return u * 2.0; },
      [](const Tensor& u) { return u / 2.0; }, [](const Tensor& u) { return 2.0 + u; },
      [](const Tensor& u) { return 2.0 - u; }, [](const Tensor& u) { return 2.0 * u; },
      [](const Tensor& u) { return 2.0 / u; }};
  for (size_t i = 0; i < fns.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_GRADCHECK([f = fns[i]](const std::vector<Tensor>& in) { return f(in[0]); }, std::vector<Tensor>{x});
  }
}

TEST(ArithmeticTest, GradientsOnStridedInputsMatchFiniteDifferences) {
  const Tensor a = lcg({4, 3}, kFloat64, 14);
  const Tensor b = away_from_zero({3, 4}, kFloat64, 15);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return div(in[0].t(), in[1]) * in[1].slice(1, 0, 1); },
                   (std::vector<Tensor>{a, b}));
}

TEST(ArithmeticTest, SecondDerivativeOfCubeIsSixX) {
  Tensor x = Tensor::from({-1.5, 0.5, 2.0}, {3}, kFloat64);
  x.set_requires_grad(true);
  const Tensor y = x * x * x;
  const Tensor seed = Tensor::ones({3}, kFloat64);
  const Tensor dy = autograd::grad({y}, {x}, {seed}, false, /*create_graph=*/true)[0];
  EXPECT_EQ(values(dy), (std::vector<double>{3 * 2.25, 3 * 0.25, 3 * 4.0}));
  ASSERT_TRUE(dy.requires_grad());
  const Tensor d2y = autograd::grad({dy}, {x}, {seed})[0];
  EXPECT_EQ(values(d2y), (std::vector<double>{-9.0, 3.0, 12.0}));
}

TEST(ArithmeticTest, SecondDerivativesOfDivMatchFiniteDifferences) {
  // Differentiates d(a/b) with create_graph: checks the recorded backward of div (and of mul, neg inside it).
  const Tensor a = lcg({2, 3}, kFloat64, 16);
  const Tensor b = away_from_zero({3}, kFloat64, 17);
  const Tensor seed = lcg({2, 3}, kFloat64, 18);
  for (size_t wrt = 0; wrt < 2; ++wrt) {
    SCOPED_TRACE(wrt);
    EXPECT_GRADCHECK(
        [wrt](const std::vector<Tensor>& in) {
          EnableGradGuard enable;  // gradcheck evaluates under no_grad; grad() needs the graph
          return autograd::grad({div(in[0], in[1])}, {in[wrt]}, {in[2]}, false, true)[0];
        },
        (std::vector<Tensor>{a, b, seed}));
  }
}

TEST(ArithmeticTest, OnlyInputsThatRequireGradReceiveOne) {
  Tensor a = lcg({2, 3}, kFloat64, 19);
  const Tensor b = away_from_zero({3}, kFloat64, 20);
  a.set_requires_grad(true);
  sum(div(a, b) * a - b).backward();
  EXPECT_TRUE(a.grad().defined());
  EXPECT_FALSE(b.grad().defined());
  EXPECT_FALSE(add(b, b).requires_grad());
}

TEST(ArithmeticTest, MixedDtypesAreAnErrorNamingTheOpAndBothTensors) {
  const Tensor a = Tensor::ones({2, 3}, kFloat32);
  const Tensor b = Tensor::ones({2, 3}, kFloat64);
  for (const NamedOp& op : arithmetic_ops()) {
    SCOPED_TRACE(op.name);
    EXPECT_THROW(op.op(a, b), Error);
    EXPECT_ERROR_MENTIONS(op.op(a, b), concat(op.name, ": dtypes differ"));
    EXPECT_ERROR_MENTIONS(op.op(a, b), "Tensor(float32, [2, 3])");
    EXPECT_ERROR_MENTIONS(op.op(a, b), "Tensor(float64, [2, 3])");
  }
}

TEST(ArithmeticTest, IncompatibleShapesAreAnErrorNamingTheOpAndBothShapes) {
  const Tensor a = Tensor::ones({2, 3}, kFloat64);
  const Tensor b = Tensor::ones({4}, kFloat64);
  for (const NamedOp& op : arithmetic_ops()) {
    SCOPED_TRACE(op.name);
    EXPECT_THROW(op.op(a, b), Error);
    EXPECT_ERROR_MENTIONS(op.op(a, b), concat(op.name, ": shapes [2, 3] and [4] cannot be broadcast"));
  }
}

}  // namespace
}  // namespace descent
