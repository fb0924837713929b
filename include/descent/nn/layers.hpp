// Simple Keras layers without (or with only shape-dependent) state: Dropout, Flatten, Reshape and Activation.
// Each exposes its configuration through getters (for layer configs) and names itself with the Keras class name.
// The Activation layer is ActivationLayer in C++, since nn::Activation already names the function type of
// activation.hpp; type_name() still says "Activation".
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "descent/core/random.hpp"
#include "descent/nn/activation.hpp"
#include "descent/nn/module.hpp"

namespace descent::nn {

// Inverted dropout in training mode, the identity in evaluation mode (keras.layers.Dropout). With a seed the masks
// are the same on every run; without one the layer's generator is seeded from the default generator.
class Dropout : public Module {
 public:
  explicit Dropout(double rate, std::optional<uint64_t> seed = {});
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Dropout"; }
  double rate() const { return rate_; }
  std::optional<uint64_t> seed() const { return seed_; }
  Generator& generator() { return gen_; }

 private:
  double rate_;
  std::optional<uint64_t> seed_;
  Generator gen_;
};

// [N, d1, d2, ...] -> [N, d1 * d2 * ...] (keras.layers.Flatten; [N] becomes [N, 1]).
class Flatten : public Module {
 public:
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Flatten"; }
};

// [N, ...] -> [N, target_shape...] (keras.layers.Reshape); one entry of target_shape may be -1.
class Reshape : public Module {
 public:
  explicit Reshape(Shape target_shape);
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Reshape"; }
  const Shape& target_shape() const { return target_shape_; }

 private:
  Shape target_shape_;
};

// An activation by name as a layer (keras.layers.Activation): linear, relu, leaky_relu, elu, gelu, sigmoid, tanh,
// softplus, softmax, log_softmax.
class ActivationLayer : public Module {
 public:
  explicit ActivationLayer(std::string name);
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Activation"; }
  const std::string& activation_name() const { return name_; }

 private:
  std::string name_;
  Activation fn_;
};

}  // namespace descent::nn
