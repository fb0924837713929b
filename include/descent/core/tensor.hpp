// Tensor: an n-dimensional float32/float64 array viewing shared, 64-byte aligned storage through a shape,
// strides (in elements) and an offset. Copying a Tensor copies a handle: both refer to the same TensorImpl, as in
// PyTorch. Views (reshape, transpose, slice, expand …) share storage and copy nothing.
//
// A Tensor also carries its autograd record: whether it requires a gradient, the node that produced it, and
// its accumulated gradient. The differentiable operations live in ops/ and record themselves through
// autograd/function.hpp; the methods here that look like operations are thin forwards to them.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "descent/core/dtype.hpp"
#include "descent/core/error.hpp"
#include "descent/core/shape.hpp"
#include "descent/core/storage.hpp"

namespace descent {

namespace autograd {
class Node;
}

struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (no storage); defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories --------------------------------------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = kFloat32);  // uninitialised
  static Tensor zeros(const Shape& shape, DType dtype = kFloat32);
  static Tensor ones(const Shape& shape, DType dtype = kFloat32);
  static Tensor full(const Shape& shape, double value, DType dtype = kFloat32);
  static Tensor scalar(double value, DType dtype = kFloat32);  // shape []
  // Copies `values` (row-major) into a new tensor of `shape` and `dtype`; numel must match.
  static Tensor from(std::span<const double> values, const Shape& shape, DType dtype = kFloat32);
  static Tensor from(std::span<const float> values, const Shape& shape, DType dtype = kFloat32);
  static Tensor from(std::initializer_list<double> values, const Shape& shape, DType dtype = kFloat32);
  static Tensor arange(int64_t n, DType dtype = kFloat32);  // 0, 1, …, n-1
  static Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
  static Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype()); }
  static Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype()); }

  // ---- metadata --------------------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  DType dtype() const;
  const Shape& shape() const;
  const std::vector<int64_t>& strides() const;
  int64_t offset() const;  // in elements, from the start of the storage
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t numel() const;
  int64_t size(int64_t axis) const;  // negative axes count from the end
  bool is_contiguous() const;
  std::string str() const;  // "Tensor(float32, [2, 3])"

  // Pointer to the first element. Throws descent::Error if T does not match dtype().
  template <class T>
  T* data() const;
  void* raw_data() const;
  const std::shared_ptr<Storage>& storage() const;

  // ---- values -------------------------------------------------------------------------------------------
  double item() const;                                  // numel() must be 1
  double at(std::initializer_list<int64_t> index) const;  // bounds-checked element read
  std::vector<double> to_vector() const;                // all elements in row-major order

  // ---- views and copies (differentiable) ---------------------------------------------------------------
  Tensor reshape(const Shape& shape) const;  // a view when strides allow, else a copy; one axis may be -1
  Tensor flatten() const { return reshape({-1}); }
  Tensor transpose(int64_t a, int64_t b) const;
  Tensor permute(const std::vector<int64_t>& axes) const;
  Tensor t() const;  // transpose of a 2-D tensor
  Tensor slice(int64_t axis, int64_t start, int64_t stop, int64_t step = 1) const;  // Python slicing rules
  Tensor select(int64_t axis, int64_t index) const;                                  // drops `axis`
  Tensor expand(const Shape& shape) const;  // broadcast view (stride 0)
  Tensor unsqueeze(int64_t axis) const;
  Tensor squeeze(int64_t axis) const;
  Tensor contiguous() const;  // itself when already contiguous
  Tensor clone() const;       // always a fresh contiguous copy
  Tensor to(DType dtype) const;

  // ---- in place (not recorded by autograd) --------------------------------------------------------------
  // Refused on a leaf that requires grad while grad mode is on, as in PyTorch.
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);  // src broadcasts to shape(); dtype converts

  // ---- autograd -----------------------------------------------------------------------------------------
  bool requires_grad() const;
  Tensor& set_requires_grad(bool value = true);  // leaves only
  bool is_leaf() const;
  const std::shared_ptr<autograd::Node>& grad_fn() const;
  Tensor grad() const;  // undefined until a backward pass reaches this tensor
  void set_grad(const Tensor& grad);
  void retain_grad();  // keep the gradient of a non-leaf after backward
  Tensor detach() const;  // shares storage, cut from the graph
  // Back-propagates from this tensor. A scalar needs no seed; otherwise pass d(loss)/d(this).
  void backward(const Tensor& seed = Tensor(), bool retain_graph = false, bool create_graph = false) const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  // A view of this tensor's storage with other shape/strides/offset; no copy, no autograd record.
  Tensor as_strided(const Shape& shape, const std::vector<int64_t>& strides, int64_t offset) const;

 private:
  const TensorImpl& checked() const;
  std::shared_ptr<TensorImpl> impl_;
};

// The state behind a Tensor handle. Exposed so the parameter arena can rebind parameters to new storage.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  std::vector<int64_t> strides;
  int64_t offset = 0;
  DType dtype = kFloat32;

  bool requires_grad = false;
  bool retains_grad = false;
  Tensor grad;
  std::shared_ptr<autograd::Node> grad_fn;
};

template <class T>
T* Tensor::data() const {
  const TensorImpl& impl = checked();
  DESCENT_CHECK(impl.dtype == dtype_of<T>(), "Tensor::data: tensor is ", dtype_name(impl.dtype),
                ", asked for ", dtype_name(dtype_of<T>()));
  return static_cast<T*>(impl.storage->data()) + impl.offset;
}

std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace descent
