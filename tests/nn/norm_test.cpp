// BatchNormalization and LayerNormalization layers: lazy build with Keras' names and initial values, running
// statistics as buffers updated in training and used in evaluation, agreement with the ops, and their place in a
// module tree.
#include <gtest/gtest.h>

#include "descent/nn/norm.hpp"
#include "descent/ops/norm.hpp"
#include "support/testing.hpp"

namespace descent::nn {
namespace {

using descent::testing::sample;
using descent::testing::values;

TEST(BatchNormalizationTest, BuildsOnFirstCallWithKerasNamesAndInitialValues) {
  BatchNormalization bn;
  EXPECT_FALSE(bn.built());
  bn(sample({4, 3}, kFloat32));
  ASSERT_TRUE(bn.built());
  std::vector<std::string> params;
  for (const auto& [name, _] : bn.named_parameters()) params.push_back(name);
  EXPECT_EQ(params, (std::vector<std::string>{"gamma", "beta"}));
  std::vector<std::string> buffers;
  for (const auto& [name, _] : bn.named_buffers()) buffers.push_back(name);
  EXPECT_EQ(buffers, (std::vector<std::string>{"moving_mean", "moving_variance"}));
  EXPECT_EQ(values(bn.gamma), std::vector<double>(3, 1.0));
  EXPECT_EQ(values(bn.beta), std::vector<double>(3, 0.0));
  EXPECT_EQ(bn.gamma.dtype(), kFloat32);
  EXPECT_EQ(bn.momentum(), 0.99);
  EXPECT_EQ(bn.epsilon(), 1e-3);
  EXPECT_EQ(bn.type_name(), "BatchNormalization");
}

TEST(BatchNormalizationTest, TrainingUpdatesTheMovingStatisticsAsTheOpDoes) {
  BatchNormalization bn;
  const Tensor x = sample({8, 2, 2, 3}, kFloat64, 4, -1.0, 3.0);
  const Tensor y = bn(x);
  Tensor rm = Tensor::zeros({3}, kFloat64);
  Tensor rv = Tensor::ones({3}, kFloat64);
  const Tensor want = batch_norm(x, {}, {}, rm, rv, {.momentum = 0.99, .epsilon = 1e-3});
  EXPECT_EQ(values(y), values(want));
  EXPECT_EQ(values(bn.moving_mean), values(rm));
  EXPECT_EQ(values(bn.moving_variance), values(rv));
  EXPECT_NE(values(bn.moving_mean), std::vector<double>(3, 0.0));
}

TEST(BatchNormalizationTest, EvaluationUsesAndKeepsTheMovingStatistics) {
  BatchNormalization bn({.momentum = 0.5});
  const Tensor x = sample({16, 2}, kFloat64, 5, 0.0, 4.0);
  bn(x);
  bn.eval();
  const auto mean_before = values(bn.moving_mean);
  const auto y = values(bn(x));
  EXPECT_EQ(values(bn.moving_mean), mean_before);
  const auto xs = values(x);
  const auto rv = values(bn.moving_variance);
  for (size_t i = 0; i < xs.size(); ++i)
    EXPECT_NEAR(y[i], (xs[i] - mean_before[i % 2]) / std::sqrt(rv[i % 2] + 1e-3), 1e-12);
}

TEST(BatchNormalizationTest, GradientsReachGammaAndBetaInTheArena) {
  BatchNormalization bn;
  Tensor x = sample({6, 3}, kFloat64, 6).set_requires_grad();
  sum(bn(x) * sample({6, 3}, kFloat64, 7)).backward();
  EXPECT_TRUE(bn.gamma.grad().defined());
  EXPECT_TRUE(bn.beta.grad().defined());
  EXPECT_TRUE(x.grad().defined());
  EXPECT_EQ(bn.beta.grad().storage(), bn.gamma.grad().storage());  // both views of the one GradArena
}

TEST(BatchNormalizationTest, WithoutCenterAndScaleHasNoParameters) {
  BatchNormalization bn({.center = false, .scale = false});
  const Tensor x = sample({5, 4}, kFloat64, 8);
  const Tensor y = bn(x);
  EXPECT_EQ(bn.num_parameters(), 0);
  EXPECT_EQ(bn.named_buffers().size(), 2u);
  for (double v : values(mean(y, {0}))) EXPECT_NEAR(v, 0.0, 1e-12);
}

class Block : public Module {
 public:
  Block() { bn = register_module("bn", std::make_shared<BatchNormalization>()); }
  Tensor forward(const Tensor& x) override { return (*bn)(x); }
  std::shared_ptr<BatchNormalization> bn;
};

TEST(BatchNormalizationTest, BuildsInsideAModelAndFollowsItsMode) {
  Block block;
  block(sample({4, 2}, kFloat64, 9));  // built after adoption: names carry the child's prefix
  std::vector<std::string> names;
  for (const auto& [name, _] : block.named_buffers()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"bn.moving_mean", "bn.moving_variance"}));
  EXPECT_EQ(block.arena().entries().size(), 2u);
  block.eval();
  const auto before = values(block.bn->moving_mean);
  block(sample({4, 2}, kFloat64, 10));
  EXPECT_EQ(values(block.bn->moving_mean), before);
}

TEST(BatchNormalizationTest, BadInputsAreErrors) {
  BatchNormalization bn;
  EXPECT_ERROR_MENTIONS(bn(Tensor::zeros({3})), "BatchNormalization: input [3] needs a batch and a feature axis");
  bn(Tensor::zeros({2, 3}));
  EXPECT_ERROR_MENTIONS(bn(Tensor::zeros({2, 4})), "has 4 features, the layer was built for 3");
  EXPECT_ERROR_MENTIONS(BatchNormalization({.momentum = 2.0}), "momentum = 2");
}

TEST(LayerNormalizationTest, MatchesTheOpAndBuildsLazily) {
  LayerNormalization ln;
  const Tensor x = sample({3, 5}, kFloat64, 11, -2.0, 2.0);
  const Tensor y = ln(x);
  EXPECT_TRUE(ln.built());
  EXPECT_EQ(values(y), values(layer_norm(x, {}, {}, 1e-3)));
  EXPECT_EQ(ln.num_parameters(), 10);
  EXPECT_EQ(ln.type_name(), "LayerNormalization");
  EXPECT_ERROR_MENTIONS(ln(Tensor::zeros({2, 4}, kFloat64)), "has 4 features, the layer was built for 5");
  LayerNormalization bare({.center = false, .scale = false});
  bare(x);
  EXPECT_ERROR_MENTIONS(bare(Tensor::zeros({2, 4}, kFloat64)), "built for 5");
}

TEST(LayerNormalizationTest, GradientsPassGradcheck) {
  const Tensor x = sample({4, 3}, kFloat64, 12);
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        LayerNormalization ln;
        return ln(in[0]) * Tensor::from({1.0, -2.0, 0.5}, {3}, kFloat64);
      },
      {x});
}

}  // namespace
}  // namespace descent::nn
