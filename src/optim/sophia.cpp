// Sophia-H's kernel, following the authors' _single_tensor_sophiag (sophia.py) operation by operation, with the
// paper's denominator (see sophia.hpp).
#include "descent/optim/sophia.hpp"

#include <algorithm>
#include <cmath>

#include "descent/optim/kernel.hpp"
#include "reduce.hpp"

namespace descent::optim {

void SophiaOptions::validate() const {
  check_nonnegative("Sophia", "lr", lr);
  check_beta("Sophia", "betas", 0, betas[0]);
  check_beta("Sophia", "betas", 1, betas[1]);
  check_positive("Sophia", "rho", rho);
  check_nonnegative("Sophia", "weight_decay", weight_decay);
  DESCENT_CHECK(update_period >= 1, "Sophia: update_period = ", update_period, " must be >= 1");
  check_positive("Sophia", "eps", eps);
}

void Sophia::estimate(const SophiaOptions& o, const Tensor& param, const Tensor& z, const Tensor& hz,
                      Tensor& out) const {
  dispatch(param.dtype(), [&]<class T>() {
    const Tensor h = hz.contiguous(), probe = z.contiguous();
    const T* zp = probe.data<T>();
    const T* hp = h.data<T>();
    T* dst = out.data<T>();
    const T sign = o.maximize ? T(-1) : T(1);  // the curvature of −f
    for (int64_t i = 0; i < out.numel(); ++i) dst[i] = sign * (zp[i] * hp[i]);
  });
}

template <class T>
void sophia_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, std::span<T> hessian,
                   std::span<const T> estimate, const SophiaOptions& o) {
  const auto decay = static_cast<T>(1.0 - o.lr * o.weight_decay);
  const auto beta1 = static_cast<T>(o.betas[0]), one_minus_beta1 = static_cast<T>(1.0 - o.betas[0]);
  const auto beta2 = static_cast<T>(o.betas[1]), one_minus_beta2 = static_cast<T>(1.0 - o.betas[1]);
  const auto rho = static_cast<T>(o.rho), eps = static_cast<T>(o.eps), neg_lr = static_cast<T>(-o.lr);
  const T sign = o.maximize ? T(-1) : T(1);
  T* __restrict pp = p.data();
  const T* __restrict gp = g.data();
  T* __restrict mp = exp_avg.data();
  T* __restrict hp = hessian.data();
  const T* __restrict ep = estimate.data();
  with_flags(
      [&]<bool kEstimate>() {
        update_chunks(static_cast<int64_t>(p.size()), [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) {
            if constexpr (kEstimate) hp[i] = hp[i] * beta2 + one_minus_beta2 * ep[i];
            pp[i] = pp[i] * decay;
            mp[i] = mp[i] * beta1 + one_minus_beta1 * (sign * gp[i]);
            const T ratio = std::min(std::abs(mp[i]) / std::max(rho * hp[i], eps), T(1));
            pp[i] = pp[i] + neg_lr * detail::sign(mp[i]) * ratio;
          }
        });
      },
      !estimate.empty());
}

template void sophia_update<float>(std::span<float>, std::span<const float>, std::span<float>, std::span<float>,
                                   std::span<const float>, const SophiaOptions&);
template void sophia_update<double>(std::span<double>, std::span<const double>, std::span<double>, std::span<double>,
                                    std::span<const double>, const SophiaOptions&);

}  // namespace descent::optim
