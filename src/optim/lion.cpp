// Lion's kernel, following lion_pytorch.lion_pytorch.update_fn operation by operation.
#include "descent/optim/lion.hpp"

#include "descent/optim/kernel.hpp"
#include "reduce.hpp"

namespace descent::optim {

void LionOptions::validate() const {
  check_nonnegative("Lion", "lr", lr);
  // lion-pytorch accepts β = 1 (a frozen momentum), so the interval is closed.
  check_range("Lion", "betas[0]", betas[0], 0.0, 1.0, true);
  check_range("Lion", "betas[1]", betas[1], 0.0, 1.0, true);
  check_nonnegative("Lion", "weight_decay", weight_decay);
}

template <class T>
void lion_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, const LionOptions& o) {
  const T decay_factor = static_cast<T>(1.0 - o.lr * o.weight_decay);
  const T neg_lr = static_cast<T>(-o.lr);
  const T beta1 = static_cast<T>(o.betas[0]);
  const T one_minus_beta1 = static_cast<T>(1.0 - o.betas[0]);
  const T beta2 = static_cast<T>(o.betas[1]);
  const T one_minus_beta2 = static_cast<T>(1.0 - o.betas[1]);
  T* __restrict pp = p.data();
  const T* __restrict gp = g.data();
  T* __restrict mp = exp_avg.data();
  with_flags(
      [&]<bool kDecay, bool kMaximize>() {
        update_chunks(static_cast<int64_t>(p.size()), [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) {
            const T grad = kMaximize ? -gp[i] : gp[i];
            T param = pp[i];
            if constexpr (kDecay) param = param * decay_factor;
            const T direction = detail::sign(mp[i] * beta1 + one_minus_beta1 * grad);
            pp[i] = param + neg_lr * direction;
            mp[i] = mp[i] * beta2 + one_minus_beta2 * grad;
          }
        });
      },
      o.weight_decay != 0.0, o.maximize);
}

template void lion_update<float>(std::span<float>, std::span<const float>, std::span<float>, const LionOptions&);
template void lion_update<double>(std::span<double>, std::span<const double>, std::span<double>, const LionOptions&);

}  // namespace descent::optim
