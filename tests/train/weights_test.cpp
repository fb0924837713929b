// save_weights / load_weights: parameters and buffers by dotted name, round trips, and refusals that leave the
// model untouched.
#include "descent/train/weights.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "support/temp_dir.hpp"
#include "support/testing.hpp"

namespace descent {
namespace {

namespace fs = std::filesystem;
using train::load_weights;
using train::save_weights;

// Two Dense layers and a buffer of the root: the names "0.kernel", "0.bias", "1.kernel", "1.bias", "count".
class Net : public nn::Module {
 public:
  explicit Net(int64_t in = 4, nn::DenseOptions second = {}, DType dtype = kFloat32) {
    first = register_module("0",
                            std::make_shared<nn::Dense>(3, nn::DenseOptions{.activation = "relu", .dtype = dtype}, in));
    second.dtype = dtype;
    register_module("1", std::make_shared<nn::Dense>(2, second, 3));
    count = register_buffer("count", Tensor::zeros({2}, dtype));
  }
  std::string type_name() const override { return "Net"; }
  std::shared_ptr<nn::Dense> first;
  Tensor count;
};

std::vector<std::vector<double>> all_values(const nn::Module& m) {
  std::vector<std::vector<double>> out;
  for (const auto& [name, t] : train::named_state(m)) out.push_back(t.to_vector());
  return out;
}

using WeightsTest = testing::TempDirTest;

TEST_F(WeightsTest, RoundTripRestoresParametersAndBuffersExactly) {
  Net saved;
  saved.count.fill_(7.0);
  save_weights(saved, path("w.safetensors"));

  Net restored;                                         // different random initial values
  const Tensor kernel_handle = restored.first->kernel;  // what an optimizer built before the load holds
  ASSERT_NE(all_values(restored), all_values(saved));
  load_weights(restored, path("w.safetensors"));
  EXPECT_EQ(all_values(restored), all_values(saved));
  EXPECT_EQ(restored.count.to_vector(), (std::vector<double>{7, 7}));
  // Values are copied into the existing tensors, so handles taken before the load see them.
  EXPECT_EQ(kernel_handle.to_vector(), saved.first->kernel.to_vector());
}

TEST_F(WeightsTest, FileHoldsDottedNamesAsTheReferencePackageReadsThem) {
  Net net;
  save_weights(net, path("w.safetensors"), {{"architecture", "net"}});
  io::Metadata metadata;
  std::vector<std::string> names;
  for (const auto& [name, t] : io::load_safetensors(path("w.safetensors"), &metadata)) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.kernel", "0.bias", "1.kernel", "1.bias", "count"}));
  EXPECT_EQ(metadata.at("architecture"), "net");
}

TEST_F(WeightsTest, RefusesAMissingTensorAndLoadsNothing) {
  save_weights(Net(4, {.use_bias = false}), path("w.safetensors"));
  Net net;
  const auto before = all_values(net);
  EXPECT_ERROR_MENTIONS(load_weights(net, path("w.safetensors")), "missing '1.bias' (float32 [2])");
  EXPECT_EQ(all_values(net), before);
}

TEST_F(WeightsTest, RefusesAnUnexpectedTensorAndLoadsNothing) {
  save_weights(Net(), path("w.safetensors"));
  Net net(4, {.use_bias = false});
  const auto before = all_values(net);
  EXPECT_ERROR_MENTIONS(load_weights(net, path("w.safetensors")), "unexpected '1.bias' (float32 [2])");
  EXPECT_EQ(all_values(net), before);
}

TEST_F(WeightsTest, RefusesAShapeMismatchNamingTheTensorAndLoadsNothing) {
  save_weights(Net(5), path("w.safetensors"));
  Net net(4);
  const auto before = all_values(net);
  // "0.bias" matches and comes after the kernel: checking everything first keeps it untouched as well.
  EXPECT_ERROR_MENTIONS(load_weights(net, path("w.safetensors")), "'0.kernel' has shape [5, 3], the model's is [4, 3]");
  EXPECT_EQ(all_values(net), before);
}

TEST_F(WeightsTest, RefusesADtypeMismatchNamingTheTensor) {
  save_weights(Net(4, {}, kFloat64), path("w.safetensors"));
  Net net;
  const auto before = all_values(net);
  EXPECT_ERROR_MENTIONS(load_weights(net, path("w.safetensors")), "'0.kernel' is float64, the model's is float32");
  EXPECT_EQ(all_values(net), before);
}

TEST_F(WeightsTest, MessageCountsFaultsAndNamesTheFile) {
  save_weights(Net(5), path("w.safetensors"));
  Net net(4, {.use_bias = false});
  EXPECT_ERROR_MENTIONS(load_weights(net, path("w.safetensors")),
                        "load_weights '" + path("w.safetensors") + "': 2 tensors do not match the model");
}

TEST_F(WeightsTest, UnbuiltLayerGetsAHintAboutLazyBuilding) {
  auto built = std::make_shared<nn::Dense>(3, "linear", 4);
  save_weights(*built, path("w.safetensors"));
  nn::Dense lazy(3);
  EXPECT_ERROR_MENTIONS(load_weights(lazy, path("w.safetensors")), "before its first call or build()");
  lazy.build(4);
  load_weights(lazy, path("w.safetensors"));
  EXPECT_EQ(lazy.kernel.to_vector(), built->kernel.to_vector());
}

TEST_F(WeightsTest, LoadNamedStateRefusesDuplicatesFromMemory) {
  nn::Dense d(2, "linear", 2);
  const Tensor k = Tensor::ones({2, 2});
  EXPECT_ERROR_MENTIONS(train::load_named_state(d, {{"kernel", k}, {"kernel", k}, {"bias", Tensor::ones({2})}}, "mem"),
                        "'kernel' appears twice");
  train::load_named_state(d, {{"kernel", k}, {"bias", Tensor::ones({2})}}, "mem");
  EXPECT_EQ(d.kernel.to_vector(), std::vector<double>(4, 1.0));
}

TEST_F(WeightsTest, LoadsIntoParametersThatRequireGradWhileGradModeIsOn) {
  save_weights(Net(), path("w.safetensors"));
  Net net;
  ASSERT_TRUE(net.first->kernel.requires_grad());
  ASSERT_TRUE(is_grad_enabled());
  load_weights(net, path("w.safetensors"));
  EXPECT_TRUE(net.first->kernel.requires_grad());
  EXPECT_TRUE(net.first->kernel.is_leaf());
  EXPECT_TRUE(is_grad_enabled());
}

}  // namespace
}  // namespace descent
