// Newton–Schulz orthogonalisation and symmetric inverse roots (see matrix_functions.hpp).
#include "descent/optim/matrix_functions.hpp"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstddef>

#include "../ops/gemm.hpp"
#include "descent/core/error.hpp"
#include "descent/core/threading.hpp"

// LAPACK's symmetric eigensolver (divide and conquer), from the LAPACK that find_package(LAPACK) links (Debian's
// OpenBLAS carries it). Declared here because Debian ships no LAPACK C header without LAPACKE; the trailing
// arguments are the hidden lengths of the character arguments in gfortran's calling convention.
extern "C" void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
                        double* work, const int* lwork, int* iwork, const int* liwork, int* info, size_t jobz_len,
                        size_t uplo_len);

namespace descent::optim {
namespace {

int blas_int(const char* what, int64_t v) {
  DESCENT_CHECK(v <= INT_MAX, what, ": matrix size ", v, " exceeds the BLAS integer range");
  return static_cast<int>(v);
}

}  // namespace

template <class T>
void newton_schulz(const T* g, int64_t rows, int64_t cols, const NewtonSchulzOptions& options, T* out,
                   std::vector<T>& scratch) {
  const int64_t n = rows * cols;
  if (n == 0) return;
  const bool tall = rows > cols;
  const int64_t side = tall ? cols : rows;  // of the Gram matrix
  const int r = blas_int("newton_schulz", rows), c = blas_int("newton_schulz", cols);
  const int s = blas_int("newton_schulz", side);
  scratch.resize(static_cast<size_t>(n + 2 * side * side));
  T* other = scratch.data();
  T* gram = other + n;
  T* poly = gram + side * side;

  // X₀ = g / max(‖g‖_F, eps); torch divides by the clamped norm, a 0-d tensor of the matrix's dtype.
  double sq = 0.0;
  for (int64_t i = 0; i < n; ++i) sq += static_cast<double>(g[i]) * static_cast<double>(g[i]);
  const T norm = std::max(static_cast<T>(std::sqrt(sq)), static_cast<T>(options.eps));
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] / norm;

  const auto [a, b, cc] = options.coefficients;
  T* x = out;
  for (int64_t step = 0; step < options.steps; ++step) {
    if (tall) {  // A = XᵀX
      descent::detail::gemm(CblasTrans, CblasNoTrans, s, s, r, x, c, x, c, gram, s);
    } else {  // A = XXᵀ
      descent::detail::gemm(CblasNoTrans, CblasTrans, s, s, c, x, c, x, c, gram, s);
    }
    std::copy(gram, gram + side * side, poly);  // B = b·A + c·A·A
    descent::detail::gemm(CblasNoTrans, CblasNoTrans, s, s, s, gram, s, gram, s, poly, s, static_cast<T>(cc),
                          static_cast<T>(b));
    std::copy(x, x + n, other);  // X ← a·X + B·X (or X·B)
    if (tall) {
      descent::detail::gemm(CblasNoTrans, CblasNoTrans, r, c, c, x, c, poly, s, other, c, T(1), static_cast<T>(a));
    } else {
      descent::detail::gemm(CblasNoTrans, CblasNoTrans, r, c, r, poly, s, x, c, other, c, T(1), static_cast<T>(a));
    }
    std::swap(x, other);
  }
  if (x != out) std::copy(x, x + n, out);
}

template void newton_schulz<float>(const float*, int64_t, int64_t, const NewtonSchulzOptions&, float*,
                                   std::vector<float>&);
template void newton_schulz<double>(const double*, int64_t, int64_t, const NewtonSchulzOptions&, double*,
                                    std::vector<double>&);

void symmetric_eigen(const char* what, int64_t n, double* a, double* values, EigenWorkspace& ws) {
  if (n == 0) return;
  for (int64_t i = 0; i < n * n; ++i)
    DESCENT_CHECK(std::isfinite(a[i]), what, ": the ", n, "×", n, " matrix to decompose holds a non-finite entry (",
                  a[i], " at row ", i / n, ", column ", i % n, ")");
  const int nn = blas_int(what, n);
  // dsyevd's documented minimum workspace with eigenvectors: 1 + 6n + 2n² doubles and 3 + 5n integers.
  const int lwork = blas_int(what, 1 + 6 * n + 2 * n * n), liwork = blas_int(what, 3 + 5 * n);
  ws.work.resize(static_cast<size_t>(lwork));
  ws.iwork.resize(static_cast<size_t>(liwork));
  static_cast<void>(num_threads());  // hand descent's thread count to OpenBLAS before its first call (see matmul)
  int info = 0;
  // Row-major a is the column-major transpose of itself; column-major eigenvectors come back as rows.
  dsyevd_("V", "L", &nn, a, &nn, values, ws.work.data(), &lwork, ws.iwork.data(), &liwork, &info, 1, 1);
  DESCENT_CHECK(info == 0, what, ": LAPACK dsyevd failed on a ", n, "×", n, " matrix (info = ", info, ")");
}

template <class T>
void matrix_inverse_root(const char* what, const T* m, int64_t n, double root, double epsilon, T* out,
                         EigenWorkspace& ws) {
  if (n == 0) return;
  const auto nn = static_cast<size_t>(n * n);
  ws.matrix.assign(m, m + nn);
  ws.values.resize(static_cast<size_t>(n));
  symmetric_eigen(what, n, ws.matrix.data(), ws.values.data(), ws);
  // Q·diag(d)·Qᵀ = SᵀS with S = diag(√d)·Qᵀ (rows of ws.matrix are eigenvectors): one symmetric rank-n product.
  ws.scaled.resize(nn);
  for (int64_t i = 0; i < n; ++i) {
    const double d = std::pow(std::max(ws.values[static_cast<size_t>(i)], 0.0) + epsilon, -1.0 / root);
    const double scale = std::sqrt(d);
    for (int64_t j = 0; j < n; ++j)
      ws.scaled[static_cast<size_t>(i * n + j)] = scale * ws.matrix[static_cast<size_t>(i * n + j)];
  }
  const int ni = blas_int(what, n);
  cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, ni, ni, 1.0, ws.scaled.data(), ni, 0.0, ws.matrix.data(), ni);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j <= i; ++j) {
      const auto v = static_cast<T>(ws.matrix[static_cast<size_t>(i * n + j)]);
      out[i * n + j] = v;
      out[j * n + i] = v;
    }
  }
}

template void matrix_inverse_root<float>(const char*, const float*, int64_t, double, double, float*, EigenWorkspace&);
template void matrix_inverse_root<double>(const char*, const double*, int64_t, double, double, double*,
                                          EigenWorkspace&);

}  // namespace descent::optim
