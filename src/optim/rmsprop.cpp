// RMSprop's kernel, following torch.optim.rmsprop._single_tensor_rmsprop operation by operation (mul + addcmul for
// the square average, lerp for the centered gradient average, addcdiv for the step or the momentum buffer).
#include "descent/optim/rmsprop.hpp"

#include <cmath>

#include "descent/optim/kernel.hpp"

namespace descent::optim {

void RMSpropOptions::validate() const {
  check_nonnegative("RMSprop", "lr", lr);
  check_range("RMSprop", "alpha", alpha, 0.0, 1.0, true);
  check_nonnegative("RMSprop", "eps", eps);
  check_nonnegative("RMSprop", "weight_decay", weight_decay);
  check_nonnegative("RMSprop", "momentum", momentum);
}

std::vector<std::string> RMSprop::state_names(size_t group) const {
  const RMSpropOptions& o = options_[group];
  std::vector<std::string> names{"square_avg"};
  if (o.momentum > 0.0) names.emplace_back("momentum_buffer");
  if (o.centered) names.emplace_back("grad_avg");
  return names;
}

template <class T>
void rmsprop_update(std::span<T> p, std::span<const T> g, std::span<T> square_avg, std::span<T> momentum_buffer,
                    std::span<T> grad_avg, const RMSpropOptions& o) {
  const T lr = static_cast<T>(o.lr);
  const T alpha = static_cast<T>(o.alpha);
  const T one_minus_alpha = static_cast<T>(1.0 - o.alpha);
  const T eps = static_cast<T>(o.eps);
  const T wd = static_cast<T>(o.weight_decay);
  const T momentum = static_cast<T>(o.momentum);
  // The arrays never overlap. GCC loses __restrict through the lambdas' captures and, past 10 run-time alias
  // checks, would not vectorise: the loop's `omp simd` says it again.
  T* __restrict pp = p.data();
  const T* __restrict gp = g.data();
  T* __restrict vp = square_avg.data();
  T* __restrict bp = momentum_buffer.data();
  T* __restrict ap = grad_avg.data();
  with_flags(
      [&]<bool kMomentum, bool kCentered, bool kDecay, bool kMaximize>() {
        update_chunks(static_cast<int64_t>(p.size()), [&](int64_t lo, int64_t hi) {
#pragma omp simd
          for (int64_t i = lo; i < hi; ++i) {
            T grad = kMaximize ? -gp[i] : gp[i];
            if constexpr (kDecay) grad = grad + wd * pp[i];
            const T v = vp[i] * alpha + one_minus_alpha * grad * grad;
            vp[i] = v;
            T avg;
            if constexpr (kCentered) {
              const T a = ap[i] + one_minus_alpha * (grad - ap[i]);  // torch.lerp with weight < 0.5
              ap[i] = a;
              avg = std::sqrt(v + (-a) * a);  // addcmul(v, ḡ, ḡ, value=-1)
            } else {
              avg = std::sqrt(v);
            }
            avg = avg + eps;
            if constexpr (kMomentum) {
              const T b = bp[i] * momentum + grad / avg;
              bp[i] = b;
              pp[i] = pp[i] + (-lr) * b;
            } else {
              pp[i] = pp[i] + ((-lr) * grad) / avg;  // addcdiv: (value·g) / avg
            }
          }
        });
      },
      o.momentum > 0.0, o.centered, o.weight_decay != 0.0, o.maximize);
}

template void rmsprop_update<float>(std::span<float>, std::span<const float>, std::span<float>, std::span<float>,
                                    std::span<float>, const RMSpropOptions&);
template void rmsprop_update<double>(std::span<double>, std::span<const double>, std::span<double>, std::span<double>,
                                     std::span<double>, const RMSpropOptions&);

}  // namespace descent::optim
