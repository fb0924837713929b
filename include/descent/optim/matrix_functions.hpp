// Matrix functions of the matrix optimizers, on row-major buffers the caller owns (no allocation once the scratch
// has grown to the largest matrix): Newton–Schulz orthogonalisation (Muon) and inverse roots of symmetric positive
// semi-definite matrices by eigendecomposition (Shampoo). Products go to BLAS (oneDNN's sgemm for wide float32
// products, as in matmul), eigendecompositions to LAPACK's dsyevd (divide and conquer), always in double.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace descent::optim {

// Keller Jordan's quintic iteration, as torch.optim.Muon names its settings.
struct NewtonSchulzOptions {
  std::array<double, 3> coefficients = {3.4445, -4.7750, 2.0315};  // (a, b, c): X ← aX + (b·A + c·A²)X, A = XXᵀ
  int64_t steps = 5;                                               // iterations
  double eps = 1e-7;                                               // floor of ‖G‖_F in the initial scaling
};

// Writes into `out` (rows × cols) the Newton–Schulz approximation of the orthogonal polar factor UVᵀ of
// g = USVᵀ: X₀ = g / max(‖g‖_F, eps), then `steps` times X ← aX + (bA + cA²)X with A = XXᵀ (A = XᵀX and
// X ← aX + X(bA + cA²) when rows > cols, so the Gram matrix is the smaller side: torch's transpose, without
// copying). Each singular value s of X₀ goes through the odd polynomial p(s) = as + bs³ + cs⁵ `steps` times; with
// the default coefficients the results lie roughly in [0.7, 1.2] (not exactly 1: the coefficients trade accuracy
// for a steep slope at 0). torch.optim.Muon runs this in bfloat16; here it runs in T. `scratch` grows as needed.
// g and out may not overlap.
template <class T>
void newton_schulz(const T* g, int64_t rows, int64_t cols, const NewtonSchulzOptions& options, T* out,
                   std::vector<T>& scratch);

// LAPACK's workspace for the eigendecompositions, kept between calls.
struct EigenWorkspace {
  std::vector<double> matrix, values, scaled, work;
  std::vector<int> iwork;
};

// Eigenvalues (ascending, into `values`) and orthonormal eigenvectors of the symmetric n × n matrix `a` (row-major;
// overwritten: row i becomes the eigenvector of values[i]). A descent::Error names `what` when the matrix holds a
// non-finite entry or LAPACK fails.
void symmetric_eigen(const char* what, int64_t n, double* a, double* values, EigenWorkspace& ws);

// out = (M + epsilon·I)^(−1/root) for a symmetric positive semi-definite n × n matrix M, from M = QΛQᵀ:
// Q·diag((max(λ, 0) + epsilon)^(−1/root))·Qᵀ. Eigenvalues that rounding left slightly negative count as 0, so the
// root stays finite for any epsilon > 0. Computed in double; out may be m.
template <class T>
void matrix_inverse_root(const char* what, const T* m, int64_t n, double root, double epsilon, T* out,
                         EigenWorkspace& ws);

}  // namespace descent::optim
