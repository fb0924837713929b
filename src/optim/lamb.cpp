// LAMB's kernel, following pytorch_optimizer.Lamb.update (4.1.0) operation by operation, in two passes.
#include "descent/optim/lamb.hpp"

#include <algorithm>
#include <cmath>

#include "descent/optim/kernel.hpp"
#include "reduce.hpp"

namespace descent::optim {

void LAMBOptions::validate() const {
  check_nonnegative("LAMB", "lr", lr);
  check_beta("LAMB", "betas", 0, betas[0]);
  check_beta("LAMB", "betas", 1, betas[1]);
  check_nonnegative("LAMB", "weight_decay", weight_decay);
  check_nonnegative("LAMB", "eps", eps);
}

template <class T>
void lamb_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, std::span<T> exp_avg_sq,
                 const LAMBOptions& o, int64_t step) {
  const double step_size = o.lr / (1.0 - std::pow(o.betas[0], static_cast<double>(step)));
  const T beta1 = static_cast<T>(o.betas[0]);
  const T beta3 = static_cast<T>(o.grad_averaging ? 1.0 - o.betas[0] : 1.0);
  const T beta2 = static_cast<T>(o.betas[1]);
  const T one_minus_beta2 = static_cast<T>(1.0 - o.betas[1]);
  const T eps = static_cast<T>(o.eps);
  const T wd = static_cast<T>(o.weight_decay);
  const T decay_factor = static_cast<T>(1.0 - o.weight_decay * (o.fixed_decay ? 1.0 : o.lr));
  const auto n = static_cast<int64_t>(p.size());
  T* __restrict pp = p.data();
  const T* __restrict gp = g.data();
  T* __restrict mp = exp_avg.data();
  T* __restrict vp = exp_avg_sq.data();
  with_flags(
      [&]<bool kCoupled, bool kDecoupled, bool kMaximize>() {
        // The Adam direction from the updated moments (and, coupled, the decay term at p).
        const auto direction = [&](int64_t i) {
          T u = mp[i] / (std::sqrt(vp[i]) + eps);
          if constexpr (kCoupled) u = u + wd * pp[i];
          return u;
        };
        // Pass 1: moments, decoupled decay, and the two squared norms.
        const auto sums = detail::blocked_sums<2>(n, [&](int64_t lo, int64_t hi) {
          double param_sq = 0.0, direction_sq = 0.0;
          for (int64_t i = lo; i < hi; ++i) {
            const T grad = kMaximize ? -gp[i] : gp[i];
            mp[i] = mp[i] * beta1 + beta3 * grad;
            vp[i] = vp[i] * beta2 + one_minus_beta2 * grad * grad;
            if constexpr (kDecoupled) pp[i] = pp[i] * decay_factor;
            const T u = direction(i);
            param_sq += static_cast<double>(pp[i]) * static_cast<double>(pp[i]);
            direction_sq += static_cast<double>(u) * static_cast<double>(u);
          }
          return std::array<double, 2>{param_sq, direction_sq};
        });
        // The reference computes the trust ratio on 0-d tensors of the parameter's dtype.
        const T weight_norm = std::min(static_cast<T>(std::sqrt(sums[0])), static_cast<T>(kLambWeightNormCap));
        const auto direction_norm = static_cast<T>(std::sqrt(sums[1]));
        T alpha = static_cast<T>(-step_size);
        if (!o.adam && weight_norm != T(0) && direction_norm != T(0))
          alpha = static_cast<T>(-step_size) * (weight_norm / (direction_norm + eps));
        // Pass 2: the step.
        update_chunks(n, [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) pp[i] = pp[i] + alpha * direction(i);
        });
      },
      o.weight_decay > 0.0 && !o.weight_decouple, o.weight_decay != 0.0 && o.weight_decouple, o.maximize);
}

template void lamb_update<float>(std::span<float>, std::span<const float>, std::span<float>, std::span<float>,
                                 const LAMBOptions&, int64_t);
template void lamb_update<double>(std::span<double>, std::span<const double>, std::span<double>, std::span<double>,
                                  const LAMBOptions&, int64_t);

}  // namespace descent::optim
