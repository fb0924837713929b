// Dropout, Flatten, Reshape and the Activation layer as Keras defines them, and Module buffers (names, no
// gradient, outside the arena).
#include <gtest/gtest.h>

#include "descent/nn/layers.hpp"
#include "support/testing.hpp"

namespace descent::nn {
namespace {

using descent::testing::sample;
using descent::testing::values;

TEST(FlattenTest, KeepsTheBatchAxisAndJoinsTheRest) {
  Flatten flatten;
  EXPECT_EQ(flatten(Tensor::zeros({2, 3, 4, 5})).shape(), (Shape{2, 60}));
  EXPECT_EQ(flatten(Tensor::zeros({7})).shape(), (Shape{7, 1}));
  EXPECT_EQ(flatten.type_name(), "Flatten");
  const Tensor x = sample({2, 2, 3});
  EXPECT_EQ(values(flatten(x)), values(x));  // row-major order kept
}

TEST(ReshapeTest, ReshapesEachSampleAndInfersOneAxis) {
  Reshape r({3, -1});
  EXPECT_EQ(r(Tensor::zeros({4, 6, 2})).shape(), (Shape{4, 3, 4}));
  EXPECT_EQ(Reshape({2, 2})(Tensor::zeros({5, 4})).shape(), (Shape{5, 2, 2}));
  EXPECT_EQ(r.target_shape(), (Shape{3, -1}));
  EXPECT_EQ(r.type_name(), "Reshape");
}

TEST(ReshapeTest, IncompatibleSizesAreErrors) {
  EXPECT_ERROR_MENTIONS(Reshape({5})(Tensor::zeros({2, 6})), "Reshape: input [2, 6] has 6 values per sample");
  EXPECT_ERROR_MENTIONS(Reshape({4, -1})(Tensor::zeros({2, 6})), "cannot be reshaped to [batch] + [4, -1]");
  EXPECT_ERROR_MENTIONS(Reshape({-1, -1}), "more than one -1");
  EXPECT_ERROR_MENTIONS(Reshape({0, 2}), "positive sizes");
}

TEST(ReshapeTest, GradientFlowsThrough) {
  Tensor x = sample({2, 6}).set_requires_grad();
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return Reshape({3, 2})(in[0]); }, {x});
}

TEST(ActivationLayerTest, AppliesTheNamedActivation) {
  ActivationLayer layer("relu");
  const Tensor x = sample({3, 4});
  EXPECT_EQ(values(layer(x)), values(relu(x)));
  EXPECT_EQ(layer.type_name(), "Activation");
  EXPECT_EQ(layer.activation_name(), "relu");
  EXPECT_EQ(values(ActivationLayer("softmax")(x)), values(softmax(x, -1)));
  EXPECT_ERROR_MENTIONS(ActivationLayer("swishy"), "unknown activation 'swishy'");
}

TEST(DropoutLayerTest, DropsInTrainingAndIsTheIdentityInEvaluation) {
  Dropout layer(0.5, 123);
  const Tensor x = Tensor::ones({20, 20});
  const auto y = values(layer(x));
  int zeros = 0;
  for (double v : y) {
    EXPECT_TRUE(v == 0.0 || v == 2.0);
    zeros += v == 0.0;
  }
  EXPECT_GT(zeros, 100);
  EXPECT_LT(zeros, 300);
  layer.eval();
  EXPECT_EQ(values(layer(x)), values(x));
  EXPECT_EQ(layer.rate(), 0.5);
  EXPECT_EQ(layer.seed(), std::optional<uint64_t>(123));
  EXPECT_EQ(layer.type_name(), "Dropout");
}

TEST(DropoutLayerTest, TheSameSeedGivesTheSameMasksCallAfterCall) {
  Dropout a(0.3, 9);
  Dropout b(0.3, 9);
  const Tensor x = sample({8, 8});
  for (int step = 0; step < 3; ++step) EXPECT_EQ(values(a(x)), values(b(x)));
  EXPECT_ERROR_MENTIONS(Dropout(1.2), "Dropout: rate = 1.2 is outside [0, 1]");
}

// A module with its own buffer and a child with another, written the PyTorch way.
class WithStats : public Module {
 public:
  WithStats() {
    scale = register_parameter("scale", {2}, kFloat64);
    count = register_buffer("count", Tensor::zeros({1}, kFloat64));
  }
  Tensor scale;
  Tensor count;
};

class Parent : public Module {
 public:
  Parent() {
    steps = register_buffer("steps", Tensor::zeros({}, kFloat64));
    child = register_module("child", std::make_shared<WithStats>());
  }
  Tensor steps;
  std::shared_ptr<WithStats> child;
};

TEST(ModuleBufferTest, NamedBuffersAreDottedLikeParameters) {
  Parent p;
  std::vector<std::string> names;
  for (const auto& [name, _] : p.named_buffers()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"steps", "child.count"}));
  std::vector<std::string> params;
  for (const auto& [name, _] : p.named_parameters()) params.push_back(name);
  EXPECT_EQ(params, (std::vector<std::string>{"child.scale"}));  // buffers are not parameters
  EXPECT_EQ(p.num_parameters(), 2);
  EXPECT_EQ(p.arena().entries().size(), 1u);  // nor in the arena
}

TEST(ModuleBufferTest, TheReturnedHandleIsTheStoredBuffer) {
  Parent p;
  p.child->count.fill_(3.0);
  EXPECT_EQ(p.named_buffers()[1].second.item(), 3.0);
  EXPECT_FALSE(p.named_buffers()[1].second.requires_grad());
}

TEST(ModuleBufferTest, BuffersAreCutFromTheGraph) {
  Tensor x = sample({3}).set_requires_grad();
  Module m;
  const Tensor b = m.register_buffer("b", x * 2.0);
  EXPECT_FALSE(b.requires_grad());
  EXPECT_EQ(b.grad_fn(), nullptr);
}

TEST(ModuleBufferTest, BadNamesAreErrors) {
  Module m;
  m.register_buffer("a", Tensor::zeros({1}));
  EXPECT_ERROR_MENTIONS(m.register_buffer("a", Tensor::zeros({1})), "buffer 'a' is registered twice");
  EXPECT_ERROR_MENTIONS(m.register_buffer("x.y", Tensor::zeros({1})), "must be non-empty and contain no '.'");
  EXPECT_ERROR_MENTIONS(m.register_buffer("z", Tensor()), "buffer 'z' is an undefined tensor");
  WithStats w;
  EXPECT_ERROR_MENTIONS(w.register_buffer("scale", Tensor::zeros({1})), "has the name of a parameter");
}

}  // namespace
}  // namespace descent::nn
