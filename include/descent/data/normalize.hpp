// Feature scaling fitted on training data and applied to any split, with scikit-learn's conventions
// (sklearn.preprocessing.StandardScaler and MinMaxScaler): statistics per feature over the first (example)
// axis, in float64, and a constant feature scaled by 1 rather than divided by zero.
#pragma once

#include <utility>

#include "descent/core/tensor.hpp"

namespace descent::data {

// (x - mean) / std, with the population standard deviation (ddof = 0).
class StandardScaler {
 public:
  StandardScaler& fit(const Tensor& x);  // x: [examples, …features]; at least one example
  Tensor transform(const Tensor& x) const;
  Tensor inverse_transform(const Tensor& x) const;
  Tensor fit_transform(const Tensor& x) { return fit(x).transform(x); }
  bool fitted() const { return mean_.defined(); }
  const Tensor& mean() const { return mean_; }    // [features…], float64
  const Tensor& scale() const { return scale_; }  // the std, 1 where it is 0; float64

 private:
  Tensor mean_, scale_;
};

// x · scale + min, mapping each feature's [data_min, data_max] onto feature_range.
class MinMaxScaler {
 public:
  explicit MinMaxScaler(std::pair<double, double> feature_range = {0.0, 1.0});
  MinMaxScaler& fit(const Tensor& x);
  Tensor transform(const Tensor& x) const;
  Tensor inverse_transform(const Tensor& x) const;
  Tensor fit_transform(const Tensor& x) { return fit(x).transform(x); }
  bool fitted() const { return scale_.defined(); }
  const Tensor& data_min() const { return data_min_; }
  const Tensor& data_max() const { return data_max_; }
  const Tensor& scale() const { return scale_; }  // (hi - lo) / (data_max - data_min), range 0 counted as 1
  const Tensor& min() const { return min_; }      // lo - data_min · scale

 private:
  std::pair<double, double> range_;
  Tensor data_min_, data_max_, scale_, min_;
};

}  // namespace descent::data
