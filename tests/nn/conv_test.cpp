// Tests of the Keras layers Conv2D, MaxPooling2D and AveragePooling2D: lazy build and parameter shapes, Keras'
// defaults, output shapes for "valid"/"same" and strides, agreement with the ops they wrap, Keras' glorot_uniform
// bound, gradients through the layer, and errors for bad configurations and inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "descent/nn/conv.hpp"
#include "support/testing.hpp"

namespace descent::nn {
namespace {

TEST(Conv2DTest, BuildsKerasKernelLayoutFromTheFirstInput) {
  Conv2D conv(8, 3);
  EXPECT_FALSE(conv.built());
  EXPECT_EQ(conv.num_parameters(), 0);
  const Tensor y = conv(testing::sample({2, 10, 9, 3}, kFloat32, 1));
  ASSERT_TRUE(conv.built());
  EXPECT_EQ(conv.kernel.shape(), (Shape{3, 3, 3, 8}));
  EXPECT_EQ(conv.bias.shape(), (Shape{8}));
  EXPECT_EQ(conv.bias.to_vector(), std::vector<double>(8, 0.0));
  EXPECT_EQ(conv.num_parameters(), 3 * 3 * 3 * 8 + 8);
  const auto named = conv.named_parameters();
  ASSERT_EQ(named.size(), 2u);
  EXPECT_EQ(named[0].first, "kernel");
  EXPECT_EQ(named[1].first, "bias");
  EXPECT_EQ(y.shape(), (Shape{2, 8, 7, 8}));
}

TEST(Conv2DTest, DefaultsAreKeras) {
  const Conv2D conv(16, {3, 5});
  EXPECT_EQ(conv.type_name(), "Conv2D");
  EXPECT_EQ(conv.filters(), 16);
  EXPECT_EQ(conv.kernel_size(), (Size2d{3, 5}));
  EXPECT_EQ(conv.strides(), (Size2d{1, 1}));
  EXPECT_EQ(conv.padding(), "valid");
  EXPECT_EQ(conv.activation_name(), "linear");
  EXPECT_TRUE(conv.use_bias());
  EXPECT_EQ(conv.kernel_initializer(), "glorot_uniform");
  EXPECT_EQ(conv.bias_initializer(), "zeros");
}

TEST(Conv2DTest, OutputShapesFollowPaddingAndStrides) {
  const Shape input{4, 28, 27, 1};
  for (const auto& [padding, stride, expected] :
       std::vector<std::tuple<std::string, int64_t, Shape>>{{"valid", 1, {4, 26, 25, 6}},
                                                            {"same", 1, {4, 28, 27, 6}},
                                                            {"valid", 2, {4, 13, 13, 6}},
                                                            {"same", 2, {4, 14, 14, 6}}}) {
    Conv2D conv(6, 3, Conv2DOptions{.strides = stride, .padding = padding});
    EXPECT_EQ(conv.compute_output_shape(input), expected) << padding << " " << stride;
    EXPECT_EQ(conv(Tensor::zeros(input)).shape(), expected) << padding << " " << stride;
  }
}

TEST(Conv2DTest, ForwardIsActivationOfConvolutionWithItsOwnKernel) {
  Conv2D conv(5, 3, Conv2DOptions{.strides = 2, .padding = "same", .activation = "relu", .bias_initializer = "ones"});
  const Tensor x = testing::sample({2, 7, 6, 4}, kFloat32, 2);
  const Tensor y = conv(x);
  EXPECT_EQ(conv.bias.to_vector(), std::vector<double>(5, 1.0));
  NoGradGuard no_grad;
  const Tensor expected = relu(conv2d(x, conv.kernel, conv.bias, 2, "same", ImageLayout::NHWC));
  EXPECT_EQ(y.to_vector(), expected.to_vector());
  bool some_clipped = false;
  for (double v : y.to_vector()) some_clipped |= v == 0.0;
  EXPECT_TRUE(some_clipped);
}

TEST(Conv2DTest, GlorotUniformUsesKerasConvolutionFans) {
  // fan_in = 3·3·16, fan_out = 3·3·32: limit √(6 / (144 + 288)); a uniform's variance is limit² / 3.
  Conv2D conv(32, 3);
  Generator gen(7);
  conv.build(16, gen);
  const double limit = std::sqrt(6.0 / (144.0 + 288.0));
  double sum_sq = 0.0;
  const std::vector<double> k = conv.kernel.to_vector();
  for (double v : k) {
    ASSERT_LE(std::abs(v), limit);
    sum_sq += v * v;
  }
  EXPECT_NEAR(sum_sq / static_cast<double>(k.size()), limit * limit / 3.0, 0.05 * limit * limit / 3.0);
}

TEST(Conv2DTest, WithoutBiasHasOnlyAKernel) {
  Conv2D conv(4, 2, Conv2DOptions{.use_bias = false});
  conv(Tensor::zeros({1, 4, 4, 2}));
  EXPECT_FALSE(conv.bias.defined());
  EXPECT_EQ(conv.named_parameters().size(), 1u);
}

TEST(Conv2DTest, GradientsReachTheArenaAndMatchFiniteDifferences) {
  Conv2D conv(3, 3, Conv2DOptions{.padding = "same", .activation = "tanh", .dtype = kFloat64});
  const Tensor x = testing::sample({2, 5, 4, 2}, kFloat64, 3);
  sum(conv(x)).backward();
  ASSERT_TRUE(conv.kernel.grad().defined());
  ASSERT_TRUE(conv.bias.grad().defined());
  EXPECT_GRADCHECK([&conv](const std::vector<Tensor>& in) { return conv(in[0]); }, {x});
}

TEST(Conv2DTest, BadConfigurationsAndInputsAreNamed) {
  EXPECT_ERROR_MENTIONS(Conv2D(0, 3), "Conv2D: filters = 0 must be positive");
  EXPECT_ERROR_MENTIONS(Conv2D(4, {3, 0}), "Conv2D: kernel_size [3, 0] must be positive");
  EXPECT_ERROR_MENTIONS(Conv2D(4, 3, Conv2DOptions{.strides = {1, -1}}), "Conv2D: strides [1, -1] must be positive");
  EXPECT_ERROR_MENTIONS(Conv2D(4, 3, Conv2DOptions{.padding = "causal"}),
                        "Conv2D: padding 'causal' is not one of 'valid', 'same'");
  EXPECT_ERROR_MENTIONS(Conv2D(4, 3, Conv2DOptions{.kernel_initializer = "orthogonal"}),
                        "Conv2D: kernel_initializer 'orthogonal' is not one of");
  EXPECT_ERROR_MENTIONS(Conv2D(4, 3, "swish2"), "swish2");
  Conv2D conv(4, 3);
  EXPECT_ERROR_MENTIONS(conv(Tensor::zeros({8, 8, 1})), "Conv2D: input [8, 8, 1] must be 4-D [N, H, W, C]");
  conv(Tensor::zeros({1, 8, 8, 1}));
  EXPECT_ERROR_MENTIONS(conv(Tensor::zeros({1, 8, 8, 3})),
                        "Conv2D: input Tensor(float32, [1, 8, 8, 3]) has 3 "
                        "channels, the layer was built for 1");
  EXPECT_ERROR_MENTIONS(conv(Tensor::zeros({1, 2, 8, 1})), "conv2d: kernel 3x3 is larger than the padded input 2x8");
}

TEST(PoolingLayersTest, DefaultsAreKeras) {
  const MaxPooling2D max_pool;
  EXPECT_EQ(max_pool.type_name(), "MaxPooling2D");
  EXPECT_EQ(max_pool.pool_size(), (Size2d{2, 2}));
  EXPECT_EQ(max_pool.strides(), (Size2d{2, 2}));
  EXPECT_EQ(max_pool.padding(), "valid");
  const AvgPool2D avg_pool(3);
  EXPECT_EQ(avg_pool.type_name(), "AveragePooling2D");
  EXPECT_EQ(avg_pool.strides(), (Size2d{3, 3}));  // strides default to pool_size
  EXPECT_EQ(MaxPool2D({2, 3}, Size2d{1, 2}, "same").strides(), (Size2d{1, 2}));
  EXPECT_EQ(max_pool.num_parameters(), 0);
}

TEST(PoolingLayersTest, ForwardMatchesTheOpsAndOutputShapes) {
  const Tensor x = testing::sample({2, 7, 9, 3}, kFloat32, 4);
  MaxPooling2D max_pool;
  const Tensor y = max_pool(x);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 4, 3}));
  EXPECT_EQ(max_pool.compute_output_shape(x.shape()), y.shape());
  EXPECT_EQ(y.to_vector(), max_pool2d(x, 2, 2, Padding2d{}, ImageLayout::NHWC).to_vector());
  AveragePooling2D avg_pool(2, std::nullopt, "same");
  const Tensor z = avg_pool(x);
  EXPECT_EQ(z.shape(), (Shape{2, 4, 5, 3}));
  EXPECT_EQ(avg_pool.compute_output_shape(x.shape()), z.shape());
}

TEST(PoolingLayersTest, SameAverageLeavesPaddingOutAsKeras) {
  // ones [1, 3, 3, 1], pool 2, "same": pads one row and column after; Keras averages real pixels only, so all ones.
  AveragePooling2D avg_pool(2, std::nullopt, "same");
  const Tensor y = avg_pool(Tensor::ones({1, 3, 3, 1}));
  EXPECT_EQ(y.shape(), (Shape{1, 2, 2, 1}));
  EXPECT_EQ(y.to_vector(), std::vector<double>(4, 1.0));
}

TEST(PoolingLayersTest, GradcheckThroughTheLayers) {
  MaxPooling2D max_pool(2, 1, "same");
  AveragePooling2D avg_pool({2, 3}, Size2d{2, 1}, "same");
  const Tensor x = testing::sample({1, 5, 4, 2}, kFloat64, 5);
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return max_pool(in[0]); }, {x});
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return avg_pool(in[0]); }, {x});
}

TEST(PoolingLayersTest, BadConfigurationsAndInputsAreNamed) {
  EXPECT_ERROR_MENTIONS(MaxPooling2D(0), "MaxPooling2D: pool_size [0, 0] must be positive");
  EXPECT_ERROR_MENTIONS(AveragePooling2D(2, Size2d{0, 1}), "AveragePooling2D: strides [0, 1] must be positive");
  EXPECT_ERROR_MENTIONS(MaxPooling2D(2, std::nullopt, "full"),
                        "MaxPooling2D: padding 'full' is not one of 'valid', 'same'");
  MaxPooling2D max_pool;
  EXPECT_ERROR_MENTIONS(max_pool(Tensor::zeros({4, 4})), "MaxPooling2D: input [4, 4] must be 4-D [N, H, W, C]");
}

}  // namespace
}  // namespace descent::nn
