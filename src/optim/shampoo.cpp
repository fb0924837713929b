// Shampoo's kernel: factor statistics by symmetric rank-k updates (BLAS syrk), inverse fourth roots by
// eigendecomposition every precondition_frequency steps, Adam grafting (see shampoo.hpp).
#include "descent/optim/shampoo.hpp"

#include <cblas.h>

#include <cmath>
#include <limits>

#include "../ops/gemm.hpp"
#include "descent/optim/adam.hpp"
#include "descent/optim/kernel.hpp"
#include "reduce.hpp"

namespace descent::optim {

void ShampooOptions::validate() const {
  check_nonnegative("Shampoo", "lr", lr);
  check_beta("Shampoo", "betas", 0, betas[0]);
  DESCENT_CHECK(betas[1] > 0.0 && betas[1] <= 1.0, "Shampoo: betas[1] = ", betas[1], " is outside (0, 1]");
  check_positive("Shampoo", "epsilon", epsilon);
  check_nonnegative("Shampoo", "weight_decay", weight_decay);
  DESCENT_CHECK(max_preconditioner_dim >= 1, "Shampoo: max_preconditioner_dim = ", max_preconditioner_dim,
                " must be >= 1");
  DESCENT_CHECK(precondition_frequency >= 1, "Shampoo: precondition_frequency = ", precondition_frequency,
                " must be >= 1");
  DESCENT_CHECK(start_preconditioning_step >= 1, "Shampoo: start_preconditioning_step = ", start_preconditioning_step,
                " must be >= 1");
  check_range("Shampoo", "grafting_beta2", grafting_beta2, 0.0, 1.0);
  check_nonnegative("Shampoo", "grafting_epsilon", grafting_epsilon);
}

ShampooLayout shampoo_layout(const Shape& shape, int64_t max_preconditioner_dim) {
  ShampooLayout layout;
  if (shape.size() < 2) {
    layout.cols = numel_of(shape);
    return layout;
  }
  layout.cols = shape.back();
  layout.rows = layout.cols == 0 ? 0 : numel_of(shape) / layout.cols;
  layout.left = layout.rows > 0 && layout.rows <= max_preconditioner_dim;
  layout.right = layout.cols > 0 && layout.cols <= max_preconditioner_dim;
  return layout;
}

std::map<std::string, Shape> Shampoo::extra_state_shapes(size_t group, const Tensor& param) const {
  const ShampooLayout layout = shampoo_layout(param.shape(), options_[group].max_preconditioner_dim);
  std::map<std::string, Shape> shapes;
  if (layout.left) {
    shapes["factor_matrix_0"] = {layout.rows, layout.rows};
    shapes["inv_factor_matrix_0"] = {layout.rows, layout.rows};
  }
  if (layout.right) {
    shapes["factor_matrix_1"] = {layout.cols, layout.cols};
    shapes["inv_factor_matrix_1"] = {layout.cols, layout.cols};
  }
  return shapes;
}

template <class T>
void Shampoo::update(const ShampooOptions& o, const Spans<T>& s, const StepInfo& info) {
  ShampooTensor<T> t;
  t.p = s.param;
  t.g = s.grad;
  t.exp_avg = s.state[0];
  t.exp_avg_sq = s.state[1];
  // The sides were fixed when the state was allocated (a later max_preconditioner_dim applies to new state only).
  t.layout = shampoo_layout(info.param->shape(), std::numeric_limits<int64_t>::max());
  const auto& extra = state_[info.group].extra[info.index];
  const auto span_of = [&](const char* name) {
    const auto it = extra.find(name);
    return it == extra.end() ? std::span<T>()
                             : std::span<T>(it->second.data<T>(), static_cast<size_t>(it->second.numel()));
  };
  t.left = span_of("factor_matrix_0");
  t.right = span_of("factor_matrix_1");
  t.left_root = span_of("inv_factor_matrix_0");
  t.right_root = span_of("inv_factor_matrix_1");
  t.layout.left = !t.left.empty();
  t.layout.right = !t.right.empty();
  shampoo_update<T>(t, o, info.step, scratch_.get<T>());
}

template void Shampoo::update<float>(const ShampooOptions&, const Spans<float>&, const StepInfo&);
template void Shampoo::update<double>(const ShampooOptions&, const Spans<double>&, const StepInfo&);

namespace {

// C ← beta·C + alpha·op(G)·op(G)ᵀ for the n × n factor of a rows × cols gradient (transposed: GᵀG), both
// triangles kept (syrk writes one; the state dict holds the whole matrix).
template <class T>
void factor_update(T* c, int64_t n, const T* g, int64_t rows, int64_t cols, bool transposed, T alpha, T beta) {
  const int ni = static_cast<int>(n), k = static_cast<int>(transposed ? rows : cols), ld = static_cast<int>(cols);
  const CBLAS_TRANSPOSE trans = transposed ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>) {
    cblas_ssyrk(CblasRowMajor, CblasLower, trans, ni, k, alpha, g, ld, beta, c, ni);
  } else {
    cblas_dsyrk(CblasRowMajor, CblasLower, trans, ni, k, alpha, g, ld, beta, c, ni);
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < i; ++j) c[j * n + i] = c[i * n + j];
}

double squared_norm(const auto* x, int64_t n) {
  return detail::blocked_sums<1>(n, [&](int64_t lo, int64_t hi) {
    double sum = 0.0;
    for (int64_t i = lo; i < hi; ++i) sum += static_cast<double>(x[i]) * static_cast<double>(x[i]);
    return std::array<double, 1>{sum};
  })[0];
}

}  // namespace

template <class T>
void shampoo_update(const ShampooTensor<T>& t, const ShampooOptions& o, int64_t step, ShampooScratch<T>& scratch) {
  const auto n = static_cast<int64_t>(t.p.size());
  if (n == 0) return;
  const bool coupled_decay = o.weight_decay != 0.0 && !o.use_decoupled_weight_decay;
  const AdamOptions adam{.lr = o.lr,
                         .betas = {o.betas[0], o.grafting_beta2},
                         .eps = o.grafting_epsilon,
                         .weight_decay = o.weight_decay,
                         .maximize = o.maximize,
                         .decoupled_weight_decay = o.use_decoupled_weight_decay};
  const ShampooLayout& shape = t.layout;
  const bool shampoo_step = shape.preconditioned() && step >= o.start_preconditioning_step;

  // The gradient Shampoo's statistics see: ±grad (+ weight_decay·p when coupled), as Adam's kernel forms it.
  scratch.grad.resize(t.p.size());
  T* __restrict g = scratch.grad.data();
  const T sign = o.maximize ? T(-1) : T(1);
  const auto wd = static_cast<T>(o.weight_decay);
  for (int64_t i = 0; i < n; ++i) g[i] = coupled_decay ? sign * t.g[i] + wd * t.p[i] : sign * t.g[i];
  if (shape.preconditioned()) {
    const bool sums = o.betas[1] == 1.0;
    const auto alpha = static_cast<T>(sums ? 1.0 : 1.0 - o.betas[1]), beta = static_cast<T>(sums ? 1.0 : o.betas[1]);
    if (shape.left) factor_update<T>(t.left.data(), shape.rows, g, shape.rows, shape.cols, false, alpha, beta);
    if (shape.right) factor_update<T>(t.right.data(), shape.cols, g, shape.rows, shape.cols, true, alpha, beta);
  }
  if (!shampoo_step) {  // Adam's step, from the raw gradient as Adam takes it
    adam_update<T>(t.p, t.g, t.exp_avg, t.exp_avg_sq, {}, adam, step);
    return;
  }

  if ((step - o.start_preconditioning_step) % o.precondition_frequency == 0) {
    if (shape.left)
      matrix_inverse_root<T>("Shampoo", t.left.data(), shape.rows, 4.0, o.epsilon, t.left_root.data(), scratch.eigen);
    if (shape.right)
      matrix_inverse_root<T>("Shampoo", t.right.data(), shape.cols, 4.0, o.epsilon, t.right_root.data(), scratch.eigen);
  }

  // Adam's moments and direction A (as adam.cpp computes them), and m̂ for Shampoo's direction.
  const auto t_ = static_cast<double>(step);
  const auto one_minus_beta1 = static_cast<T>(1.0 - o.betas[0]);
  const auto beta2 = static_cast<T>(o.grafting_beta2), one_minus_beta2 = static_cast<T>(1.0 - o.grafting_beta2);
  const auto bias1 = static_cast<T>(1.0 - std::pow(o.betas[0], t_));
  const auto sqrt_bias2 = static_cast<T>(std::sqrt(1.0 - std::pow(o.grafting_beta2, t_)));
  const auto eps = static_cast<T>(o.grafting_epsilon);
  scratch.adam.resize(t.p.size());
  scratch.shampoo.resize(t.p.size());
  T* __restrict a = scratch.adam.data();
  T* __restrict mhat = scratch.shampoo.data();
  T* __restrict m = t.exp_avg.data();
  T* __restrict v = t.exp_avg_sq.data();
  for (int64_t i = 0; i < n; ++i) {
    m[i] = m[i] + one_minus_beta1 * (g[i] - m[i]);
    v[i] = v[i] * beta2 + one_minus_beta2 * g[i] * g[i];
    mhat[i] = m[i] / bias1;
    a[i] = mhat[i] / (std::sqrt(v[i]) / sqrt_bias2 + eps);
  }

  // P = L⁻·m̂·R⁻ (the sides that have roots), through `product`.
  const int r = static_cast<int>(shape.rows), c = static_cast<int>(shape.cols);
  scratch.product.resize(t.p.size());
  T* direction = mhat;
  if (shape.left) {
    descent::detail::gemm(CblasNoTrans, CblasNoTrans, r, c, r, t.left_root.data(), r, direction, c,
                          scratch.product.data(), c);
    direction = scratch.product.data();
  }
  if (shape.right) {
    T* out = direction == mhat ? scratch.product.data() : mhat;
    descent::detail::gemm(CblasNoTrans, CblasNoTrans, r, c, c, direction, c, t.right_root.data(), c, out, c);
    direction = out;
  }

  // Layer-wise grafting: Shampoo's direction with the Frobenius norm of Adam's.
  const double shampoo_norm = std::sqrt(squared_norm(direction, n));
  const double adam_norm = std::sqrt(squared_norm(a, n));
  const double scale = shampoo_norm > 0.0 ? adam_norm / shampoo_norm : 0.0;
  const auto alpha = static_cast<T>(-o.lr * scale);
  const auto decay = static_cast<T>(o.use_decoupled_weight_decay ? 1.0 - o.lr * o.weight_decay : 1.0);
  T* __restrict pp = t.p.data();
  const T* __restrict dp = direction;
  update_chunks(n, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) pp[i] = pp[i] * decay + alpha * dp[i];
  });
}

template void shampoo_update<float>(const ShampooTensor<float>&, const ShampooOptions&, int64_t,
                                    ShampooScratch<float>&);
template void shampoo_update<double>(const ShampooTensor<double>&, const ShampooOptions&, int64_t,
                                     ShampooScratch<double>&);

}  // namespace descent::optim
