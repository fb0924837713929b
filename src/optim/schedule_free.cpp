// The schedule-free kernels, following schedulefree 1.4.1's AdamWScheduleFree.step and SGDScheduleFree.step
// (their foreach paths, the default) operation by operation, and the eval()/train() swap.
#include <cmath>

#include "descent/optim/kernel.hpp"
#include "descent/optim/schedule_free_adamw.hpp"
#include "descent/optim/schedule_free_sgd.hpp"
#include "reduce.hpp"

namespace descent::optim {

namespace {

void validate_schedule(std::string_view name, double lr, int64_t warmup_steps, double r, double weight_lr_power) {
  check_nonnegative(name, "lr", lr);
  check_nonnegative(name, "warmup_steps", static_cast<double>(warmup_steps));
  DESCENT_CHECK(std::isfinite(r), name, ": r = ", r, " must be finite");
  check_nonnegative(name, "weight_lr_power", weight_lr_power);
}

}  // namespace

void ScheduleFreeAdamWOptions::validate() const {
  validate_schedule("ScheduleFreeAdamW", lr, warmup_steps, r, weight_lr_power);
  // eval() divides by β1: it must be > 0.
  check_range("ScheduleFreeAdamW", "betas[0]", betas[0], 0.0, 1.0);
  DESCENT_CHECK(betas[0] > 0.0, "ScheduleFreeAdamW: betas[0] = 0 leaves no average to evaluate at; use betas[0] > 0");
  check_beta("ScheduleFreeAdamW", "betas", 1, betas[1]);
  check_nonnegative("ScheduleFreeAdamW", "eps", eps);
  check_nonnegative("ScheduleFreeAdamW", "weight_decay", weight_decay);
}

void ScheduleFreeSGDOptions::validate() const {
  validate_schedule("ScheduleFreeSGD", lr, warmup_steps, r, weight_lr_power);
  DESCENT_CHECK(momentum > 0.0 && momentum < 1.0, "ScheduleFreeSGD: momentum = ", momentum,
                " must be between 0 and 1 exclusive");
  check_nonnegative("ScheduleFreeSGD", "weight_decay", weight_decay);
}

template <class T>
void schedule_free_swap(std::span<T> p, std::span<const T> z, double weight) {
  const T w = static_cast<T>(weight);
  T* __restrict pp = p.data();
  const T* __restrict zp = z.data();
  update_chunks(static_cast<int64_t>(p.size()), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) pp[i] = detail::torch_lerp(pp[i], zp[i], w);
  });
}

template <class T>
void schedule_free_adamw_update(std::span<T> y, std::span<const T> g, std::span<T> z, std::span<T> exp_avg_sq,
                                const ScheduleFreeAdamWOptions& o, const ScheduleFreeStep& s, bool first) {
  const T beta2 = static_cast<T>(o.betas[1]);
  const T one_minus_beta2 = static_cast<T>(1.0 - o.betas[1]);
  const T bias_correction2 = static_cast<T>(1.0 - std::pow(o.betas[1], static_cast<double>(s.k + 1)));
  const T eps = static_cast<T>(o.eps);
  const T decay = static_cast<T>(o.weight_decay);
  const T ckp1 = static_cast<T>(s.ckp1);
  const T y_alpha = static_cast<T>(s.lr * (o.betas[0] * (1.0 - s.ckp1) - 1.0));
  const T lr = static_cast<T>(s.lr);
  T* __restrict yp = y.data();
  const T* __restrict gp = g.data();
  T* __restrict zp = z.data();
  T* __restrict vp = exp_avg_sq.data();
  with_flags(
      [&]<bool kFirst, bool kDecay, bool kMaximize>() {
        update_chunks(static_cast<int64_t>(y.size()), [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) {
            const T grad = kMaximize ? -gp[i] : gp[i];
            T yi = yp[i];
            const T zi = kFirst ? yi : zp[i];  // z starts as a copy of the parameters
            const T v = vp[i] * beta2 + one_minus_beta2 * grad * grad;
            vp[i] = v;
            T normalized = grad / (std::sqrt(v / bias_correction2) + eps);
            if constexpr (kDecay) normalized = normalized + decay * yi;
            yi = detail::torch_lerp(yi, zi, ckp1);
            yp[i] = yi + y_alpha * normalized;
            zp[i] = zi - lr * normalized;
          }
        });
      },
      first, o.weight_decay != 0.0, o.maximize);
}

template <class T>
void schedule_free_sgd_update(std::span<T> y, std::span<const T> g, std::span<T> z, const ScheduleFreeSGDOptions& o,
                              const ScheduleFreeStep& s, bool first) {
  const T decay = static_cast<T>(o.weight_decay);
  const T ckp1 = static_cast<T>(s.ckp1);
  const T y_alpha = static_cast<T>(s.lr * (o.momentum * (1.0 - s.ckp1) - 1.0));
  const T lr = static_cast<T>(s.lr);
  T* __restrict yp = y.data();
  const T* __restrict gp = g.data();
  T* __restrict zp = z.data();
  with_flags(
      [&]<bool kFirst, bool kDecay, bool kMaximize>() {
        update_chunks(static_cast<int64_t>(y.size()), [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) {
            T grad = kMaximize ? -gp[i] : gp[i];
            T yi = yp[i];
            const T zi = kFirst ? yi : zp[i];
            if constexpr (kDecay) grad = grad + decay * yi;
            yi = detail::torch_lerp(yi, zi, ckp1);
            yp[i] = yi + y_alpha * grad;
            zp[i] = zi - lr * grad;
          }
        });
      },
      first, o.weight_decay != 0.0, o.maximize);
}

template void schedule_free_swap<float>(std::span<float>, std::span<const float>, double);
template void schedule_free_swap<double>(std::span<double>, std::span<const double>, double);
template void schedule_free_adamw_update<float>(std::span<float>, std::span<const float>, std::span<float>,
                                                std::span<float>, const ScheduleFreeAdamWOptions&,
                                                const ScheduleFreeStep&, bool);
template void schedule_free_adamw_update<double>(std::span<double>, std::span<const double>, std::span<double>,
                                                 std::span<double>, const ScheduleFreeAdamWOptions&,
                                                 const ScheduleFreeStep&, bool);
template void schedule_free_sgd_update<float>(std::span<float>, std::span<const float>, std::span<float>,
                                              const ScheduleFreeSGDOptions&, const ScheduleFreeStep&, bool);
template void schedule_free_sgd_update<double>(std::span<double>, std::span<const double>, std::span<double>,
                                               const ScheduleFreeSGDOptions&, const ScheduleFreeStep&, bool);

}  // namespace descent::optim
