// matmul with NumPy semantics on top of cblas_sgemm/cblas_dgemm. Strided views that BLAS can read (row-major,
// or row-major transposed, with a leading dimension) are passed with the matching transpose flag instead of
// being copied; that is how the backward's transposed views reach BLAS for free.
//
// float32 products with at least kOneDnnMinColumns output columns go to oneDNN's sgemm instead (same row-major
// interface and transpose flags): on the Zen CPUs measured, Debian's OpenBLAS 0.3.21 runs the row-major
// no-transpose products of a dense layer ([128, 784] · [784, 256] and the like) at a third of oneDNN's speed, while
// for narrow outputs (10 columns) OpenBLAS is the faster one (bench/bench_kernels, BM_MatmulMlp*). DESCENT_GEMM=blas
// in the environment sends every product to the CBLAS.
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "descent/autograd/function.hpp"
#include "descent/core/threading.hpp"
#include "descent/ops/linalg.hpp"
#include "descent/ops/reduction.hpp"
#include "gemm.hpp"
#include "omp_threads.hpp"

namespace descent {
namespace {

// How BLAS reads one matrix of a strided operand.
struct BlasMatrix {
  CBLAS_TRANSPOSE trans;
  int64_t ld;  // leading dimension, in elements
};

// A rows × cols matrix with strides (sr, sc) is row-major with leading dimension sr when sc = 1 and sr >= cols,
// and the transpose of a row-major matrix with leading dimension sc when sr = 1 and sc >= rows. The stride of a
// length-1 axis never matters. Anything else (broadcast stride 0, steps in both axes) must be copied first.
std::optional<BlasMatrix> blas_matrix(int64_t rows, int64_t cols, int64_t sr, int64_t sc) {
  const int64_t r1 = std::max<int64_t>(rows, 1);
  const int64_t c1 = std::max<int64_t>(cols, 1);
  if ((cols <= 1 || sc == 1) && (rows <= 1 || sr >= c1)) return BlasMatrix{CblasNoTrans, rows <= 1 ? c1 : sr};
  if ((rows <= 1 || sr == 1) && (cols <= 1 || sc >= r1)) return BlasMatrix{CblasTrans, cols <= 1 ? r1 : sc};
  return std::nullopt;
}

// The operand itself when BLAS can read its matrices in place, else a contiguous copy.
std::pair<Tensor, BlasMatrix> blas_operand(const Tensor& t) {
  const int64_t d = t.dim();
  if (auto m = blas_matrix(t.shape()[d - 2], t.shape()[d - 1], t.strides()[d - 2], t.strides()[d - 1])) return {t, *m};
  Tensor c = t.clone();
  return {c, *blas_matrix(c.shape()[d - 2], c.shape()[d - 1], c.strides()[d - 2], c.strides()[d - 1])};
}

constexpr int kOneDnnMinColumns = 32;

bool onednn_sgemm_allowed() {
  static const bool allowed = [] {
    const char* choice = std::getenv("DESCENT_GEMM");
    return choice == nullptr || std::strcmp(choice, "blas") != 0;
  }();
  return allowed;
}

// The thread count is read from DESCENT_NUM_THREADS, and handed to OpenBLAS, on first use: make sure that has
// happened before a program's first product, or OpenBLAS would run it on its own default thread count.
void apply_thread_count() { static_cast<void>(num_threads()); }

}  // namespace

namespace detail {

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb,
          float* c, int ldc, float alpha, float beta) {
  if (n >= kOneDnnMinColumns && onednn_sgemm_allowed()) {
    detail::OmpThreadsGuard threads;
    const dnnl_status_t status = dnnl_sgemm(ta == CblasTrans ? 'T' : 'N', tb == CblasTrans ? 'T' : 'N', m, n, k, alpha,
                                            a, lda, b, ldb, beta, c, ldc);
    DESCENT_CHECK(status == dnnl_success, "matmul: oneDNN sgemm failed with status ", static_cast<int>(status), " on [",
                  m, ", ", k, "] · [", k, ", ", n, "]");
    return;
  }
  apply_thread_count();
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const double* a, int lda, const double* b,
          int ldb, double* c, int ldc, double alpha, double beta) {
  apply_thread_count();
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace detail

namespace {

int blas_int(int64_t v) {
  DESCENT_CHECK(v <= INT_MAX, "matmul: size ", v, " exceeds the BLAS integer range");
  return static_cast<int>(v);
}

// NumPy's promotion of a vector operand: a row [1, k] on the left, a column [k, 1] on the right.
Tensor as_lhs_matrix(const Tensor& a) { return a.dim() == 1 ? a.unsqueeze(0) : a; }
Tensor as_rhs_matrix(const Tensor& b) { return b.dim() == 1 ? b.unsqueeze(1) : b; }

Shape batch_of(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }
std::vector<int64_t> batch_strides(const Tensor& t) { return {t.strides().begin(), t.strides().end() - 2}; }

// When `a`'s matrices are row-major and stacked at a constant row stride across its batch axes (a contiguous
// [..., m, k] input to a linear layer), the whole batch is one [batch·m, k] matrix: returns that row stride.
std::optional<int64_t> stacked_row_stride(const Tensor& a, const BlasMatrix& layout) {
  if (layout.trans != CblasNoTrans) return std::nullopt;
  int64_t stride = -1;  // the stride of the innermost non-trivial row axis seen so far
  int64_t extent = 0;
  for (int64_t d = a.dim() - 2; d >= 0; --d) {
    if (a.shape()[d] == 1) continue;
    if (stride < 0) {
      if (a.strides()[d] < std::max<int64_t>(a.shape().back(), 1)) return std::nullopt;
      stride = a.strides()[d];
    } else if (a.strides()[d] != extent) {
      return std::nullopt;
    }
    extent = (extent == 0 ? stride : extent) * a.shape()[d];
  }
  return stride < 0 ? layout.ld : stride;
}

// C[batch] = A[batch] · B[batch] for each index of the broadcast batch; C is contiguous [batch..., m, n].
template <class T>
void batched_gemm(const Tensor& a_in, const Tensor& b_in, const Shape& batch, T* c) {
  const int64_t m = a_in.shape()[a_in.dim() - 2];
  const int64_t k = a_in.shape().back();
  const int64_t n = b_in.shape().back();
  const int64_t nb = numel_of(batch);
  if (m == 0 || n == 0 || nb == 0) return;
  if (k == 0) {
    std::fill_n(c, nb * m * n, T(0));  // an empty sum; BLAS would reject lda = 0
    return;
  }
  const auto [a, la] = blas_operand(a_in);
  const auto [b, lb] = blas_operand(b_in);
  const std::vector<int64_t> sa = broadcast_strides(batch_of(a), batch_strides(a), batch);
  const std::vector<int64_t> sb = broadcast_strides(batch_of(b), batch_strides(b), batch);
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();

  // One shared right-hand matrix and a stackable left one: a single gemm with batch·m rows.
  const bool b_shared = std::all_of(sb.begin(), sb.end(), [](int64_t s) { return s == 0; });
  if (nb > 1 && b_shared && batch_of(a) == batch) {
    if (const auto rows = stacked_row_stride(a, la)) {
      detail::gemm(CblasNoTrans, lb.trans, blas_int(nb * m), blas_int(n), blas_int(k), pa, blas_int(*rows), pb,
                   blas_int(lb.ld), c, blas_int(n));
      return;
    }
  }
  std::vector<int64_t> index(batch.size(), 0);
  int64_t oa = 0;
  int64_t ob = 0;
  for (int64_t i = 0; i < nb; ++i) {
    detail::gemm(la.trans, lb.trans, blas_int(m), blas_int(n), blas_int(k), pa + oa, blas_int(la.ld), pb + ob,
                 blas_int(lb.ld), c + i * m * n, blas_int(n));
    for (int64_t d = static_cast<int64_t>(batch.size()) - 1; d >= 0; --d) {
      ++index[d];
      oa += sa[d];
      ob += sb[d];
      if (index[d] < batch[d]) break;
      oa -= batch[d] * sa[d];
      ob -= batch[d] * sb[d];
      index[d] = 0;
    }
  }
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  DESCENT_CHECK(a.dtype() == b.dtype(), "matmul: dtypes differ (", a.str(), " and ", b.str(),
                "); convert one with .to()");
  DESCENT_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: shapes ", a.shape(), " and ", b.shape(),
                " include a scalar; use mul for scalar products");
  // A vector operand's added axis leaves the result again (NumPy).
  Tensor a2;
  Tensor b2;
  {
    NoGradGuard no_grad;
    a2 = as_lhs_matrix(a);
    b2 = as_rhs_matrix(b);
  }
  const int64_t m = a2.shape()[a2.dim() - 2];
  const int64_t k = a2.shape().back();
  const int64_t n = b2.shape().back();
  DESCENT_CHECK(b2.shape()[b2.dim() - 2] == k, "matmul: shapes ", a.shape(), " and ", b.shape(), " do not align (", k,
                " columns against ", b2.shape()[b2.dim() - 2], " rows)");
  const Shape ba = batch_of(a2);
  const Shape bb = batch_of(b2);
  Shape batch(std::max(ba.size(), bb.size()));
  for (size_t i = 0; i < batch.size(); ++i) {
    const size_t ia = i + ba.size() - batch.size();  // wraps when a has fewer batch axes
    const size_t ib = i + bb.size() - batch.size();
    const int64_t da = ia < ba.size() ? ba[ia] : 1;
    const int64_t db = ib < bb.size() ? bb[ib] : 1;
    DESCENT_CHECK(da == db || da == 1 || db == 1, "matmul: shapes ", a.shape(), " and ", b.shape(),
                  " have batch dimensions that do not broadcast");
    batch[i] = da == 1 ? db : da;
  }
  Shape full = batch;  // the result with both matrix axes
  full.push_back(m);
  full.push_back(n);
  Shape shape = batch;
  if (a.dim() > 1) shape.push_back(m);
  if (b.dim() > 1) shape.push_back(n);

  Tensor out = Tensor::empty(shape, a.dtype());  // contiguous, so it has the layout of `full`
  dispatch(a.dtype(), [&]<class T>() {
    NoGradGuard no_grad;
    batched_gemm<T>(a2, b2, batch, out.data<T>());
  });
  if (!autograd::needs_grad({a, b})) return out;
  return autograd::record("matmul", out, {a, b}, [a, b, full](const Tensor& g) {
    // dA = dC · Bᵀ, dB = Aᵀ · dC through transposed views (BLAS gets the flags), summed over broadcast batch
    // axes.
    const Tensor am = as_lhs_matrix(a);
    const Tensor bm = as_rhs_matrix(b);
    const Tensor g2 = g.reshape(full);
    Tensor da;
    Tensor db;
    if (a.requires_grad()) da = sum_to(matmul(g2, bm.transpose(-1, -2)), am.shape()).reshape(a.shape());
    if (b.requires_grad()) {
      if (bm.dim() == 2 && am.dim() > 2 && am.shape().back() > 0 && full.back() > 0) {
        // A shared weight: fold the batch into the rows, one [k, batch·m] · [batch·m, n] product, no sum_to.
        db = matmul(am.reshape({-1, am.shape().back()}).t(), g2.reshape({-1, full.back()}));
      } else {
        db = sum_to(matmul(am.transpose(-1, -2), g2), bm.shape());
      }
      db = db.reshape(b.shape());
    }
    return std::vector<Tensor>{da, db};
  });
}

}  // namespace descent
