// max_pool2d and avg_pool2d: float32 on oneDNN's pooling primitives in the caller's layout (max keeps the forward's
// workspace, the argmax positions, for its backward); float64 and backward passes recorded with create_graph on
// direct loops expressed as linear maps (gathering the maxima, averaging windows) with their adjoints.
#include <cmath>
#include <cstddef>
#include <memory>
#include <unordered_map>
#include <vector>

#include "conv_common.hpp"

namespace descent {
namespace {

using detail::execute;
using detail::Window;

Window check_pool(const char* op, const Tensor& x, Size2d kernel, Size2d stride, const Padding2d& padding,
                  ImageLayout layout) {
  Window g = detail::make_window(op, x, kernel, stride, padding, layout);
  // PyTorch asks for pad <= kernel / 2; this weaker bound is what keeps an input element in every window (the
  // last window starts before in + bottom - kernel < in), so the max and the exclude-padding average are defined.
  DESCENT_CHECK(
      padding.top < kernel.h && padding.bottom < kernel.h && padding.left < kernel.w && padding.right < kernel.w, op,
      ": padding (top ", padding.top, ", bottom ", padding.bottom, ", left ", padding.left, ", right ", padding.right,
      ") must be smaller than the kernel ", kernel.h, "x", kernel.w, " (input ", x.shape(), ")");
  return g;
}

// One window: where its output goes and the input rows/columns it covers, clipped to the input.
struct WindowAt {
  int64_t out;   // output offset (contiguous, the problem's layout)
  int64_t base;  // input offset of (n, c, 0, 0)
  int64_t y0, y1, x0, x1;
};

// Calls visit(window) for every output element. Planes (n, c) run in parallel: the input elements of one plane are
// read (and, in adjoints, written) by that plane's windows only.
template <class Visit>
void for_each_window(const Window& g, Visit visit) {
  const auto in = g.strides(g.c, g.h, g.w);
  const auto out = g.strides(g.c, g.oh, g.ow);  // not a structured binding: clang < 16 cannot capture those
  const int64_t out_n = out[0], out_c = out[1], out_y = out[2], out_x = out[3];
  const int64_t planes = g.n * g.c;
  const int64_t per_plane = std::max<int64_t>(g.oh * g.ow * g.kh * g.kw, 1);
  parallel_for(planes, std::max<int64_t>(1, kParallelGrain / per_plane), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / g.c;
      const int64_t c = p % g.c;
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        const int64_t ys = oy * g.sh - g.pad.top;
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          const int64_t xs = ox * g.sw - g.pad.left;
          visit(WindowAt{n * out_n + c * out_c + oy * out_y + ox * out_x, n * in[0] + c * in[1],
                         std::max<int64_t>(ys, 0), std::min(ys + g.kh, g.h), std::max<int64_t>(xs, 0),
                         std::min(xs + g.kw, g.w)});
        }
      }
    }
  });
}

// ---- reference -----------------------------------------------------------------------------------------------------

// For each output element, the input offset of its window's maximum: the first one, or the last NaN (PyTorch's
// max_pool2d rule, `val > max || isnan(val)`).
std::shared_ptr<const std::vector<int64_t>> max_indices(const Tensor& x, const Window& g) {
  const Tensor xc = x.detach().contiguous();
  auto idx = std::make_shared<std::vector<int64_t>>(static_cast<size_t>(g.n * g.c * g.oh * g.ow));
  const int64_t sy = g.strides(g.c, g.h, g.w)[2];
  const int64_t sx = g.strides(g.c, g.h, g.w)[3];
  dispatch(x.dtype(), [&]<class T>() {
    const T* src = xc.data<T>();
    for_each_window(g, [&](const WindowAt& w) {
      int64_t best = w.base + w.y0 * sy + w.x0 * sx;
      for (int64_t y = w.y0; y < w.y1; ++y) {
        for (int64_t px = w.x0; px < w.x1; ++px) {
          const int64_t at = w.base + y * sy + px * sx;
          if (src[at] > src[best] || std::isnan(src[at])) best = at;
        }
      }
      (*idx)[static_cast<size_t>(w.out)] = best;
    });
  });
  return idx;
}

// out = x[idx] and its adjoint, the scatter-add of the output gradient to the maxima.
std::shared_ptr<const detail::LinearMap> gather_map(const Window& g, std::shared_ptr<const std::vector<int64_t>> idx) {
  auto map = std::make_shared<detail::LinearMap>();
  map->name = "max_pool2d";
  map->forward = [g, idx](const Tensor& x) {
    const Tensor xc = x.contiguous();
    Tensor out = Tensor::empty(g.output_shape(g.c), x.dtype());
    dispatch(x.dtype(), [&]<class T>() {
      const T* src = xc.data<T>();
      T* dst = out.data<T>();
      for (size_t k = 0; k < idx->size(); ++k) dst[k] = src[(*idx)[k]];
    });
    return out;
  };
  map->adjoint = [g, idx](const Tensor& gy) {
    const Tensor gc = gy.contiguous();
    Tensor dx = Tensor::zeros(g.input_shape(), gy.dtype());
    dispatch(gy.dtype(), [&]<class T>() {
      const T* src = gc.data<T>();
      T* dst = dx.data<T>();
      for (size_t k = 0; k < idx->size(); ++k) dst[(*idx)[k]] += src[k];
    });
    return dx;
  };
  return map;
}

// Window means and their adjoint, which spreads each output gradient evenly over its window.
std::shared_ptr<const detail::LinearMap> average_map(const Window& g, bool count_include_pad) {
  const auto divisor = [g, count_include_pad](const WindowAt& w) {
    return count_include_pad ? g.kh * g.kw : (w.y1 - w.y0) * (w.x1 - w.x0);
  };
  const int64_t sy = g.strides(g.c, g.h, g.w)[2];
  const int64_t sx = g.strides(g.c, g.h, g.w)[3];
  auto map = std::make_shared<detail::LinearMap>();
  map->name = "avg_pool2d";
  map->forward = [g, divisor, sy, sx](const Tensor& x) {
    const Tensor xc = x.contiguous();
    Tensor out = Tensor::empty(g.output_shape(g.c), x.dtype());
    dispatch(x.dtype(), [&]<class T>() {
      const T* src = xc.data<T>();
      T* dst = out.data<T>();
      for_each_window(g, [&](const WindowAt& w) {
        T total = 0;
        for (int64_t y = w.y0; y < w.y1; ++y)
          for (int64_t px = w.x0; px < w.x1; ++px) total += src[w.base + y * sy + px * sx];
        dst[w.out] = total / static_cast<T>(divisor(w));
      });
    });
    return out;
  };
  map->adjoint = [g, divisor, sy, sx](const Tensor& gy) {
    const Tensor gc = gy.contiguous();
    Tensor dx = Tensor::zeros(g.input_shape(), gy.dtype());
    dispatch(gy.dtype(), [&]<class T>() {
      const T* src = gc.data<T>();
      T* dst = dx.data<T>();
      for_each_window(g, [&](const WindowAt& w) {
        const T share = src[w.out] / static_cast<T>(divisor(w));
        for (int64_t y = w.y0; y < w.y1; ++y)
          for (int64_t px = w.x0; px < w.x1; ++px) dst[w.base + y * sy + px * sx] += share;
      });
    });
    return dx;
  };
  return map;
}

// ---- oneDNN -------------------------------------------------------------------------------------------------------

struct PoolPrimitives {
  dnnl::memory::desc src, dst, workspace;
  dnnl::pooling_forward forward;
  dnnl::pooling_backward backward;  // training entries only
};

PoolPrimitives make_pool_primitives(const Window& g, dnnl::algorithm algo, bool training) {
  PoolPrimitives e;
  e.src = detail::image_desc(g.n, g.c, g.h, g.w, g.layout);
  e.dst = detail::image_desc(g.n, g.c, g.oh, g.ow, g.layout);
  const dnnl::memory::dims strides{g.sh, g.sw};
  const dnnl::memory::dims kernel{g.kh, g.kw};
  const dnnl::memory::dims pad_l{g.pad.top, g.pad.left};
  const dnnl::memory::dims pad_r{g.pad.bottom, g.pad.right};
  const auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  const dnnl::pooling_forward::desc fwd(prop, algo, e.src, e.dst, strides, kernel, pad_l, pad_r);
  const dnnl::pooling_forward::primitive_desc fwd_pd(fwd, detail::dnnl_engine());
  e.forward = dnnl::pooling_forward(fwd_pd);
  e.workspace = fwd_pd.workspace_desc();  // the argmax positions for max pooling in training; empty otherwise
  if (training) {
    const dnnl::pooling_backward::desc bwd(algo, e.src, e.dst, strides, kernel, pad_l, pad_r);
    e.backward = dnnl::pooling_backward(dnnl::pooling_backward::primitive_desc(bwd, detail::dnnl_engine(), fwd_pd));
  }
  return e;
}

std::shared_ptr<const PoolPrimitives> pool_primitives(const Window& g, dnnl::algorithm algo, bool training) {
  static detail::PrimitiveCache<PoolPrimitives> cache;
  std::vector<int64_t> key = g.cache_key();
  key.insert(key.end(), {static_cast<int64_t>(algo), training, num_threads()});
  return cache.get(key, [&] { return make_pool_primitives(g, algo, training); });
}

// The reference's backward, differentiable: what the oneDNN closures fall back to under create_graph.
Tensor reference_pool_backward(const Tensor& x, const Tensor& gy, const Window& g, bool is_max, bool include_pad) {
  const auto map = is_max ? gather_map(g, max_indices(x, g)) : average_map(g, include_pad);
  return detail::apply_linear(map, gy, /*adjoint=*/true);
}

Tensor onednn_pool(const Tensor& x, const Window& g, bool is_max, bool include_pad) {
  const dnnl::algorithm algo = is_max        ? dnnl::algorithm::pooling_max
                               : include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                             : dnnl::algorithm::pooling_avg_exclude_padding;
  const bool training = autograd::needs_grad({x});
  const auto prims = pool_primitives(g, algo, training);
  const Tensor x_c = x.contiguous();
  Tensor out = Tensor::empty(g.output_shape(g.c), kFloat32);
  std::shared_ptr<std::byte[]> workspace;
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, detail::wrap(prims->src, x_c)},
                                             {DNNL_ARG_DST, detail::wrap(prims->dst, out)}};
  if (const size_t bytes = prims->workspace.get_size(); bytes > 0) {
    workspace = std::shared_ptr<std::byte[]>(new std::byte[bytes]);
    args.emplace(DNNL_ARG_WORKSPACE, dnnl::memory(prims->workspace, detail::dnnl_engine(), workspace.get()));
  }
  execute(prims->forward, args);
  if (!training) return out;
  return autograd::record(
      is_max ? "max_pool2d" : "avg_pool2d", out, {x}, [x, g, prims, workspace, is_max, include_pad](const Tensor& gy) {
        // Grad mode is on inside a backward only with create_graph.
        if (is_grad_enabled()) {
          return std::vector<Tensor>{reference_pool_backward(x, gy, g, is_max, include_pad)};
        }
        const Tensor g_c = gy.contiguous();
        Tensor dx = Tensor::empty(x.shape(), kFloat32);
        std::unordered_map<int, dnnl::memory> bargs{{DNNL_ARG_DIFF_DST, detail::wrap(prims->dst, g_c)},
                                                    {DNNL_ARG_DIFF_SRC, detail::wrap(prims->src, dx)}};
        if (workspace) {
          bargs.emplace(DNNL_ARG_WORKSPACE, dnnl::memory(prims->workspace, detail::dnnl_engine(), workspace.get()));
        }
        execute(prims->backward, bargs);
        return std::vector<Tensor>{dx};
      });
}

bool runs_on_onednn(const Tensor& x) { return x.dtype() == kFloat32 && x.numel() > 0; }

}  // namespace

Tensor max_pool2d_reference(const Tensor& x, Size2d kernel, Size2d stride, const Padding2d& padding,
                            ImageLayout layout) {
  const Window g = check_pool("max_pool2d", x, kernel, stride, padding, layout);
  return detail::apply_linear(gather_map(g, max_indices(x, g)), x);
}

Tensor avg_pool2d_reference(const Tensor& x, Size2d kernel, Size2d stride, const Padding2d& padding, ImageLayout layout,
                            bool count_include_pad) {
  const Window g = check_pool("avg_pool2d", x, kernel, stride, padding, layout);
  return detail::apply_linear(average_map(g, count_include_pad), x);
}

Tensor max_pool2d(const Tensor& x, Size2d kernel, Size2d stride, const Padding2d& padding, ImageLayout layout) {
  const Window g = check_pool("max_pool2d", x, kernel, stride, padding, layout);
  if (!runs_on_onednn(x)) return detail::apply_linear(gather_map(g, max_indices(x, g)), x);
  return onednn_pool(x, g, /*is_max=*/true, false);
}

Tensor avg_pool2d(const Tensor& x, Size2d kernel, Size2d stride, const Padding2d& padding, ImageLayout layout,
                  bool count_include_pad) {
  const Window g = check_pool("avg_pool2d", x, kernel, stride, padding, layout);
  if (!runs_on_onednn(x)) return detail::apply_linear(average_map(g, count_include_pad), x);
  return onednn_pool(x, g, /*is_max=*/false, count_include_pad);
}

}  // namespace descent
