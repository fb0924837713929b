// Loss functions with Keras' definitions (keras/src/losses/losses.py and keras/src/backend/*/nn.py), each
// reduced as Keras' default "sum_over_batch_size": a per-sample loss (mean or sum over the last axis), then the
// mean over all samples. The result is a 0-d tensor, differentiable in y_pred (and in y_true where a formula
// exists). y_true is cast to y_pred's dtype; shapes [N] and [N, 1] are matched as Keras' squeeze_or_expand does.
#pragma once

#include "descent/core/tensor.hpp"

namespace descent {

// Keras' backend epsilon (keras.config.epsilon()), the clip bound of the probability forms.
inline constexpr double kLossEpsilon = 1e-7;

Tensor mse(const Tensor& y_pred, const Tensor& y_true);  // mean((y_pred - y_true)^2)
Tensor mae(const Tensor& y_pred, const Tensor& y_true);  // mean(|y_pred - y_true|)
// 0.5 e^2 where |e| <= delta, delta |e| - 0.5 delta^2 elsewhere (e = y_pred - y_true).
Tensor huber(const Tensor& y_pred, const Tensor& y_true, double delta = 1.0);

// Probabilities: clipped to [eps, 1 - eps], then -(t log p + (1 - t) log(1 - p)). Logits: the stable
// max(x, 0) - x t + log(1 + exp(-|x|)) in one fused kernel with backward (sigmoid(x) - t) / numel.
Tensor binary_crossentropy(const Tensor& y_pred, const Tensor& y_true, bool from_logits = false);

// y_true one-hot (or any distribution) over the last axis. Probabilities: normalised to sum 1, clipped, then
// -sum t log p. Logits: fused log-softmax, backward (softmax(x) sum(t) - t) / N.
Tensor categorical_crossentropy(const Tensor& y_pred, const Tensor& y_true, bool from_logits = false);

// labels: integer class ids 0..K-1 stored as floats, shape y_pred.shape without its last axis (or with a
// trailing 1). Logits: one fused pass (log-sum-exp minus the label's logit), backward (softmax(x) - onehot) / N.
// Probabilities: clipped to [eps, 1 - eps] and logged first, as Keras, then the same kernel.
// A label that is not an integer in [0, K) is an Error naming it and its position.
Tensor sparse_categorical_crossentropy(const Tensor& y_pred, const Tensor& labels, bool from_logits = false);

}  // namespace descent
