// Tensor handles: factories, metadata, element access, in-place fills and copies. Differentiable views live
// in src/ops/views.cpp; the autograd bookkeeping in src/autograd/.
#include "descent/core/tensor.hpp"

#include <algorithm>
#include <cstring>
#include <ostream>

#include "../ops/loops.hpp"
#include "descent/autograd/grad_mode.hpp"

namespace descent {
namespace {

std::shared_ptr<TensorImpl> make_impl(const Shape& shape, DType dtype, bool zero) {
  for (int64_t d : shape) DESCENT_CHECK(d >= 0, "Tensor: negative dimension in shape ", shape);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = Storage::allocate(static_cast<size_t>(numel_of(shape)) * element_size(dtype), zero);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return impl;
}

template <class Src>
Tensor from_values(std::span<const Src> values, const Shape& shape, DType dtype) {
  DESCENT_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape), "Tensor::from: ", values.size(),
                " values do not fill shape ", shape, " (", numel_of(shape), " elements)");
  Tensor t = Tensor::empty(shape, dtype);
  dispatch(dtype, [&]<class T>() { std::copy(values.begin(), values.end(), t.data<T>()); });
  return t;
}

// Reads element `linear` (row-major position) of a possibly strided tensor.
template <class T>
T read_linear(const Tensor& t, int64_t linear) {
  int64_t offset = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    offset += (linear % t.shape()[d]) * t.strides()[d];
    linear /= t.shape()[d];
  }
  return t.data<T>()[offset];
}

}  // namespace

// ---- factories --------------------------------------------------------------------------------------------

Tensor Tensor::empty(const Shape& shape, DType dtype) { return Tensor(make_impl(shape, dtype, false)); }
Tensor Tensor::zeros(const Shape& shape, DType dtype) { return Tensor(make_impl(shape, dtype, true)); }
Tensor Tensor::ones(const Shape& shape, DType dtype) { return full(shape, 1.0, dtype); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  dispatch(dtype, [&]<class T>() { std::fill_n(t.data<T>(), t.numel(), static_cast<T>(value)); });
  return t;
}

Tensor Tensor::scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor Tensor::from(std::span<const double> values, const Shape& shape, DType dtype) {
  return from_values(values, shape, dtype);
}
Tensor Tensor::from(std::span<const float> values, const Shape& shape, DType dtype) {
  return from_values(values, shape, dtype);
}
Tensor Tensor::from(std::initializer_list<double> values, const Shape& shape, DType dtype) {
  return from_values(std::span<const double>(values.begin(), values.size()), shape, dtype);
}

Tensor Tensor::arange(int64_t n, DType dtype) {
  DESCENT_CHECK(n >= 0, "Tensor::arange: n = ", n, " is negative");
  Tensor t = empty({n}, dtype);
  dispatch(dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(i);
  });
  return t;
}

// ---- metadata ---------------------------------------------------------------------------------------------

const TensorImpl& Tensor::checked() const {
  DESCENT_CHECK(impl_ != nullptr, "use of an undefined Tensor (default-constructed, or a gradient never computed)");
  return *impl_;
}

DType Tensor::dtype() const { return checked().dtype; }
const Shape& Tensor::shape() const { return checked().shape; }
const std::vector<int64_t>& Tensor::strides() const { return checked().strides; }
int64_t Tensor::offset() const { return checked().offset; }
int64_t Tensor::numel() const { return numel_of(shape()); }
int64_t Tensor::size(int64_t axis) const { return shape()[normalize_axis(axis, dim(), "Tensor::size")]; }
void* Tensor::raw_data() const {
  const TensorImpl& impl = checked();
  return static_cast<char*>(impl.storage->data()) + impl.offset * static_cast<int64_t>(element_size(impl.dtype));
}
const std::shared_ptr<Storage>& Tensor::storage() const { return checked().storage; }

bool Tensor::is_contiguous() const {
  const TensorImpl& impl = checked();
  int64_t expected = 1;
  for (size_t i = impl.shape.size(); i-- > 0;) {
    if (impl.shape[i] == 1) continue;  // any stride is fine along a length-1 axis
    if (impl.strides[i] != expected) return false;
    expected *= impl.shape[i];
  }
  return true;
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  return concat("Tensor(", dtype_name(dtype()), ", ", shape(), ")");
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  os << t.str();
  if (t.defined() && t.numel() <= 16) {
    os << " {";
    const std::vector<double> v = t.to_vector();
    for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
    os << "}";
  }
  return os;
}

Tensor Tensor::as_strided(const Shape& shape, const std::vector<int64_t>& strides, int64_t offset) const {
  const TensorImpl& src = checked();
  DESCENT_CHECK(shape.size() == strides.size(), "as_strided: shape ", shape, " and strides ", strides,
                " differ in length");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = src.storage;
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = src.dtype;
  return Tensor(std::move(impl));
}

// ---- values -----------------------------------------------------------------------------------------------

double Tensor::item() const {
  DESCENT_CHECK(numel() == 1, "Tensor::item: tensor of shape ", shape(), " has ", numel(),
                " elements, item() needs exactly one");
  return dispatch(dtype(), [&]<class T>() { return static_cast<double>(*data<T>()); });
}

double Tensor::at(std::initializer_list<int64_t> index) const {
  DESCENT_CHECK(static_cast<int64_t>(index.size()) == dim(), "Tensor::at: ", index.size(),
                " indices for a tensor of shape ", shape());
  int64_t offset = 0;
  int64_t d = 0;
  for (int64_t i : index) {
    DESCENT_CHECK(i >= 0 && i < shape()[d], "Tensor::at: index ", i, " is out of range for axis ", d,
                  " of shape ", shape());
    offset += i * strides()[d];
    ++d;
  }
  return dispatch(dtype(), [&]<class T>() { return static_cast<double>(data<T>()[offset]); });
}

std::vector<double> Tensor::to_vector() const {
  std::vector<double> out(static_cast<size_t>(numel()));
  dispatch(dtype(), [&]<class T>() {
    if (is_contiguous()) {
      std::copy_n(data<T>(), numel(), out.begin());
    } else {
      for (int64_t i = 0; i < numel(); ++i) out[i] = read_linear<T>(*this, i);
    }
  });
  return out;
}

// ---- in place ---------------------------------------------------------------------------------------------

namespace {
void check_writable(const Tensor& t, const char* op) {
  DESCENT_CHECK(!(is_grad_enabled() && t.is_leaf() && t.requires_grad()), op,
                ": in-place change of a leaf tensor that requires grad; wrap it in NoGradGuard");
}
}  // namespace

Tensor& Tensor::fill_(double value) {
  check_writable(*this, "fill_");
  dispatch(dtype(), [&]<class T>() {
    T* p = data<T>();
    const T v = static_cast<T>(value);
    if (is_contiguous()) {
      std::fill_n(p, numel(), v);
      return;
    }
    loops::for_each_row<1>(shape(), {strides()}, [&](const std::array<int64_t, 1>& off, int64_t n,
                                                     const std::array<int64_t, 1>& st) {
      for (int64_t j = 0; j < n; ++j) p[off[0] + j * st[0]] = v;
    });
  });
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_writable(*this, "copy_");
  const Shape b = broadcast_shapes(src.shape(), shape(), "copy_");
  DESCENT_CHECK(b == shape(), "copy_: source of shape ", src.shape(), " does not broadcast to ", shape());
  dispatch(dtype(), [&]<class T>() {
    dispatch(src.dtype(), [&]<class S>() {
      T* dst = data<T>();
      const S* ps = src.data<S>();
      if (is_contiguous() && src.is_contiguous() && src.shape() == shape()) {
        if (raw_data() == src.raw_data()) return;
        for (int64_t i = 0, n = numel(); i < n; ++i) dst[i] = static_cast<T>(ps[i]);
        return;
      }
      loops::for_each_row<2>(shape(), {strides(), broadcast_strides(src.shape(), src.strides(), shape())},
                             [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
                               for (int64_t j = 0; j < n; ++j)
                                 dst[off[0] + j * st[0]] = static_cast<T>(ps[off[1] + j * st[1]]);
                             });
    });
  });
  return *this;
}

// ---- autograd accessors -----------------------------------------------------------------------------------

bool Tensor::requires_grad() const { return checked().requires_grad; }
bool Tensor::is_leaf() const { return checked().grad_fn == nullptr; }
const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const { return checked().grad_fn; }
Tensor Tensor::grad() const { return checked().grad; }

Tensor& Tensor::set_requires_grad(bool value) {
  DESCENT_CHECK(is_leaf() || value, "set_requires_grad(false) on a non-leaf tensor; use detach()");
  checked();
  impl_->requires_grad = value;
  return *this;
}

void Tensor::set_grad(const Tensor& grad) {
  checked();
  if (grad.defined()) {
    DESCENT_CHECK(grad.shape() == shape() && grad.dtype() == dtype(), "set_grad: gradient ", grad.str(),
                  " does not match tensor ", str());
  }
  impl_->grad = grad;
}

void Tensor::retain_grad() {
  checked();
  DESCENT_CHECK(requires_grad(), "retain_grad: tensor does not require grad");
  impl_->retains_grad = true;
}

Tensor Tensor::detach() const { return as_strided(shape(), strides(), offset()); }

}  // namespace descent
