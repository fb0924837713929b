// Yogi's kernel, following pytorch_optimizer.Yogi._step_per_param operation by operation.
#include "descent/optim/yogi.hpp"

#include <cmath>

#include "descent/optim/kernel.hpp"
#include "reduce.hpp"

namespace descent::optim {

void YogiOptions::validate() const {
  check_nonnegative("Yogi", "lr", lr);
  check_beta("Yogi", "betas", 0, betas[0]);
  check_beta("Yogi", "betas", 1, betas[1]);
  check_nonnegative("Yogi", "initial_accumulator", initial_accumulator);
  check_nonnegative("Yogi", "weight_decay", weight_decay);
  check_nonnegative("Yogi", "eps", eps);
}

template <class T>
void yogi_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, std::span<T> exp_avg_sq,
                 const YogiOptions& o, int64_t step) {
  const double bias_correction1 = 1.0 - std::pow(o.betas[0], static_cast<double>(step));
  const T bc2_sqrt = static_cast<T>(std::sqrt(1.0 - std::pow(o.betas[1], static_cast<double>(step))));
  const T neg_step_size = static_cast<T>(-(o.lr / bias_correction1));
  const T one_minus_beta1 = static_cast<T>(1.0 - o.betas[0]);
  const T neg_one_minus_beta2 = static_cast<T>(-(1.0 - o.betas[1]));
  const T eps = static_cast<T>(o.eps);
  const T wd = static_cast<T>(o.weight_decay);
  const T decay_factor = static_cast<T>(1.0 - o.weight_decay * (o.fixed_decay ? 1.0 : o.lr));
  T* __restrict pp = p.data();
  const T* __restrict gp = g.data();
  T* __restrict mp = exp_avg.data();
  T* __restrict vp = exp_avg_sq.data();
  with_flags(
      [&]<bool kCoupled, bool kDecoupled, bool kMaximize>() {
        update_chunks(static_cast<int64_t>(p.size()), [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) {
            T grad = kMaximize ? -gp[i] : gp[i];
            T param = pp[i];
            if constexpr (kDecoupled) param = param * decay_factor;
            if constexpr (kCoupled) grad = grad + wd * param;
            const T grad_sq = grad * grad;
            const T m = detail::torch_lerp(mp[i], grad, one_minus_beta1);
            const T v = vp[i] + neg_one_minus_beta2 * detail::sign(vp[i] - grad_sq) * grad_sq;
            mp[i] = m;
            vp[i] = v;
            const T denom = std::sqrt(v) / bc2_sqrt + eps;
            pp[i] = param + neg_step_size * (m / denom);
          }
        });
      },
      o.weight_decay != 0.0 && !o.weight_decouple, o.weight_decay != 0.0 && o.weight_decouple, o.maximize);
}

template void yogi_update<float>(std::span<float>, std::span<const float>, std::span<float>, std::span<float>,
                                 const YogiOptions&, int64_t);
template void yogi_update<double>(std::span<double>, std::span<const double>, std::span<double>, std::span<double>,
                                  const YogiOptions&, int64_t);

}  // namespace descent::optim
