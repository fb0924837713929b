// Normalisation and dropout ops with Keras' conventions: batch_norm (statistics over every axis but the feature
// axis, the last by default as Keras' channels-last BatchNormalization), layer_norm over the last axis, and
// inverted dropout from descent's seeded Generator. Each has a fused forward and a fused backward kernel.
#pragma once

#include "descent/core/random.hpp"
#include "descent/core/tensor.hpp"

namespace descent {

struct BatchNormOptions {
  bool training = true;    // batch statistics (and running-stat update) versus the running statistics
  double momentum = 0.99;  // Keras' convention: running = momentum * running + (1 - momentum) * batch
  double epsilon = 1e-3;   // Keras' default
  int64_t axis = -1;       // the feature (channel) axis
};

// y = (x - mean) / sqrt(var + epsilon) * gamma + beta, per feature. Training: mean and the biased variance of
// the batch (tf.nn.moments, as Keras' BatchNormalization uses for both normalising and the moving variance);
// running_mean/running_var, when defined, are updated in place (not recorded). Evaluation: the running
// statistics. gamma/beta may be undefined (scale = 1, center = 0). Differentiable in x, gamma, beta.
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                  const Tensor& running_var, const BatchNormOptions& options = {});

// Keras' LayerNormalization over the last axis: (x - mean) / sqrt(var + epsilon) * gamma + beta with the biased
// variance of each row; gamma/beta of shape [last] or undefined. Differentiable in x, gamma, beta.
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double epsilon = 1e-3);

// Inverted dropout: each element is zeroed with probability `rate` and the rest scaled by 1 / (1 - rate), so
// evaluation is the identity. Not training (or rate 0): x itself. rate in [0, 1]; rate 1 gives zeros.
Tensor dropout(const Tensor& x, double rate, bool training = true, Generator& gen = default_generator());

}  // namespace descent
