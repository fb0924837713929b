// Rprop's kernel, following torch.optim.rprop._single_tensor_rprop: torch's masked assignments become selects,
// so the loop stays branch-free and vectorises.
#include "descent/optim/rprop.hpp"

#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "descent/optim/kernel.hpp"

namespace descent::optim {
namespace {

// c ? a : b by blending bits. Written as a plain select, GCC moves the arithmetic that follows into the branches
// (x·1 → x), and arithmetic under a branch may trap, so the loop is not if-converted and does not vectorise.
template <class T>
T blend(bool c, T a, T b) {
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  const Bits mask = Bits{0} - static_cast<Bits>(c);
  return std::bit_cast<T>((std::bit_cast<Bits>(a) & mask) | (std::bit_cast<Bits>(b) & ~mask));
}

}  // namespace

void RpropOptions::validate() const {
  check_nonnegative("Rprop", "lr", lr);
  DESCENT_CHECK(etas[0] > 0.0 && etas[0] < 1.0, "Rprop: etas[0] = ", etas[0], " is outside (0, 1)");
  DESCENT_CHECK(etas[1] > 1.0 && std::isfinite(etas[1]), "Rprop: etas[1] = ", etas[1], " must be a finite number > 1");
  check_nonnegative("Rprop", "step_sizes[0]", step_sizes[0]);
  DESCENT_CHECK(step_sizes[1] >= step_sizes[0], "Rprop: step_sizes = (", step_sizes[0], ", ", step_sizes[1],
                ") must be (min, max) with min <= max");
}

std::vector<std::string> Rprop::state_names(size_t /*group*/) const { return {"prev", "step_size"}; }

double Rprop::state_initial_value(size_t group, size_t buffer) const { return buffer == 1 ? options_[group].lr : 0.0; }

template <class T>
void rprop_update(std::span<T> p, std::span<const T> g, std::span<T> prev, std::span<T> step_size,
                  const RpropOptions& o) {
  const T etaminus = static_cast<T>(o.etas[0]);
  const T etaplus = static_cast<T>(o.etas[1]);
  const T step_min = static_cast<T>(o.step_sizes[0]);
  const T step_max = static_cast<T>(o.step_sizes[1]);
  // The arrays never overlap. GCC loses __restrict through the lambdas' captures and, past 10 run-time alias
  // checks, would not vectorise: the loop's `omp simd` says it again.
  T* __restrict pp = p.data();
  const T* __restrict gp = g.data();
  T* __restrict qp = prev.data();
  T* __restrict sp = step_size.data();
  with_flags(
      [&]<bool kMaximize>() {
        update_chunks(static_cast<int64_t>(p.size()), [&](int64_t lo, int64_t hi) {
#pragma omp simd
          for (int64_t i = lo; i < hi; ++i) {
            const T grad = kMaximize ? -gp[i] : gp[i];
            const T agreement = grad * qp[i];  // its sign, as torch computes it (the product may underflow to 0)
            const bool flipped = agreement < T(0);
            T s = sp[i] * blend(agreement > T(0), etaplus, blend(flipped, etaminus, T(1)));
            s = blend(s < step_min, step_min, s);  // clamp, NaN passing through as in torch
            s = blend(s > step_max, step_max, s);
            sp[i] = s;
            const T kept = blend(flipped, T(0), grad);  // after a flip: no move, and no sign to compare next time
            const T direction = blend(kept > T(0), T(1), blend(kept < T(0), T(-1), T(0)));  // torch.sign (NaN → 0)
            pp[i] = pp[i] - direction * s;
            qp[i] = kept;
          }
        });
      },
      o.maximize);
}

template void rprop_update<float>(std::span<float>, std::span<const float>, std::span<float>, std::span<float>,
                                  const RpropOptions&);
template void rprop_update<double>(std::span<double>, std::span<const double>, std::span<double>, std::span<double>,
                                   const RpropOptions&);

}  // namespace descent::optim
