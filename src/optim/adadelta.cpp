// Adadelta's kernel, following torch.optim.adadelta._single_tensor_adadelta operation by operation.
#include "descent/optim/adadelta.hpp"

#include <cmath>

#include "descent/optim/kernel.hpp"

namespace descent::optim {

void AdadeltaOptions::validate() const {
  check_nonnegative("Adadelta", "lr", lr);
  check_range("Adadelta", "rho", rho, 0.0, 1.0, true);
  check_nonnegative("Adadelta", "eps", eps);
  check_nonnegative("Adadelta", "weight_decay", weight_decay);
}

std::vector<std::string> Adadelta::state_names(size_t /*group*/) const { return {"square_avg", "acc_delta"}; }

template <class T>
void adadelta_update(std::span<T> p, std::span<const T> g, std::span<T> square_avg, std::span<T> acc_delta,
                     const AdadeltaOptions& o) {
  const T lr = static_cast<T>(o.lr);
  const T rho = static_cast<T>(o.rho);
  const T one_minus_rho = static_cast<T>(1.0 - o.rho);
  const T eps = static_cast<T>(o.eps);
  const T wd = static_cast<T>(o.weight_decay);
  // The arrays never overlap. GCC loses __restrict through the lambdas' captures and, past 10 run-time alias
  // checks, would not vectorise: the loop's `omp simd` says it again.
  T* __restrict pp = p.data();
  const T* __restrict gp = g.data();
  T* __restrict vp = square_avg.data();
  T* __restrict up = acc_delta.data();
  with_flags(
      [&]<bool kDecay, bool kMaximize>() {
        update_chunks(static_cast<int64_t>(p.size()), [&](int64_t lo, int64_t hi) {
#pragma omp simd
          for (int64_t i = lo; i < hi; ++i) {
            T grad = kMaximize ? -gp[i] : gp[i];
            if constexpr (kDecay) grad = grad + wd * pp[i];
            const T v = vp[i] * rho + one_minus_rho * grad * grad;
            vp[i] = v;
            const T rms_grad = std::sqrt(v + eps);
            const T delta = std::sqrt(up[i] + eps) / rms_grad * grad;
            up[i] = up[i] * rho + one_minus_rho * delta * delta;
            pp[i] = pp[i] + (-lr) * delta;
          }
        });
      },
      o.weight_decay != 0.0, o.maximize);
}

template void adadelta_update<float>(std::span<float>, std::span<const float>, std::span<float>, std::span<float>,
                                     const AdadeltaOptions&);
template void adadelta_update<double>(std::span<double>, std::span<const double>, std::span<double>, std::span<double>,
                                      const AdadeltaOptions&);

}  // namespace descent::optim
