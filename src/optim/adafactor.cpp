// Adafactor's kernel, following transformers.optimization.Adafactor.step (5.23.0) operation by operation, with
// the reductions (RMS(p), the row and column means, RMS(u)) computed in passes before the step.
#include "descent/optim/adafactor.hpp"

#include <algorithm>
#include <cmath>

#include "descent/optim/kernel.hpp"
#include "reduce.hpp"

namespace descent::optim {

void AdafactorOptions::validate() const {
  check_nonnegative("Adafactor", "lr", lr);
  check_nonnegative("Adafactor", "eps[0]", eps[0]);
  check_nonnegative("Adafactor", "eps[1]", eps[1]);
  check_positive("Adafactor", "clip_threshold", clip_threshold);
  // β2_t = 1 − t^decay_rate must stay in [0, 1) from t = 2 on: decay_rate < 0 (the paper uses −0.8).
  DESCENT_CHECK(decay_rate < 0.0, "Adafactor: decay_rate = ", decay_rate, " must be < 0 (β2_t = 1 − t^decay_rate)");
  check_range("Adafactor", "beta1", beta1, 0.0, 1.0);
  check_nonnegative("Adafactor", "weight_decay", weight_decay);
  DESCENT_CHECK(!warmup_init || relative_step, "Adafactor: warmup_init = true needs relative_step = true");
}

std::vector<std::string> Adafactor::state_names(size_t group) const {
  if (options_[group].beta1 > 0.0) return {"exp_avg"};
  return {};
}

std::map<std::string, Shape> Adafactor::extra_state_shapes(size_t /*group*/, const Tensor& param) const {
  const Shape& shape = param.shape();
  if (shape.size() < 2) return {{"exp_avg_sq", shape}};
  Shape row(shape.begin(), shape.end() - 1);  // all axes but the last
  Shape col(shape.begin(), shape.end() - 2);  // all axes but the second-to-last
  col.push_back(shape.back());
  return {{"exp_avg_sq_row", row}, {"exp_avg_sq_col", col}};
}

namespace {

// Per-step scalars, worked out as the reference does (it keeps RMS(p) and the learning rate as 0-d tensors of the
// parameter's dtype when scale_parameter makes them depend on p).
template <class T>
struct StepScalars {
  T lr;           // α_t
  T decay_alpha;  // −weight_decay·α_t
};

template <class T>
StepScalars<T> step_scalars(const AdafactorOptions& o, int64_t step, double param_sq, int64_t numel) {
  const auto t = static_cast<double>(step);
  double relative = o.lr;
  if (o.relative_step) relative = std::min(o.warmup_init ? 1e-6 * t : 1e-2, 1.0 / std::sqrt(t));
  const T rms = static_cast<T>(std::sqrt(param_sq)) / static_cast<T>(std::sqrt(static_cast<double>(numel)));
  if (o.scale_parameter && static_cast<double>(rms) > o.eps[1]) {
    const T lr = rms * static_cast<T>(relative);
    return {lr, static_cast<T>(-o.weight_decay) * lr};
  }
  const double lr = (o.scale_parameter ? o.eps[1] : 1.0) * relative;
  return {static_cast<T>(lr), static_cast<T>(-o.weight_decay * lr)};
}

template <class T>
T clip_divisor(const AdafactorOptions& o, double update_sq, int64_t numel) {
  const T rms = static_cast<T>(std::sqrt(update_sq)) / static_cast<T>(std::sqrt(static_cast<double>(numel)));
  return std::max(rms / static_cast<T>(o.clip_threshold), T(1));
}

}  // namespace

template <class T>
void adafactor_update(const AdafactorTensor<T>& t, const AdafactorOptions& o, int64_t step,
                      std::vector<double>& scratch) {
  const auto n = static_cast<int64_t>(t.p.size());
  if (n == 0) return;
  const double beta2t = 1.0 - std::pow(static_cast<double>(step), o.decay_rate);
  const T beta2 = static_cast<T>(beta2t);
  const T one_minus_beta2 = static_cast<T>(1.0 - beta2t);
  const T eps0 = static_cast<T>(o.eps[0]);
  const T sign = o.maximize ? T(-1) : T(1);  // exact: g² and |u| do not change, u changes sign
  const T beta1 = static_cast<T>(o.beta1);
  const T one_minus_beta1 = static_cast<T>(1.0 - o.beta1);
  T* __restrict pp = t.p.data();
  const T* __restrict gp = t.g.data();
  T* __restrict mp = t.exp_avg.data();

  // The step from the unscaled update u of element i (shared by both layouts).
  const auto finish = [&]<bool kMomentum, bool kDecay>(int64_t lo, int64_t hi, T divisor, StepScalars<T> s,
                                                       const auto& unscaled) {
    for (int64_t i = lo; i < hi; ++i) {
      T u = unscaled(i) / divisor * s.lr;
      if constexpr (kMomentum) {
        u = mp[i] * beta1 + one_minus_beta1 * u;
        mp[i] = u;
      }
      T param = pp[i];
      if constexpr (kDecay) param = param + s.decay_alpha * param;
      pp[i] = param + (-u);
    }
  };
  const auto finish_all = [&](int64_t lo, int64_t hi, T divisor, StepScalars<T> s, const auto& unscaled) {
    with_flags(
        [&]<bool kMomentum, bool kDecay>() {
          finish.template operator()<kMomentum, kDecay>(lo, hi, divisor, s, unscaled);
        },
        o.beta1 > 0.0, o.weight_decay != 0.0);
  };

  if (!t.factored) {
    T* __restrict vp = t.exp_avg_sq.data();
    const auto unscaled = [&](int64_t i) { return T(1) / std::sqrt(vp[i]) * (sign * gp[i]); };
    // Pass 1: RMS(p), the second moment, RMS(u).
    const auto sums = detail::blocked_sums<2>(n, [&](int64_t lo, int64_t hi) {
      double param_sq = 0.0, update_sq = 0.0;
      for (int64_t i = lo; i < hi; ++i) {
        param_sq += static_cast<double>(pp[i]) * static_cast<double>(pp[i]);
        vp[i] = vp[i] * beta2 + one_minus_beta2 * (gp[i] * gp[i] + eps0);
        const T u = unscaled(i);
        update_sq += static_cast<double>(u) * static_cast<double>(u);
      }
      return std::array<double, 2>{param_sq, update_sq};
    });
    const StepScalars<T> s = step_scalars<T>(o, step, sums[0], n);
    const T divisor = clip_divisor<T>(o, sums[1], n);
    // Pass 2: the step.
    update_chunks(n, [&](int64_t lo, int64_t hi) { finish_all(lo, hi, divisor, s, unscaled); });
    return;
  }

  const int64_t rows = t.rows, cols = t.cols, batch = t.batch, all_rows = batch * rows;
  T* __restrict row = t.exp_avg_sq_row.data();
  T* __restrict col = t.exp_avg_sq_col.data();
  // Scratch: the column sums, then the column factors rsqrt(C) ([batch·cols]); then each batch's mean of R.
  scratch.assign(static_cast<size_t>(batch * cols + batch), 0.0);
  double* __restrict col_factor = scratch.data();
  double* __restrict row_mean = scratch.data() + batch * cols;

  // Pass 1 (one thread: the column sums run across rows): RMS(p), the row and column means of g² + eps[0].
  double param_sq = 0.0;
  for (int64_t r = 0; r < all_rows; ++r) {
    double* col_sum = col_factor + (r / rows) * cols;
    double row_sum = 0.0;
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t i = r * cols + c;
      param_sq += static_cast<double>(pp[i]) * static_cast<double>(pp[i]);
      const auto sq = static_cast<double>(gp[i] * gp[i] + eps0);
      row_sum += sq;
      col_sum[c] += sq;
    }
    row[r] = row[r] * beta2 + one_minus_beta2 * (static_cast<T>(row_sum) / static_cast<T>(cols));
  }
  for (int64_t k = 0; k < batch * cols; ++k) {
    col[k] = col[k] * beta2 + one_minus_beta2 * (static_cast<T>(col_factor[k]) / static_cast<T>(rows));
    col_factor[k] = static_cast<double>(T(1) / std::sqrt(col[k]));
  }
  for (int64_t b = 0; b < batch; ++b) {
    double sum = 0.0;
    for (int64_t r = 0; r < rows; ++r) sum += static_cast<double>(row[b * rows + r]);
    row_mean[b] = static_cast<double>(static_cast<T>(sum) / static_cast<T>(rows));
  }
  // rsqrt(R[r] / mean(R of its batch)): the reference's r_factor.
  const auto row_factor = [&](int64_t r) { return T(1) / std::sqrt(row[r] / static_cast<T>(row_mean[r / rows])); };

  // Pass 2: RMS(u) with u = (row factor · column factor) · g, blocked over whole rows.
  const int64_t row_block = std::max<int64_t>(1, kUpdateGrain / std::max<int64_t>(cols, 1));
  const auto update_sq = detail::blocked_sums<1>(all_rows, row_block, [&](int64_t lo, int64_t hi) {
    double sum = 0.0;
    for (int64_t r = lo; r < hi; ++r) {
      const T rf = row_factor(r);
      const double* cf = col_factor + (r / rows) * cols;
      for (int64_t c = 0; c < cols; ++c) {
        const T u = rf * static_cast<T>(cf[c]) * (sign * gp[r * cols + c]);
        sum += static_cast<double>(u) * static_cast<double>(u);
      }
    }
    return std::array<double, 1>{sum};
  });
  const StepScalars<T> s = step_scalars<T>(o, step, param_sq, n);
  const T divisor = clip_divisor<T>(o, update_sq[0], n);

  // Pass 3: the step, over whole rows.
  parallel_for(all_rows, row_block, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T rf = row_factor(r);
      const double* cf = col_factor + (r / rows) * cols;
      const int64_t first = r * cols;
      finish_all(first, first + cols, divisor, s,
                 [&](int64_t i) { return rf * static_cast<T>(cf[i - first]) * (sign * gp[i]); });
    }
  });
}

template void adafactor_update<float>(const AdafactorTensor<float>&, const AdafactorOptions&, int64_t,
                                      std::vector<double>&);
template void adafactor_update<double>(const AdafactorTensor<double>&, const AdafactorOptions&, int64_t,
                                       std::vector<double>&);

}  // namespace descent::optim
