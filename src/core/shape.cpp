// Shape arithmetic and the NumPy broadcasting rule.
#include "descent/core/shape.hpp"

#include <algorithm>

#include "descent/core/dtype.hpp"
#include "descent/core/error.hpp"

namespace descent {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

DType parse_dtype(std::string_view name) {
  if (name == "float32" || name == "f32" || name == "float") return kFloat32;
  if (name == "float64" || name == "f64" || name == "double") return kFloat64;
  fail("unknown dtype '", name, "' (expected float32 or float64)");
}

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
  }
  return strides;
}

int64_t normalize_axis(int64_t axis, int64_t ndim, const char* op) {
  const int64_t wrapped = axis < 0 ? axis + ndim : axis;
  DESCENT_CHECK(wrapped >= 0 && wrapped < ndim, op, ": axis ", axis, " is out of range for a tensor with ", ndim,
                " dimension", ndim == 1 ? "" : "s");
  return wrapped;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    DESCENT_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", a, " and ", b, " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int64_t> broadcast_strides(const Shape& from, const std::vector<int64_t>& strides, const Shape& to) {
  std::vector<int64_t> out(to.size(), 0);
  const size_t lead = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i) out[lead + i] = from[i] == 1 ? 0 : strides[i];
  return out;
}

}  // namespace descent
