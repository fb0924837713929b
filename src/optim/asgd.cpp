// ASGD's kernel, following torch.optim.asgd._single_tensor_asgd operation by operation, and its η/μ schedule in
// torch's order: both are used, then recomputed from the step just taken.
#include "descent/optim/asgd.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "descent/optim/kernel.hpp"

namespace descent::optim {
namespace {

// torch keeps eta and mu in 0-dim tensors of the default dtype (float32) whatever the parameters' dtype; rounding
// the same way keeps float64 trajectories on torch's (η kept in double drifts from it by ~1e-8 within 100 steps).
double in_float32(double x) { return static_cast<double>(static_cast<float>(x)); }

}  // namespace

void ASGDOptions::validate() const {
  check_nonnegative("ASGD", "lr", lr);
  check_nonnegative("ASGD", "lambd", lambd);
  check_nonnegative("ASGD", "alpha", alpha);
  check_range("ASGD", "t0", t0, 0.0, std::numeric_limits<double>::infinity(), true);
  check_nonnegative("ASGD", "weight_decay", weight_decay);
}

std::vector<std::string> ASGD::state_names(size_t /*group*/) const { return {"ax"}; }

double ASGD::eta(size_t group) const {
  const auto& scalars = state_[group].scalars;
  const auto it = scalars.find("eta");
  return it != scalars.end() ? it->second : in_float32(options_[group].lr);
}

double ASGD::mu(size_t group) const {
  const auto& scalars = state_[group].scalars;
  const auto it = scalars.find("mu");
  return it != scalars.end() ? it->second : 1.0;
}

void ASGD::step() {
  stepped_.assign(num_groups(), 0);
  Rule::step();
  for (size_t g = 0; g < num_groups(); ++g) {
    if (stepped_[g] == 0) continue;
    const ASGDOptions& o = options_[g];
    const auto t = static_cast<double>(stepped_[g]);
    state_[g].scalars["eta"] = in_float32(o.lr / std::pow(1.0 + o.lambd * o.lr * t, o.alpha));
    state_[g].scalars["mu"] = in_float32(1.0 / std::max(1.0, t - o.t0));
  }
}

template <class T>
void asgd_update(std::span<T> p, std::span<const T> g, std::span<T> ax, const ASGDOptions& o, double eta, double mu) {
  const T shrink = static_cast<T>(1.0 - o.lambd * eta);
  const T neg_eta = static_cast<T>(-eta);
  const T mu_t = static_cast<T>(mu);
  const T wd = static_cast<T>(o.weight_decay);
  // The arrays never overlap. GCC loses __restrict through the lambdas' captures and, past 10 run-time alias
  // checks, would not vectorise: the loop's `omp simd` says it again.
  T* __restrict pp = p.data();
  const T* __restrict gp = g.data();
  T* __restrict ap = ax.data();
  with_flags(
      [&]<bool kAverage, bool kDecay, bool kMaximize>() {
        update_chunks(static_cast<int64_t>(p.size()), [&](int64_t lo, int64_t hi) {
#pragma omp simd
          for (int64_t i = lo; i < hi; ++i) {
            T grad = kMaximize ? -gp[i] : gp[i];
            if constexpr (kDecay) grad = grad + wd * pp[i];
            const T param = pp[i] * shrink + neg_eta * grad;
            pp[i] = param;
            // torch copies p while μ = 1: ax + 1·(p − ax) need not round to p.
            ap[i] = kAverage ? ap[i] + (param - ap[i]) * mu_t : param;
          }
        });
      },
      mu != 1.0, o.weight_decay != 0.0, o.maximize);
}

template void asgd_update<float>(std::span<float>, std::span<const float>, std::span<float>, const ASGDOptions&, double,
                                 double);
template void asgd_update<double>(std::span<double>, std::span<const double>, std::span<double>, const ASGDOptions&,
                                  double, double);

}  // namespace descent::optim
