// conv2d: float32 on oneDNN's convolution primitives (forward, backward data, backward weights + bias), with the
// activations and weights passed in the caller's layout through format tags (nhwc/hwio for Keras, nchw/oihw for
// PyTorch) so nothing is transposed on the way in or out. float64, which oneDNN does not run on CPUs, and backward
// passes recorded with create_graph use the im2col + GEMM reference built from differentiable ops.
#include <algorithm>
#include <string>
#include <unordered_map>

#include "conv_common.hpp"
#include "descent/ops/elementwise.hpp"
#include "descent/ops/linalg.hpp"
#include "descent/ops/reduction.hpp"

namespace descent {
namespace detail {

const char* layout_name(ImageLayout layout) { return layout == ImageLayout::NHWC ? "NHWC" : "NCHW"; }

Window make_window(const char* op, const Tensor& x, Size2d kernel, Size2d stride, const Padding2d& padding,
                   ImageLayout layout) {
  const bool nhwc = layout == ImageLayout::NHWC;
  DESCENT_CHECK(x.defined(), op, ": the input is undefined");
  DESCENT_CHECK(x.dim() == 4, op, ": input ", x.shape(), " must be 4-D ", nhwc ? "[N, H, W, C]" : "[N, C, H, W]", " (",
                layout_name(layout), ")");
  DESCENT_CHECK(stride.h > 0 && stride.w > 0, op, ": stride [", stride.h, ", ", stride.w, "] must be positive");
  DESCENT_CHECK(kernel.h > 0 && kernel.w > 0, op, ": kernel size [", kernel.h, ", ", kernel.w, "] must be positive");
  DESCENT_CHECK(padding.top >= 0 && padding.bottom >= 0 && padding.left >= 0 && padding.right >= 0, op,
                ": padding (top ", padding.top, ", bottom ", padding.bottom, ", left ", padding.left, ", right ",
                padding.right, ") must not be negative");
  Window g;
  g.layout = layout;
  g.n = x.size(0);
  g.c = x.size(nhwc ? 3 : 1);
  g.h = x.size(nhwc ? 1 : 2);
  g.w = x.size(nhwc ? 2 : 3);
  g.kh = kernel.h;
  g.kw = kernel.w;
  g.sh = stride.h;
  g.sw = stride.w;
  g.pad = padding;
  const int64_t ph = g.h + padding.top + padding.bottom;
  const int64_t pw = g.w + padding.left + padding.right;
  DESCENT_CHECK(g.kh <= ph && g.kw <= pw, op, ": kernel ", g.kh, "x", g.kw, " is larger than the padded input ", ph,
                "x", pw, " (input ", x.shape(), ", ", layout_name(layout), ")");
  g.oh = (ph - g.kh) / g.sh + 1;
  g.ow = (pw - g.kw) / g.sw + 1;
  return g;
}

dnnl::engine& dnnl_engine() {
  // Never destroyed: the primitive caches (function statics made before it) outlive any static engine.
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

dnnl::stream& dnnl_stream() {
  thread_local dnnl::stream stream(dnnl_engine());
  return stream;
}

}  // namespace detail

Padding2d padding_for(std::string_view mode, Size2d input, Size2d kernel, Size2d stride) {
  if (mode == "valid") return {};
  DESCENT_CHECK(mode == "same", "padding '", mode, "' is not one of 'valid', 'same'");
  DESCENT_CHECK(stride.h > 0 && stride.w > 0, "padding 'same': stride [", stride.h, ", ", stride.w,
                "] must be positive");
  // TensorFlow's rule (tf.nn.convolution, "same"): out = ceil(in / s), total = max((out - 1) s + k - in, 0),
  // before = total / 2, the remainder after.
  const auto split = [](int64_t in, int64_t k, int64_t s) {
    const int64_t out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>((out - 1) * s + k - in, 0);
    return std::pair<int64_t, int64_t>{total / 2, total - total / 2};
  };
  const auto [top, bottom] = split(input.h, kernel.h, stride.h);
  const auto [left, right] = split(input.w, kernel.w, stride.w);
  return {top, bottom, left, right};
}

Size2d window_output_size(Size2d input, Size2d kernel, Size2d stride, const Padding2d& padding) {
  DESCENT_CHECK(stride.h > 0 && stride.w > 0, "window_output_size: stride [", stride.h, ", ", stride.w,
                "] must be positive");
  return {(input.h + padding.top + padding.bottom - kernel.h) / stride.h + 1,
          (input.w + padding.left + padding.right - kernel.w) / stride.w + 1};
}

namespace {

using detail::execute;
using detail::Window;

// ---- checks -----------------------------------------------------------------------------------------------------

struct ConvProblem {
  Window g;
  int64_t out_channels = 0;
};

ConvProblem check_conv(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2d stride,
                       const Padding2d& padding, ImageLayout layout) {
  const bool nhwc = layout == ImageLayout::NHWC;
  DESCENT_CHECK(weight.defined() && weight.dim() == 4, "conv2d: weight ",
                weight.defined() ? shape_str(weight.shape()) : std::string("(undefined)"), " must be 4-D ",
                nhwc ? "[kh, kw, C_in, C_out] (NHWC)" : "[C_out, C_in, kh, kw] (NCHW)");
  DESCENT_CHECK(x.defined() && x.dtype() == weight.dtype(), "conv2d: input ", x.defined() ? x.str() : "(undefined)",
                " and weight ", weight.str(), " differ in dtype");
  const Size2d kernel = nhwc ? Size2d{weight.size(0), weight.size(1)} : Size2d{weight.size(2), weight.size(3)};
  const int64_t in_channels = weight.size(nhwc ? 2 : 1);
  const int64_t out_channels = weight.size(nhwc ? 3 : 0);
  ConvProblem p{detail::make_window("conv2d", x, kernel, stride, padding, layout), out_channels};
  DESCENT_CHECK(p.g.c == in_channels, "conv2d: input ", x.shape(), " has ", p.g.c, " channels, weight ", weight.shape(),
                " expects ", in_channels, " (", detail::layout_name(layout), ")");
  DESCENT_CHECK(out_channels > 0 && in_channels > 0, "conv2d: weight ", weight.shape(), " has no channels");
  if (bias.defined()) {
    DESCENT_CHECK(bias.dim() == 1 && bias.size(0) == out_channels, "conv2d: bias ", bias.shape(), " must be [",
                  out_channels, "] for weight ", weight.shape());
    DESCENT_CHECK(bias.dtype() == x.dtype(), "conv2d: bias ", bias.str(), " and input ", x.str(), " differ in dtype");
  }
  return p;
}

// ---- reference: im2col + GEMM ---------------------------------------------------------------------------------------

// The columns matrix has one row per output pixel (n, y, x) and one column per kernel tap, ordered as the weight
// stores them so that the weight is a [K, C_out] (hwio) or [C_out, K] (oihw) matrix without a copy: (i, j, c) for
// NHWC, (c, i, j) for NCHW.
std::array<int64_t, 3> column_strides(const Window& g) {  // {channel, kernel row, kernel column}
  if (g.layout == ImageLayout::NHWC) return {1, g.kw * g.c, g.c};
  return {g.kh * g.kw, g.kw, 1};
}

// Visits every (output pixel row, column, input offset) with the input offset -1 for padding; the work for one image
// touches only that image's rows and input, so images run in parallel.
template <class Visit>
void for_each_tap(const Window& g, Visit visit) {
  // Named copies rather than structured bindings: clang before 16 cannot capture bindings in a lambda.
  const auto strides = g.strides(g.c, g.h, g.w);
  const int64_t sn = strides[0], sc = strides[1], sy = strides[2], sx = strides[3];
  const std::array<int64_t, 3> columns = column_strides(g);
  const int64_t kc = columns[0], ki = columns[1], kj = columns[2];
  const int64_t k = g.c * g.kh * g.kw;
  const int64_t per_image = g.oh * g.ow * k;
  parallel_for(g.n, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(per_image, 1)),
               [&](int64_t n0, int64_t n1) {
                 for (int64_t n = n0; n < n1; ++n) {
                   for (int64_t oy = 0; oy < g.oh; ++oy) {
                     for (int64_t ox = 0; ox < g.ow; ++ox) {
                       const int64_t row = (n * g.oh + oy) * g.ow + ox;
                       for (int64_t i = 0; i < g.kh; ++i) {
                         const int64_t y = oy * g.sh + i - g.pad.top;
                         for (int64_t j = 0; j < g.kw; ++j) {
                           const int64_t x = ox * g.sw + j - g.pad.left;
                           const bool inside = y >= 0 && y < g.h && x >= 0 && x < g.w;
                           for (int64_t c = 0; c < g.c; ++c) {
                             visit(row * k + c * kc + i * ki + j * kj, inside ? n * sn + c * sc + y * sy + x * sx : -1);
                           }
                         }
                       }
                     }
                   }
                 }
               });
}

std::shared_ptr<const detail::LinearMap> im2col_map(const Window& g) {
  auto map = std::make_shared<detail::LinearMap>();
  map->name = "im2col";
  map->forward = [g](const Tensor& x) {
    const Tensor xc = x.contiguous();
    Tensor cols = Tensor::empty({g.n * g.oh * g.ow, g.c * g.kh * g.kw}, x.dtype());
    dispatch(x.dtype(), [&]<class T>() {
      const T* src = xc.data<T>();
      T* dst = cols.data<T>();
      for_each_tap(g, [&](int64_t col, int64_t in) { dst[col] = in < 0 ? T(0) : src[in]; });
    });
    return cols;
  };
  map->adjoint = [g](const Tensor& cols) {  // col2im: each tap adds its column back into the pixel it read
    const Tensor cc = cols.contiguous();
    Tensor x = Tensor::zeros(g.input_shape(), cols.dtype());
    dispatch(cols.dtype(), [&]<class T>() {
      const T* src = cc.data<T>();
      T* dst = x.data<T>();
      for_each_tap(g, [&](int64_t col, int64_t in) {
        if (in >= 0) dst[in] += src[col];
      });
    });
    return x;
  };
  return map;
}

// The weight as the GEMM's right-hand [K, C_out] matrix: a view of hwio, the transpose of a view of oihw.
Tensor weight_matrix(const Tensor& weight, const ConvProblem& p) {
  const int64_t k = p.g.c * p.g.kh * p.g.kw;
  if (p.g.layout == ImageLayout::NHWC) return weight.reshape({k, p.out_channels});
  return weight.reshape({p.out_channels, k}).t();
}

// [N·OH·OW, C_out] rows per output pixel -> the output tensor in the problem's layout.
Tensor rows_to_image(const Tensor& rows, const ConvProblem& p) {
  const Tensor nhwc = rows.reshape({p.g.n, p.g.oh, p.g.ow, p.out_channels});
  return p.g.layout == ImageLayout::NHWC ? nhwc : nhwc.permute({0, 3, 1, 2}).contiguous();
}
Tensor image_to_rows(const Tensor& image, const ConvProblem& p) {
  const Tensor nhwc = p.g.layout == ImageLayout::NHWC ? image : image.permute({0, 2, 3, 1});
  return nhwc.reshape({-1, p.out_channels});
}

Tensor reference_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvProblem& p) {
  const Tensor cols = detail::apply_linear(im2col_map(p.g), x);
  Tensor rows = matmul(cols, weight_matrix(weight, p));
  if (bias.defined()) rows = rows + bias;
  return rows_to_image(rows, p);
}

// d(loss)/d(x, weight, bias) for d(loss)/d(out) = gy, from differentiable ops: the col2im of gy · Wᵀ, colsᵀ · gy
// and the column sums of gy.
std::vector<Tensor> reference_backward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& gy,
                                       const ConvProblem& p) {
  const auto map = im2col_map(p.g);
  const Tensor g_rows = image_to_rows(gy, p);
  const Tensor wm = weight_matrix(weight, p);
  Tensor dx;
  Tensor dw;
  Tensor db;
  if (x.requires_grad()) dx = detail::apply_linear(map, matmul(g_rows, wm.t()), /*adjoint=*/true);
  if (weight.requires_grad()) {
    const Tensor cols = detail::apply_linear(map, x);
    dw = p.g.layout == ImageLayout::NHWC ? matmul(cols.t(), g_rows) : matmul(g_rows.t(), cols);
    dw = dw.reshape(weight.shape());
  }
  if (bias.defined() && bias.requires_grad()) db = sum(g_rows, {0});
  return {dx, dw, db};
}

// ---- oneDNN -------------------------------------------------------------------------------------------------------

struct ConvPrimitives {
  dnnl::memory::desc src, weights, bias, dst;
  dnnl::convolution_forward forward;
  dnnl::convolution_backward_data backward_data;        // training entries only
  dnnl::convolution_backward_weights backward_weights;  // training entries only (with the bias gradient)
};

ConvPrimitives make_conv_primitives(const ConvProblem& p, bool with_bias, bool training) {
  using tag = dnnl::memory::format_tag;
  const Window& g = p.g;
  const bool nhwc = g.layout == ImageLayout::NHWC;
  ConvPrimitives e;
  e.src = detail::image_desc(g.n, g.c, g.h, g.w, g.layout);
  e.dst = detail::image_desc(g.n, p.out_channels, g.oh, g.ow, g.layout);
  // Logical weight dims are always {O, I, kh, kw}; hwio is Keras' [kh, kw, C_in, C_out] storage.
  e.weights =
      dnnl::memory::desc({p.out_channels, g.c, g.kh, g.kw}, dnnl::memory::data_type::f32, nhwc ? tag::hwio : tag::oihw);
  if (with_bias) e.bias = dnnl::memory::desc({p.out_channels}, dnnl::memory::data_type::f32, tag::x);
  const dnnl::memory::dims strides{g.sh, g.sw};
  const dnnl::memory::dims pad_l{g.pad.top, g.pad.left};
  const dnnl::memory::dims pad_r{g.pad.bottom, g.pad.right};
  const auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  const auto algo = dnnl::algorithm::convolution_direct;
  const auto fwd_desc =
      with_bias ? dnnl::convolution_forward::desc(prop, algo, e.src, e.weights, e.bias, e.dst, strides, pad_l, pad_r)
                : dnnl::convolution_forward::desc(prop, algo, e.src, e.weights, e.dst, strides, pad_l, pad_r);
  const dnnl::convolution_forward::primitive_desc fwd_pd(fwd_desc, detail::dnnl_engine());
  e.forward = dnnl::convolution_forward(fwd_pd);
  if (training) {
    const dnnl::convolution_backward_data::desc bd(algo, e.src, e.weights, e.dst, strides, pad_l, pad_r);
    e.backward_data = dnnl::convolution_backward_data(
        dnnl::convolution_backward_data::primitive_desc(bd, detail::dnnl_engine(), fwd_pd));
    const auto bw =
        with_bias
            ? dnnl::convolution_backward_weights::desc(algo, e.src, e.weights, e.bias, e.dst, strides, pad_l, pad_r)
            : dnnl::convolution_backward_weights::desc(algo, e.src, e.weights, e.dst, strides, pad_l, pad_r);
    e.backward_weights = dnnl::convolution_backward_weights(
        dnnl::convolution_backward_weights::primitive_desc(bw, detail::dnnl_engine(), fwd_pd));
  }
  return e;
}

std::shared_ptr<const ConvPrimitives> conv_primitives(const ConvProblem& p, bool with_bias, bool training) {
  static detail::PrimitiveCache<ConvPrimitives> cache;
  std::vector<int64_t> key = p.g.cache_key();
  key.insert(key.end(), {p.out_channels, with_bias, training, num_threads()});
  return cache.get(key, [&] { return make_conv_primitives(p, with_bias, training); });
}

std::vector<Tensor> onednn_backward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& gy,
                                    const ConvPrimitives& e) {
  const Tensor x_c = x.contiguous();
  const Tensor w_c = weight.contiguous();
  const Tensor g_c = gy.contiguous();
  Tensor dx;
  Tensor dw;
  Tensor db;
  if (x.requires_grad()) {
    dx = Tensor::empty(x.shape(), kFloat32);
    execute(e.backward_data, {{DNNL_ARG_DIFF_DST, detail::wrap(e.dst, g_c)},
                              {DNNL_ARG_WEIGHTS, detail::wrap(e.weights, w_c)},
                              {DNNL_ARG_DIFF_SRC, detail::wrap(e.src, dx)}});
  }
  const bool bias_grad = bias.defined() && bias.requires_grad();
  if (weight.requires_grad() || bias_grad) {
    dw = Tensor::empty(weight.shape(), kFloat32);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, detail::wrap(e.src, x_c)},
                                               {DNNL_ARG_DIFF_DST, detail::wrap(e.dst, g_c)},
                                               {DNNL_ARG_DIFF_WEIGHTS, detail::wrap(e.weights, dw)}};
    if (bias.defined()) {
      db = Tensor::empty(bias.shape(), kFloat32);
      args.emplace(DNNL_ARG_DIFF_BIAS, detail::wrap(e.bias, db));
    }
    execute(e.backward_weights, args);
    if (!weight.requires_grad()) dw = Tensor();
    if (!bias_grad) db = Tensor();
  }
  return {dx, dw, db};
}

Tensor onednn_conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvProblem& p) {
  const bool training = autograd::needs_grad({x, weight, bias});
  const auto prims = conv_primitives(p, bias.defined(), training);
  const Tensor x_c = x.contiguous();
  const Tensor w_c = weight.contiguous();
  Tensor out = Tensor::empty(p.g.output_shape(p.out_channels), kFloat32);
  {
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, detail::wrap(prims->src, x_c)},
                                               {DNNL_ARG_WEIGHTS, detail::wrap(prims->weights, w_c)},
                                               {DNNL_ARG_DST, detail::wrap(prims->dst, out)}};
    if (bias.defined()) {
      const Tensor b_c = bias.contiguous();
      args.emplace(DNNL_ARG_BIAS, detail::wrap(prims->bias, b_c));
      execute(prims->forward, args);
    } else {
      execute(prims->forward, args);
    }
  }
  if (!training) return out;
  return autograd::record("conv2d", out, {x, weight, bias}, [x, weight, bias, p, prims](const Tensor& gy) {
    // Grad mode is on inside a backward only with create_graph: then the gradient must itself be differentiable.
    if (is_grad_enabled()) return reference_backward(x, weight, bias, gy, p);
    return onednn_backward(x, weight, bias, gy, *prims);
  });
}

}  // namespace

Tensor conv2d_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2d stride,
                        const Padding2d& padding, ImageLayout layout) {
  const ConvProblem p = check_conv(x, weight, bias, stride, padding, layout);
  return reference_forward(x, weight, bias, p);
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2d stride, const Padding2d& padding,
              ImageLayout layout) {
  const ConvProblem p = check_conv(x, weight, bias, stride, padding, layout);
  // oneDNN runs float32 only; an empty batch has nothing for it to do (the reference handles it with empty GEMMs).
  if (x.dtype() != kFloat32 || p.g.n == 0) return reference_forward(x, weight, bias, p);
  return onednn_conv2d(x, weight, bias, p);
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2d stride, std::string_view padding,
              ImageLayout layout) {
  DESCENT_CHECK(x.defined() && x.dim() == 4 && weight.defined() && weight.dim() == 4, "conv2d: input ",
                x.defined() ? shape_str(x.shape()) : std::string("(undefined)"), " and weight ",
                weight.defined() ? shape_str(weight.shape()) : std::string("(undefined)"), " must both be 4-D");
  const bool nhwc = layout == ImageLayout::NHWC;
  const Size2d input = nhwc ? Size2d{x.size(1), x.size(2)} : Size2d{x.size(2), x.size(3)};
  const Size2d kernel = nhwc ? Size2d{weight.size(0), weight.size(1)} : Size2d{weight.size(2), weight.size(3)};
  return conv2d(x, weight, bias, stride, padding_for(padding, input, kernel, stride), layout);
}

}  // namespace descent
