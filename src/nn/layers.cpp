// Dropout, Flatten, Reshape and the Activation layer, as their Keras namesakes.
#include "descent/nn/layers.hpp"

#include "descent/ops/norm.hpp"

namespace descent::nn {

Dropout::Dropout(double rate, std::optional<uint64_t> seed)
    : rate_(rate), seed_(seed), gen_(seed ? *seed : default_generator().next_u64()) {
  DESCENT_CHECK(rate >= 0 && rate <= 1, "Dropout: rate = ", rate, " is outside [0, 1]");
}

Tensor Dropout::forward(const Tensor& input) { return dropout(input, rate_, is_training(), gen_); }

Tensor Flatten::forward(const Tensor& input) {
  DESCENT_CHECK(input.defined() && input.dim() >= 1, "Flatten: input ",
                input.defined() ? shape_str(input.shape()) : "undefined", " has no batch axis");
  int64_t features = 1;
  for (int64_t d = 1; d < input.dim(); ++d) features *= input.size(d);
  return input.reshape({input.size(0), features});
}

Reshape::Reshape(Shape target_shape) : target_shape_(std::move(target_shape)) {
  int64_t unknown = 0;
  for (int64_t d : target_shape_) {
    DESCENT_CHECK(d > 0 || d == -1, "Reshape: target_shape ", shape_str(target_shape_),
                  " may hold positive sizes and one -1 only");
    unknown += d == -1;
  }
  DESCENT_CHECK(unknown <= 1, "Reshape: target_shape ", shape_str(target_shape_), " has more than one -1");
}

Tensor Reshape::forward(const Tensor& input) {
  DESCENT_CHECK(input.defined() && input.dim() >= 1, "Reshape: input has no batch axis");
  const int64_t n = input.size(0);
  int64_t per_sample = 1;
  for (int64_t d = 1; d < input.dim(); ++d) per_sample *= input.size(d);
  int64_t known = 1;
  bool has_unknown = false;
  for (int64_t d : target_shape_) {
    if (d == -1)
      has_unknown = true;
    else
      known *= d;
  }
  Shape shape{n};
  for (int64_t d : target_shape_) {
    if (d == -1) {
      DESCENT_CHECK(known > 0 && per_sample % known == 0, "Reshape: input ", shape_str(input.shape()),
                    " cannot be reshaped to [batch] + ", shape_str(target_shape_));
      shape.push_back(per_sample / known);
    } else {
      shape.push_back(d);
    }
  }
  DESCENT_CHECK(has_unknown || known == per_sample, "Reshape: input ", shape_str(input.shape()), " has ", per_sample,
                " values per sample, target_shape ", shape_str(target_shape_), " holds ", known);
  return input.reshape(shape);
}

ActivationLayer::ActivationLayer(std::string name) : name_(std::move(name)), fn_(activation(name_)) {}

Tensor ActivationLayer::forward(const Tensor& input) { return fn_(input); }

}  // namespace descent::nn
