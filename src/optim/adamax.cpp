// Adamax's kernel, following torch.optim.adamax._single_tensor_adamax operation by operation (lerp for the first
// moment, maximum(β2·u, |g| + eps) for the norm, addcdiv for the step), the bias correction hoisted in double.
#include "descent/optim/adamax.hpp"

#include <algorithm>
#include <cmath>

#include "descent/optim/kernel.hpp"

namespace descent::optim {

void AdamaxOptions::validate() const {
  check_nonnegative("Adamax", "lr", lr);
  check_beta("Adamax", "betas", 0, betas[0]);
  check_beta("Adamax", "betas", 1, betas[1]);
  check_nonnegative("Adamax", "eps", eps);
  check_nonnegative("Adamax", "weight_decay", weight_decay);
}

std::vector<std::string> Adamax::state_names(size_t /*group*/) const { return {"exp_avg", "exp_inf"}; }

template <class T>
void adamax_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, std::span<T> exp_inf,
                   const AdamaxOptions& o, int64_t step) {
  const double bias_correction = 1.0 - std::pow(o.betas[0], static_cast<double>(step));
  const T neg_clr = static_cast<T>(-(o.lr / bias_correction));
  const T one_minus_beta1 = static_cast<T>(1.0 - o.betas[0]);
  const T beta2 = static_cast<T>(o.betas[1]);
  const T eps = static_cast<T>(o.eps);
  const T wd = static_cast<T>(o.weight_decay);
  // The arrays never overlap. GCC loses __restrict through the lambdas' captures and, past 10 run-time alias
  // checks, would not vectorise: the loop's `omp simd` says it again.
  T* __restrict pp = p.data();
  const T* __restrict gp = g.data();
  T* __restrict mp = exp_avg.data();
  T* __restrict up = exp_inf.data();
  with_flags(
      [&]<bool kDecay, bool kMaximize>() {
        update_chunks(static_cast<int64_t>(p.size()), [&](int64_t lo, int64_t hi) {
#pragma omp simd
          for (int64_t i = lo; i < hi; ++i) {
            T grad = kMaximize ? -gp[i] : gp[i];
            if constexpr (kDecay) grad = grad + wd * pp[i];
            const T m = mp[i] + one_minus_beta1 * (grad - mp[i]);  // torch.lerp with weight < 0.5
            const T u = std::max(up[i] * beta2, std::abs(grad) + eps);
            mp[i] = m;
            up[i] = u;
            pp[i] = pp[i] + (neg_clr * m) / u;  // addcdiv: (value·m) / u
          }
        });
      },
      o.weight_decay != 0.0, o.maximize);
}

template void adamax_update<float>(std::span<float>, std::span<const float>, std::span<float>, std::span<float>,
                                   const AdamaxOptions&, int64_t);
template void adamax_update<double>(std::span<double>, std::span<const double>, std::span<double>, std::span<double>,
                                    const AdamaxOptions&, int64_t);

}  // namespace descent::optim
