// LARS's kernel, following timm.optim.lars._single_tensor_lars (1.0.31) operation by operation.
#include "descent/optim/lars.hpp"

#include <algorithm>
#include <cmath>

#include "descent/optim/kernel.hpp"
#include "reduce.hpp"

namespace descent::optim {

void LARSOptions::validate() const {
  check_nonnegative("LARS", "lr", lr);
  check_nonnegative("LARS", "momentum", momentum);
  check_range("LARS", "dampening", dampening, 0.0, 1.0, true);
  check_nonnegative("LARS", "weight_decay", weight_decay);
  check_nonnegative("LARS", "trust_coeff", trust_coeff);
  check_nonnegative("LARS", "eps", eps);
  DESCENT_CHECK(!nesterov || (momentum > 0 && dampening == 0),
                "LARS: nesterov = true needs momentum > 0 and "
                "dampening = 0 (got momentum = ",
                momentum, ", dampening = ", dampening, ")");
}

std::vector<std::string> LARS::state_names(size_t group) const {
  if (options_[group].momentum == 0.0) return {};
  return {"momentum_buffer"};
}

template <class T>
void lars_update(std::span<T> p, std::span<const T> g, std::span<T> momentum_buffer, const LARSOptions& o,
                 int64_t step) {
  const auto n = static_cast<int64_t>(p.size());
  const bool adapt = o.weight_decay != 0.0 || o.always_adapt;
  T* __restrict pp = p.data();
  const T* __restrict gp = g.data();
  T* __restrict bp = momentum_buffer.data();
  const T sign = o.maximize ? T(-1) : T(1);  // exact: ‖−g‖ = ‖g‖, and −g is g with its sign bit flipped

  // The trust ratio, on 0-d tensors of the parameter's dtype as the reference computes it.
  T trust_ratio = 1;
  if (adapt) {
    const auto sums = detail::blocked_sums<2>(n, [&](int64_t lo, int64_t hi) {
      double param_sq = 0.0, grad_sq = 0.0;
      for (int64_t i = lo; i < hi; ++i) {
        param_sq += static_cast<double>(pp[i]) * static_cast<double>(pp[i]);
        grad_sq += static_cast<double>(gp[i]) * static_cast<double>(gp[i]);
      }
      return std::array<double, 2>{param_sq, grad_sq};
    });
    const auto w_norm = static_cast<T>(std::sqrt(sums[0]));
    const auto g_norm = static_cast<T>(std::sqrt(sums[1]));
    if (w_norm > T(0) && g_norm > T(0)) {
      trust_ratio = static_cast<T>(o.trust_coeff) * w_norm /
                    (g_norm + w_norm * static_cast<T>(o.weight_decay) + static_cast<T>(o.eps));
    }
    if (o.trust_clip) trust_ratio = std::min(trust_ratio / static_cast<T>(o.lr), T(1));
  }

  const T wd = static_cast<T>(o.weight_decay);
  const T neg_lr = static_cast<T>(-o.lr);
  const T momentum = static_cast<T>(o.momentum);
  const T take = static_cast<T>(1.0 - o.dampening);
  const bool first = step == 1;
  with_flags(
      [&]<bool kAdapt, bool kMomentum, bool kFirst, bool kNesterov>() {
        update_chunks(n, [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) {
            T d = sign * gp[i];
            if constexpr (kAdapt) d = (d + wd * pp[i]) * trust_ratio;
            if constexpr (kMomentum) {
              const T b = kFirst ? d : bp[i] * momentum + take * d;  // torch.clone(grad) on the first step
              bp[i] = b;
              d = kNesterov ? d + momentum * b : b;
            }
            pp[i] = pp[i] + neg_lr * d;
          }
        });
      },
      adapt, o.momentum != 0.0, first, o.nesterov);
}

template void lars_update<float>(std::span<float>, std::span<const float>, std::span<float>, const LARSOptions&,
                                 int64_t);
template void lars_update<double>(std::span<double>, std::span<const double>, std::span<double>, const LARSOptions&,
                                  int64_t);

}  // namespace descent::optim
