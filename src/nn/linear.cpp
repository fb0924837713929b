// Linear and Dense: parameters in the arena, initialised as their reference frameworks do.
#include "descent/nn/linear.hpp"

#include <cmath>

#include "descent/nn/init.hpp"
#include "descent/ops/elementwise.hpp"
#include "descent/ops/linalg.hpp"

namespace descent::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool with_bias, DType dtype, Generator& gen) {
  DESCENT_CHECK(in_features > 0 && out_features > 0, "Linear: in_features = ", in_features,
                " and out_features = ", out_features, " must be positive");
  weight = register_parameter("weight", {out_features, in_features}, dtype);
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::FanIn, "leaky_relu", {}, gen);
  if (with_bias) {
    bias = register_parameter("bias", {out_features}, dtype);
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    init::uniform_(bias, -bound, bound, gen);
  }
}

Tensor Linear::forward(const Tensor& input) {
  DESCENT_CHECK(input.dim() >= 1 && input.size(-1) == weight.size(1), "Linear: input ", input.str(),
                " does not end in in_features = ", weight.size(1));
  Tensor y = matmul(input, weight.t());
  return bias.defined() ? y + bias : y;
}

Dense::Dense(int64_t units, std::string activation_name, std::optional<int64_t> input_dim)
    : Dense(units, DenseOptions{.activation = std::move(activation_name)}, input_dim) {}

Dense::Dense(int64_t units, const DenseOptions& options, std::optional<int64_t> input_dim)
    : units_(units), options_(options), activation_(activation(options.activation)) {
  DESCENT_CHECK(units > 0, "Dense: units = ", units, " must be positive");
  if (input_dim) build(*input_dim);
}

void Dense::build(int64_t input_dim, Generator& gen) {
  DESCENT_CHECK(!built(), "Dense: already built");
  DESCENT_CHECK(input_dim > 0, "Dense: input_dim = ", input_dim, " must be positive");
  kernel = register_parameter("kernel", {input_dim, units_}, options_.dtype);
  init::glorot_uniform_(kernel, init::Fans{input_dim, units_}, gen);
  if (options_.use_bias) bias = register_parameter("bias", {units_}, options_.dtype);
}

Tensor Dense::forward(const Tensor& input) { return activation_(forward_pre_activation(input)); }

Tensor Dense::forward_pre_activation(const Tensor& input) {
  DESCENT_CHECK(input.dim() >= 1, "Dense: input ", input.str(), " has no feature axis");
  if (!built()) build(input.size(-1));
  DESCENT_CHECK(input.size(-1) == kernel.size(0), "Dense: input ", input.str(), " has ", input.size(-1),
                " features, the layer was built for ", kernel.size(0));
  Tensor y = matmul(input, kernel);
  if (bias.defined()) y = y + bias;
  return y;
}

}  // namespace descent::nn
