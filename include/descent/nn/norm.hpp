// Keras' normalisation layers over the last (channel) axis: BatchNormalization (gamma, beta trained; moving_mean,
// moving_variance as buffers, updated in training mode, used in evaluation mode) and LayerNormalization. Both
// are built on the first call from the input's last dimension and dtype, like Dense.
#pragma once

#include <string>

#include "descent/nn/module.hpp"

namespace descent::nn {

struct BatchNormalizationOptions {
  double momentum = 0.99;  // moving = momentum * moving + (1 - momentum) * batch (Keras)
  double epsilon = 1e-3;
  bool center = true;  // learn beta
  bool scale = true;   // learn gamma
};

// keras.layers.BatchNormalization(axis=-1): [N, C] (1-D) or [N, H, W, C] (2-D), any rank >= 2.
class BatchNormalization : public Module {
 public:
  explicit BatchNormalization(const BatchNormalizationOptions& options = {});
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "BatchNormalization"; }

  void build(int64_t features, DType dtype = kFloat32);
  bool built() const { return moving_mean.defined(); }
  double momentum() const { return options_.momentum; }
  double epsilon() const { return options_.epsilon; }
  bool center() const { return options_.center; }
  bool scale() const { return options_.scale; }

  Tensor gamma;            // [C], ones; undefined without scale
  Tensor beta;             // [C], zeros; undefined without center
  Tensor moving_mean;      // buffer [C], zeros
  Tensor moving_variance;  // buffer [C], ones

 private:
  BatchNormalizationOptions options_;
};

struct LayerNormalizationOptions {
  double epsilon = 1e-3;
  bool center = true;
  bool scale = true;
};

// keras.layers.LayerNormalization(axis=-1).
class LayerNormalization : public Module {
 public:
  explicit LayerNormalization(const LayerNormalizationOptions& options = {});
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "LayerNormalization"; }

  void build(int64_t features, DType dtype = kFloat32);
  bool built() const { return built_; }
  double epsilon() const { return options_.epsilon; }
  bool center() const { return options_.center; }
  bool scale() const { return options_.scale; }

  Tensor gamma;  // [C], ones; undefined without scale
  Tensor beta;   // [C], zeros; undefined without center

 private:
  LayerNormalizationOptions options_;
  bool built_ = false;
  int64_t features_ = 0;
};

}  // namespace descent::nn
