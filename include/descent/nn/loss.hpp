// Losses as objects and by name, as Keras' keras.losses: each reduces to the mean over the batch and says how to
// get its from-logits twin, which Sequential substitutes when the model ends in softmax (sigmoid for binary) so
// that training runs the fused, stable log-softmax form. The functional forms are in ops/loss.hpp.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "descent/core/tensor.hpp"

namespace descent::nn {

class Loss {
 public:
  virtual ~Loss() = default;
  // Mean over the batch (Keras' default reduction): a 0-d tensor, differentiable w.r.t. y_pred.
  virtual Tensor operator()(const Tensor& y_pred, const Tensor& y_true) const = 0;
  virtual std::string name() const = 0;  // Keras spelling: "sparse_categorical_crossentropy"
  virtual bool from_logits() const { return false; }
  // The same loss taking logits instead of probabilities (the fused log-softmax / log-sigmoid form), or nullptr
  // when there is none. Sequential uses it when the last activation is softmax (sigmoid for binary).
  virtual std::shared_ptr<Loss> with_logits() const { return nullptr; }
};

class MeanSquaredError : public Loss {
 public:
  Tensor operator()(const Tensor& y_pred, const Tensor& y_true) const override;
  std::string name() const override { return "mean_squared_error"; }
};

class MeanAbsoluteError : public Loss {
 public:
  Tensor operator()(const Tensor& y_pred, const Tensor& y_true) const override;
  std::string name() const override { return "mean_absolute_error"; }
};

class Huber : public Loss {
 public:
  explicit Huber(double delta = 1.0);
  Tensor operator()(const Tensor& y_pred, const Tensor& y_true) const override;
  std::string name() const override { return "huber"; }
  double delta() const { return delta_; }

 private:
  double delta_;
};

// The three cross-entropies share the from_logits switch and its with_logits() twin.
class BinaryCrossentropy : public Loss {
 public:
  explicit BinaryCrossentropy(bool from_logits = false) : from_logits_(from_logits) {}
  Tensor operator()(const Tensor& y_pred, const Tensor& y_true) const override;
  std::string name() const override { return "binary_crossentropy"; }
  bool from_logits() const override { return from_logits_; }
  std::shared_ptr<Loss> with_logits() const override;

 private:
  bool from_logits_;
};

class CategoricalCrossentropy : public Loss {
 public:
  explicit CategoricalCrossentropy(bool from_logits = false) : from_logits_(from_logits) {}
  Tensor operator()(const Tensor& y_pred, const Tensor& y_true) const override;
  std::string name() const override { return "categorical_crossentropy"; }
  bool from_logits() const override { return from_logits_; }
  std::shared_ptr<Loss> with_logits() const override;

 private:
  bool from_logits_;
};

class SparseCategoricalCrossentropy : public Loss {
 public:
  explicit SparseCategoricalCrossentropy(bool from_logits = false) : from_logits_(from_logits) {}
  Tensor operator()(const Tensor& y_pred, const Tensor& y_true) const override;
  std::string name() const override { return "sparse_categorical_crossentropy"; }
  bool from_logits() const override { return from_logits_; }
  std::shared_ptr<Loss> with_logits() const override;

 private:
  bool from_logits_;
};

// By Keras' names and aliases: "mse"/"mean_squared_error", "mae"/"mean_absolute_error", "huber"/"huber_loss",
// "binary_crossentropy"/"bce", "categorical_crossentropy"/"cce", "sparse_categorical_crossentropy"/"scce", and
// the class names ("MeanSquaredError", …). An unknown name is an Error listing the known ones.
std::shared_ptr<Loss> make_loss(std::string_view name);

}  // namespace descent::nn
