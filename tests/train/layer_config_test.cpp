// Layer configs as Keras-like JSON: round trips that rebuild the same parameter shapes, Keras' spellings, and
// refusals that name the layer and the field.
#include "descent/train/layer_config.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "descent/nn/conv.hpp"
#include "descent/nn/layers.hpp"
#include "descent/nn/norm.hpp"
#include "descent/train/weights.hpp"
#include "support/testing.hpp"

namespace descent {
namespace {

using nn::Dense;
using train::architecture_from_json;
using train::layers_from_json;
using train::layers_to_json;
using Layers = std::vector<std::shared_ptr<nn::Module>>;

const Dense& as_dense(const std::shared_ptr<nn::Module>& m) {
  const auto* d = dynamic_cast<const Dense*>(m.get());
  if (!d) throw std::runtime_error("not a Dense: " + m->type_name());
  return *d;
}

// A Sequential document holding the one layer entry given.
std::string one_layer(const std::string& entry) {
  return R"({"class_name": "Sequential", "config": {"layers": [)" + entry + "]}}";
}

TEST(LayerConfigTest, DenseRoundTripsItsConfigAndBuiltShape) {
  const Layers layers = {
      std::make_shared<Dense>(10, "relu", 784),
      std::make_shared<Dense>(3, nn::DenseOptions{.activation = "softmax", .use_bias = false, .dtype = kFloat64})};
  const std::string json = layers_to_json(layers);
  const Layers back = layers_from_json(json);
  ASSERT_EQ(back.size(), 2u);
  const Dense& a = as_dense(back[0]);
  EXPECT_EQ(a.units(), 10);
  EXPECT_EQ(a.activation_name(), "relu");
  ASSERT_TRUE(a.built());
  EXPECT_EQ(a.kernel.shape(), (Shape{784, 10}));
  EXPECT_EQ(a.bias.shape(), (Shape{10}));
  const Dense& b = as_dense(back[1]);
  EXPECT_EQ(b.units(), 3);
  EXPECT_EQ(b.activation_name(), "softmax");
  EXPECT_FALSE(b.options().use_bias);
  EXPECT_EQ(b.options().dtype, kFloat64);
  EXPECT_FALSE(b.built());  // never called, so its input size is unknown, as in the original
  EXPECT_EQ(layers_to_json(back), json);
}

TEST(LayerConfigTest, WritesKerasClassNamesFieldsAndBuildConfig) {
  const auto doc = nlohmann::json::parse(layers_to_json({std::make_shared<Dense>(10, "relu", 784)}));
  EXPECT_EQ(doc["class_name"], "Sequential");
  const auto& dense = doc["config"]["layers"][0];
  EXPECT_EQ(dense["class_name"], "Dense");
  EXPECT_EQ(dense["config"],
            nlohmann::json::parse(R"({"units": 10, "activation": "relu", "use_bias": true, "dtype": "float32"})"));
  EXPECT_EQ(dense["build_config"]["input_shape"], nlohmann::json::parse("[null, 784]"));
}

TEST(LayerConfigTest, InputShapeBecomesAnInputLayerThatBuildsTheFirstLayer) {
  const std::string json = layers_to_json({std::make_shared<Dense>(5), std::make_shared<Dense>(2)}, Shape{3});
  const auto doc = nlohmann::json::parse(json);
  EXPECT_EQ(doc["config"]["layers"][0]["class_name"], "InputLayer");
  EXPECT_EQ(doc["config"]["layers"][0]["config"]["batch_shape"], nlohmann::json::parse("[null, 3]"));
  const train::Architecture arch = architecture_from_json(json);
  EXPECT_EQ(arch.input_shape, (Shape{3}));
  ASSERT_EQ(arch.layers.size(), 2u);
  EXPECT_EQ(as_dense(arch.layers[0]).kernel.shape(), (Shape{3, 5}));
  EXPECT_FALSE(as_dense(arch.layers[1]).built());
}

TEST(LayerConfigTest, ReadsKeras2StyleConfigs) {
  // As tf.keras 2 writes a Sequential: names, trainable, and the input shape in the first layer's config.
  const train::Architecture arch = architecture_from_json(R"({
    "class_name": "Sequential", "keras_version": "2.15.0", "backend": "tensorflow",
    "config": {"name": "sequential", "layers": [
      {"class_name": "Dense", "config": {"name": "dense", "trainable": true, "dtype": "float32",
                                         "batch_input_shape": [null, 784], "units": 10, "activation": "relu",
                                         "use_bias": true}},
      {"class_name": "Dense", "config": {"name": "dense_1", "units": 10, "activation": "softmax"}}]}})");
  EXPECT_EQ(arch.input_shape, (Shape{784}));
  EXPECT_EQ(as_dense(arch.layers[0]).kernel.shape(), (Shape{784, 10}));
  EXPECT_EQ(as_dense(arch.layers[1]).activation_name(), "softmax");
}

TEST(LayerConfigTest, AcceptsABareListOfLayers) {
  const Layers layers = layers_from_json(R"([{"class_name": "Dense", "config": {"units": 4}}])");
  ASSERT_EQ(layers.size(), 1u);
  EXPECT_EQ(as_dense(layers[0]).activation_name(), "linear");
  EXPECT_TRUE(as_dense(layers[0]).options().use_bias);
}

TEST(LayerConfigTest, RebuiltLayersTakeTheSavedWeights) {
  const auto original = std::make_shared<Dense>(4, "tanh", 6);
  const std::string file = ::testing::TempDir() + "layer_config_weights.safetensors";
  train::save_weights(*original, file);
  const Layers back = layers_from_json(layers_to_json({original}));
  train::load_weights(*back[0], file);
  EXPECT_EQ(as_dense(back[0]).kernel.to_vector(), original->kernel.to_vector());
  const Tensor x = testing::sample({2, 6}, kFloat32);
  EXPECT_EQ((*back[0])(x).to_vector(), (*original)(x).to_vector());
  std::remove(file.c_str());
}

template <class L>
const L& as(const std::shared_ptr<nn::Module>& m) {
  const auto* l = dynamic_cast<const L*>(m.get());
  if (!l) throw std::runtime_error("unexpected layer type " + m->type_name());
  return *l;
}

TEST(LayerConfigTest, EveryLayerClassRoundTripsItsGetters) {
  auto conv = std::make_shared<nn::Conv2D>(8, 3, nn::Conv2DOptions{.padding = "same", .activation = "relu"});
  conv->build(1);
  auto bn = std::make_shared<nn::BatchNormalization>(
      nn::BatchNormalizationOptions{.momentum = 0.9, .epsilon = 1e-5, .center = false});
  bn->build(4, kFloat64);
  auto ln = std::make_shared<nn::LayerNormalization>(nn::LayerNormalizationOptions{.epsilon = 1e-5, .scale = false});
  ln->build(5, kFloat64);
  const Layers layers = {conv,
                         std::make_shared<nn::MaxPooling2D>(),
                         std::make_shared<nn::Conv2D>(4, Size2d(3, 2),
                                                      nn::Conv2DOptions{.strides = Size2d(2, 1),
                                                                        .use_bias = false,
                                                                        .kernel_initializer = "he_normal",
                                                                        .bias_initializer = "ones",
                                                                        .dtype = kFloat64}),
                         std::make_shared<nn::AveragePooling2D>(3, Size2d(1, 2), "same"),
                         bn,
                         std::make_shared<nn::Flatten>(),
                         std::make_shared<nn::Dropout>(0.25, 42),
                         std::make_shared<nn::Dropout>(0.5),
                         std::make_shared<nn::Reshape>(Shape{2, -1}),
                         std::make_shared<nn::ActivationLayer>("tanh"),
                         ln,
                         std::make_shared<nn::LayerNormalization>()};
  const std::string json = layers_to_json(layers);
  const Layers back = layers_from_json(json);
  ASSERT_EQ(back.size(), layers.size());
  for (size_t i = 0; i < back.size(); ++i) EXPECT_EQ(back[i]->type_name(), layers[i]->type_name()) << i;
  EXPECT_EQ(layers_to_json(back), json);  // every getter is written, so equal JSON means equal configurations

  const auto& c = as<nn::Conv2D>(back[0]);
  EXPECT_EQ(c.filters(), 8);
  EXPECT_EQ(c.kernel_size(), Size2d(3, 3));
  EXPECT_EQ(c.padding(), "same");
  EXPECT_EQ(c.activation_name(), "relu");
  ASSERT_TRUE(c.built());
  EXPECT_EQ(c.kernel.shape(), (Shape{3, 3, 1, 8}));
  const auto& c2 = as<nn::Conv2D>(back[2]);
  EXPECT_EQ(c2.strides(), Size2d(2, 1));
  EXPECT_FALSE(c2.use_bias());
  EXPECT_EQ(c2.kernel_initializer(), "he_normal");
  EXPECT_EQ(c2.bias_initializer(), "ones");
  EXPECT_EQ(c2.options().dtype, kFloat64);
  EXPECT_FALSE(c2.built());
  const auto& avg = as<nn::AveragePooling2D>(back[3]);
  EXPECT_EQ(avg.pool_size(), Size2d(3, 3));
  EXPECT_EQ(avg.strides(), Size2d(1, 2));
  EXPECT_EQ(avg.padding(), "same");
  EXPECT_EQ(as<nn::MaxPooling2D>(back[1]).strides(), Size2d(2, 2));
  const auto& b = as<nn::BatchNormalization>(back[4]);
  EXPECT_EQ(b.momentum(), 0.9);
  EXPECT_EQ(b.epsilon(), 1e-5);
  EXPECT_FALSE(b.center());
  ASSERT_TRUE(b.built());
  EXPECT_EQ(b.moving_mean.shape(), (Shape{4}));
  EXPECT_EQ(b.moving_variance.dtype(), kFloat64);
  EXPECT_EQ(as<nn::Dropout>(back[6]).rate(), 0.25);
  EXPECT_EQ(as<nn::Dropout>(back[6]).seed(), std::optional<uint64_t>(42));
  EXPECT_EQ(as<nn::Dropout>(back[7]).seed(), std::nullopt);
  EXPECT_EQ(as<nn::Reshape>(back[8]).target_shape(), (Shape{2, -1}));
  EXPECT_EQ(as<nn::ActivationLayer>(back[9]).activation_name(), "tanh");
  const auto& l = as<nn::LayerNormalization>(back[10]);
  EXPECT_FALSE(l.scale());
  ASSERT_TRUE(l.beta.defined());
  EXPECT_EQ(l.beta.shape(), (Shape{5}));
  EXPECT_EQ(l.beta.dtype(), kFloat64);
  EXPECT_FALSE(as<nn::LayerNormalization>(back[11]).built());
}

// A stack of layers as one module, so save_weights/load_weights see them under "0.kernel", "2.moving_mean", …
class Stack : public nn::Module {
 public:
  explicit Stack(const Layers& layers) : layers_(layers) {
    for (size_t i = 0; i < layers.size(); ++i) register_module(std::to_string(i), layers[i]);
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = x;
    for (const auto& l : layers_) y = (*l)(y);
    return y;
  }

 private:
  Layers layers_;
};

TEST(LayerConfigTest, ACnnRebuiltFromJsonAndWeightsComputesTheSameOutputs) {
  const Tensor x = testing::sample({2, 6, 6, 1}, kFloat32, 7);
  Stack original({std::make_shared<nn::Conv2D>(4, 3, "relu"), std::make_shared<nn::MaxPooling2D>(),
                  std::make_shared<nn::BatchNormalization>(), std::make_shared<nn::Flatten>(),
                  std::make_shared<Dense>(3, "softmax")});
  original(x);  // builds every layer and moves the batch-norm statistics away from their initial values
  original.eval();
  const Tensor expected = original(x);

  const std::string file = ::testing::TempDir() + "layer_config_cnn.safetensors";
  train::save_weights(original, file);
  std::vector<std::shared_ptr<nn::Module>> children;
  for (const auto& [name, child] : original.named_children()) children.push_back(child);
  const train::Architecture arch = architecture_from_json(layers_to_json(children, Shape{6, 6, 1}));
  EXPECT_EQ(arch.input_shape, (Shape{6, 6, 1}));
  Stack rebuilt(arch.layers);
  train::load_weights(rebuilt, file);  // every parameter and buffer exists already: built from the JSON
  rebuilt.eval();
  EXPECT_EQ(rebuilt(x).to_vector(), expected.to_vector());
  std::remove(file.c_str());
}

TEST(LayerConfigTest, RefusesKerasOptionsDescentDoesNotHave) {
  EXPECT_ERROR_MENTIONS(
      layers_from_json(one_layer(R"({"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 3,
                                     "dilation_rate": [2, 2]}})")),
      "layer 0 (Conv2D): \"dilation_rate\" = [2,2] is not supported (no dilated convolution)");
  EXPECT_ERROR_MENTIONS(
      layers_from_json(one_layer(R"({"class_name": "MaxPooling2D", "config": {"data_format": "channels_first"}})")),
      "\"data_format\" = \"channels_first\" is not supported");
  EXPECT_ERROR_MENTIONS(layers_from_json(one_layer(R"({"class_name": "BatchNormalization", "config": {"axis": 1}})")),
                        "\"axis\" = 1 is not supported (normalisation is over the last axis)");
}

TEST(LayerConfigTest, RefusesBadFieldsOfEveryLayerClass) {
  EXPECT_ERROR_MENTIONS(
      layers_from_json(one_layer(R"({"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": [3]}})")),
      "\"kernel_size\" is [3], not an integer or a list of 2 integers");
  EXPECT_ERROR_MENTIONS(
      layers_from_json(
          one_layer(R"({"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 3, "padding": "full"}})")),
      "\"padding\" is \"full\", not one of \"valid\", \"same\"");
  EXPECT_ERROR_MENTIONS(
      layers_from_json(one_layer(R"({"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 3,
                                                       "kernel_initializer": "orthogonal"}})")),
      "layer 0 (Conv2D): Conv2D: kernel_initializer 'orthogonal'");
  EXPECT_ERROR_MENTIONS(layers_from_json(one_layer(R"({"class_name": "Dropout", "config": {"rate": 1.5}})")),
                        "layer 0 (Dropout): \"rate\" is 1.5, not a number in [0, 1]");
  EXPECT_ERROR_MENTIONS(layers_from_json(one_layer(R"({"class_name": "Dropout", "config": {}})")),
                        "the config has no \"rate\"");
  EXPECT_ERROR_MENTIONS(
      layers_from_json(one_layer(R"({"class_name": "Dropout", "config": {"rate": 0.1, "seed": -3}})")),
      "\"seed\" is -3, not null or a non-negative integer");
  EXPECT_ERROR_MENTIONS(
      layers_from_json(one_layer(R"({"class_name": "Reshape", "config": {"target_shape": [2, -2]}})")),
      "\"target_shape\" is [2,-2]");
  EXPECT_ERROR_MENTIONS(
      layers_from_json(one_layer(R"({"class_name": "Reshape", "config": {"target_shape": [-1, -1]}})")),
      "layer 0 (Reshape): Reshape: target_shape [-1, -1] has more than one -1");
  EXPECT_ERROR_MENTIONS(layers_from_json(one_layer(R"({"class_name": "Activation", "config": {}})")),
                        "layer 0 (Activation): the config has no \"activation\"");
  EXPECT_ERROR_MENTIONS(
      layers_from_json(one_layer(R"({"class_name": "LayerNormalization", "config": {"epsilon": -1}})")),
      "\"epsilon\" is -1, not a number in [0, ");
  EXPECT_ERROR_MENTIONS(
      layers_from_json(one_layer(R"({"class_name": "Conv2D", "config": {"filters": 65536, "kernel_size": 512},
                                     "build_config": {"input_shape": [null, null, null, 512]}})")),
      "the kernel would hold more than");
}

// ---- refusals ------------------------------------------------------------------------------------------------

TEST(LayerConfigTest, RefusesAnUnknownClassNameListingTheKnownOnes) {
  EXPECT_ERROR_MENTIONS(layers_from_json(one_layer(R"({"class_name": "Dense3", "config": {}})")),
                        "layer 0 (Dense3): unknown layer class 'Dense3' (known: Dense");
}

TEST(LayerConfigTest, RefusesAnUnknownFieldByName) {
  EXPECT_ERROR_MENTIONS(layers_from_json(one_layer(R"({"class_name": "Dense", "config": {"units": 3, "unit": 4}})")),
                        "layer 0 (Dense): unknown field \"unit\" = 4");
  EXPECT_ERROR_MENTIONS(layers_from_json(one_layer(R"({"class_name": "Dense", "config": {"units": 3}, "extra": 1})")),
                        "unknown field \"extra\" in the entry");
}

TEST(LayerConfigTest, RefusesFieldsOfTheWrongTypeOrRange) {
  EXPECT_ERROR_MENTIONS(layers_from_json(one_layer(R"({"class_name": "Dense", "config": {"units": "ten"}})")),
                        "layer 0 (Dense): \"units\" is \"ten\", not an integer >= 1");
  EXPECT_ERROR_MENTIONS(layers_from_json(one_layer(R"({"class_name": "Dense", "config": {"units": 0}})")),
                        "\"units\" is 0, not an integer >= 1");
  EXPECT_ERROR_MENTIONS(layers_from_json(one_layer(R"({"class_name": "Dense", "config": {"units": 2.5}})")),
                        "\"units\" is 2.5");
  EXPECT_ERROR_MENTIONS(
      layers_from_json(one_layer(R"({"class_name": "Dense", "config": {"units": 2, "use_bias": 1}})")),
      "\"use_bias\" is 1, not true or false");
  EXPECT_ERROR_MENTIONS(
      layers_from_json(one_layer(R"({"class_name": "Dense", "config": {"units": 2, "dtype": "int8"}})")),
      "\"dtype\" is \"int8\", not \"float32\" or \"float64\"");
  EXPECT_ERROR_MENTIONS(layers_from_json(one_layer(R"({"class_name": "Dense", "config": {}})")),
                        "layer 0 (Dense): the config has no \"units\"");
}

TEST(LayerConfigTest, RefusesAnUnknownActivationNamingTheLayer) {
  EXPECT_ERROR_MENTIONS(
      layers_from_json(one_layer(R"({"class_name": "Dense", "config": {"units": 2, "activation": "swishy"}})")),
      "layer 0 (Dense): ");
  EXPECT_ERROR_MENTIONS(
      layers_from_json(one_layer(R"({"class_name": "Dense", "config": {"units": 2, "activation": "swishy"}})")),
      "swishy");
}

TEST(LayerConfigTest, RefusesDuplicateFields) {
  EXPECT_ERROR_MENTIONS(layers_from_json(one_layer(R"({"class_name": "Dense", "config": {"units": 2, "units": 3}})")),
                        "has the key 'units' twice");
}

TEST(LayerConfigTest, RefusesHugeParametersBeforeAllocating) {
  EXPECT_ERROR_MENTIONS(layers_from_json(one_layer(R"({"class_name": "Dense", "config": {"units": 2147483648},
                                     "build_config": {"input_shape": [null, 65536]}})")),
                        "the kernel would hold more than 2147483648 elements");
  EXPECT_ERROR_MENTIONS(
      layers_from_json(R"([{"class_name": "InputLayer", "config": {"batch_shape": [null, 65536, 65536]}}])"),
      "has more than 2147483648 elements per sample");
  EXPECT_ERROR_MENTIONS(layers_from_json(one_layer(R"({"class_name": "Dense", "config": {"units": 1e300}})")),
                        "\"units\" is 1e+300");
}

TEST(LayerConfigTest, RefusesBadDocumentsAndInputLayers) {
  EXPECT_ERROR_MENTIONS(layers_from_json("{\"class_name\": "), "is not valid JSON");
  EXPECT_ERROR_MENTIONS(layers_from_json(R"({"class_name": "Functional", "config": {"layers": []}})"),
                        "class_name is \"Functional\", not \"Sequential\"");
  EXPECT_ERROR_MENTIONS(layers_from_json(R"({"class_name": "Sequential", "config": {"layers": 3}})"),
                        "\"layers\" is 3, not a list of layers");
  EXPECT_ERROR_MENTIONS(layers_from_json(R"([{"class_name": "Dense", "config": {"units": 2}},
                                             {"class_name": "InputLayer", "config": {"batch_shape": [null, 3]}}])"),
                        "layer 1 (InputLayer): an InputLayer can only come first");
  EXPECT_ERROR_MENTIONS(layers_from_json(R"([{"class_name": "InputLayer", "config": {"batch_shape": [null, 0]}}])"),
                        "\"batch_shape\" is [null,0]");
  EXPECT_ERROR_MENTIONS(
      layers_from_json(one_layer(R"({"class_name": "Dense", "config": {"units": 2, "trainable": false}})")),
      "\"trainable\": false is not supported");
  EXPECT_ERROR_MENTIONS(layers_from_json(one_layer(R"({"class_name": "Dense", "config": {"units": 2},
                                                      "build_config": {"input_shape": [null, null]}})")),
                        "has no known last dimension");
}

// Every truncation of a valid document, and every single-byte corruption, gives descent::Error or layers: no other
// exception (nlohmann's own included) escapes.
TEST(LayerConfigTest, EveryTruncationAndByteFlipIsRefusedCleanly) {
  const std::string json =
      layers_to_json({std::make_shared<Dense>(3, "relu", 2), std::make_shared<Dense>(2)}, Shape{2});
  for (size_t n = 0; n < json.size(); ++n) EXPECT_THROW(layers_from_json(json.substr(0, n)), Error) << n;
  for (size_t i = 0; i < json.size(); ++i) {
    for (const char c : {'\xff', '0', '"', '9', '-'}) {
      std::string bad = json;
      bad[i] = c;
      try {
        layers_from_json(bad);
      } catch (const Error&) {
      }
    }
  }
}

TEST(LayerConfigTest, ToJsonRefusesLayersWithoutAJsonForm) {
  EXPECT_ERROR_MENTIONS(layers_to_json({std::make_shared<Dense>(2), std::make_shared<nn::Linear>(2, 3)}),
                        "layers_to_json: layer 1 is a Linear, which has no JSON form");
  EXPECT_ERROR_MENTIONS(layers_to_json({nullptr}), "layer 0 is null");
  EXPECT_ERROR_MENTIONS(layers_to_json({std::make_shared<Dense>(2)}, Shape{0}), "must hold positive sizes");
}

}  // namespace
}  // namespace descent
