// Prodigy's two passes, following prodigyopt.Prodigy.step (1.1.2) operation by operation.
#include "descent/optim/prodigy.hpp"

#include <algorithm>
#include <cmath>

#include "descent/optim/kernel.hpp"
#include "reduce.hpp"

namespace descent::optim {

void ProdigyOptions::validate() const {
  check_nonnegative("Prodigy", "lr", lr);
  check_beta("Prodigy", "betas", 0, betas[0]);
  check_beta("Prodigy", "betas", 1, betas[1]);
  DESCENT_CHECK(beta3 < 0.0 || beta3 <= 1.0, "Prodigy: beta3 = ", beta3, " is outside [0, 1] (negative: √betas[1])");
  check_positive("Prodigy", "eps", eps);
  check_nonnegative("Prodigy", "weight_decay", weight_decay);
  check_positive("Prodigy", "d0", d0);
  check_positive("Prodigy", "d_coef", d_coef);
  DESCENT_CHECK(growth_rate > 0.0, "Prodigy: growth_rate = ", growth_rate, " must be > 0 (inf: unbounded)");
}

std::vector<std::string> Prodigy::state_names(size_t /*group*/) const {
  // The package decides on β1 from group 0 for every group.
  if (options_.front().betas[0] > 0.0) return {"s", "p0", "exp_avg_sq", "exp_avg"};
  return {"s", "p0", "exp_avg_sq"};
}

namespace {

double scalar(const std::map<std::string, double>& s, const std::string& key, double fallback) {
  const auto it = s.find(key);
  return it == s.end() ? fallback : it->second;
}

}  // namespace

double Prodigy::d() const { return scalar(state_.front().scalars, "d", options_.front().d0); }

void Prodigy::step() {
  NoGradGuard no_grad;
  const ProdigyOptions& first = options_.front();
  double lr = 0.0;
  for (const ProdigyOptions& o : options_) lr = std::max(lr, o.lr);
  for (size_t g = 0; g < options_.size(); ++g) {
    DESCENT_CHECK(options_[g].lr == lr || options_[g].lr == 0.0, "Prodigy: group ", g, " has lr = ", options_[g].lr,
                  ", another ", lr, "; groups must share lr or have lr = 0 (d is one estimate for all)");
  }
  const std::map<std::string, double>& s0 = state_.front().scalars;
  const double k = scalar(s0, "k", 0.0);
  double d = scalar(s0, "d", first.d0);
  double d_max = scalar(s0, "d_max", first.d0);
  const double beta1 = first.betas[0], beta2 = first.betas[1];
  const double beta3 = first.beta3 < 0.0 ? std::sqrt(beta2) : first.beta3;
  const double bias_correction = first.use_bias_correction
                                     ? std::pow(1.0 - std::pow(beta2, k + 1.0), 0.5) / (1.0 - std::pow(beta1, k + 1.0))
                                     : 1.0;
  const double dlr = d * lr * bias_correction;
  const double d_numerator = scalar(s0, "d_numerator", 0.0) * beta3;

  // Pass 1: moments, s, and the reductions, over groups whose lr is not 0.
  const ProdigyStep before{beta1, beta2, beta3, d, dlr};
  double delta_numerator = 0.0, d_denom = 0.0;
  for_each_run(
      [&]<class T>(const Spans<T>& s, const StepInfo& info) {
        const ProdigyOptions& o = options_[info.group];
        if (o.lr <= 0.0) return;
        const auto sums = prodigy_accumulate<T>(s.param, s.grad, s.state[1], s.state[0], s.state[2],
                                                beta1 > 0.0 ? s.state[3] : std::span<T>(), o, before, info.step == 0);
        delta_numerator += (d / o.d0) * dlr * sums[0];
        d_denom += sums[1];
      },
      /*advance=*/false);
  if (d_denom == 0.0) return;  // no gradient signal: the package returns here, before counting the step

  // The new estimate (`d == d0` compares with the last group's d0, as the package's loop variable does).
  const double global_numerator = d_numerator + delta_numerator;
  const double d_hat = first.d_coef * global_numerator / d_denom;
  if (d == options_.back().d0) d = std::max(d, d_hat);
  d_max = std::max(d_max, d_hat);
  d = std::min(d_max, d * first.growth_rate);
  for (auto& gs : state_) {
    gs.scalars["d"] = d;
    gs.scalars["d_max"] = d_max;
    gs.scalars["d_numerator"] = global_numerator;
    gs.scalars["k"] = scalar(gs.scalars, "k", 0.0) + 1.0;
  }

  // Pass 2: the step, with the new d and the old dlr.
  const ProdigyStep after{beta1, beta2, beta3, d, dlr};
  for_each_run([&]<class T>(const Spans<T>& s, const StepInfo& info) {
    prodigy_step<T>(s.param, s.grad, s.state[2], beta1 > 0.0 ? s.state[3] : std::span<T>(), options_[info.group],
                    after);
  });
}

template <class T>
std::array<double, 2> prodigy_accumulate(std::span<T> p, std::span<const T> g, std::span<T> p0, std::span<T> s,
                                         std::span<T> exp_avg_sq, std::span<T> exp_avg, const ProdigyOptions& o,
                                         const ProdigyStep& step, bool first) {
  const T wd = static_cast<T>(o.weight_decay);
  const T beta1 = static_cast<T>(step.beta1);
  const T m_take = static_cast<T>(step.d * (1.0 - step.beta1));
  const T beta2 = static_cast<T>(step.beta2);
  const T v_take = static_cast<T>(step.d * step.d * (1.0 - step.beta2));
  const T beta3 = static_cast<T>(step.beta3);
  const T s_take = static_cast<T>(o.safeguard_warmup ? (step.d / o.d0) * step.d : (step.d / o.d0) * step.dlr);
  T* __restrict pp = p.data();
  const T* __restrict gp = g.data();
  T* __restrict p0p = p0.data();
  T* __restrict sp = s.data();
  T* __restrict vp = exp_avg_sq.data();
  T* __restrict mp = exp_avg.data();
  std::array<double, 2> sums{};
  with_flags(
      [&]<bool kCoupled, bool kMomentum, bool kFirst, bool kMaximize>() {
        sums = detail::blocked_sums<2>(static_cast<int64_t>(p.size()), [&](int64_t lo, int64_t hi) {
          double dot = 0.0, s_abs = 0.0;
          for (int64_t i = lo; i < hi; ++i) {
            T grad = kMaximize ? -gp[i] : gp[i];
            if constexpr (kCoupled) grad = grad + wd * pp[i];
            if constexpr (kFirst) p0p[i] = pp[i];
            dot += static_cast<double>(grad) * static_cast<double>(p0p[i] - pp[i]);
            if constexpr (kMomentum) mp[i] = mp[i] * beta1 + m_take * grad;
            vp[i] = vp[i] * beta2 + v_take * grad * grad;
            const T si = sp[i] * beta3 + s_take * grad;
            sp[i] = si;
            s_abs += static_cast<double>(std::abs(si));
          }
          return std::array<double, 2>{dot, s_abs};
        });
      },
      o.weight_decay != 0.0 && !o.decouple, step.beta1 > 0.0, first, o.maximize);
  return sums;
}

template <class T>
void prodigy_step(std::span<T> p, std::span<const T> g, std::span<const T> exp_avg_sq, std::span<const T> exp_avg,
                  const ProdigyOptions& o, const ProdigyStep& step) {
  const T wd = static_cast<T>(o.weight_decay);
  const T eps = static_cast<T>(step.d * o.eps);
  const T decay_alpha = static_cast<T>(-o.weight_decay * step.dlr);
  const T alpha = static_cast<T>(step.beta1 > 0.0 ? -step.dlr : -step.dlr * step.d);
  T* __restrict pp = p.data();
  const T* __restrict gp = g.data();
  const T* __restrict vp = exp_avg_sq.data();
  const T* __restrict mp = exp_avg.data();
  with_flags(
      [&]<bool kCoupled, bool kDecoupled, bool kMomentum, bool kMaximize>() {
        update_chunks(static_cast<int64_t>(p.size()), [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) {
            const T denom = std::sqrt(vp[i]) + eps;
            T param = pp[i];
            if constexpr (kDecoupled) param = param + decay_alpha * param;
            if constexpr (kMomentum) {
              param = param + alpha * (mp[i] / denom);
            } else {
              T grad = kMaximize ? -gp[i] : gp[i];
              if constexpr (kCoupled) grad = grad + wd * pp[i];  // the package's grad, changed in place by pass 1
              param = param + alpha * (grad / denom);
            }
            pp[i] = param;
          }
        });
      },
      o.weight_decay != 0.0 && !o.decouple, o.weight_decay != 0.0 && o.decouple, step.beta1 > 0.0, o.maximize);
}

template std::array<double, 2> prodigy_accumulate<float>(std::span<float>, std::span<const float>, std::span<float>,
                                                         std::span<float>, std::span<float>, std::span<float>,
                                                         const ProdigyOptions&, const ProdigyStep&, bool);
template std::array<double, 2> prodigy_accumulate<double>(std::span<double>, std::span<const double>, std::span<double>,
                                                          std::span<double>, std::span<double>, std::span<double>,
                                                          const ProdigyOptions&, const ProdigyStep&, bool);
template void prodigy_step<float>(std::span<float>, std::span<const float>, std::span<const float>,
                                  std::span<const float>, const ProdigyOptions&, const ProdigyStep&);
template void prodigy_step<double>(std::span<double>, std::span<const double>, std::span<const double>,
                                   std::span<const double>, const ProdigyOptions&, const ProdigyStep&);

}  // namespace descent::optim
