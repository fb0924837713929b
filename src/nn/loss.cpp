// Loss objects over the functional forms in ops/loss.hpp, and the name table Keras' losses.get() accepts.
#include "descent/nn/loss.hpp"

#include <cmath>

#include "descent/ops/loss.hpp"

namespace descent::nn {

Tensor MeanSquaredError::operator()(const Tensor& y_pred, const Tensor& y_true) const { return mse(y_pred, y_true); }

Tensor MeanAbsoluteError::operator()(const Tensor& y_pred, const Tensor& y_true) const { return mae(y_pred, y_true); }

Huber::Huber(double delta) : delta_(delta) {
  DESCENT_CHECK(delta > 0 && std::isfinite(delta), "Huber: delta = ", delta, " must be positive and finite");
}

Tensor Huber::operator()(const Tensor& y_pred, const Tensor& y_true) const { return huber(y_pred, y_true, delta_); }

Tensor BinaryCrossentropy::operator()(const Tensor& y_pred, const Tensor& y_true) const {
  return binary_crossentropy(y_pred, y_true, from_logits_);
}

std::shared_ptr<Loss> BinaryCrossentropy::with_logits() const {
  return from_logits_ ? nullptr : std::make_shared<BinaryCrossentropy>(true);
}

Tensor CategoricalCrossentropy::operator()(const Tensor& y_pred, const Tensor& y_true) const {
  return categorical_crossentropy(y_pred, y_true, from_logits_);
}

std::shared_ptr<Loss> CategoricalCrossentropy::with_logits() const {
  return from_logits_ ? nullptr : std::make_shared<CategoricalCrossentropy>(true);
}

Tensor SparseCategoricalCrossentropy::operator()(const Tensor& y_pred, const Tensor& y_true) const {
  return sparse_categorical_crossentropy(y_pred, y_true, from_logits_);
}

std::shared_ptr<Loss> SparseCategoricalCrossentropy::with_logits() const {
  return from_logits_ ? nullptr : std::make_shared<SparseCategoricalCrossentropy>(true);
}

std::shared_ptr<Loss> make_loss(std::string_view name) {
  // Keras' function names, their short aliases (keras/src/losses/__init__.py ALL_OBJECTS_DICT), class names.
  if (name == "mse" || name == "mean_squared_error" || name == "MeanSquaredError")
    return std::make_shared<MeanSquaredError>();
  if (name == "mae" || name == "mean_absolute_error" || name == "MeanAbsoluteError")
    return std::make_shared<MeanAbsoluteError>();
  if (name == "huber" || name == "huber_loss" || name == "Huber") return std::make_shared<Huber>();
  if (name == "binary_crossentropy" || name == "bce" || name == "BinaryCrossentropy")
    return std::make_shared<BinaryCrossentropy>();
  if (name == "categorical_crossentropy" || name == "cce" || name == "CategoricalCrossentropy")
    return std::make_shared<CategoricalCrossentropy>();
  if (name == "sparse_categorical_crossentropy" || name == "scce" || name == "SparseCategoricalCrossentropy")
    return std::make_shared<SparseCategoricalCrossentropy>();
  fail("unknown loss '", name,
       "' (mse, mae, huber, binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy)");
}

}  // namespace descent::nn
