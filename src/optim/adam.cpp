// Adam's kernel, following torch.optim.adam._single_tensor_adam operation by operation (lerp for the first
// moment, mul + addcmul for the second, addcdiv for the step), with the bias corrections hoisted in double.
#include "descent/optim/adam.hpp"

#include <algorithm>
#include <cmath>

#include "descent/optim/kernel.hpp"

namespace descent::optim {

void validate_adam_fields(const AdamOptions& o, std::string_view name) {
  check_nonnegative(name, "lr", o.lr);
  check_nonnegative(name, "eps", o.eps);
  check_beta(name, "betas", 0, o.betas[0]);
  check_beta(name, "betas", 1, o.betas[1]);
  check_nonnegative(name, "weight_decay", o.weight_decay);
}

void AdamOptions::validate() const { validate_adam_fields(*this, "Adam"); }

namespace {

// Scalars of one step, hoisted out of the loop and passed by value so they live in registers.
template <class T>
struct AdamScalars {
  T step_size, bc2_sqrt, one_minus_beta1, beta2, one_minus_beta2, eps, wd, decay_factor;
};

// One chunk of the update. Restrict-qualified parameters (not captured locals) are what lets the compiler
// prove the streams independent and vectorise without run-time alias checks.
template <class T, bool kAmsgrad, bool kCoupled, bool kDecoupled, bool kMaximize>
DESCENT_KERNEL_CLONES void adam_chunk(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v, T* __restrict vmax,
                const AdamScalars<T> s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    T grad = kMaximize ? -g[i] : g[i];
    T param = p[i];
    if constexpr (kDecoupled) param = param * s.decay_factor;
    if constexpr (kCoupled) grad = grad + s.wd * param;
    const T mi = m[i] + s.one_minus_beta1 * (grad - m[i]);  // torch.lerp with weight < 0.5
    const T vi = v[i] * s.beta2 + s.one_minus_beta2 * grad * grad;
    m[i] = mi;
    v[i] = vi;
    T v_used = vi;
    if constexpr (kAmsgrad) {
      v_used = vmax[i] > vi ? vmax[i] : vi;  // torch.maximum (no NaN in a live state)
      vmax[i] = v_used;
    }
    const T denom = std::sqrt(v_used) / s.bc2_sqrt + s.eps;
    p[i] = param + (-s.step_size) * (mi / denom);
  }
}

}  // namespace

template <class T>
void adam_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, std::span<T> exp_avg_sq,
                 std::span<T> max_exp_avg_sq, const AdamOptions& o, int64_t step) {
  const double bias_correction1 = 1.0 - std::pow(o.betas[0], static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(o.betas[1], static_cast<double>(step));
  const AdamScalars<T> s{static_cast<T>(o.lr / bias_correction1), static_cast<T>(std::sqrt(bias_correction2)),
                         static_cast<T>(1.0 - o.betas[0]),        static_cast<T>(o.betas[1]),
                         static_cast<T>(1.0 - o.betas[1]),        static_cast<T>(o.eps),
                         static_cast<T>(o.weight_decay),          static_cast<T>(1.0 - o.lr * o.weight_decay)};
  with_flags(
      [&]<bool kAmsgrad, bool kCoupled, bool kDecoupled, bool kMaximize>() {
        update_chunks(static_cast<int64_t>(p.size()), [&](int64_t lo, int64_t hi) {
          T* vmax = kAmsgrad ? max_exp_avg_sq.data() + lo : nullptr;
          adam_chunk<T, kAmsgrad, kCoupled, kDecoupled, kMaximize>(p.data() + lo, g.data() + lo, exp_avg.data() + lo,
                                                                    exp_avg_sq.data() + lo, vmax, s, hi - lo);
        });
      },
      o.amsgrad, o.weight_decay != 0.0 && !o.decoupled_weight_decay, o.weight_decay != 0.0 && o.decoupled_weight_decay,
      o.maximize);
}

template void adam_update<float>(std::span<float>, std::span<const float>, std::span<float>, std::span<float>,
                                 std::span<float>, const AdamOptions&, int64_t);
template void adam_update<double>(std::span<double>, std::span<const double>, std::span<double>, std::span<double>,
                                  std::span<double>, const AdamOptions&, int64_t);

}  // namespace descent::optim
