// ParamArena: every parameter of a model lives in one contiguous, 64-byte aligned buffer per dtype, and its
// gradient at the same offset of a second buffer of the same layout. Parameter tensors (and their .grad) are
// views. So an optimizer step is one pass over contiguous memory, the global gradient norm is one reduction, an
// allreduce is one call per bucket, and a checkpoint is one write.
//
// Each parameter starts on a 64-byte boundary; the few padding elements between parameters stay zero in both
// buffers, so a kernel may run over the whole span. Adding parameters may move the buffers (growth, or moving
// into a parent module's arena): the tensors handed out stay valid (their views are rebound in place), but raw
// pointers and spans taken earlier do not.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "descent/core/tensor.hpp"

namespace descent::nn {

class ParamArena {
 public:
  struct Entry {
    std::string name;  // dotted path, e.g. "0.weight"
    Tensor param;      // the view handed to the module; requires grad
    Tensor grad;       // the view of the gradient buffer that param.grad() returns
    int64_t offset;    // in elements, within its dtype's buffer
  };

  ParamArena() = default;
  ParamArena(const ParamArena&) = delete;
  ParamArena& operator=(const ParamArena&) = delete;

  // Adds a zero-filled parameter named `name` (unique in this arena); its .grad is a zeroed view of the
  // gradient buffer.
  Tensor add(const std::string& name, const Shape& shape, DType dtype = kFloat32);

  // Moves every parameter of `other` into this arena, named `prefix` + "." + name, keeping values and gradients
  // and rebinding the tensors; `other` is left empty.
  void adopt(ParamArena& other, const std::string& prefix);

  const std::vector<Entry>& entries() const { return entries_; }
  const Entry& entry(const std::string& name) const;  // throws descent::Error naming the missing parameter
  int64_t num_parameters() const;                     // elements, padding excluded
  int64_t buffer_size(DType dtype) const;             // elements in use, padding included

  // The whole parameter / gradient buffer of one dtype (empty when no parameter has it).
  template <class T>
  std::span<T> params() {
    return span_of<T>(buffers_[index(dtype_of<T>())].params);
  }
  template <class T>
  std::span<T> grads() {
    return span_of<T>(buffers_[index(dtype_of<T>())].grads);
  }
  // The whole buffers as 1-D tensors (views), for tensor-level code.
  Tensor params_tensor(DType dtype) const;
  Tensor grads_tensor(DType dtype) const;

  // Zeroes every gradient; a parameter whose .grad was replaced (e.g. by backward with create_graph) gets its
  // arena view back.
  void zero_grad();

 private:
  struct Buffer {
    std::shared_ptr<Storage> params;
    std::shared_ptr<Storage> grads;
    int64_t used = 0;      // elements
    int64_t capacity = 0;  // elements
  };
  static size_t index(DType dtype) { return dtype == kFloat32 ? 0 : 1; }
  template <class T>
  std::span<T> span_of(const std::shared_ptr<Storage>& storage) {
    const Buffer& b = buffers_[index(dtype_of<T>())];
    if (!storage) return {};
    return {static_cast<T*>(storage->data()), static_cast<size_t>(b.used)};
  }
  int64_t reserve(DType dtype, int64_t numel);  // returns the new parameter's offset
  void bind(Entry& entry);                      // points the param and its grad at the buffers

  Buffer buffers_[2];
  std::vector<Entry> entries_;
};

}  // namespace descent::nn
