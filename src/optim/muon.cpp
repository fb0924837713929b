// Muon's kernels: the matrix step following torch.optim.Muon's _single_tensor_muon (torch 2.15) operation by
// operation, and AdamW (adam.cpp's kernel) for everything that is not a matrix.
#include "descent/optim/muon.hpp"

#include <algorithm>
#include <cmath>

#include "descent/optim/adam.hpp"
#include "reduce.hpp"

namespace descent::optim {

void MuonOptions::validate() const {
  check_nonnegative("Muon", "lr", lr);
  check_nonnegative("Muon", "weight_decay", weight_decay);
  check_range("Muon", "momentum", momentum, 0.0, 1.0);
  check_nonnegative("Muon", "eps", eps);
  check_range("Muon", "ns_steps", static_cast<double>(ns_steps), 0.0, 100.0);
  for (size_t i = 0; i < ns_coefficients.size(); ++i)
    DESCENT_CHECK(std::isfinite(ns_coefficients[i]), "Muon: ns_coefficients[", i, "] = ", ns_coefficients[i],
                  " must be finite");
  DESCENT_CHECK(adjust_lr_fn == "original" || adjust_lr_fn == "match_rms_adamw" || adjust_lr_fn == "spectral_unclamped",
                "Muon: adjust_lr_fn = '", adjust_lr_fn,
                "' is not one of original (torch's None), match_rms_adamw, spectral_unclamped");
  check_nonnegative("Muon", "adamw_lr", adamw_lr);
  check_beta("Muon", "adamw_betas", 0, adamw_betas[0]);
  check_beta("Muon", "adamw_betas", 1, adamw_betas[1]);
  check_nonnegative("Muon", "adamw_eps", adamw_eps);
  check_nonnegative("Muon", "adamw_weight_decay", adamw_weight_decay);
}

double muon_adjusted_lr(const MuonOptions& o, int64_t rows, int64_t cols) {
  const auto a = static_cast<double>(rows), b = static_cast<double>(cols);
  if (o.adjust_lr_fn == "match_rms_adamw") return o.lr * (0.2 * std::sqrt(std::max(a, b)));
  if (o.adjust_lr_fn == "spectral_unclamped") return o.lr * std::sqrt(a / b);
  return o.lr * std::sqrt(std::max(1.0, a / b));
}

template <class T>
void muon_matrix_update(std::span<T> p, std::span<const T> g, std::span<T> momentum_buffer, int64_t rows, int64_t cols,
                        const MuonOptions& o, MuonScratch<T>& scratch) {
  const auto n = static_cast<int64_t>(p.size());
  if (n == 0) return;
  scratch.update.resize(p.size());
  scratch.ortho.resize(p.size());
  const T sign = o.maximize ? T(-1) : T(1);
  const auto mu = static_cast<T>(o.momentum);
  const auto one_minus_mu = static_cast<T>(1.0 - o.momentum);
  T* __restrict buf = momentum_buffer.data();
  T* __restrict u = scratch.update.data();
  const T* __restrict gp = g.data();
  // buf.lerp_(grad, 1 − momentum); update = nesterov ? grad.lerp(buf, momentum) : buf
  with_flags(
      [&]<bool kNesterov>() {
        for (int64_t i = 0; i < n; ++i) {
          const T grad = sign * gp[i];
          buf[i] = detail::torch_lerp(buf[i], grad, one_minus_mu);
          u[i] = kNesterov ? detail::torch_lerp(grad, buf[i], mu) : buf[i];
        }
      },
      o.nesterov);

  const NewtonSchulzOptions ns{o.ns_coefficients, o.ns_steps, o.eps};
  newton_schulz<T>(u, rows, cols, ns, scratch.ortho.data(), scratch.newton_schulz);

  // param.mul_(1 − lr·weight_decay); param.add_(update, alpha = −adjusted_lr)
  const auto decay = static_cast<T>(1.0 - o.lr * o.weight_decay);
  const auto alpha = static_cast<T>(-muon_adjusted_lr(o, rows, cols));
  T* __restrict pp = p.data();
  const T* __restrict op = scratch.ortho.data();
  update_chunks(n, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) pp[i] = pp[i] * decay + alpha * op[i];
  });
}

template void muon_matrix_update<float>(std::span<float>, std::span<const float>, std::span<float>, int64_t, int64_t,
                                        const MuonOptions&, MuonScratch<float>&);
template void muon_matrix_update<double>(std::span<double>, std::span<const double>, std::span<double>, int64_t,
                                         int64_t, const MuonOptions&, MuonScratch<double>&);

std::map<std::string, Shape> Muon::extra_state_shapes(size_t /*group*/, const Tensor& param) const {
  if (orthogonalizes(param)) return {{"momentum_buffer", param.shape()}};
  return {{"exp_avg", param.shape()}, {"exp_avg_sq", param.shape()}};
}

template <class T>
void Muon::update(const MuonOptions& o, const Spans<T>& s, const StepInfo& info) {
  const Tensor& param = *info.param;  // per_tensor(): every run is one parameter
  const auto span_of = [&](const char* name) {
    const Tensor& t = extra_state(info.group, info.index, name);
    return std::span<T>(t.data<T>(), static_cast<size_t>(t.numel()));
  };
  if (orthogonalizes(param)) {
    const int64_t cols = param.size(-1);
    const int64_t rows = cols == 0 ? 0 : param.numel() / cols;
    muon_matrix_update<T>(s.param, s.grad, span_of("momentum_buffer"), rows, cols, o, scratch_.get<T>());
    return;
  }
  const AdamOptions adamw{.lr = o.adamw_lr,
                          .betas = o.adamw_betas,
                          .eps = o.adamw_eps,
                          .weight_decay = o.adamw_weight_decay,
                          .maximize = o.maximize,
                          .decoupled_weight_decay = true};
  adam_update<T>(s.param, s.grad, span_of("exp_avg"), span_of("exp_avg_sq"), {}, adamw, info.step);
}

template void Muon::update<float>(const MuonOptions&, const Spans<float>&, const StepInfo&);
template void Muon::update<double>(const MuonOptions&, const Spans<double>&, const StepInfo&);

}  // namespace descent::optim
