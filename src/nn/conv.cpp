// Conv2D, MaxPooling2D and AveragePooling2D: Keras' configuration and initialisers over ops/conv.hpp.
#include "descent/nn/conv.hpp"

#include <utility>

#include "descent/nn/init.hpp"

namespace descent::nn {
namespace {

void check_padding_name(const char* layer, const std::string& padding) {
  DESCENT_CHECK(padding == "valid" || padding == "same", layer, ": padding '", padding,
                "' is not one of 'valid', 'same'");
}

void check_positive(const char* layer, const char* what, Size2d size) {
  DESCENT_CHECK(size.h > 0 && size.w > 0, layer, ": ", what, " [", size.h, ", ", size.w, "] must be positive");
}

// Keras' output size along one axis: ceil(in / s) for "same", floor((in - k) / s) + 1 for "valid".
int64_t output_extent(const std::string& padding, int64_t in, int64_t k, int64_t s) {
  if (padding == "same") return (in + s - 1) / s;
  return in >= k ? (in - k) / s + 1 : 0;
}

void check_image(const char* layer, const Shape& shape) {
  DESCENT_CHECK(shape.size() == 4, layer, ": input ", shape, " must be 4-D [N, H, W, C] (channels last)");
}

}  // namespace

// ---- Conv2D ---------------------------------------------------------------------------------------------------------

Conv2D::Conv2D(int64_t filters, Size2d kernel_size, std::string activation_name)
    : Conv2D(filters, kernel_size, Conv2DOptions{.activation = std::move(activation_name)}) {}

Conv2D::Conv2D(int64_t filters, Size2d kernel_size, const Conv2DOptions& options)
    : filters_(filters), kernel_size_(kernel_size), options_(options), activation_(activation(options.activation)) {
  DESCENT_CHECK(filters > 0, "Conv2D: filters = ", filters, " must be positive");
  check_positive("Conv2D", "kernel_size", kernel_size);
  check_positive("Conv2D", "strides", options.strides);
  check_padding_name("Conv2D", options.padding);
  const std::string& k = options.kernel_initializer;
  DESCENT_CHECK(k == "glorot_uniform" || k == "glorot_normal" || k == "he_uniform" || k == "he_normal" ||
                    k == "zeros" || k == "ones",
                "Conv2D: kernel_initializer '", k,
                "' is not one of glorot_uniform, glorot_normal, he_uniform, he_normal, zeros, ones");
  DESCENT_CHECK(options.bias_initializer == "zeros" || options.bias_initializer == "ones", "Conv2D: bias_initializer '",
                options.bias_initializer, "' is not one of zeros, ones");
}

void Conv2D::build(int64_t input_channels, Generator& gen) {
  DESCENT_CHECK(!built(), "Conv2D: already built");
  DESCENT_CHECK(input_channels > 0, "Conv2D: input_channels = ", input_channels, " must be positive");
  kernel = register_parameter("kernel", {kernel_size_.h, kernel_size_.w, input_channels, filters_}, options_.dtype);
  // Keras' fans for a conv kernel: the receptive field times the input (resp. output) channels.
  const int64_t receptive = kernel_size_.h * kernel_size_.w;
  const init::Fans fans{receptive * input_channels, receptive * filters_};
  const std::string& k = options_.kernel_initializer;
  if (k == "glorot_uniform") init::glorot_uniform_(kernel, fans, gen);
  if (k == "glorot_normal") init::glorot_normal_(kernel, fans, gen);
  if (k == "he_uniform") init::he_uniform_(kernel, fans, gen);
  if (k == "he_normal") init::he_normal_(kernel, fans, gen);
  if (k == "ones") init::ones_(kernel);  // "zeros": register_parameter's zeros already
  if (options_.use_bias) {
    bias = register_parameter("bias", {filters_}, options_.dtype);
    if (options_.bias_initializer == "ones") init::ones_(bias);
  }
}

Shape Conv2D::compute_output_shape(const Shape& input_shape) const {
  check_image("Conv2D", input_shape);
  const Size2d s = options_.strides;
  return {input_shape[0], output_extent(options_.padding, input_shape[1], kernel_size_.h, s.h),
          output_extent(options_.padding, input_shape[2], kernel_size_.w, s.w), filters_};
}

Tensor Conv2D::forward(const Tensor& input) {
  check_image("Conv2D", input.shape());
  if (!built()) build(input.size(3));
  DESCENT_CHECK(input.size(3) == kernel.size(2), "Conv2D: input ", input.str(), " has ", input.size(3),
                " channels, the layer was built for ", kernel.size(2));
  return activation_(conv2d(input, kernel, bias, options_.strides, options_.padding, ImageLayout::NHWC));
}

// ---- pooling --------------------------------------------------------------------------------------------------------

Pooling2D::Pooling2D(const char* name, Size2d pool_size, std::optional<Size2d> strides, std::string padding)
    : name_(name), pool_size_(pool_size), strides_(strides.value_or(pool_size)), padding_(std::move(padding)) {
  check_positive(name, "pool_size", pool_size_);
  check_positive(name, "strides", strides_);
  check_padding_name(name, padding_);
}

Shape Pooling2D::compute_output_shape(const Shape& input_shape) const {
  check_image(name_, input_shape);
  return {input_shape[0], output_extent(padding_, input_shape[1], pool_size_.h, strides_.h),
          output_extent(padding_, input_shape[2], pool_size_.w, strides_.w), input_shape[3]};
}

Padding2d Pooling2D::padding_for_input(const Tensor& input) const {
  check_image(name_, input.shape());
  return padding_for(padding_, {input.size(1), input.size(2)}, pool_size_, strides_);
}

MaxPooling2D::MaxPooling2D(Size2d pool_size, std::optional<Size2d> strides, std::string padding)
    : Pooling2D("MaxPooling2D", pool_size, strides, std::move(padding)) {}

Tensor MaxPooling2D::forward(const Tensor& input) {
  return max_pool2d(input, pool_size(), strides(), padding_for_input(input), ImageLayout::NHWC);
}

AveragePooling2D::AveragePooling2D(Size2d pool_size, std::optional<Size2d> strides, std::string padding)
    : Pooling2D("AveragePooling2D", pool_size, strides, std::move(padding)) {}

Tensor AveragePooling2D::forward(const Tensor& input) {
  return avg_pool2d(input, pool_size(), strides(), padding_for_input(input), ImageLayout::NHWC,
                    /*count_include_pad=*/false);
}

}  // namespace descent::nn
