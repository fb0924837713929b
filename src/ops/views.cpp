// Views (reshape, transpose, permute, slice, select, expand, (un)squeeze) share storage and only rewrite shape,
// strides and offset; copies (contiguous, clone, to, cat, stack) make new storage. All are differentiable.
#include "descent/ops/views.hpp"

#include <algorithm>
#include <numeric>

#include "descent/autograd/function.hpp"
#include "descent/ops/reduction.hpp"

namespace descent {
namespace {

// The gradient of a slice: zeros of the input's shape with `g` written into the sliced region.
Tensor slice_backward(const Tensor& g, const Shape& input_shape, int64_t axis, int64_t start, int64_t step) {
  Tensor out = Tensor::zeros(input_shape, g.dtype());
  {
    NoGradGuard no_grad;
    const int64_t stop = start + (g.shape()[axis] - 1) * step + 1;
    out.slice(axis, start, stop, step).copy_(g);
  }
  if (!autograd::needs_grad({g})) return out;
  return autograd::record("slice_backward", out, {g}, [=](const Tensor& gg) {
    return std::vector<Tensor>{gg.slice(axis, start, start + (g.shape()[axis] - 1) * step + 1, step)};
  });
}

Tensor shape_only_backward(const char* name, const Tensor& x, Tensor out) {
  if (!autograd::needs_grad({x})) return out;
  return autograd::record(name, out, {x}, [shape = x.shape()](const Tensor& g) {
    return std::vector<Tensor>{g.reshape(shape)};
  });
}

}  // namespace

Tensor Tensor::reshape(const Shape& requested) const {
  Shape shape = requested;
  int64_t known = 1;
  int64_t infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      DESCENT_CHECK(infer < 0, "reshape: more than one -1 in ", requested);
      infer = static_cast<int64_t>(i);
    } else {
      DESCENT_CHECK(shape[i] >= 0, "reshape: negative size in ", requested);
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    DESCENT_CHECK(known != 0 && numel() % known == 0, "reshape: cannot reshape ", this->shape(), " (", numel(),
                  " elements) to ", requested);
    shape[infer] = numel() / known;
  }
  DESCENT_CHECK(numel_of(shape) == numel(), "reshape: cannot reshape ", this->shape(), " (", numel(), " elements) to ",
                requested);
  if (shape == this->shape()) return *this;
  const Tensor source = contiguous();
  Tensor out = source.as_strided(shape, contiguous_strides(shape), source.offset());
  return shape_only_backward("reshape", source, out);
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
  std::vector<int64_t> axes(static_cast<size_t>(dim()));
  std::iota(axes.begin(), axes.end(), 0);
  std::swap(axes[normalize_axis(a, dim(), "transpose")], axes[normalize_axis(b, dim(), "transpose")]);
  return permute(axes);
}

Tensor Tensor::permute(const std::vector<int64_t>& axes) const {
  DESCENT_CHECK(static_cast<int64_t>(axes.size()) == dim(), "permute: ", axes.size(), " axes for a tensor of shape ",
                shape());
  Shape new_shape(axes.size());
  std::vector<int64_t> new_strides(axes.size());
  std::vector<int64_t> inverse(axes.size(), -1);
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t axis = normalize_axis(axes[i], dim(), "permute");
    DESCENT_CHECK(inverse[axis] < 0, "permute: axis ", axes[i], " appears twice in ", axes);
    inverse[axis] = static_cast<int64_t>(i);
    new_shape[i] = shape()[axis];
    new_strides[i] = strides()[axis];
  }
  Tensor out = as_strided(new_shape, new_strides, offset());
  if (!autograd::needs_grad({*this})) return out;
  return autograd::record("permute", out, {*this}, [inverse](const Tensor& g) {
    return std::vector<Tensor>{g.permute(inverse)};
  });
}

Tensor Tensor::t() const {
  DESCENT_CHECK(dim() <= 2, "t: expects a tensor with at most 2 dimensions, got shape ", shape());
  return dim() < 2 ? *this : transpose(0, 1);
}

Tensor Tensor::slice(int64_t axis_in, int64_t start, int64_t stop, int64_t step) const {
  const int64_t axis = normalize_axis(axis_in, dim(), "slice");
  DESCENT_CHECK(step > 0, "slice: step ", step, " must be positive");
  const int64_t n = shape()[axis];
  auto clip = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
  start = clip(start);
  stop = std::max(clip(stop), start);
  Shape new_shape = shape();
  new_shape[axis] = (stop - start + step - 1) / step;
  std::vector<int64_t> new_strides = strides();
  new_strides[axis] *= step;
  Tensor out = as_strided(new_shape, new_strides, offset() + start * strides()[axis]);
  if (!autograd::needs_grad({*this})) return out;
  return autograd::record("slice", out, {*this}, [shape = shape(), axis, start, step](const Tensor& g) {
    return std::vector<Tensor>{slice_backward(g, shape, axis, start, step)};
  });
}

Tensor Tensor::select(int64_t axis_in, int64_t index) const {
  const int64_t axis = normalize_axis(axis_in, dim(), "select");
  const int64_t n = shape()[axis];
  DESCENT_CHECK(index >= -n && index < n, "select: index ", index, " is out of range for axis ", axis_in, " of shape ",
                shape());
  const int64_t i = index < 0 ? index + n : index;
  return slice(axis, i, i + 1).squeeze(axis);
}

Tensor Tensor::expand(const Shape& requested) const {
  DESCENT_CHECK(requested.size() >= shape().size(), "expand: cannot expand ", shape(), " to fewer dimensions ",
                requested);
  Shape target = requested;
  const size_t lead = requested.size() - shape().size();
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1) {
      DESCENT_CHECK(i >= lead, "expand: -1 is not allowed for a new leading dimension in ", requested);
      target[i] = shape()[i - lead];
    }
    if (i >= lead) {
      const int64_t d = shape()[i - lead];
      DESCENT_CHECK(d == target[i] || d == 1, "expand: cannot expand ", shape(), " to ", requested);
    }
  }
  if (target == shape()) return *this;
  Tensor out = as_strided(target, broadcast_strides(shape(), strides(), target), offset());
  if (!autograd::needs_grad({*this})) return out;
  return autograd::record("expand", out, {*this}, [shape = shape()](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, shape)};
  });
}

Tensor Tensor::unsqueeze(int64_t axis_in) const {
  const int64_t axis = normalize_axis(axis_in, dim() + 1, "unsqueeze");
  Shape new_shape = shape();
  std::vector<int64_t> new_strides = strides();
  const int64_t stride = axis < dim() ? strides()[axis] * shape()[axis] : 1;
  new_shape.insert(new_shape.begin() + axis, 1);
  new_strides.insert(new_strides.begin() + axis, stride);
  return shape_only_backward("unsqueeze", *this, as_strided(new_shape, new_strides, offset()));
}

Tensor Tensor::squeeze(int64_t axis_in) const {
  const int64_t axis = normalize_axis(axis_in, dim(), "squeeze");
  DESCENT_CHECK(shape()[axis] == 1, "squeeze: axis ", axis_in, " of shape ", shape(), " has size ", shape()[axis],
                ", not 1");
  Shape new_shape = shape();
  std::vector<int64_t> new_strides = strides();
  new_shape.erase(new_shape.begin() + axis);
  new_strides.erase(new_strides.begin() + axis);
  return shape_only_backward("squeeze", *this, as_strided(new_shape, new_strides, offset()));
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
  Tensor out = Tensor::empty(shape(), dtype());
  {
    NoGradGuard no_grad;
    out.copy_(*this);
  }
  if (!autograd::needs_grad({*this})) return out;
  return autograd::record("clone", out, {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor out = Tensor::empty(shape(), target);
  {
    NoGradGuard no_grad;
    out.copy_(*this);
  }
  if (!autograd::needs_grad({*this})) return out;
  return autograd::record("to", out, {*this}, [source = dtype()](const Tensor& g) {
    return std::vector<Tensor>{g.to(source)};
  });
}

Tensor cat(const std::vector<Tensor>& tensors, int64_t axis_in) {
  DESCENT_CHECK(!tensors.empty(), "cat: no tensors given");
  const Tensor& first = tensors.front();
  const int64_t axis = normalize_axis(axis_in, first.dim(), "cat");
  Shape shape = first.shape();
  shape[axis] = 0;
  for (const Tensor& t : tensors) {
    DESCENT_CHECK(t.dtype() == first.dtype(), "cat: dtypes differ (", first.str(), " and ", t.str(), ")");
    DESCENT_CHECK(t.dim() == first.dim(), "cat: ", first.str(), " and ", t.str(), " differ in rank");
    for (int64_t d = 0; d < t.dim(); ++d) {
      DESCENT_CHECK(d == axis || t.shape()[d] == first.shape()[d], "cat: shapes ", first.shape(), " and ", t.shape(),
                    " differ outside axis ", axis_in);
    }
    shape[axis] += t.shape()[axis];
  }
  Tensor out = Tensor::empty(shape, first.dtype());
  std::vector<int64_t> starts;
  {
    NoGradGuard no_grad;
    int64_t start = 0;
    for (const Tensor& t : tensors) {
      starts.push_back(start);
      out.slice(axis, start, start + t.shape()[axis]).copy_(t);
      start += t.shape()[axis];
    }
  }
  if (!autograd::needs_grad(tensors)) return out;
  std::vector<int64_t> sizes;
  for (const Tensor& t : tensors) sizes.push_back(t.shape()[axis]);
  return autograd::record("cat", out, tensors, [axis, starts, sizes](const Tensor& g) {
    std::vector<Tensor> grads;
    for (size_t i = 0; i < starts.size(); ++i) grads.push_back(g.slice(axis, starts[i], starts[i] + sizes[i]));
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t axis_in) {
  DESCENT_CHECK(!tensors.empty(), "stack: no tensors given");
  const int64_t axis = normalize_axis(axis_in, tensors.front().dim() + 1, "stack");
  std::vector<Tensor> expanded;
  for (const Tensor& t : tensors) {
    DESCENT_CHECK(t.shape() == tensors.front().shape(), "stack: shapes ", tensors.front().shape(), " and ", t.shape(),
                  " differ");
    expanded.push_back(t.unsqueeze(axis));
  }
  return cat(expanded, axis);
}

}  // namespace descent
