// AdaBelief's kernel, following adabelief_pytorch.AdaBelief.step (0.2.1) operation by operation.
#include "descent/optim/adabelief.hpp"

#include <algorithm>
#include <cmath>

#include "descent/optim/kernel.hpp"

namespace descent::optim {

void AdaBeliefOptions::validate() const {
  check_nonnegative("AdaBelief", "lr", lr);
  check_nonnegative("AdaBelief", "eps", eps);
  check_beta("AdaBelief", "betas", 0, betas[0]);
  check_beta("AdaBelief", "betas", 1, betas[1]);
  check_nonnegative("AdaBelief", "weight_decay", weight_decay);
}

template <class T>
void adabelief_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, std::span<T> exp_avg_var,
                      std::span<T> max_exp_avg_var, const AdaBeliefOptions& o, int64_t step) {
  const auto t = static_cast<double>(step);
  const double bias_correction1 = 1.0 - std::pow(o.betas[0], t);
  const double bias_correction2 = 1.0 - std::pow(o.betas[1], t);

  // Which step this is: plain Adam-like, rectified adaptive, rectified SGD-like, or none (the reference's
  // N_sma, step_size and buffered branches, worked out once per step).
  bool adaptive = true, moves = true, rectified_denominator = false;
  double step_size = o.lr / bias_correction1;
  if (o.rectify) {
    const double beta2_t = std::pow(o.betas[1], t);
    const double n_sma_max = 2.0 / (1.0 - o.betas[1]) - 1.0;
    const double n_sma = n_sma_max - 2.0 * t * beta2_t / (1.0 - beta2_t);
    if (n_sma >= 5.0) {
      rectified_denominator = true;
      step_size = std::sqrt((1.0 - beta2_t) * (n_sma - 4.0) / (n_sma_max - 4.0) * (n_sma - 2.0) / n_sma * n_sma_max /
                            (n_sma_max - 2.0)) /
                  bias_correction1 * o.lr;
    } else {
      adaptive = false;
      moves = o.degenerated_to_sgd;
      step_size = 1.0 / bias_correction1 * o.lr;
    }
  }
  const T neg_step_size = static_cast<T>(-step_size);
  const T bc2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
  const T beta1 = static_cast<T>(o.betas[0]);
  const T one_minus_beta1 = static_cast<T>(1.0 - o.betas[0]);
  const T beta2 = static_cast<T>(o.betas[1]);
  const T one_minus_beta2 = static_cast<T>(1.0 - o.betas[1]);
  const T eps = static_cast<T>(o.eps);
  const T wd = static_cast<T>(o.weight_decay);
  const T decay_factor = static_cast<T>(1.0 - (o.fixed_decay ? 1.0 : o.lr) * o.weight_decay);
  T* __restrict pp = p.data();
  const T* __restrict gp = g.data();
  T* __restrict mp = exp_avg.data();
  T* __restrict sp = exp_avg_var.data();
  T* __restrict smax = max_exp_avg_var.data();
  with_flags(
      [&]<bool kAmsgrad, bool kCoupled, bool kDecoupled, bool kMaximize, bool kAdaptive, bool kMoves,
          bool kRectified>() {
        update_chunks(static_cast<int64_t>(p.size()), [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) {
            T grad = kMaximize ? -gp[i] : gp[i];
            T param = pp[i];
            if constexpr (kDecoupled) param = param * decay_factor;
            if constexpr (kCoupled) grad = grad + wd * param;
            const T m = mp[i] * beta1 + one_minus_beta1 * grad;
            const T residual = grad - m;
            const T s = (sp[i] * beta2 + one_minus_beta2 * residual * residual) + eps;
            mp[i] = m;
            sp[i] = s;
            T s_used = s;
            if constexpr (kAmsgrad) {
              s_used = std::max(smax[i], s);
              smax[i] = s_used;
            }
            if constexpr (kMoves) {
              if constexpr (!kAdaptive) {
                param = param + neg_step_size * m;
              } else if constexpr (kRectified) {
                param = param + neg_step_size * (m / (std::sqrt(s) + eps));
              } else {
                param = param + neg_step_size * (m / (std::sqrt(s_used) / bc2_sqrt + eps));
              }
            }
            pp[i] = param;
          }
        });
      },
      o.amsgrad, o.weight_decay != 0.0 && !o.weight_decouple, o.weight_decay != 0.0 && o.weight_decouple, o.maximize,
      adaptive, moves, rectified_denominator);
}

template void adabelief_update<float>(std::span<float>, std::span<const float>, std::span<float>, std::span<float>,
                                      std::span<float>, const AdaBeliefOptions&, int64_t);
template void adabelief_update<double>(std::span<double>, std::span<const double>, std::span<double>, std::span<double>,
                                       std::span<double>, const AdaBeliefOptions&, int64_t);

}  // namespace descent::optim
