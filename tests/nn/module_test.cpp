#include <gtest/gtest.h>

#include <cmath>

#include "support/testing.hpp"

namespace descent::nn {
namespace {

using descent::testing::sample;
using descent::testing::values;

// A two-layer perceptron written the PyTorch way.
class TwoLayer : public Module {
 public:
  TwoLayer() {
    fc1 = register_module("fc1", std::make_shared<Linear>(4, 8, true, kFloat64));
    fc2 = register_module("fc2", std::make_shared<Linear>(8, 3, true, kFloat64));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)(relu((*fc1)(x))); }
  std::shared_ptr<Linear> fc1, fc2;
};

TEST(ModuleTest, NamedParametersFollowRegistrationOrder) {
  TwoLayer net;
  std::vector<std::string> names;
  for (const auto& [name, _] : net.named_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
  EXPECT_EQ(net.num_parameters(), 4 * 8 + 8 + 8 * 3 + 3);
}

TEST(ModuleTest, ChildParametersMoveIntoTheRootArena) {
  TwoLayer net;
  const auto& entries = net.arena().entries();
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[2].name, "fc2.weight");
  for (const Tensor& p : net.parameters()) EXPECT_EQ(p.storage(), net.fc1->weight.storage());
  EXPECT_EQ(&net.fc1->arena(), &net.arena());
}

TEST(ModuleTest, BackwardFillsTheGradientArena) {
  TwoLayer net;
  const Tensor x = sample({5, 4});
  sum(net(x)).backward();
  double norm = 0;
  for (double g : net.arena().grads<double>()) norm += g * g;
  EXPECT_GT(norm, 0.0);
  EXPECT_EQ(net.fc2->bias.grad().to_vector(), std::vector<double>(3, 5.0));  // d sum / d bias = batch size
  net.zero_grad();
  for (double g : net.arena().grads<double>()) ASSERT_EQ(g, 0.0);
}

TEST(ModuleTest, TrainAndEvalReachChildren) {
  TwoLayer net;
  net.eval();
  EXPECT_FALSE(net.fc1->is_training());
  net.train();
  EXPECT_TRUE(net.fc2->is_training());
}

TEST(ModuleTest, RegisteringAChildTwiceIsRefused) {
  class Holder : public Module {
   public:
    void add(const std::string& name, std::shared_ptr<Module> m) { register_module(name, std::move(m)); }
  };
  Holder a;
  Holder b;
  auto layer = std::make_shared<Linear>(2, 2);
  a.add("x", layer);
  EXPECT_ERROR_MENTIONS(b.add("x", layer), "already a submodule");
  EXPECT_ERROR_MENTIONS(a.add("x", std::make_shared<Linear>(2, 2)), "registered twice");
  EXPECT_ERROR_MENTIONS(a.add("a.b", std::make_shared<Linear>(2, 2)), "contain no '.'");
}

TEST(ModuleTest, BaseForwardNamesTheModule) {
  Module m;
  EXPECT_ERROR_MENTIONS(m(Tensor::zeros({1})), "Module: forward(Tensor) is not defined");
}

TEST(LinearTest, ComputesXWtPlusB) {
  Linear layer(3, 2, true, kFloat64);
  {
    NoGradGuard no_grad;
    layer.weight.copy_(Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3}, kFloat64));
    layer.bias.copy_(Tensor::from({10, 20}, {2}, kFloat64));
  }
  const Tensor y = layer(Tensor::from({1, 1, 1, 0, 1, 0}, {2, 3}, kFloat64));
  EXPECT_EQ(values(y), (std::vector<double>{16, 35, 12, 25}));
  EXPECT_ERROR_MENTIONS(layer(Tensor::zeros({2, 4}, kFloat64)), "does not end in in_features = 3");
}

TEST(LinearTest, GradientsPassGradcheck) {
  Linear layer(3, 2, true, kFloat64);
  const Tensor w = layer.weight.detach().clone();
  const Tensor b = layer.bias.detach().clone();
  descent::testing::expect_gradcheck([](const std::vector<Tensor>& in) { return matmul(in[0], in[1].t()) + in[2]; },
                   (std::vector<Tensor>{sample({4, 3}), w, b}));
}

TEST(DenseTest, BuildsLazilyFromFirstInput) {
  Dense layer(5, "relu");
  EXPECT_FALSE(layer.built());
  const Tensor y = layer(Tensor::ones({2, 7}));
  EXPECT_TRUE(layer.built());
  EXPECT_EQ(layer.kernel.shape(), (Shape{7, 5}));
  EXPECT_EQ(y.shape(), (Shape{2, 5}));
  for (double v : values(y)) EXPECT_GE(v, 0.0);
  EXPECT_EQ(values(layer.bias), std::vector<double>(5, 0.0));  // Keras: zero bias
  EXPECT_ERROR_MENTIONS(layer(Tensor::ones({2, 6})), "built for 7");
}

TEST(DenseTest, KernelIsGlorotUniformOverInAndOut) {
  Dense layer(300, "linear", 500);
  const double bound = std::sqrt(6.0 / 800.0);
  for (double v : values(layer.kernel)) ASSERT_LE(std::abs(v), bound);
}

TEST(DenseTest, UnknownActivationListsTheKnownOnes) {
  EXPECT_ERROR_MENTIONS(Dense(3, "swish"), "unknown activation 'swish' (linear, relu");
}

TEST(DenseTest, ArticlesModelHas7960Parameters) {
  // Dense(10, relu, input 784) + Dense(10, softmax): 784·10 + 10 + 10·10 + 10.
  class Articles : public Module {
   public:
    Articles() {
      register_module("0", std::make_shared<Dense>(10, "relu", 784));
      register_module("1", std::make_shared<Dense>(10, "softmax", 10));
    }
  } model;
  EXPECT_EQ(model.num_parameters(), 7960);
  EXPECT_EQ(model.arena().buffer_size(kFloat32), 7840 + 16 + 100 + 12 + 10);
}

}  // namespace
}  // namespace descent::nn
