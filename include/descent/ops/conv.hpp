// 2-D convolution and pooling, forward and backward. float32 runs on oneDNN primitives (the library PyTorch uses on
// CPUs), float64 on an im2col + GEMM reference built from differentiable ops (so it also has every higher
// derivative). The *_reference functions run that reference path in any dtype, for tests to compare against.
#pragma once

#include <cstdint>
#include <string_view>

#include "descent/core/tensor.hpp"

namespace descent {

// Where the channels are. NHWC is Keras' default ("channels_last"): x [N, H, W, C], weight [kh, kw, C_in, C_out] as
// Keras stores a Conv2D kernel. NCHW is PyTorch's: x [N, C, H, W], weight [C_out, C_in, kh, kw].
enum class ImageLayout { NHWC, NCHW };

// A height/width pair; one number means both, as Keras' kernel_size=3.
struct Size2d {
  int64_t h = 1;
  int64_t w = 1;
  constexpr Size2d() = default;
  constexpr Size2d(int64_t both) : h(both), w(both) {}  // NOLINT(google-explicit-constructor): Keras' spelling
  constexpr Size2d(int64_t height, int64_t width) : h(height), w(width) {}
  friend constexpr bool operator==(const Size2d&, const Size2d&) = default;
};

// Explicit zero padding on each side (pooling pads with -inf for max and leaves pads out of the average unless
// count_include_pad).
struct Padding2d {
  int64_t top = 0;
  int64_t bottom = 0;
  int64_t left = 0;
  int64_t right = 0;
  static constexpr Padding2d symmetric(int64_t h, int64_t w) { return {h, h, w, w}; }  // PyTorch's padding=(h, w)
  friend constexpr bool operator==(const Padding2d&, const Padding2d&) = default;
};

// Keras/TensorFlow padding modes for a window of `kernel` moving by `stride` over `input` (height, width):
// "valid" pads nothing; "same" pads so that the output is ceil(input / stride), splitting the total as TensorFlow
// does (the odd pixel goes to the bottom/right). Other names give an Error.
Padding2d padding_for(std::string_view mode, Size2d input, Size2d kernel, Size2d stride);

// Output size of a window of `kernel` moving by `stride` over `input` with `padding`: floor((in + pads - k) / s) + 1.
Size2d window_output_size(Size2d input, Size2d kernel, Size2d stride, const Padding2d& padding);

// Cross-correlation, as torch.nn.functional.conv2d and Keras' Conv2D: out[n, o, y, x] = bias[o] +
// sum_{c, i, j} x[n, c, y·sh + i - top, x·sw + j - left] · w[o, c, i, j] (in the layout's own index order).
// `bias` [C_out] may be undefined. Errors name the op and the shapes: ranks, channel mismatch, a kernel larger
// than the padded input, non-positive strides, negative padding, mixed dtypes.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), Size2d stride = 1,
              const Padding2d& padding = {}, ImageLayout layout = ImageLayout::NCHW);
// The same with Keras' padding names ("valid" or "same").
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2d stride, std::string_view padding,
              ImageLayout layout = ImageLayout::NCHW);

// Max and average pooling over kernel-sized windows (torch.nn.functional.max_pool2d / avg_pool2d; Keras'
// MaxPooling2D / AveragePooling2D). Each padding must be smaller than the kernel, so every window holds at least one
// input element. avg_pool2d divides by the window's count of input elements unless count_include_pad (PyTorch's
// default is true, TensorFlow/Keras' "same" padding behaves as false). The gradient of max goes to the first
// maximum of each window.
Tensor max_pool2d(const Tensor& x, Size2d kernel, Size2d stride, const Padding2d& padding = {},
                  ImageLayout layout = ImageLayout::NCHW);
Tensor avg_pool2d(const Tensor& x, Size2d kernel, Size2d stride, const Padding2d& padding = {},
                  ImageLayout layout = ImageLayout::NCHW, bool count_include_pad = true);

// The im2col + GEMM (and direct loop pooling) reference in any dtype, differentiable to any order. conv2d and the
// pools use it for float64 and for backward passes recorded with create_graph.
Tensor conv2d_reference(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), Size2d stride = 1,
                        const Padding2d& padding = {}, ImageLayout layout = ImageLayout::NCHW);
Tensor max_pool2d_reference(const Tensor& x, Size2d kernel, Size2d stride, const Padding2d& padding = {},
                            ImageLayout layout = ImageLayout::NCHW);
Tensor avg_pool2d_reference(const Tensor& x, Size2d kernel, Size2d stride, const Padding2d& padding = {},
                            ImageLayout layout = ImageLayout::NCHW, bool count_include_pad = true);

}  // namespace descent
