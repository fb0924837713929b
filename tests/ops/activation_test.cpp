// Tests of relu, leaky_relu, elu, sigmoid, tanh, gelu (erf and tanh forms) and softplus: values against their
// definitions in PyTorch's documentation evaluated with <cmath>, gradients and second derivatives against finite
// differences, and PyTorch's conventions at the kinks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

#include "support/testing.hpp"

namespace descent {
namespace {

using testing::values;

// Deterministic values in [lo, hi) from a 64-bit LCG (Knuth's MMIX constants): the tests need no library RNG.
Tensor lcg(const Shape& shape, DType dtype, uint64_t seed, double lo = -3.0, double hi = 3.0) {
  std::vector<double> v(static_cast<size_t>(numel_of(shape)));
  uint64_t s = seed;
  for (double& x : v) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    x = lo + (hi - lo) * static_cast<double>(s >> 11) * 0x1.0p-53;
  }
  return Tensor::from(v, shape, dtype);
}

// Values with |v| in [0.1, 3] and mixed signs: away from the kinks at 0.
Tensor nonzero(const Shape& shape, DType dtype, uint64_t seed) {
  std::vector<double> v = values(lcg(shape, kFloat64, seed, 0.1, 3.0));
  for (size_t i = 0; i < v.size(); ++i)
    if ((i * 7 + seed) % 2 == 0) v[i] = -v[i];
  return Tensor::from(v, shape, dtype);
}

// Reference definitions (PyTorch's documentation), in double.
double ref_relu(double v) { return v > 0 ? v : 0.0; }
double ref_sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }
double ref_gelu(double v) { return 0.5 * v * (1.0 + std::erf(v / std::numbers::sqrt2)); }
double ref_gelu_tanh(double v) {
  return 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (v + 0.044715 * v * v * v)));
}
double ref_softplus(double v, double beta, double threshold) {
  return beta * v > threshold ? v : std::log(1.0 + std::exp(beta * v)) / beta;
}

struct Activation {
  std::string name;
  std::function<Tensor(const Tensor&)> op;
  std::function<double(double)> reference;
};

std::vector<Activation> activations() {
  return {
      {"relu", [](const Tensor& x) { return relu(x); }, ref_relu},
      {"leaky_relu", [](const Tensor& x) { return leaky_relu(x); }, [](double v) { return v > 0 ? v : 0.01 * v; }},
      {"leaky_relu(0.2)", [](const Tensor& x) { return leaky_relu(x, 0.2); },
       [](double v) { return v > 0 ? v : 0.2 * v; }},
      {"elu", [](const Tensor& x) { return elu(x); }, [](double v) { return v > 0 ? v : std::exp(v) - 1.0; }},
      {"elu(0.5)", [](const Tensor& x) { return elu(x, 0.5); },
       [](double v) { return v > 0 ? v : 0.5 * (std::exp(v) - 1.0); }},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, ref_sigmoid},
      {"tanh", [](const Tensor& x) { return tanh(x); }, [](double v) { return std::tanh(v); }},
      {"gelu", [](const Tensor& x) { return gelu(x); }, ref_gelu},
      {"gelu(tanh)", [](const Tensor& x) { return gelu(x, true); }, ref_gelu_tanh},
      {"softplus", [](const Tensor& x) { return softplus(x); }, [](double v) { return ref_softplus(v, 1.0, 20.0); }},
      {"softplus(2, 3)", [](const Tensor& x) { return softplus(x, 2.0, 3.0); },
       [](double v) { return ref_softplus(v, 2.0, 3.0); }},
  };
}

// Checks out == f(x) elementwise, f evaluated in double on x's values.
void expect_unary(const Tensor& out, const Tensor& x, const std::function<double(double)>& f) {
  ASSERT_EQ(out.shape(), x.shape());
  ASSERT_EQ(out.dtype(), x.dtype());
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

// Second derivatives: gradcheck of (x, seed) -> d(f(x) · seed)/dx taken with create_graph, which differentiates the
// recorded backward; and that recorded backward must give the plain first derivative.
void expect_double_backward(const std::function<Tensor(const Tensor&)>& f, const Tensor& x) {
  const Tensor seed = lcg(x.shape(), kFloat64, 99, 0.5, 1.5);
  EXPECT_GRADCHECK(
      [f](const std::vector<Tensor>& in) {
        EnableGradGuard enable;  // gradcheck evaluates under no_grad; grad() needs the graph
        return autograd::grad({f(in[0])}, {in[0]}, {in[1]}, false, /*create_graph=*/true)[0];
      },
      (std::vector<Tensor>{x, seed}));
  Tensor xg = x.detach().clone();
  xg.set_requires_grad(true);
  const std::vector<double> plain = values(autograd::grad({f(xg)}, {xg}, {seed})[0]);
  const std::vector<double> recorded = values(autograd::grad({f(xg)}, {xg}, {seed}, false, true)[0]);
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_NEAR(recorded[i], plain[i], 1e-12 * (1.0 + std::abs(plain[i])));
}

Tensor grad_of(const std::function<Tensor(const Tensor&)>& f, std::initializer_list<double> v) {
  Tensor x = Tensor::from(v, {static_cast<int64_t>(v.size())}, kFloat64);
  x.set_requires_grad(true);
  sum(f(x)).backward();
  return x.grad();
}

// ---- values ---------------------------------------------------------------------------------------------------

TEST(ActivationTest, MatchDefinitionsOnContiguousInput) {
  for (DType dtype : {kFloat32, kFloat64}) {
    const Tensor x = lcg({4, 8}, dtype, 1, -6.0, 6.0);
    for (const Activation& a : activations()) {
      SCOPED_TRACE(concat(a.name, " ", dtype));
      expect_unary(a.op(x), x, a.reference);
    }
  }
}

TEST(ActivationTest, MatchDefinitionsOnStridedInput) {
  for (DType dtype : {kFloat32, kFloat64}) {
    const Tensor base = lcg({5, 6}, dtype, 2, -4.0, 4.0);
    for (const Tensor& x : {base.t(), base.slice(1, 0, 6, 2), base.t().slice(0, 1, 6, 2)}) {
      ASSERT_FALSE(x.is_contiguous());
      for (const Activation& a : activations()) {
        SCOPED_TRACE(concat(a.name, " ", dtype, " ", x.shape()));
        expect_unary(a.op(x), x, a.reference);
      }
    }
  }
}

TEST(ActivationTest, ExtremeInputsSaturateWithoutNaN) {
  for (DType dtype : {kFloat32, kFloat64}) {
    SCOPED_TRACE(dtype);
    const Tensor x = Tensor::from({-1000.0, -50.0, 50.0, 1000.0}, {4}, dtype);
    const double tiny = std::exp(-50.0);  // sigmoid(-50) and softplus(-50), to first order
    EXPECT_EQ(values(tanh(x)), (std::vector<double>{-1.0, -1.0, 1.0, 1.0}));
    EXPECT_EQ(values(elu(x)), (std::vector<double>{-1.0, -1.0, 50.0, 1000.0}));
    EXPECT_EQ(values(gelu(x)), (std::vector<double>{0.0, 0.0, 50.0, 1000.0}));
    EXPECT_EQ(values(gelu(x, true)), (std::vector<double>{0.0, 0.0, 50.0, 1000.0}));
    const std::vector<double> s = values(sigmoid(x));
    EXPECT_EQ(s[0], 0.0);
    EXPECT_NEAR(s[1], tiny, 1e-6 * tiny);
    EXPECT_EQ(s[2], 1.0);
    EXPECT_EQ(s[3], 1.0);
    const std::vector<double> sp = values(softplus(x));
    EXPECT_EQ(sp[0], 0.0);
    EXPECT_NEAR(sp[1], tiny, 1e-6 * tiny);
    EXPECT_EQ(sp[2], 50.0);
    EXPECT_EQ(sp[3], 1000.0);
    for (const Activation& a : activations()) {
      for (double v : values(a.op(x))) EXPECT_FALSE(std::isnan(v)) << a.name;
    }
  }
}

TEST(ActivationTest, GradientsAtExtremeInputsAreFiniteToSecondOrder) {
  Tensor x = Tensor::from({-1000.0, -50.0, 50.0, 1000.0}, {4}, kFloat64);
  x.set_requires_grad(true);
  const Tensor seed = Tensor::ones({4}, kFloat64);
  for (const Activation& a : activations()) {
    const Tensor d1 = autograd::grad({a.op(x)}, {x}, {seed}, false, true)[0];
    for (double v : values(d1)) EXPECT_TRUE(std::isfinite(v)) << a.name;
    if (!d1.requires_grad()) continue;  // piecewise linear: no second derivative recorded
    for (double v : values(autograd::grad({d1}, {x}, {seed})[0])) EXPECT_TRUE(std::isfinite(v)) << a.name;
  }
}

TEST(ActivationTest, NaNPropagatesThroughReluLikePyTorch) {
  const Tensor x = Tensor::from({std::nan(""), -1.0}, {2}, kFloat32);
  EXPECT_TRUE(std::isnan(relu(x).at({0})));
  EXPECT_TRUE(std::isnan(leaky_relu(x).at({0})));
  EXPECT_EQ(relu(x).at({1}), 0.0);
}

TEST(ActivationTest, SoftplusSwitchesToIdentityAboveThreshold) {
  // beta x = 2 * 1.6 = 3.2 > 3: identity; beta x = 2 * 1.4 = 2.8: the log form.
  const Tensor x = Tensor::from({1.6, 1.4}, {2}, kFloat64);
  const Tensor y = softplus(x, 2.0, 3.0);
  EXPECT_EQ(y.at({0}), 1.6);
  EXPECT_NEAR(y.at({1}), std::log1p(std::exp(2.8)) / 2.0, 1e-15);
}

TEST(ActivationTest, LargeInputMatchesDefinitionAcrossThreads) {
  const Tensor x = lcg({300, 257}, kFloat32, 3);  // above kParallelGrain
  expect_unary(gelu(x), x, ref_gelu);
  expect_unary(sigmoid(x.t()), x.t(), ref_sigmoid);
}

// ---- gradients ------------------------------------------------------------------------------------------------

TEST(ActivationTest, GradientsMatchFiniteDifferences) {
  for (const Shape& shape : {Shape{}, Shape{7}, Shape{2, 3}, Shape{3, 1, 2}}) {
    const Tensor x = nonzero(shape, kFloat64, 4);
    for (const Activation& a : activations()) {
      SCOPED_TRACE(concat(a.name, " ", shape));
      EXPECT_GRADCHECK([f = a.op](const std::vector<Tensor>& in) { return f(in[0]); }, std::vector<Tensor>{x});
    }
  }
}

TEST(ActivationTest, GradientsOnStridedInputsMatchFiniteDifferences) {
  const Tensor x = nonzero({4, 5}, kFloat64, 5);
  for (const Activation& a : activations()) {
    SCOPED_TRACE(a.name);
    EXPECT_GRADCHECK([f = a.op](const std::vector<Tensor>& in) { return f(in[0].t().slice(0, 0, 5, 2)); },
                     std::vector<Tensor>{x});
  }
}

TEST(ActivationTest, GradientsMatchFiniteDifferencesOnBothSidesOfSoftplusThreshold) {
  // beta x around the threshold 3 but not within eps of it.
  const Tensor x = Tensor::from({1.2, 1.45, 1.55, 2.0, -1.0}, {5}, kFloat64);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return softplus(in[0], 2.0, 3.0); }, std::vector<Tensor>{x});
}

TEST(ActivationTest, SecondDerivativesMatchFiniteDifferences) {
  const Tensor x = nonzero({2, 3}, kFloat64, 6);
  for (const Activation& a : activations()) {
    SCOPED_TRACE(a.name);
    expect_double_backward(a.op, x);
  }
}

TEST(ActivationTest, SecondDerivativeOfExactGeluIsPdfTimesTwoMinusXSquared) {
  Tensor x = nonzero({5}, kFloat64, 7);
  x.set_requires_grad(true);
  const Tensor ones = Tensor::ones({5}, kFloat64);
  const Tensor d1 = autograd::grad({gelu(x)}, {x}, {ones}, false, true)[0];
  const std::vector<double> d2 = values(autograd::grad({d1}, {x}, {ones})[0]);
  const std::vector<double> vx = values(x);
  for (size_t i = 0; i < vx.size(); ++i) {
    const double pdf = std::exp(-0.5 * vx[i] * vx[i]) / std::sqrt(2.0 * std::numbers::pi);
    EXPECT_NEAR(d2[i], pdf * (2.0 - vx[i] * vx[i]), 1e-15);
  }
}

TEST(ActivationTest, ThirdDerivativeOfExactGeluMatchesFiniteDifferences) {
  // d3/dx3 gelu goes through the backward of gelu's own recorded derivative.
  const Tensor x = nonzero({4}, kFloat64, 7);
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        EnableGradGuard enable;
        const Tensor ones = Tensor::ones(in[0].shape(), kFloat64);
        const Tensor d1 = autograd::grad({gelu(in[0])}, {in[0]}, {ones}, false, true)[0];
        return autograd::grad({d1}, {in[0]}, {ones}, false, true)[0];
      },
      std::vector<Tensor>{x});
}

// ---- conventions at kinks (PyTorch's) -------------------------------------------------------------------------

TEST(ActivationTest, ReluGradientAtZeroIsZero) {
  EXPECT_EQ(values(grad_of([](const Tensor& x) { return relu(x); }, {-1.0, 0.0, 2.0})),
            (std::vector<double>{0.0, 0.0, 1.0}));
}

TEST(ActivationTest, LeakyReluGradientAtZeroIsTheSlope) {
  EXPECT_EQ(values(grad_of([](const Tensor& x) { return leaky_relu(x, 0.1); }, {-1.0, 0.0, 2.0})),
            (std::vector<double>{0.1, 0.1, 1.0}));
}

TEST(ActivationTest, EluGradientAtZeroIsAlpha) {
  EXPECT_EQ(values(grad_of([](const Tensor& x) { return elu(x, 0.5); }, {0.0, 2.0})), (std::vector<double>{0.5, 1.0}));
}

TEST(ActivationTest, GeluGradientAtZeroIsOneHalf) {
  EXPECT_EQ(values(grad_of([](const Tensor& x) { return gelu(x); }, {0.0})), (std::vector<double>{0.5}));
  EXPECT_EQ(values(grad_of([](const Tensor& x) { return gelu(x, true); }, {0.0})), (std::vector<double>{0.5}));
}

TEST(ActivationTest, GradientIsRecordedOnlyForInputsThatRequireIt) {
  const Tensor x = lcg({3}, kFloat64, 8);
  for (const Activation& a : activations()) EXPECT_FALSE(a.op(x).requires_grad()) << a.name;
  NoGradGuard no_grad;
  Tensor y = x.detach().clone();
  y.set_requires_grad(true);
  for (const Activation& a : activations()) EXPECT_FALSE(a.op(y).requires_grad()) << a.name;
}

}  // namespace
}  // namespace descent
