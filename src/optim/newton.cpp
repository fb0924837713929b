// Damped Newton: the dense Hessian from n Hessian-vector products, and the shifted Cholesky solve on LAPACK.
#include "descent/optim/newton.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

// LAPACK's Fortran interface (OpenBLAS carries it; CMake links LAPACK::LAPACK). The trailing length is the hidden
// CHARACTER-length argument gfortran passes; OpenBLAS's C implementations ignore it.
extern "C" {
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info, size_t uplo_len);
void dpotrs_(const char* uplo, const int* n, const int* nrhs, const double* a, const int* lda, double* b,
             const int* ldb, int* info, size_t uplo_len);
}

namespace descent::optim {

void NewtonOptions::validate() const {
  validate_newton_loop(*this, "Newton");
  check_positive("Newton", "damping", damping);
}

double damped_cholesky_solve(std::span<const double> h, std::span<double> b, double damping) {
  const auto n = static_cast<int>(b.size());
  DESCENT_CHECK(h.size() == b.size() * b.size(), "damped_cholesky_solve: a ", h.size(), "-element matrix for ",
                b.size(), " unknowns");
  DESCENT_CHECK(std::all_of(h.begin(), h.end(), [](double v) { return std::isfinite(v); }),
                "damped_cholesky_solve: the Hessian has a NaN or infinite entry");
  double min_diag = std::numeric_limits<double>::infinity(), max_diag = 0.0;
  for (int i = 0; i < n; ++i) {
    const double a = h[static_cast<size_t>(i) * b.size() + static_cast<size_t>(i)];
    min_diag = std::min(min_diag, a);
    max_diag = std::max(max_diag, std::abs(a));
  }
  const double beta = damping * std::max(1.0, max_diag);
  double tau = min_diag > 0.0 ? 0.0 : -min_diag + beta;
  std::vector<double> a(h.size());
  int info = 1;
  // Each failure at least doubles τ (from β upwards): some τ ≤ |λmin| + ‖H‖ works, so this ends.
  for (int attempt = 0; attempt < 200 && info != 0; ++attempt) {
    if (attempt > 0) tau = std::max(2.0 * tau, beta);
    std::copy(h.begin(), h.end(), a.begin());
    for (int i = 0; i < n; ++i) a[static_cast<size_t>(i) * b.size() + static_cast<size_t>(i)] += tau;
    // Row-major symmetric = column-major symmetric: "L" reads the same triangle either way.
    dpotrf_("L", &n, a.data(), &n, &info, 1);
  }
  DESCENT_CHECK(info == 0, "damped_cholesky_solve: H + τI is not positive definite even at τ = ", tau);
  const int nrhs = 1;
  dpotrs_("L", &n, &nrhs, a.data(), &n, b.data(), &n, &info, 1);
  DESCENT_CHECK(info == 0, "damped_cholesky_solve: dpotrs failed (info = ", info, ")");
  return tau;
}

Newton::Newton(const NamedTensors& params, const NewtonOptions& options) : ClosureMethod(params, options) {
  DESCENT_CHECK(numel_ <= kMaxParameters, "Newton: ", numel_, " parameters, more than ", kMaxParameters,
                " (the dense Hessian would take ", static_cast<double>(numel_) * static_cast<double>(numel_) * 8e-9,
                " GB); use newton-cg");
}

bool Newton::direction(const Closure& closure, Hvp hvp, std::span<const double> x, std::span<const double> g,
                       std::span<double> d) {
  const size_t n = g.size();
  std::vector<double> h(n * n), e(n, 0.0), column(n);
  for (size_t j = 0; j < n; ++j) {
    e[j] = 1.0;
    hessian_vector(closure, hvp, x, g, e, column);
    e[j] = 0.0;
    for (size_t i = 0; i < n; ++i) h[i * n + j] = column[i];
  }
  // Finite differences give a slightly unsymmetric H; double backward a symmetric one up to rounding.
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      const double mean = 0.5 * (h[i * n + j] + h[j * n + i]);
      h[i * n + j] = h[j * n + i] = mean;
    }
  }
  if (!std::all_of(h.begin(), h.end(), [](double v) { return std::isfinite(v); })) {
    finish("non_finite", false);
    return false;
  }
  for (size_t i = 0; i < n; ++i) d[i] = -g[i];
  damping_ = damped_cholesky_solve(h, d, options_.damping);
  return true;
}

StateDict Newton::state_dict() const {
  StateDict dict = second_order_state_dict(hypers());
  dict.scalars[0]["damping_used"] = damping_;
  return dict;
}

void Newton::load_state_dict(const StateDict& dict) {
  check_state_dict(dict);
  const NewtonOptions loaded = options_from(dict);
  const double used = scalar(dict, "damping_used");
  load_counters(dict);
  options_ = loaded;
  damping_ = used;
}

}  // namespace descent::optim
