// NAdam's kernel, following torch.optim.nadam._single_tensor_nadam operation by operation (lerp, mul + addcmul,
// div + sqrt + eps, then two addcdiv), with μ_t, μ_{t+1} and both step coefficients hoisted in double.
#include "descent/optim/nadam.hpp"

#include <cmath>

#include "descent/optim/kernel.hpp"

namespace descent::optim {
namespace {

// torch keeps mu_product in a 0-dim tensor of the default dtype (float32) and multiplies in float32, whatever the
// parameters' dtype. Rounding the same way keeps float64 trajectories on torch's to ~1e-16; a product kept in
// double drifts from it by ~1e-10 within 100 steps.
double times_in_float32(double product, double factor) {
  return static_cast<double>(static_cast<float>(product) * static_cast<float>(factor));
}

}  // namespace

void NAdamOptions::validate() const {
  check_nonnegative("NAdam", "lr", lr);
  check_beta("NAdam", "betas", 0, betas[0]);
  check_beta("NAdam", "betas", 1, betas[1]);
  check_nonnegative("NAdam", "eps", eps);
  check_nonnegative("NAdam", "weight_decay", weight_decay);
  check_nonnegative("NAdam", "momentum_decay", momentum_decay);
}

std::vector<std::string> NAdam::state_names(size_t /*group*/) const { return {"exp_avg", "exp_avg_sq"}; }

double nadam_mu(const NAdamOptions& o, int64_t step) {
  return o.betas[0] * (1.0 - 0.5 * std::pow(0.96, static_cast<double>(step) * o.momentum_decay));
}

double NAdam::mu_product(size_t group, int64_t step) {
  std::map<std::string, double>& scalars = state_[group].scalars;
  const auto value = scalars.find("mu_product");
  const auto at = scalars.find("mu_product_step");
  int64_t from = 0;
  double product = 1.0;
  if (value != scalars.end() && at != scalars.end()) {
    const auto cached_step = static_cast<int64_t>(at->second);
    if (cached_step == step) return value->second;  // another run of this group, same step
    if (cached_step == step - 1) {
      from = cached_step;
      product = value->second;
    }
  }
  for (int64_t t = from + 1; t <= step; ++t) product = times_in_float32(product, nadam_mu(options_[group], t));
  scalars["mu_product"] = product;
  scalars["mu_product_step"] = static_cast<double>(step);
  return product;
}

template <class T>
void nadam_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, std::span<T> exp_avg_sq,
                  const NAdamOptions& o, int64_t step, double mu_product) {
  const double mu = nadam_mu(o, step);
  const double mu_next = nadam_mu(o, step + 1);
  const double mu_product_next = mu_product * mu_next;
  const T grad_coef = static_cast<T>(-o.lr * (1.0 - mu) / (1.0 - mu_product));
  const T avg_coef = static_cast<T>(-o.lr * mu_next / (1.0 - mu_product_next));
  const T bias_correction2 = static_cast<T>(1.0 - std::pow(o.betas[1], static_cast<double>(step)));
  const T one_minus_beta1 = static_cast<T>(1.0 - o.betas[0]);
  const T beta2 = static_cast<T>(o.betas[1]);
  const T one_minus_beta2 = static_cast<T>(1.0 - o.betas[1]);
  const T eps = static_cast<T>(o.eps);
  const T wd = static_cast<T>(o.weight_decay);
  const T decay_factor = static_cast<T>(1.0 - o.lr * o.weight_decay);
  // The arrays never overlap. GCC loses __restrict through the lambdas' captures and, past 10 run-time alias
  // checks, would not vectorise: the loop's `omp simd` says it again.
  T* __restrict pp = p.data();
  const T* __restrict gp = g.data();
  T* __restrict mp = exp_avg.data();
  T* __restrict vp = exp_avg_sq.data();
  with_flags(
      [&]<bool kCoupled, bool kDecoupled, bool kMaximize>() {
        update_chunks(static_cast<int64_t>(p.size()), [&](int64_t lo, int64_t hi) {
#pragma omp simd
          for (int64_t i = lo; i < hi; ++i) {
            T grad = kMaximize ? -gp[i] : gp[i];
            T param = pp[i];
            if constexpr (kDecoupled) param = param * decay_factor;
            if constexpr (kCoupled) grad = grad + wd * param;
            const T m = mp[i] + one_minus_beta1 * (grad - mp[i]);  // torch.lerp with weight < 0.5
            const T v = vp[i] * beta2 + one_minus_beta2 * grad * grad;
            mp[i] = m;
            vp[i] = v;
            const T denom = std::sqrt(v / bias_correction2) + eps;
            param = param + (grad_coef * grad) / denom;  // two addcdiv, in torch's order
            pp[i] = param + (avg_coef * m) / denom;
          }
        });
      },
      o.weight_decay != 0.0 && !o.decoupled_weight_decay, o.weight_decay != 0.0 && o.decoupled_weight_decay,
      o.maximize);
}

template void nadam_update<float>(std::span<float>, std::span<const float>, std::span<float>, std::span<float>,
                                  const NAdamOptions&, int64_t, double);
template void nadam_update<double>(std::span<double>, std::span<const double>, std::span<double>, std::span<double>,
                                   const NAdamOptions&, int64_t, double);

}  // namespace descent::optim
