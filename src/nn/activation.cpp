// Name → activation function, resolved once when a layer is built (never per call).
#include "descent/nn/activation.hpp"

#include "descent/ops/elementwise.hpp"
#include "descent/ops/reduction.hpp"

namespace descent::nn {

Activation activation(std::string_view name) {
  if (name.empty() || name == "linear") return [](const Tensor& x) { return x; };
  if (name == "relu") return [](const Tensor& x) { return relu(x); };
  if (name == "leaky_relu") return [](const Tensor& x) { return leaky_relu(x); };
  if (name == "elu") return [](const Tensor& x) { return elu(x); };
  if (name == "gelu") return [](const Tensor& x) { return gelu(x); };
  if (name == "sigmoid") return [](const Tensor& x) { return sigmoid(x); };
  if (name == "tanh") return [](const Tensor& x) { return tanh(x); };
  if (name == "softplus") return [](const Tensor& x) { return softplus(x); };
  if (name == "softmax") return [](const Tensor& x) { return softmax(x, -1); };
  if (name == "log_softmax") return [](const Tensor& x) { return log_softmax(x, -1); };
  fail("unknown activation '", name,
       "' (linear, relu, leaky_relu, elu, gelu, sigmoid, tanh, softplus, softmax, log_softmax)");
}

}  // namespace descent::nn
