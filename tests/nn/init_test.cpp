#include <gtest/gtest.h>

#include <cmath>

#include "support/testing.hpp"

namespace descent::nn {
namespace {

struct Moments {
  double mean = 0, stddev = 0, min = 1e300, max = -1e300;
};

Moments moments_of(const Tensor& t) {
  const std::vector<double> v = t.to_vector();
  Moments m;
  for (double x : v) {
    m.mean += x;
    m.min = std::min(m.min, x);
    m.max = std::max(m.max, x);
  }
  m.mean /= v.size();
  for (double x : v) m.stddev += (x - m.mean) * (x - m.mean);
  m.stddev = std::sqrt(m.stddev / v.size());
  return m;
}

TEST(InitTest, FansFollowPyTorchLayout) {
  EXPECT_EQ(init::fans_of({10, 20}).in, 20);
  EXPECT_EQ(init::fans_of({10, 20}).out, 10);
  EXPECT_EQ(init::fans_of({8, 4, 3, 3}).in, 36);
  EXPECT_ERROR_MENTIONS(init::fans_of({5}), "at least 2 dimensions");
}

TEST(InitTest, XavierUniformHasGlorotBound) {
  Tensor w = Tensor::empty({400, 600});
  Generator gen(1);
  init::xavier_uniform_(w, 1.0, {}, gen);
  const double bound = std::sqrt(6.0 / 1000.0);
  const Moments m = moments_of(w);
  EXPECT_GE(m.min, -bound);
  EXPECT_LE(m.max, bound);
  EXPECT_NEAR(m.stddev, bound / std::sqrt(3.0), 0.002);
}

TEST(InitTest, KaimingNormalHasHeStd) {
  Tensor w = Tensor::empty({300, 500}, kFloat64);
  Generator gen(2);
  init::kaiming_normal_(w, 0.0, init::FanMode::FanIn, "relu", {}, gen);
  EXPECT_NEAR(moments_of(w).stddev, std::sqrt(2.0 / 500.0), 0.001);
}

TEST(InitTest, KaimingUniformWithSqrt5IsTorchLinearDefault) {
  // torch.nn.Linear: kaiming_uniform_(a=√5) gives bound 1/√fan_in.
  Tensor w = Tensor::empty({200, 100});
  Generator gen(3);
  init::kaiming_uniform_(w, std::sqrt(5.0), init::FanMode::FanIn, "leaky_relu", {}, gen);
  const Moments m = moments_of(w);
  EXPECT_GE(m.min, -0.1);
  EXPECT_LE(m.max, 0.1);
  EXPECT_GT(m.max, 0.099);
}

TEST(InitTest, TruncatedNormalStaysWithinTwoStd) {
  Tensor w = Tensor::empty({100000}, kFloat64);
  Generator gen(4);
  init::truncated_normal_(w, 1.0, 0.5, gen);
  const Moments m = moments_of(w);
  EXPECT_GE(m.min, 0.0);
  EXPECT_LE(m.max, 2.0);
  EXPECT_NEAR(m.stddev, 0.5 * 0.87962566103423978, 0.005);
}

TEST(InitTest, HeNormalHasIntendedVarianceAfterTruncation) {
  Tensor w = Tensor::empty({400, 300}, kFloat64);
  Generator gen(5);
  init::he_normal_(w, init::Fans{400, 300}, gen);
  EXPECT_NEAR(moments_of(w).stddev, std::sqrt(2.0 / 400.0), 0.001);
}

TEST(InitTest, SameGeneratorStateSameWeights) {
  Tensor a = Tensor::empty({5, 5});
  Tensor b = Tensor::empty({5, 5});
  Generator g1(9);
  Generator g2(9);
  init::glorot_uniform_(a, {}, g1);
  init::glorot_uniform_(b, {}, g2);
  EXPECT_EQ(a.to_vector(), b.to_vector());
}

TEST(InitTest, GainTableMatchesPyTorch) {
  EXPECT_DOUBLE_EQ(init::calculate_gain("relu"), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain("tanh"), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain("leaky_relu", 0.2), std::sqrt(2.0 / 1.04));
  EXPECT_ERROR_MENTIONS(init::calculate_gain("swish"), "unknown nonlinearity 'swish'");
}

TEST(InitTest, InitialisesArenaParameterInPlace) {
  ParamArena arena;
  Tensor w = arena.add("w", {4, 4});
  init::ones_(w);
  EXPECT_EQ(arena.params<float>()[15], 1.0f);
}

}  // namespace
}  // namespace descent::nn
