// StandardScaler and MinMaxScaler: two passes in float64 (mean, then squared deviations) for accuracy; the
// transforms are plain loops over contiguous rows in the data's dtype, written as scikit-learn computes them
// (data preparation, not recorded by autograd).
#include "descent/data/normalize.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace descent::data {
namespace {

// x as [examples n, features f] (features = all later dimensions), contiguous, in its own dtype.
struct Rows {
  Tensor t;
  int64_t n = 0, f = 0;
};

Shape feature_shape(const Tensor& x) { return Shape(x.shape().begin() + 1, x.shape().end()); }

Rows rows_of(const Tensor& x, const char* op) {
  DESCENT_CHECK(x.defined() && x.dim() >= 1, op, ": expected a tensor of [examples, features…], got ",
                x.defined() ? x.str() : "an undefined tensor");
  return {x.contiguous(), x.size(0), numel_of(feature_shape(x))};
}

// Calls f(row, column, value) for every element of r in row-major order, value as double.
template <class F>
void for_each(const Rows& r, F&& f) {
  dispatch(r.t.dtype(), [&]<class T>() {
    const T* p = r.t.data<T>();
    for (int64_t i = 0; i < r.n; ++i)
      for (int64_t j = 0; j < r.f; ++j) f(j, static_cast<double>(p[i * r.f + j]));
  });
}

// Per feature j: x · a[j] + b[j], or (x - b[j]) / a[j] when `divide`, in x's dtype (arithmetic in float64).
Tensor affine(const Tensor& x, const Tensor& a_t, const Tensor& b_t, bool divide, const char* op) {
  DESCENT_CHECK(x.defined() && x.dim() >= 1 && feature_shape(x) == a_t.shape(), op, ": fitted on features of shape ",
                a_t.shape(), ", got ", x.defined() ? x.str() : "an undefined tensor");
  const Rows r = rows_of(x, op);
  const std::vector<double> a = a_t.to_vector(), b = b_t.to_vector();
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    const T* p = r.t.data<T>();
    T* q = out.data<T>();
    for (int64_t i = 0; i < r.n; ++i)
      for (int64_t j = 0; j < r.f; ++j) {
        const double v = static_cast<double>(p[i * r.f + j]);
        q[i * r.f + j] = static_cast<T>(divide ? (v - b[j]) / a[j] : v * a[j] + b[j]);
      }
  });
  return out;
}

}  // namespace

StandardScaler& StandardScaler::fit(const Tensor& x) {
  const Rows r = rows_of(x, "StandardScaler::fit");
  DESCENT_CHECK(r.n > 0, "StandardScaler::fit: no examples in ", x.str());
  std::vector<double> mean(r.f, 0.0), var(r.f, 0.0);
  for_each(r, [&](int64_t j, double v) { mean[j] += v; });
  for (double& m : mean) m /= static_cast<double>(r.n);
  for_each(r, [&](int64_t j, double v) { var[j] += (v - mean[j]) * (v - mean[j]); });
  for (double& s : var) {
    s = std::sqrt(s / static_cast<double>(r.n));
    if (s == 0.0) s = 1.0;
  }
  mean_ = Tensor::from(std::span<const double>(mean), feature_shape(x), kFloat64);
  scale_ = Tensor::from(std::span<const double>(var), feature_shape(x), kFloat64);
  return *this;
}

Tensor StandardScaler::transform(const Tensor& x) const {
  DESCENT_CHECK(fitted(), "StandardScaler::transform: call fit first");
  return affine(x, scale_, mean_, /*divide=*/true, "StandardScaler::transform");
}

Tensor StandardScaler::inverse_transform(const Tensor& x) const {
  DESCENT_CHECK(fitted(), "StandardScaler::inverse_transform: call fit first");
  return affine(x, scale_, mean_, /*divide=*/false, "StandardScaler::inverse_transform");
}

MinMaxScaler::MinMaxScaler(std::pair<double, double> feature_range) : range_(feature_range) {
  DESCENT_CHECK(range_.first < range_.second, "MinMaxScaler: feature_range (", range_.first, ", ", range_.second,
                ") is empty; the minimum must be below the maximum");
}

MinMaxScaler& MinMaxScaler::fit(const Tensor& x) {
  const Rows r = rows_of(x, "MinMaxScaler::fit");
  DESCENT_CHECK(r.n > 0, "MinMaxScaler::fit: no examples in ", x.str());
  std::vector<double> lo(r.f, INFINITY), hi(r.f, -INFINITY);
  for_each(r, [&](int64_t j, double v) {  // NaN propagates, as numpy's min/max do
    lo[j] = std::isnan(v) || std::isnan(lo[j]) ? NAN : std::min(lo[j], v);
    hi[j] = std::isnan(v) || std::isnan(hi[j]) ? NAN : std::max(hi[j], v);
  });
  std::vector<double> scale(r.f), min(r.f);
  for (int64_t j = 0; j < r.f; ++j) {
    const double range = hi[j] - lo[j];
    scale[j] = (range_.second - range_.first) / (range == 0.0 ? 1.0 : range);
    min[j] = range_.first - lo[j] * scale[j];
  }
  const Shape s = feature_shape(x);
  data_min_ = Tensor::from(std::span<const double>(lo), s, kFloat64);
  data_max_ = Tensor::from(std::span<const double>(hi), s, kFloat64);
  scale_ = Tensor::from(std::span<const double>(scale), s, kFloat64);
  min_ = Tensor::from(std::span<const double>(min), s, kFloat64);
  return *this;
}

Tensor MinMaxScaler::transform(const Tensor& x) const {
  DESCENT_CHECK(fitted(), "MinMaxScaler::transform: call fit first");
  return affine(x, scale_, min_, /*divide=*/false, "MinMaxScaler::transform");
}

Tensor MinMaxScaler::inverse_transform(const Tensor& x) const {
  DESCENT_CHECK(fitted(), "MinMaxScaler::inverse_transform: call fit first");
  return affine(x, scale_, min_, /*divide=*/true, "MinMaxScaler::inverse_transform");
}

}  // namespace descent::data
