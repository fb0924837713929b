// The row-major GEMM behind matmul, for other parts of the library that multiply matrices in their own buffers
// (the matrix optimizers: Muon's Newton–Schulz iteration, Shampoo's preconditioners): C ← alpha·op(A)·op(B) +
// beta·C. float32 products with 32 or more output columns go to oneDNN's sgemm, the rest to CBLAS, as in matmul
// (see matmul.cpp for why); DESCENT_GEMM=blas sends every product to CBLAS.
#pragma once

#include <cblas.h>

namespace descent::detail {

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb,
          float* c, int ldc, float alpha = 1.0f, float beta = 0.0f);
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const double* a, int lda, const double* b,
          int ldb, double* c, int ldc, double alpha = 1.0, double beta = 0.0);

}  // namespace descent::detail
