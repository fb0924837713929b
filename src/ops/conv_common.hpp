// Private to src/ops/conv.cpp and src/ops/pool.cpp: the sliding-window geometry with its input checks, the oneDNN
// engine, stream, thread-count guard and primitive cache, and linear maps recorded with their adjoint (the
// reference paths' building block, differentiable to any order).
#pragma once

#include <omp.h>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "descent/autograd/function.hpp"
#include "descent/autograd/grad_mode.hpp"
#include "descent/core/threading.hpp"
#include "descent/ops/conv.hpp"
#include "omp_threads.hpp"

namespace descent::detail {

// One 2-D sliding-window problem (a convolution or a pooling), in layout-independent terms.
struct Window {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input batch, channels, height, width
  int64_t kh = 1, kw = 1, sh = 1, sw = 1;
  Padding2d pad;
  int64_t oh = 0, ow = 0;
  ImageLayout layout = ImageLayout::NCHW;

  // The shape of an image tensor with `channels` channels and the given spatial size, in this layout.
  Shape image_shape(int64_t batch, int64_t channels, int64_t height, int64_t width) const {
    return layout == ImageLayout::NHWC ? Shape{batch, height, width, channels} : Shape{batch, channels, height, width};
  }
  Shape input_shape() const { return image_shape(n, c, h, w); }
  // The geometry as a primitive-cache key; callers append what else their primitives depend on.
  std::vector<int64_t> cache_key() const {
    return {static_cast<int64_t>(layout), n, c, h, w, kh, kw, sh, sw, pad.top, pad.bottom, pad.left, pad.right};
  }
  Shape output_shape(int64_t channels) const { return image_shape(n, channels, oh, ow); }
  // Element strides {batch, channel, row, column} of a contiguous image tensor of this layout.
  std::array<int64_t, 4> strides(int64_t channels, int64_t height, int64_t width) const {
    if (layout == ImageLayout::NHWC) return {height * width * channels, 1, width * channels, channels};
    return {channels * height * width, height * width, width, 1};
  }
};

const char* layout_name(ImageLayout layout);

// Reads N, C, H, W from `x` for `layout` and checks what every window op needs: a 4-D float input, positive
// strides, non-negative padding, and a kernel no larger than the padded input. Errors name `op` and the shapes.
Window make_window(const char* op, const Tensor& x, Size2d kernel, Size2d stride, const Padding2d& padding,
                   ImageLayout layout);

// ---- oneDNN -------------------------------------------------------------------------------------------------------

dnnl::engine& dnnl_engine();  // one CPU engine for the process
dnnl::stream& dnnl_stream();  // one in-order stream per calling thread

inline dnnl::memory::format_tag image_tag(ImageLayout layout) {
  return layout == ImageLayout::NHWC ? dnnl::memory::format_tag::nhwc : dnnl::memory::format_tag::nchw;
}
// oneDNN always takes logical dims in NCHW order; the format tag says how they lie in memory.
inline dnnl::memory::desc image_desc(int64_t n, int64_t c, int64_t h, int64_t w, ImageLayout layout) {
  return dnnl::memory::desc({n, c, h, w}, dnnl::memory::data_type::f32, image_tag(layout));
}
inline dnnl::memory wrap(const dnnl::memory::desc& desc, const Tensor& t) {
  return dnnl::memory(desc, dnnl_engine(), const_cast<float*>(t.data<float>()));
}

// Runs one primitive on the calling thread's stream with descent's thread count, and waits for it.
inline void execute(const dnnl::primitive& primitive, const std::unordered_map<int, dnnl::memory>& args) {
  OmpThreadsGuard threads;
  primitive.execute(dnnl_stream(), args);
  dnnl_stream().wait();
}

// Primitives by problem. Creating a oneDNN primitive descriptor walks the implementation list and may JIT-compile
// kernels: tens of microseconds even when oneDNN's own cache hits, which would dominate a small model's step. Each
// entry holds, for one key (op, prop kind, shapes, strides, pads, layout, bias, thread count), the primitive
// descriptors and primitives of the forward pass and, for training, of the backward passes. Entries are immutable
// once made and shared with the backward closures that use them. A model has a handful of shapes; past kCapacity
// entries (shapes changing every call) the cache starts afresh rather than grow without bound.
template <class Entry>
class PrimitiveCache {
 public:
  static constexpr size_t kCapacity = 256;

  template <class Make>
  std::shared_ptr<const Entry> get(const std::vector<int64_t>& key, Make make) {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(key); it != entries_.end()) return it->second;
    if (entries_.size() >= kCapacity) entries_.clear();
    OmpThreadsGuard threads;
    auto entry = std::make_shared<const Entry>(make());
    entries_.emplace(key, entry);
    return entry;
  }

 private:
  std::mutex mutex_;
  std::map<std::vector<int64_t>, std::shared_ptr<const Entry>> entries_;
};

// ---- linear maps ----------------------------------------------------------------------------------------------------

// A linear map A (im2col, window averaging, gathering maxima) and its adjoint Aᵀ as plain kernels. apply_linear
// records Aᵀ as A's backward and A as Aᵀ's, so a chain of them is differentiable to any order.
struct LinearMap {
  std::string name;
  std::function<Tensor(const Tensor&)> forward;
  std::function<Tensor(const Tensor&)> adjoint;
};

inline Tensor apply_linear(const std::shared_ptr<const LinearMap>& map, const Tensor& x, bool adjoint = false) {
  Tensor out;
  {
    NoGradGuard no_grad;
    out = adjoint ? map->adjoint(x) : map->forward(x);
  }
  if (!autograd::needs_grad({x})) return out;
  return autograd::record(adjoint ? map->name + "_adjoint" : map->name, out, {x}, [map, adjoint](const Tensor& g) {
    return std::vector<Tensor>{apply_linear(map, g, !adjoint)};
  });
}

}  // namespace descent::detail
