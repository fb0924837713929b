// Fully connected layers in the two conventions users arrive with.
//   Linear (PyTorch): weight [out, in], bias [out], y = x·Wᵀ + b; weight ~ kaiming_uniform(a = √5), bias
//     ~ U(±1/√in) — torch.nn.Linear's reset_parameters.
//   Dense (Keras): kernel [in, out], bias [out], y = activation(x·K + b); kernel ~ glorot_uniform, bias = 0.
//     Without input_dim the parameters are created on the first call, from the input's last dimension.
// Both run one GEMM with the transpose passed to BLAS, and one broadcast add.
#pragma once

#include <optional>
#include <string>

#include "descent/core/random.hpp"
#include "descent/nn/activation.hpp"
#include "descent/nn/module.hpp"

namespace descent::nn {

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, DType dtype = kFloat32,
         Generator& gen = default_generator());
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Linear"; }

  Tensor weight;
  Tensor bias;  // undefined when built without bias
};

struct DenseOptions {
  std::string activation = "linear";
  bool use_bias = true;
  DType dtype = kFloat32;
};

class Dense : public Module {
 public:
  explicit Dense(int64_t units, std::string activation = "linear", std::optional<int64_t> input_dim = {});
  Dense(int64_t units, const DenseOptions& options, std::optional<int64_t> input_dim = {});
  Tensor forward(const Tensor& input) override;
  // x·K + b without the activation: Sequential trains a softmax (sigmoid) output layer through this and the
  // loss's logits form, the fused, stable log-softmax cross-entropy.
  Tensor forward_pre_activation(const Tensor& input);
  std::string type_name() const override { return "Dense"; }

  // Creates the parameters for inputs with `input_dim` features (done by the first call when not given).
  void build(int64_t input_dim, Generator& gen = default_generator());
  bool built() const { return kernel.defined(); }
  int64_t units() const { return units_; }
  const std::string& activation_name() const { return options_.activation; }
  const DenseOptions& options() const { return options_; }  // use_bias and dtype, e.g. for layer configs

  Tensor kernel;
  Tensor bias;

 private:
  int64_t units_;
  DenseOptions options_;
  Activation activation_;
};

}  // namespace descent::nn
