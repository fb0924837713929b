// Layer stacks as Keras-like JSON, the architecture half of a saved model (the weights go to safetensors):
//   {"class_name": "Sequential", "config": {"layers": [
//     {"class_name": "InputLayer", "config": {"batch_shape": [null, 784]}},
//     {"class_name": "Dense", "config": {"units": 10, "activation": "relu", "use_bias": true, "dtype": "float32"},
//      "build_config": {"input_shape": [null, 784]}}, …]}}
// Class names and config fields are Keras' (keras.layers.*.get_config()); "build_config" records what a built
// layer's parameter shapes depend on, as Keras 3 does, so that reading rebuilds the same parameter shapes.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "descent/core/shape.hpp"
#include "descent/nn/module.hpp"

namespace descent::train {

// The JSON for `layers`, in order; `input_shape` (without the batch axis), when given, becomes a leading
// InputLayer. Throws descent::Error naming the position and type of a layer that has no JSON form.
std::string layers_to_json(const std::vector<std::shared_ptr<nn::Module>>& layers,
                           const std::optional<Shape>& input_shape = std::nullopt);

struct Architecture {
  std::vector<std::shared_ptr<nn::Module>> layers;
  std::optional<Shape> input_shape;  // from an InputLayer (or Keras 2's "batch_input_shape"), without the batch axis
};

// Rebuilds the layers: those with a build_config get their parameters now (values to be loaded afterwards).
// Accepts the Sequential document above or a bare array of layer entries. Unknown class names, unknown or
// duplicate fields, and fields of the wrong type or out of range are refused with a descent::Error naming the
// layer's position, its class and the field.
Architecture architecture_from_json(const std::string& json);
std::vector<std::shared_ptr<nn::Module>> layers_from_json(const std::string& json);  // architecture_from_json().layers

// The class names layers_from_json knows, for messages and documentation.
std::vector<std::string> known_layer_classes();

}  // namespace descent::train
