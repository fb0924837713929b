// Keras' convolution and pooling layers on channels-last images [N, H, W, C]: Conv2D (kernel [kh, kw, C_in,
// filters] as Keras stores it, glorot_uniform kernel, zero bias, built from the first input's channel count like
// Dense), MaxPooling2D and AveragePooling2D (pool_size 2, strides = pool_size, padding "valid"), with Keras' names,
// defaults and "valid"/"same" padding (TensorFlow's split, the odd pixel after). They run ops/conv.hpp (oneDNN).
#pragma once

#include <optional>
#include <string>

#include "descent/core/random.hpp"
#include "descent/nn/activation.hpp"
#include "descent/nn/module.hpp"
#include "descent/ops/conv.hpp"

namespace descent::nn {

struct Conv2DOptions {
  Size2d strides = 1;
  std::string padding = "valid";      // "valid" or "same"
  std::string activation = "linear";  // any name nn::activation knows
  bool use_bias = true;
  std::string kernel_initializer =
      "glorot_uniform";                    // glorot_uniform, glorot_normal, he_uniform, he_normal, zeros, ones
  std::string bias_initializer = "zeros";  // zeros or ones
  DType dtype = kFloat32;
};

class Conv2D : public Module {
 public:
  Conv2D(int64_t filters, Size2d kernel_size, const Conv2DOptions& options = {});
  Conv2D(int64_t filters, Size2d kernel_size, std::string activation);  // Conv2D(32, 3, "relu")
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Conv2D"; }

  // Creates the parameters for inputs with `input_channels` channels (done by the first call when not called).
  void build(int64_t input_channels, Generator& gen = default_generator());
  bool built() const { return kernel.defined(); }
  // [N, H, W, C] -> [N, H', W', filters]; H' = ceil(H / stride) for "same", (H - kh) / stride + 1 for "valid".
  Shape compute_output_shape(const Shape& input_shape) const;

  int64_t filters() const { return filters_; }
  Size2d kernel_size() const { return kernel_size_; }
  Size2d strides() const { return options_.strides; }
  const std::string& padding() const { return options_.padding; }
  const std::string& activation_name() const { return options_.activation; }
  bool use_bias() const { return options_.use_bias; }
  const std::string& kernel_initializer() const { return options_.kernel_initializer; }
  const std::string& bias_initializer() const { return options_.bias_initializer; }
  const Conv2DOptions& options() const { return options_; }

  Tensor kernel;  // [kh, kw, C_in, filters]
  Tensor bias;    // [filters]; undefined without use_bias

 private:
  int64_t filters_;
  Size2d kernel_size_;
  Conv2DOptions options_;
  Activation activation_;
};

// The pooling layers' shared configuration and forward; not used on its own.
class Pooling2D : public Module {
 public:
  Size2d pool_size() const { return pool_size_; }
  Size2d strides() const { return strides_; }
  const std::string& padding() const { return padding_; }
  Shape compute_output_shape(const Shape& input_shape) const;  // [N, H', W', C], as Conv2D's

 protected:
  Pooling2D(const char* name, Size2d pool_size, std::optional<Size2d> strides, std::string padding);
  Padding2d padding_for_input(const Tensor& input) const;  // checks the input is 4-D

 private:
  const char* name_;
  Size2d pool_size_;
  Size2d strides_;
  std::string padding_;
};

class MaxPooling2D : public Pooling2D {
 public:
  explicit MaxPooling2D(Size2d pool_size = 2, std::optional<Size2d> strides = {}, std::string padding = "valid");
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "MaxPooling2D"; }
};

// Averages over the window's input pixels only: with "same" padding the border windows divide by fewer, as Keras.
class AveragePooling2D : public Pooling2D {
 public:
  explicit AveragePooling2D(Size2d pool_size = 2, std::optional<Size2d> strides = {}, std::string padding = "valid");
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "AveragePooling2D"; }
};

// Keras' aliases.
using MaxPool2D = MaxPooling2D;
using AvgPool2D = AveragePooling2D;

}  // namespace descent::nn
