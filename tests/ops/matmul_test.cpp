// matmul: values against plain loops for 2-D, batched (with broadcast batch axes) and vector operands, on
// transposed, sliced, permuted and expanded views (the layouts BLAS reads in place and those it cannot),
// zero-size dimensions, gradients by finite differences (first and second order), and shape/dtype errors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "support/testing.hpp"

namespace descent {
namespace {

using testing::sample;
using testing::values;

// Plain-loop matmul with NumPy's rules, accumulated in long double; returns the values in row-major order.
std::vector<double> reference(const Tensor& a, const Tensor& b) {
  const Tensor am = a.dim() == 1 ? a.unsqueeze(0) : a;
  const Tensor bm = b.dim() == 1 ? b.unsqueeze(1) : b;
  const int64_t m = am.size(-2);
  const int64_t k = am.size(-1);
  const int64_t n = bm.size(-1);
  const Shape batch = broadcast_shapes(Shape(am.shape().begin(), am.shape().end() - 2),
                                       Shape(bm.shape().begin(), bm.shape().end() - 2), "reference");
  Shape sa = batch;
  sa.insert(sa.end(), {m, k});
  Shape sb = batch;
  sb.insert(sb.end(), {k, n});
  const std::vector<double> va = am.expand(sa).to_vector();
  const std::vector<double> vb = bm.expand(sb).to_vector();
  std::vector<double> out;
  for (int64_t p = 0; p < numel_of(batch); ++p) {
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        long double s = 0;
        for (int64_t l = 0; l < k; ++l)
          s += static_cast<long double>(va[(p * m + i) * k + l]) * vb[(p * k + l) * n + j];
        out.push_back(static_cast<double>(s));
      }
    }
  }
  return out;
}

void expect_matches_loops(const Tensor& a, const Tensor& b, const Shape& shape) {
  const std::string what = concat(a.str(), " x ", b.str());
  const Tensor c = matmul(a, b);
  EXPECT_EQ(c.shape(), shape) << what;
  EXPECT_EQ(c.dtype(), a.dtype()) << what;
  const std::vector<double> got = values(c);
  const std::vector<double> want = reference(a, b);
  ASSERT_EQ(got.size(), want.size()) << what;
  const double tol = a.dtype() == kFloat64 ? 1e-13 : 1e-5;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << what << " at " << i;
}

// ---- forward values ---------------------------------------------------------------------------------------

TEST(MatmulTest, TwoDimensionalMatchesLoops) {
  for (DType dtype : {kFloat64, kFloat32}) {
    expect_matches_loops(sample({3, 4}, dtype, 1), sample({4, 5}, dtype, 2), {3, 5});
    expect_matches_loops(sample({1, 7}, dtype, 3), sample({7, 1}, dtype, 4), {1, 1});
    expect_matches_loops(sample({6, 1}, dtype, 5), sample({1, 6}, dtype, 6), {6, 6});
    expect_matches_loops(sample({37, 65}, dtype, 7), sample({65, 19}, dtype, 8), {37, 19});
  }
}

TEST(MatmulTest, TransposedViewsMatchLoops) {
  for (DType dtype : {kFloat64, kFloat32}) {
    const Tensor a = sample({4, 3}, dtype, 1);  // a.t() is [3, 4] with strides (1, 3): BLAS's transpose
    const Tensor b = sample({5, 4}, dtype, 2);
    expect_matches_loops(a.t(), sample({4, 5}, dtype, 3), {3, 5});
    expect_matches_loops(sample({3, 4}, dtype, 4), b.t(), {3, 5});
    expect_matches_loops(a.t(), b.t(), {3, 5});
    expect_matches_loops(b, a, {5, 3});
  }
}

TEST(MatmulTest, StridedViewsMatchLoops) {
  for (DType dtype : {kFloat64, kFloat32}) {
    const Tensor big = sample({10, 8}, dtype, 1);
    expect_matches_loops(big.slice(1, 0, 5), sample({5, 3}, dtype, 2), {10, 3});     // strides (8, 1)
    expect_matches_loops(sample({2, 10}, dtype, 3), big.slice(1, 2, 7), {2, 5});     // rhs strides (8, 1)
    expect_matches_loops(big.slice(0, 1, 6).t(), sample({5, 2}, dtype, 4), {8, 2});  // strides (1, 8)
    expect_matches_loops(big.slice(0, 0, 10, 2), sample({8, 3}, dtype, 5), {5, 3});  // strides (16, 1)
    expect_matches_loops(big.slice(1, 0, 8, 2), sample({4, 3}, dtype, 6), {10, 3});  // (8, 2): copied
    expect_matches_loops(sample({1, 4}, dtype, 7).expand({3, 4}), sample({4, 2}, dtype, 8), {3, 2});   // (0, 1)
    expect_matches_loops(sample({2, 3}, dtype, 9), sample({3, 1}, dtype, 10).expand({3, 4}), {2, 4});  // (1, 0)
  }
}

TEST(MatmulTest, BatchedWithBroadcastMatchesLoops) {
  for (DType dtype : {kFloat64, kFloat32}) {
    expect_matches_loops(sample({2, 3, 4}, dtype, 1), sample({2, 4, 5}, dtype, 2), {2, 3, 5});
    expect_matches_loops(sample({2, 1, 3, 4}, dtype, 3), sample({5, 4, 2}, dtype, 4), {2, 5, 3, 2});
    expect_matches_loops(sample({3, 4}, dtype, 5), sample({2, 4, 5}, dtype, 6), {2, 3, 5});
    // A shared right-hand matrix: the batch folds into one gemm (contiguous, and through a transposed weight).
    expect_matches_loops(sample({2, 3, 4}, dtype, 7), sample({4, 5}, dtype, 8), {2, 3, 5});
    expect_matches_loops(sample({2, 3, 4}, dtype, 9), sample({5, 4}, dtype, 10).t(), {2, 3, 5});
    expect_matches_loops(sample({2, 1, 4}, dtype, 9), sample({4, 5}, dtype, 10), {2, 1, 5});
    // Batches that do not fold: permuted, sliced along the batch with a gap, broadcast with stride 0.
    expect_matches_loops(sample({3, 2, 4}, dtype, 11).permute({1, 0, 2}), sample({4, 5}, dtype, 12), {2, 3, 5});
    expect_matches_loops(sample({4, 3, 4}, dtype, 13).slice(0, 0, 4, 2), sample({4, 5}, dtype, 14), {2, 3, 5});
    expect_matches_loops(sample({1, 3, 4}, dtype, 15).expand({4, 3, 4}), sample({4, 5}, dtype, 16), {4, 3, 5});
    expect_matches_loops(sample({2, 4, 3}, dtype, 17).transpose(1, 2), sample({2, 5, 4}, dtype, 18).transpose(-1, -2),
                         {2, 3, 5});
  }
}

TEST(MatmulTest, VectorOperandsFollowNumPy) {
  for (DType dtype : {kFloat64, kFloat32}) {
    expect_matches_loops(sample({4}, dtype, 1), sample({4}, dtype, 2), {});
    expect_matches_loops(sample({4}, dtype, 3), sample({4, 5}, dtype, 4), {5});
    expect_matches_loops(sample({3, 4}, dtype, 5), sample({4}, dtype, 6), {3});
    expect_matches_loops(sample({4}, dtype, 7), sample({2, 4, 5}, dtype, 8), {2, 5});
    expect_matches_loops(sample({2, 3, 4}, dtype, 9), sample({4}, dtype, 10), {2, 3});
    expect_matches_loops(sample({8}, dtype, 11).slice(0, 0, 8, 2), sample({4, 3}, dtype, 12), {3});
  }
}

TEST(MatmulTest, ZeroSizeDimensionsWork) {
  const Tensor c = matmul(Tensor::ones({3, 0}), Tensor::ones({0, 5}));
  EXPECT_EQ(c.shape(), (Shape{3, 5}));
  EXPECT_EQ(values(c), std::vector<double>(15, 0.0));  // an empty sum is 0
  EXPECT_EQ(values(matmul(Tensor::ones({0}, kFloat64), Tensor::ones({0}, kFloat64))), (std::vector<double>{0}));
  EXPECT_EQ(matmul(Tensor::ones({0, 4}), Tensor::ones({4, 5})).shape(), (Shape{0, 5}));
  EXPECT_EQ(matmul(Tensor::ones({3, 4}), Tensor::ones({4, 0})).shape(), (Shape{3, 0}));
  EXPECT_EQ(matmul(Tensor::ones({0, 3, 4}), Tensor::ones({4, 2})).shape(), (Shape{0, 3, 2}));
  EXPECT_EQ(values(matmul(Tensor::ones({2, 3, 0}), Tensor::ones({0, 2}))), std::vector<double>(12, 0.0));
  // Gradients through an empty inner dimension: zero-size gradients of the right shapes.
  Tensor a = Tensor::ones({3, 0}, kFloat64).set_requires_grad();
  Tensor b = Tensor::ones({0, 5}, kFloat64).set_requires_grad();
  sum(matmul(a, b)).backward();
  EXPECT_EQ(a.grad().shape(), (Shape{3, 0}));
  EXPECT_EQ(b.grad().shape(), (Shape{0, 5}));
}

TEST(MatmulTest, RecordsOnlyWhenAnInputRequiresGrad) {
  const Tensor a = sample({2, 3});
  EXPECT_FALSE(matmul(a, sample({3, 2})).requires_grad());
  Tensor w = sample({3, 2}, kFloat64);
  w.set_requires_grad();
  EXPECT_TRUE(matmul(sample({2, 3}, kFloat64), w).requires_grad());
  NoGradGuard no_grad;
  EXPECT_FALSE(matmul(sample({2, 3}, kFloat64), w).requires_grad());
}

// ---- gradients --------------------------------------------------------------------------------------------

void expect_gradcheck(const Shape& sa, const Shape& sb) {
  const Tensor a = sample(sa, kFloat64, 21);
  const Tensor b = sample(sb, kFloat64, 22);
  const auto result = autograd::gradcheck([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }, {a, b});
  EXPECT_TRUE(result.ok) << shape_str(sa) << " x " << shape_str(sb) << ": " << result.message;
}

TEST(MatmulGradTest, TwoDimensionalPassesGradcheck) {
  expect_gradcheck({3, 4}, {4, 5});
  expect_gradcheck({1, 3}, {3, 1});
  expect_gradcheck({4, 1}, {1, 2});
}

TEST(MatmulGradTest, BatchedWithBroadcastPassesGradcheck) {
  expect_gradcheck({2, 3, 4}, {2, 4, 2});
  expect_gradcheck({2, 1, 3, 4}, {3, 4, 2});
  expect_gradcheck({3, 4}, {2, 4, 2});
  expect_gradcheck({2, 3, 4}, {4, 2});  // shared weight: the folded backward
  expect_gradcheck({1, 2, 3}, {2, 3, 2});
}

TEST(MatmulGradTest, VectorOperandsPassGradcheck) {
  expect_gradcheck({4}, {4});
  expect_gradcheck({4}, {4, 3});
  expect_gradcheck({3, 4}, {4});
  expect_gradcheck({4}, {2, 4, 3});
  expect_gradcheck({2, 3, 4}, {4});
}

TEST(MatmulGradTest, TransposedViewInputsPassGradcheck) {
  const Tensor a = sample({4, 3}, kFloat64, 31);
  const Tensor b = sample({5, 4}, kFloat64, 32);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return matmul(in[0].t(), in[1].t()); },
                   (std::vector<Tensor>{a, b}));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return matmul(in[1], in[0]); }, (std::vector<Tensor>{a, b}));
  const Tensor x = sample({2, 4, 3}, kFloat64, 33);
  const Tensor w = sample({5, 4}, kFloat64, 34);
  // A linear layer on a permuted batch: x·Wᵀ with both operands strided.
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return matmul(in[0].transpose(1, 2), in[1].t()); },
                   (std::vector<Tensor>{x, w}));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return matmul(in[0].slice(0, 0, 4, 2), in[1]); },
                   (std::vector<Tensor>{sample({4, 4}, kFloat64, 35), sample({4, 3}, kFloat64, 36)}));
}

TEST(MatmulGradTest, GradientOnlyForInputsThatRequireIt) {
  Tensor a = sample({2, 3}, kFloat64, 41);
  a.set_requires_grad();
  const Tensor b = sample({3, 4}, kFloat64, 42);
  sum(matmul(a, b)).backward();
  // d Σ(A·B) / dA = 1·Bᵀ: each entry is a row sum of B.
  const Tensor want = sum(b, {1});
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j) EXPECT_NEAR(a.grad().at({i, j}), want.at({j}), 1e-14);
  EXPECT_FALSE(b.grad().defined());
}

TEST(MatmulGradTest, DoubleBackwardPassesGradcheck) {
  const Tensor w = sample({2, 3, 2}, kFloat64, 51);
  auto fn = [&w](const std::vector<Tensor>& in) {
    EnableGradGuard enable;  // gradcheck evaluates with grad mode off
    const Tensor loss = sum(mul(matmul(in[0], in[1]), w));
    const std::vector<Tensor> g = autograd::grad({loss}, {in[0], in[1]}, {}, false, true);
    return sum(mul(g[0], g[0])) + sum(mul(g[1], g[1])) + sum(mul(g[0], in[0]));
  };
  EXPECT_GRADCHECK(fn, (std::vector<Tensor>{sample({2, 3, 4}, kFloat64, 52), sample({4, 2}, kFloat64, 53)}));
}

// ---- errors -----------------------------------------------------------------------------------------------

TEST(MatmulTest, MisalignedShapesNameBothShapes) {
  EXPECT_ERROR_MENTIONS(matmul(Tensor::zeros({2, 3}), Tensor::zeros({4, 5})),
                        "matmul: shapes [2, 3] and [4, 5] do not align");
  EXPECT_ERROR_MENTIONS(matmul(Tensor::zeros({3}), Tensor::zeros({4})), "matmul: shapes [3] and [4] do not align");
  EXPECT_ERROR_MENTIONS(matmul(Tensor::zeros({2, 3, 4}), Tensor::zeros({3, 4, 5})),
                        "matmul: shapes [2, 3, 4] and [3, 4, 5]");
  EXPECT_ERROR_MENTIONS(matmul(Tensor::scalar(1), Tensor::zeros({2})), "matmul: shapes [] and [2]");
}

TEST(MatmulTest, MixedDtypesAreAnError) {
  EXPECT_THROW(matmul(Tensor::zeros({2, 2}, kFloat32), Tensor::zeros({2, 2}, kFloat64)), Error);
  EXPECT_ERROR_MENTIONS(matmul(Tensor::zeros({2, 2}, kFloat32), Tensor::zeros({2, 2}, kFloat64)),
                        "matmul: dtypes differ");
}

}  // namespace
}  // namespace descent
