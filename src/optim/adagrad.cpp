// Adagrad's kernel, following torch.optim.adagrad._single_tensor_adagrad operation by operation (addcmul for the
// accumulator, sqrt + eps, addcdiv for the step), with the decayed learning rate computed in double.
#include "descent/optim/adagrad.hpp"

#include <cmath>

#include "descent/optim/kernel.hpp"

namespace descent::optim {

void AdagradOptions::validate() const {
  check_nonnegative("Adagrad", "lr", lr);
  check_nonnegative("Adagrad", "lr_decay", lr_decay);
  check_nonnegative("Adagrad", "weight_decay", weight_decay);
  check_nonnegative("Adagrad", "initial_accumulator_value", initial_accumulator_value);
  check_nonnegative("Adagrad", "eps", eps);
}

std::vector<std::string> Adagrad::state_names(size_t /*group*/) const { return {"sum"}; }

double Adagrad::state_initial_value(size_t group, size_t /*buffer*/) const {
  return options_[group].initial_accumulator_value;
}

template <class T>
void adagrad_update(std::span<T> p, std::span<const T> g, std::span<T> sum, const AdagradOptions& o, int64_t step) {
  const double clr = o.lr / (1.0 + static_cast<double>(step - 1) * o.lr_decay);
  const T neg_clr = static_cast<T>(-clr);
  const T wd = static_cast<T>(o.weight_decay);
  const T eps = static_cast<T>(o.eps);
  // The arrays never overlap. GCC loses __restrict through the lambdas' captures and, past 10 run-time alias
  // checks, would not vectorise: the loop's `omp simd` says it again.
  T* __restrict pp = p.data();
  const T* __restrict gp = g.data();
  T* __restrict sp = sum.data();
  with_flags(
      [&]<bool kDecay, bool kMaximize>() {
        update_chunks(static_cast<int64_t>(p.size()), [&](int64_t lo, int64_t hi) {
#pragma omp simd
          for (int64_t i = lo; i < hi; ++i) {
            T grad = kMaximize ? -gp[i] : gp[i];
            if constexpr (kDecay) grad = grad + wd * pp[i];
            const T s = sp[i] + grad * grad;
            sp[i] = s;
            pp[i] = pp[i] + (neg_clr * grad) / (std::sqrt(s) + eps);  // addcdiv: (value·g) / std
          }
        });
      },
      o.weight_decay != 0.0, o.maximize);
}

template void adagrad_update<float>(std::span<float>, std::span<const float>, std::span<float>, const AdagradOptions&,
                                    int64_t);
template void adagrad_update<double>(std::span<double>, std::span<const double>, std::span<double>,
                                     const AdagradOptions&, int64_t);

}  // namespace descent::optim
