// RAdam's kernel, following torch.optim.radam._single_tensor_radam operation by operation. The rectification
// switch ρ_t > 5 depends only on the step, so it is decided once per call and becomes a template flag.
#include "descent/optim/radam.hpp"

#include <cmath>

#include "descent/optim/kernel.hpp"

namespace descent::optim {

void RAdamOptions::validate() const {
  check_nonnegative("RAdam", "lr", lr);
  check_beta("RAdam", "betas", 0, betas[0]);
  check_beta("RAdam", "betas", 1, betas[1]);
  check_nonnegative("RAdam", "eps", eps);
  check_nonnegative("RAdam", "weight_decay", weight_decay);
}

std::vector<std::string> RAdam::state_names(size_t /*group*/) const { return {"exp_avg", "exp_avg_sq"}; }

template <class T>
void radam_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, std::span<T> exp_avg_sq,
                  const RAdamOptions& o, int64_t step) {
  const auto t = static_cast<double>(step);
  const double beta2_t = std::pow(o.betas[1], t);
  const double bias_correction1 = 1.0 - std::pow(o.betas[0], t);
  const double bias_correction2 = 1.0 - beta2_t;
  // Length of the approximated simple moving average, and the rectification term where it is long enough.
  const double rho_inf = 2.0 / (1.0 - o.betas[1]) - 1.0;
  const double rho_t = rho_inf - 2.0 * t * beta2_t / bias_correction2;
  const bool rectified = rho_t > 5.0;
  const double rect =
      rectified ? std::pow((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t), 0.5)
                : 0.0;
  const T bc1 = static_cast<T>(bias_correction1);
  const T bc2_sqrt = static_cast<T>(std::pow(bias_correction2, 0.5));
  const T lr = static_cast<T>(o.lr);
  const T r = static_cast<T>(rect);
  const T one_minus_beta1 = static_cast<T>(1.0 - o.betas[0]);
  const T beta2 = static_cast<T>(o.betas[1]);
  const T one_minus_beta2 = static_cast<T>(1.0 - o.betas[1]);
  const T eps = static_cast<T>(o.eps);
  const T wd = static_cast<T>(o.weight_decay);
  const T decay_factor = static_cast<T>(1.0 - o.lr * o.weight_decay);
  // The arrays never overlap. GCC loses __restrict through the lambdas' captures and, past 10 run-time alias
  // checks, would not vectorise: the loop's `omp simd` says it again.
  T* __restrict pp = p.data();
  const T* __restrict gp = g.data();
  T* __restrict mp = exp_avg.data();
  T* __restrict vp = exp_avg_sq.data();
  with_flags(
      [&]<bool kRectified, bool kCoupled, bool kDecoupled, bool kMaximize>() {
        update_chunks(static_cast<int64_t>(p.size()), [&](int64_t lo, int64_t hi) {
#pragma omp simd
          for (int64_t i = lo; i < hi; ++i) {
            T grad = kMaximize ? -gp[i] : gp[i];
            T param = pp[i];
            if constexpr (kDecoupled) param = param * decay_factor;
            if constexpr (kCoupled) grad = grad + wd * param;
            const T m = mp[i] + one_minus_beta1 * (grad - mp[i]);  // torch.lerp with weight < 0.5
            const T v = vp[i] * beta2 + one_minus_beta2 * grad * grad;
            mp[i] = m;
            vp[i] = v;
            const T step_dir = m / bc1 * lr;
            if constexpr (kRectified) {
              // torch computes √(1 − β2ᵗ) / denom as reciprocal(denom) · √(1 − β2ᵗ) (Tensor.__rtruediv__).
              const T adaptive_lr = T(1) / (std::sqrt(v) + eps) * bc2_sqrt;
              pp[i] = param - step_dir * adaptive_lr * r;
            } else {
              pp[i] = param - step_dir;
            }
          }
        });
      },
      rectified, o.weight_decay != 0.0 && !o.decoupled_weight_decay, o.weight_decay != 0.0 && o.decoupled_weight_decay,
      o.maximize);
}

template void radam_update<float>(std::span<float>, std::span<const float>, std::span<float>, std::span<float>,
                                  const RAdamOptions&, int64_t);
template void radam_update<double>(std::span<double>, std::span<const double>, std::span<double>, std::span<double>,
                                   const RAdamOptions&, int64_t);

}  // namespace descent::optim
