// BatchNormalization and LayerNormalization layers over ops/norm.hpp, with Keras' initialisers (gamma ones,
// beta zeros, moving_mean zeros, moving_variance ones) and parameter names.
#include "descent/nn/norm.hpp"

#include <cmath>

#include "descent/nn/init.hpp"
#include "descent/ops/norm.hpp"

namespace descent::nn {

BatchNormalization::BatchNormalization(const BatchNormalizationOptions& options) : options_(options) {
  DESCENT_CHECK(options.momentum >= 0 && options.momentum <= 1, "BatchNormalization: momentum = ", options.momentum,
                " is outside [0, 1]");
  DESCENT_CHECK(options.epsilon > 0 && std::isfinite(options.epsilon),
                "BatchNormalization: epsilon = ", options.epsilon, " must be positive");
}

void BatchNormalization::build(int64_t features, DType dtype) {
  DESCENT_CHECK(!built(), "BatchNormalization: already built");
  DESCENT_CHECK(features > 0, "BatchNormalization: features = ", features, " must be positive");
  if (options_.scale) {
    gamma = register_parameter("gamma", {features}, dtype);
    init::ones_(gamma);
  }
  if (options_.center) beta = register_parameter("beta", {features}, dtype);  // zero-filled
  moving_mean = register_buffer("moving_mean", Tensor::zeros({features}, dtype));
  moving_variance = register_buffer("moving_variance", Tensor::ones({features}, dtype));
}

Tensor BatchNormalization::forward(const Tensor& input) {
  DESCENT_CHECK(input.defined() && input.dim() >= 2, "BatchNormalization: input ",
                input.defined() ? shape_str(input.shape()) : "undefined", " needs a batch and a feature axis");
  if (!built()) build(input.size(-1), input.dtype());
  DESCENT_CHECK(input.size(-1) == moving_mean.size(0), "BatchNormalization: input ", shape_str(input.shape()), " has ",
                input.size(-1), " features, the layer was built for ", moving_mean.size(0));
  return batch_norm(
      input, gamma, beta, moving_mean, moving_variance,
      BatchNormOptions{
          .training = is_training(), .momentum = options_.momentum, .epsilon = options_.epsilon, .axis = -1});
}

LayerNormalization::LayerNormalization(const LayerNormalizationOptions& options) : options_(options) {
  DESCENT_CHECK(options.epsilon > 0 && std::isfinite(options.epsilon),
                "LayerNormalization: epsilon = ", options.epsilon, " must be positive");
}

void LayerNormalization::build(int64_t features, DType dtype) {
  DESCENT_CHECK(!built_, "LayerNormalization: already built");
  DESCENT_CHECK(features > 0, "LayerNormalization: features = ", features, " must be positive");
  if (options_.scale) {
    gamma = register_parameter("gamma", {features}, dtype);
    init::ones_(gamma);
  }
  if (options_.center) beta = register_parameter("beta", {features}, dtype);
  features_ = features;
  built_ = true;
}

Tensor LayerNormalization::forward(const Tensor& input) {
  DESCENT_CHECK(input.defined() && input.dim() >= 1, "LayerNormalization: input has no feature axis");
  if (!built_) build(input.size(-1), input.dtype());
  DESCENT_CHECK(input.size(-1) == features_, "LayerNormalization: input ", shape_str(input.shape()), " has ",
                input.size(-1), " features, the layer was built for ", features_);
  return layer_norm(input, gamma, beta, options_.epsilon);
}

}  // namespace descent::nn
