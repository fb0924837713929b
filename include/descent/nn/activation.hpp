// Activations by name, as Keras spells them: linear (or empty), relu, leaky_relu, elu, gelu, sigmoid, tanh,
// softplus, softmax, log_softmax (the last two over the last axis).
#pragma once

#include <functional>
#include <string_view>

#include "descent/core/tensor.hpp"

namespace descent::nn {

using Activation = std::function<Tensor(const Tensor&)>;

// Throws descent::Error listing the known names when `name` is not one of them.
Activation activation(std::string_view name);

}  // namespace descent::nn
