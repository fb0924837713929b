// The parameter arena: growth by doubling, with the views handed out rebound in place.
#include "descent/nn/arena.hpp"

#include <algorithm>
#include <cstring>

#include "descent/autograd/grad_mode.hpp"

namespace descent::nn {
namespace {

int64_t aligned(int64_t offset, DType dtype) {
  const auto per_line = static_cast<int64_t>(kAlignment / element_size(dtype));
  return (offset + per_line - 1) / per_line * per_line;
}

std::shared_ptr<TensorImpl> view_impl(const std::shared_ptr<Storage>& storage, const Shape& shape, DType dtype,
                                      int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage;
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->offset = offset;
  impl->dtype = dtype;
  return impl;
}

}  // namespace

int64_t ParamArena::reserve(DType dtype, int64_t numel) {
  Buffer& b = buffers_[index(dtype)];
  const int64_t offset = aligned(b.used, dtype);
  const int64_t needed = offset + numel;
  if (needed > b.capacity) {
    const int64_t capacity = std::max<int64_t>({needed, 2 * b.capacity, 1024});
    const size_t bytes = static_cast<size_t>(capacity) * element_size(dtype);
    auto params = Storage::allocate(bytes, true);
    auto grads = Storage::allocate(bytes, true);
    params->set_padding_is_free(true);
    grads->set_padding_is_free(true);
    if (b.used > 0) {
      const size_t used_bytes = static_cast<size_t>(b.used) * element_size(dtype);
      std::memcpy(params->data(), b.params->data(), used_bytes);
      std::memcpy(grads->data(), b.grads->data(), used_bytes);
    }
    b.params = std::move(params);
    b.grads = std::move(grads);
    b.capacity = capacity;
    for (Entry& e : entries_)
      if (e.param.dtype() == dtype) bind(e);
  }
  b.used = needed;
  return offset;
}

void ParamArena::bind(Entry& entry) {
  const Buffer& b = buffers_[index(entry.param.dtype())];
  entry.param.impl()->storage = b.params;
  entry.param.impl()->offset = entry.offset;
  entry.grad.impl()->storage = b.grads;
  entry.grad.impl()->offset = entry.offset;
  entry.param.impl()->grad = entry.grad;
}

Tensor ParamArena::add(const std::string& name, const Shape& shape, DType dtype) {
  DESCENT_CHECK(!name.empty(), "ParamArena::add: parameter name is empty");
  for (const Entry& e : entries_) DESCENT_CHECK(e.name != name, "ParamArena::add: parameter '", name, "' exists");
  for (int64_t d : shape) DESCENT_CHECK(d >= 0, "ParamArena::add: negative dimension in shape ", shape, " of '", name, "'");
  const int64_t offset = reserve(dtype, numel_of(shape));
  const Buffer& b = buffers_[index(dtype)];
  Entry entry{name, Tensor(view_impl(b.params, shape, dtype, offset)), Tensor(view_impl(b.grads, shape, dtype, offset)),
              offset};
  entry.param.impl()->requires_grad = true;
  entry.param.impl()->grad = entry.grad;
  entries_.push_back(entry);
  return entry.param;
}

void ParamArena::adopt(ParamArena& other, const std::string& prefix) {
  if (&other == this) return;
  for (Entry& theirs : other.entries_) {
    const std::string name = prefix.empty() ? theirs.name : prefix + "." + theirs.name;
    for (const Entry& e : entries_) DESCENT_CHECK(e.name != name, "ParamArena::adopt: parameter '", name, "' exists");
    const DType dtype = theirs.param.dtype();
    const int64_t numel = theirs.param.numel();
    const int64_t offset = reserve(dtype, numel);
    const Buffer& b = buffers_[index(dtype)];
    const size_t esize = element_size(dtype);
    std::memcpy(static_cast<char*>(b.params->data()) + offset * esize, theirs.param.raw_data(), numel * esize);
    std::memcpy(static_cast<char*>(b.grads->data()) + offset * esize, theirs.grad.raw_data(), numel * esize);
    Entry mine{name, theirs.param, theirs.grad, offset};
    bind(mine);
    entries_.push_back(std::move(mine));
  }
  other.entries_.clear();
  other.buffers_[0] = Buffer{};
  other.buffers_[1] = Buffer{};
}

const ParamArena::Entry& ParamArena::entry(const std::string& name) const {
  for (const Entry& e : entries_)
    if (e.name == name) return e;
  fail("ParamArena: no parameter named '", name, "'");
}

int64_t ParamArena::num_parameters() const {
  int64_t n = 0;
  for (const Entry& e : entries_) n += e.param.numel();
  return n;
}

int64_t ParamArena::buffer_size(DType dtype) const { return buffers_[index(dtype)].used; }

Tensor ParamArena::params_tensor(DType dtype) const {
  const Buffer& b = buffers_[index(dtype)];
  if (!b.params) return Tensor::empty({0}, dtype);
  return Tensor(view_impl(b.params, {b.used}, dtype, 0));
}

Tensor ParamArena::grads_tensor(DType dtype) const {
  const Buffer& b = buffers_[index(dtype)];
  if (!b.grads) return Tensor::empty({0}, dtype);
  return Tensor(view_impl(b.grads, {b.used}, dtype, 0));
}

void ParamArena::zero_grad() {
  for (DType dtype : {kFloat32, kFloat64}) {
    Buffer& b = buffers_[index(dtype)];
    if (b.grads) std::memset(b.grads->data(), 0, static_cast<size_t>(b.used) * element_size(dtype));
  }
  for (Entry& e : entries_) e.param.impl()->grad = e.grad;
}

}  // namespace descent::nn
