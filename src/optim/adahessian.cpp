// AdaHessian's kernels, following the reference's Adahessian.step (image_classification/optim_adahessian.py)
// operation by operation.
#include "descent/optim/adahessian.hpp"

#include <cmath>

#include "descent/optim/kernel.hpp"

namespace descent::optim {

void AdaHessianOptions::validate() const {
  check_nonnegative("AdaHessian", "lr", lr);
  check_beta("AdaHessian", "betas", 0, betas[0]);
  check_beta("AdaHessian", "betas", 1, betas[1]);
  check_nonnegative("AdaHessian", "eps", eps);
  check_nonnegative("AdaHessian", "weight_decay", weight_decay);
  check_range("AdaHessian", "hessian_power", hessian_power, 0.0, 1.0, /*hi_inclusive=*/true);
}

template <class T>
void adahessian_diagonal(std::span<const T> hz, const Shape& shape, std::span<T> out) {
  const auto n = static_cast<int64_t>(hz.size());
  if (shape.size() < 3 || n == 0) {
    for (int64_t i = 0; i < n; ++i) out[i] = std::abs(hz[i]);
    return;
  }
  // [window…, C_in, filters]: the mean of |hz| over the window for each (C_in, filter) pair, broadcast back.
  const int64_t pairs = shape[shape.size() - 2] * shape.back();
  const int64_t window = n / pairs;
  for (int64_t j = 0; j < pairs; ++j) {
    double sum = 0.0;
    for (int64_t w = 0; w < window; ++w) sum += std::abs(static_cast<double>(hz[w * pairs + j]));
    const auto mean = static_cast<T>(sum / static_cast<double>(window));
    for (int64_t w = 0; w < window; ++w) out[w * pairs + j] = mean;
  }
}

template void adahessian_diagonal<float>(std::span<const float>, const Shape&, std::span<float>);
template void adahessian_diagonal<double>(std::span<const double>, const Shape&, std::span<double>);

void AdaHessian::estimate(const AdaHessianOptions& /*o*/, const Tensor& param, const Tensor& /*z*/, const Tensor& hz,
                          Tensor& out) const {
  // |z ⊙ Hz| = |Hz| for z = ±1, as the reference uses; maximize flips H's sign, which |·| does not see.
  dispatch(param.dtype(), [&]<class T>() {
    const Tensor h = hz.contiguous();
    adahessian_diagonal<T>({h.data<T>(), static_cast<size_t>(h.numel())}, param.shape(),
                           {out.data<T>(), static_cast<size_t>(out.numel())});
  });
}

namespace {

template <class T>
struct AdaHessianScalars {
  T beta1, one_minus_beta1, beta2, one_minus_beta2, bias_correction1, bias_root, eps, weight_decay, lr, sign;
};

// The reference's denominator (√v)^k / √(1 − β2ᵗ)^k + eps; torch's pow takes k = 1 and k = 0.5 exactly.
template <class T>
T root_power(T v, double k) {
  const T root = std::sqrt(v);
  if (k == 1.0) return root;
  if (k == 0.5) return std::sqrt(root);
  return static_cast<T>(std::pow(root, static_cast<T>(k)));
}

}  // namespace

template <class T>
void adahessian_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, std::span<T> exp_hessian_diag_sq,
                       std::span<const T> diagonal, const AdaHessianOptions& o, int64_t step) {
  const auto t = static_cast<double>(step);
  const double k = o.hessian_power;
  const AdaHessianScalars<T> s{static_cast<T>(o.betas[0]),
                               static_cast<T>(1.0 - o.betas[0]),
                               static_cast<T>(o.betas[1]),
                               static_cast<T>(1.0 - o.betas[1]),
                               static_cast<T>(1.0 - std::pow(o.betas[0], t)),
                               static_cast<T>(std::pow(std::sqrt(1.0 - std::pow(o.betas[1], t)), k)),
                               static_cast<T>(o.eps),
                               static_cast<T>(o.weight_decay),
                               static_cast<T>(o.lr),
                               o.maximize ? T(-1) : T(1)};
  T* __restrict pp = p.data();
  const T* __restrict gp = g.data();
  T* __restrict mp = exp_avg.data();
  T* __restrict vp = exp_hessian_diag_sq.data();
  const T* __restrict dp = diagonal.data();
  update_chunks(static_cast<int64_t>(p.size()), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      mp[i] = mp[i] * s.beta1 + s.one_minus_beta1 * (s.sign * gp[i]);
      vp[i] = vp[i] * s.beta2 + s.one_minus_beta2 * dp[i] * dp[i];
      const T denom = root_power(vp[i], k) / s.bias_root + s.eps;
      pp[i] = pp[i] - s.lr * (mp[i] / s.bias_correction1 / denom + s.weight_decay * pp[i]);
    }
  });
}

template void adahessian_update<float>(std::span<float>, std::span<const float>, std::span<float>, std::span<float>,
                                       std::span<const float>, const AdaHessianOptions&, int64_t);
template void adahessian_update<double>(std::span<double>, std::span<const double>, std::span<double>,
                                        std::span<double>, std::span<const double>, const AdaHessianOptions&, int64_t);

}  // namespace descent::optim
