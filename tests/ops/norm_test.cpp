// batch_norm, layer_norm and dropout: values and running statistics against Keras' formulas, gradients against
// PyTorch (tests/ops/fixtures/norm.json from tools/fixtures/gen_loss.py), first and second derivatives by finite
// differences, dropout's seeded masks and scaling, and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "descent/ops/norm.hpp"
#include "support/fixtures.hpp"
#include "support/testing.hpp"

namespace descent {
namespace {

using testing::sample;
using testing::values;

nlohmann::json load_fixture(const std::string& file) {
  return testing::load_fixture(file, "tools/fixtures/gen_loss.py");
}

Tensor tensor_of(const nlohmann::json& v, const Shape& shape, DType dtype = kFloat64) {
  return testing::tensor_of(v, shape, dtype);
}

void expect_values(const Tensor& got, const nlohmann::json& want_json, double tol, const std::string& what) {
  const auto want = want_json.get<std::vector<double>>();
  const auto g = values(got);
  ASSERT_EQ(g.size(), want.size()) << what;
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], want[i], tol * (1 + std::abs(want[i]))) << what << " " << i;
}

// ---- batch_norm -------------------------------------------------------------------------------------------

TEST(BatchNormTest, TrainingAndEvaluationMatchKerasAndTorchGradients) {
  const auto fixture = load_fixture("norm.json")["batch_norm"];
  ASSERT_EQ(fixture.size(), 2u);
  for (const auto& c : fixture) {
    const Shape shape = c["shape"].get<Shape>();
    const int64_t ch = shape.back();
    for (bool training : {true, false}) {
      const std::string what = shape_str(shape) + (training ? " training" : " eval");
      Tensor x = tensor_of(c["x"], shape).set_requires_grad();
      Tensor gamma = tensor_of(c["gamma"], {ch}).set_requires_grad();
      Tensor beta = tensor_of(c["beta"], {ch}).set_requires_grad();
      Tensor rm = tensor_of(c["running_mean"], {ch});
      Tensor rv = tensor_of(c["running_var"], {ch});
      const Tensor y = batch_norm(x, gamma, beta, rm, rv,
                                  {.training = training, .momentum = c["momentum"], .epsilon = c["epsilon"]});
      expect_values(y, training ? c["y_train"] : c["y_eval"], 1e-12, what + " y");
      expect_values(rm, training ? c["running_mean_after"] : c["running_mean"], 1e-13, what + " running_mean");
      expect_values(rv, training ? c["running_var_after"] : c["running_var"], 1e-13, what + " running_var");
      sum(y * tensor_of(c["dy"], shape)).backward();
      const std::string suffix = training ? "_train" : "_eval";
      expect_values(x.grad(), c["dx" + suffix], 1e-11, what + " dx");
      expect_values(gamma.grad(), c["dgamma" + suffix], 1e-11, what + " dgamma");
      expect_values(beta.grad(), c["dbeta" + suffix], 1e-11, what + " dbeta");
    }
  }
}

TEST(BatchNormTest, Float32MatchesTheReference) {
  const auto c = load_fixture("norm.json")["batch_norm"][1];
  const Shape shape = c["shape"].get<Shape>();
  const int64_t ch = shape.back();
  Tensor rm = tensor_of(c["running_mean"], {ch}, kFloat32);
  Tensor rv = tensor_of(c["running_var"], {ch}, kFloat32);
  const Tensor y = batch_norm(tensor_of(c["x"], shape, kFloat32), tensor_of(c["gamma"], {ch}, kFloat32),
                              tensor_of(c["beta"], {ch}, kFloat32), rm, rv, {.momentum = c["momentum"]});
  EXPECT_EQ(y.dtype(), kFloat32);
  expect_values(y, c["y_train"], 1e-5, "float32 y");
  expect_values(rv, c["running_var_after"], 1e-6, "float32 running_var");
}

TEST(BatchNormGradTest, PassesGradcheckInTrainingAndEvaluationAlongAnyAxis) {
  const Tensor x = sample({4, 3, 2}, kFloat64, 1, -2.0, 2.0);
  const Tensor gamma = sample({3}, kFloat64, 2, 0.5, 1.5);
  const Tensor beta = sample({3}, kFloat64, 3);
  const Tensor gamma2 = sample({2}, kFloat64, 4, 0.5, 1.5);
  const Tensor beta2 = sample({2}, kFloat64, 5);
  const Tensor w = sample({4, 3, 2}, kFloat64, 6);  // a non-uniform output weighting
  const Tensor rm = sample({3}, kFloat64, 7);
  const Tensor rv = sample({3}, kFloat64, 8, 0.5, 2.0);
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return sum(batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), {.axis = 1}) * w);
      },
      {x, gamma, beta});
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return sum(batch_norm(in[0], in[1], in[2], {}, {}, {}) * w); },
                   {x, gamma2, beta2});
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return batch_norm(in[0], in[1], in[2], rm, rv, {.training = false, .axis = 1}) * w;
      },
      {x, gamma, beta});
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return sum(batch_norm(in[0], {}, {}, {}, {}, {}) * w); }, {x});
}

Tensor gradient_of(const std::function<Tensor(const Tensor&)>& f, const Tensor& x, const Tensor& w) {
  EnableGradGuard enable;
  return autograd::grad({sum(f(x) * w)}, {x}, {}, false, true)[0];
}

TEST(BatchNormGradTest, SecondDerivativesPassGradcheck) {
  const Tensor x = sample({5, 3}, kFloat64, 9, -2.0, 2.0);
  const Tensor w = sample({5, 3}, kFloat64, 10);
  const Tensor gamma = sample({3}, kFloat64, 11, 0.5, 1.5);
  const Tensor beta = sample({3}, kFloat64, 12);
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return gradient_of([&](const Tensor& t) { return batch_norm(t, gamma, beta, {}, {}, {}); }, in[0], w);
      },
      {x});
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return gradient_of([&](const Tensor& t) { return layer_norm(t, gamma, beta); }, in[0], w);
      },
      {x});
}

TEST(BatchNormTest, ChannelAxisOneEqualsChannelsLastAfterPermuting) {
  const Tensor x = sample({2, 3, 4, 5}, kFloat64, 13);  // N C H W
  const Tensor gamma = sample({3}, kFloat64, 14, 0.5, 1.5);
  const Tensor beta = sample({3}, kFloat64, 15);
  const Tensor a = batch_norm(x, gamma, beta, {}, {}, {.axis = 1});
  const Tensor b = batch_norm(x.permute({0, 2, 3, 1}), gamma, beta, {}, {}, {}).permute({0, 3, 1, 2});
  const auto va = values(a);
  const auto vb = values(b);
  for (size_t i = 0; i < va.size(); ++i) EXPECT_NEAR(va[i], vb[i], 1e-12);
}

TEST(BatchNormTest, UsesTheBiasedVarianceForNormalisingAndForTheRunningVariance) {
  // One feature, values 0 and 2: mean 1, biased variance 1 (the unbiased one would be 2).
  const Tensor x = Tensor::from({0.0, 2.0}, {2, 1}, kFloat64);
  Tensor rm = Tensor::zeros({1}, kFloat64);
  Tensor rv = Tensor::ones({1}, kFloat64);
  const Tensor y = batch_norm(x, {}, {}, rm, rv, {.momentum = 0.0, .epsilon = 1e-3});
  EXPECT_NEAR(y.at({0, 0}), -1.0 / std::sqrt(1.001), 1e-15);
  EXPECT_DOUBLE_EQ(rm.item(), 1.0);
  EXPECT_DOUBLE_EQ(rv.item(), 1.0);
}

TEST(BatchNormTest, BadArgumentsAreErrorsNamingShapes) {
  const Tensor x = Tensor::zeros({4, 3});
  EXPECT_ERROR_MENTIONS(batch_norm(x, Tensor::ones({2}), {}, {}, {}, {}),
                        "batch_norm: gamma has shape [2], expected [3] for input [4, 3]");
  EXPECT_ERROR_MENTIONS(batch_norm(x, {}, {}, {}, {}, {.training = false}), "evaluation mode needs running_mean");
  EXPECT_ERROR_MENTIONS(batch_norm(x, {}, {}, {}, {}, {.momentum = 1.5}), "momentum = 1.5");
  EXPECT_ERROR_MENTIONS(batch_norm(x, Tensor::ones({3}, kFloat64), {}, {}, {}, {}), "gamma is float64");
  EXPECT_ERROR_MENTIONS(batch_norm(x, {}, {}, {}, {}, {.axis = 2}), "axis 2 is out of range");
}

// ---- layer_norm -------------------------------------------------------------------------------------------

TEST(LayerNormTest, MatchesKerasValuesAndTorchGradients) {
  const auto fixture = load_fixture("norm.json");  // bound: the loop must not range over a temporary's member
  for (const auto& c : fixture["layer_norm"]) {
    const Shape shape = c["shape"].get<Shape>();
    const int64_t ch = shape.back();
    Tensor x = tensor_of(c["x"], shape).set_requires_grad();
    Tensor gamma = tensor_of(c["gamma"], {ch}).set_requires_grad();
    Tensor beta = tensor_of(c["beta"], {ch}).set_requires_grad();
    const Tensor y = layer_norm(x, gamma, beta, c["epsilon"]);
    expect_values(y, c["y"], 1e-12, "layer_norm y");
    sum(y * tensor_of(c["dy"], shape)).backward();
    expect_values(x.grad(), c["dx"], 1e-11, "layer_norm dx");
    expect_values(gamma.grad(), c["dgamma"], 1e-11, "layer_norm dgamma");
    expect_values(beta.grad(), c["dbeta"], 1e-11, "layer_norm dbeta");
  }
}

TEST(LayerNormGradTest, PassesGradcheckWithAndWithoutAffineParameters) {
  const Tensor x = sample({3, 2, 4}, kFloat64, 16, -2.0, 2.0);
  const Tensor gamma = sample({4}, kFloat64, 17, 0.5, 1.5);
  const Tensor beta = sample({4}, kFloat64, 18);
  const Tensor w = sample({3, 2, 4}, kFloat64, 19);
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2], 1e-3) * w; },
                   {x, gamma, beta});
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return sum(layer_norm(in[0], {}, {}, 1e-5) * w); }, {x});
  const Tensor v = sample({5}, kFloat64, 20);  // a single row of rank 1
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2]) * 1.0; },
                   {v, sample({5}, kFloat64, 21), sample({5}, kFloat64, 22)});
}

TEST(LayerNormTest, BadParameterShapeIsAnError) {
  EXPECT_ERROR_MENTIONS(layer_norm(Tensor::zeros({2, 3}), Tensor::ones({2}), {}),
                        "layer_norm: gamma has shape [2], expected [3]");
}

// ---- dropout ----------------------------------------------------------------------------------------------

TEST(DropoutTest, EvaluationAndRateZeroAreTheIdentity) {
  const Tensor x = sample({10, 10}, kFloat32, 23);
  EXPECT_EQ(dropout(x, 0.5, false).impl(), x.impl());
  EXPECT_EQ(dropout(x, 0.0, true).impl(), x.impl());
}

TEST(DropoutTest, KeepsAboutOneMinusRateAndScalesTheKeptValues) {
  const Tensor x = Tensor::ones({100, 100}, kFloat64);
  Generator gen(42);
  const auto y = values(dropout(x, 0.3, true, gen));
  int64_t kept = 0;
  for (double v : y) {
    EXPECT_TRUE(v == 0.0 || std::abs(v - 1.0 / 0.7) < 1e-15) << v;
    kept += v != 0.0;
  }
  // 10 000 Bernoulli(0.7) draws: the standard deviation of the count is about 46.
  EXPECT_NEAR(static_cast<double>(kept), 7000.0, 250.0);
}

TEST(DropoutTest, TheSameSeedGivesTheSameMask) {
  const Tensor x = sample({8, 8}, kFloat32, 24);
  Generator a(7);
  Generator b(7);
  EXPECT_EQ(values(dropout(x, 0.5, true, a)), values(dropout(x, 0.5, true, b)));
  EXPECT_EQ(values(dropout(x, 0.5, true, a)), values(dropout(x, 0.5, true, b)));  // the streams stay in step
  Generator c(8);
  Generator d(7);
  EXPECT_NE(values(dropout(x, 0.5, true, c)), values(dropout(x, 0.5, true, d)));
}

TEST(DropoutTest, GradientIsTheSameMaskAndPassesGradcheck) {
  Tensor x = sample({6, 5}, kFloat64, 25).set_requires_grad();
  Generator gen(3);
  const Tensor y = dropout(x, 0.4, true, gen);
  y.backward(Tensor::ones_like(y));
  const auto vx = values(x.detach());
  const auto vy = values(y);
  const auto g = values(x.grad());
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i] * vx[i], vy[i], 1e-15);
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        Generator fresh(3);  // the same mask on every evaluation
        return dropout(in[0], 0.4, true, fresh);
      },
      {x.detach()});
}

TEST(DropoutTest, RateOneDropsEverythingAndOutOfRangeRatesAreErrors) {
  const Tensor x = Tensor::ones({3, 3});
  for (double v : values(dropout(x, 1.0, true))) EXPECT_EQ(v, 0.0);
  EXPECT_ERROR_MENTIONS(dropout(x, 1.5, true), "dropout: rate = 1.5 is outside [0, 1]");
  EXPECT_ERROR_MENTIONS(dropout(x, -0.1, false), "dropout: rate = -0.1");
}

}  // namespace
}  // namespace descent
