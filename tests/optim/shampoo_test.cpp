#include <gtest/gtest.h>

#include <cmath>

#include "descent/optim/adam.hpp"
#include "descent/optim/registry.hpp"
#include "descent/optim/shampoo.hpp"
#include "extra_roundtrip.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

using Matrix = std::vector<double>;  // row-major n × n

// An orthogonal n × n matrix: the product of three Householder reflections I − 2vvᵀ/‖v‖² of random vectors.
Matrix random_orthogonal(int64_t n, uint64_t seed) {
  Generator gen(seed);
  Matrix q(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) q[i * n + i] = 1.0;
  for (int r = 0; r < 3; ++r) {
    std::vector<double> v(static_cast<size_t>(n));
    double sq = 0.0;
    for (double& x : v) {
      x = gen.normal();
      sq += x * x;
    }
    for (int64_t i = 0; i < n; ++i) {  // q ← q·(I − 2vvᵀ/‖v‖²)
      double dot = 0.0;
      for (int64_t k = 0; k < n; ++k) dot += q[i * n + k] * v[k];
      for (int64_t j = 0; j < n; ++j) q[i * n + j] -= 2.0 * dot * v[j] / sq;
    }
  }
  return q;
}

// Q·diag(d)·Qᵀ
Matrix compose(const Matrix& q, const std::vector<double>& d) {
  const auto n = static_cast<int64_t>(d.size());
  Matrix out(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < n; ++k) out[i * n + j] += q[i * n + k] * d[k] * q[j * n + k];
  return out;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

TEST(ShampooTest, InverseRootsMatchTheDirectEigendecomposition) {
  // M = Q·diag(λ)·Qᵀ with eigenvalues over five decades and two zeros (a rank-deficient factor, as early
  // statistics are): the root must be Q·diag((λ + ε)^(−1/4))·Qᵀ.
  const int64_t n = 12;
  const Matrix q = random_orthogonal(n, 3);
  std::vector<double> lambda{0.0, 0.0, 1e-4, 3e-4, 1e-3, 1e-2, 0.05, 0.3, 1.0, 2.0, 5.0, 10.0};
  const double eps = 1e-6;
  std::vector<double> root_of;
  for (double l : lambda) root_of.push_back(std::pow(l + eps, -0.25));
  const Matrix m = compose(q, lambda), expected = compose(q, root_of);
  EigenWorkspace ws;
  Matrix got(m.size());
  matrix_inverse_root<double>("test", m.data(), n, 4.0, eps, got.data(), ws);
  EXPECT_LT(max_abs_diff(got, expected), 1e-9 * 31.6);  // relative to the largest root, (1e-6)^(−1/4) ≈ 31.6
  // Square root (root = 2) of a well-conditioned matrix: X²·(M + εI) = I.
  std::vector<double> spd{0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0};
  const Matrix a = compose(q, spd);
  // In float32 (computed in double, rounded once): the fourth root of the well-conditioned one. (For the matrix
  // above, rounding the input to float32 alone moves its tiny eigenvalues, and their roots, by far more.)
  std::vector<double> spd_root;
  for (double l : spd) spd_root.push_back(std::pow(l + eps, -0.25));
  std::vector<float> af(a.begin(), a.end()), gotf(a.size());
  matrix_inverse_root<float>("test", af.data(), n, 4.0, eps, gotf.data(), ws);
  EXPECT_LT(max_abs_diff(std::vector<double>(gotf.begin(), gotf.end()), compose(q, spd_root)), 1e-6);
  matrix_inverse_root<double>("test", a.data(), n, 2.0, 0.0, got.data(), ws);
  Matrix x2(got.size(), 0.0), identity(got.size(), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    identity[i * n + i] = 1.0;
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < n; ++k)
        for (int64_t l = 0; l < n; ++l) x2[i * n + j] += got[i * n + k] * got[k * n + l] * a[l * n + j];
  }
  EXPECT_LT(max_abs_diff(x2, identity), 1e-12);
}

TEST(ShampooTest, NonFiniteFactorsAreRefusedByName) {
  Matrix m{1.0, 0.0, 0.0, std::nan("")};
  Matrix out(4);
  EigenWorkspace ws;
  EXPECT_ERROR_MENTIONS(matrix_inverse_root<double>("Shampoo", m.data(), 2, 4.0, 1e-12, out.data(), ws),
                        "Shampoo: the 2×2 matrix to decompose holds a non-finite entry (nan at row 1, column 1)");
}

Tensor param(const Shape& shape, uint64_t seed) {
  Tensor t = testing::sample(shape, kFloat64, seed);
  t.set_requires_grad(true);
  return t;
}

TEST(ShampooTest, StepsBeforeStartPreconditioningAndStepsOfVectorsAreAdams) {
  const ShampooOptions o{.lr = 0.01,
                         .betas = {0.8, 0.9},
                         .weight_decay = 0.01,
                         .start_preconditioning_step = 4,
                         .grafting_beta2 = 0.99,
                         .grafting_epsilon = 1e-6};
  const AdamOptions adam{
      .lr = 0.01, .betas = {0.8, 0.99}, .eps = 1e-6, .weight_decay = 0.01, .decoupled_weight_decay = true};
  std::vector<Tensor> a{param({4, 3}, 1), param({5}, 2)}, b{param({4, 3}, 1), param({5}, 2)};
  Shampoo shampoo(a, o);
  Adam reference(b, adam);
  for (int s = 0; s < 6; ++s) {
    testing::roundtrip_grads(a, s);
    testing::roundtrip_grads(b, s);
    shampoo.step();
    reference.step();
    if (s < 3) {
      EXPECT_EQ(a[0].to_vector(), b[0].to_vector()) << "step " << s + 1;
    } else {
      EXPECT_NE(a[0].to_vector(), b[0].to_vector()) << "step " << s + 1;
    }
    EXPECT_EQ(a[1].to_vector(), b[1].to_vector()) << "step " << s + 1;
  }
}

TEST(ShampooTest, GraftedStepHasAdamsNormAndShampoosDirection) {
  // One step from p = 0 with preconditioning from the start: L = (1 − β2)·GGᵀ, R = (1 − β2)·GᵀG, m̂ = G, Adam's
  // direction A = G / (|G| + grafting_epsilon); the step is −lr·‖A‖·P/‖P‖ with P = L^(−1/4)·G·R^(−1/4).
  const int64_t rows = 5, cols = 3;
  Tensor w = Tensor::zeros({rows, cols}, kFloat64);
  w.set_requires_grad(true);
  const ShampooOptions o{.lr = 0.1, .epsilon = 1e-14, .precondition_frequency = 1, .start_preconditioning_step = 1};
  Shampoo opt({w}, o);
  const Tensor g = testing::sample({rows, cols}, kFloat64, 8);
  w.set_grad(g);
  opt.step();
  const std::vector<double> gv = g.to_vector();
  Matrix left(rows * rows, 0.0), right(cols * cols, 0.0);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < rows; ++j)
      for (int64_t k = 0; k < cols; ++k) left[i * rows + j] += 1e-3 * gv[i * cols + k] * gv[j * cols + k];
  for (int64_t i = 0; i < cols; ++i)
    for (int64_t j = 0; j < cols; ++j)
      for (int64_t k = 0; k < rows; ++k) right[i * cols + j] += 1e-3 * gv[k * cols + i] * gv[k * cols + j];
  EigenWorkspace ws;
  matrix_inverse_root<double>("test", left.data(), rows, 4.0, o.epsilon, left.data(), ws);
  matrix_inverse_root<double>("test", right.data(), cols, 4.0, o.epsilon, right.data(), ws);
  std::vector<double> p(rows * cols, 0.0);
  double p_sq = 0.0, a_sq = 0.0;
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      for (int64_t k = 0; k < rows; ++k)
        for (int64_t l = 0; l < cols; ++l)
          p[i * cols + j] += left[i * rows + k] * gv[k * cols + l] * right[l * cols + j];
      p_sq += p[i * cols + j] * p[i * cols + j];
      const double a = gv[i * cols + j] / (std::abs(gv[i * cols + j]) + 1e-8);
      a_sq += a * a;
    }
  }
  const std::vector<double> got = w.to_vector();
  double step_sq = 0.0;
  for (size_t e = 0; e < got.size(); ++e) {
    EXPECT_NEAR(got[e], -0.1 * std::sqrt(a_sq / p_sq) * p[e], 1e-12) << e;
    step_sq += got[e] * got[e];
  }
  EXPECT_NEAR(std::sqrt(step_sq), 0.1 * std::sqrt(a_sq), 1e-12);  // the grafting norm: lr·‖A‖_F
  // After one step the factors are G's own Gram matrices, so P = (GGᵀ)^(−1/4)·G·(GᵀG)^(−1/4) = UVᵀ: Shampoo
  // without accumulation orthogonalises the gradient, like Muon (to the epsilon's tiny damping).
  std::vector<double> polar(gv.size()), scratch;
  newton_schulz<double>(gv.data(), rows, cols, {.coefficients = {1.5, -0.5, 0.0}, .steps = 40}, polar.data(), scratch);
  const double scale = std::sqrt(static_cast<double>(cols)) / std::sqrt(p_sq);  // ‖UVᵀ‖_F = √3
  for (size_t e = 0; e < p.size(); ++e) EXPECT_NEAR(p[e] * scale, polar[e], 1e-6) << e;
}

TEST(ShampooTest, SidesAboveMaxPreconditionerDimGetNoFactor) {
  Tensor wide = param({3, 6}, 1), huge = param({6, 7}, 2), kernel = param({2, 2, 3, 4}, 3), bias = param({6}, 4);
  Shampoo opt({wide, huge, kernel, bias}, {.max_preconditioner_dim = 5, .start_preconditioning_step = 1});
  testing::roundtrip_grads({wide, huge, kernel, bias}, 0);
  opt.step();
  const StateDict d = opt.state_dict();
  EXPECT_EQ(
      testing::state_shapes(d, "0"),
      (std::map<std::string, Shape>{
          {"exp_avg", {3, 6}}, {"exp_avg_sq", {3, 6}}, {"factor_matrix_0", {3, 3}}, {"inv_factor_matrix_0", {3, 3}}}));
  EXPECT_EQ(testing::state_shapes(d, "1"), (std::map<std::string, Shape>{{"exp_avg", {6, 7}}, {"exp_avg_sq", {6, 7}}}));
  EXPECT_EQ(testing::state_shapes(d, "2"),  // the kernel is the 12 × 4 matrix: only its right side fits
            (std::map<std::string, Shape>{{"exp_avg", {2, 2, 3, 4}},
                                          {"exp_avg_sq", {2, 2, 3, 4}},
                                          {"factor_matrix_1", {4, 4}},
                                          {"inv_factor_matrix_1", {4, 4}}}));
  EXPECT_EQ(testing::state_shapes(d, "3"), (std::map<std::string, Shape>{{"exp_avg", {6}}, {"exp_avg_sq", {6}}}));
  for (const Tensor& p : {wide, huge, kernel, bias})
    for (double v : p.to_vector()) EXPECT_TRUE(std::isfinite(v));
}

TEST(ShampooTest, StateDictRoundTripContinuesBitIdentically) {
  // Roots recomputed at steps 2, 6, 10, 14, …: the resumed optimizer must use the saved ones for steps 11 to 13.
  testing::expect_extra_round_trip<Shampoo>(
      ShampooOptions{.lr = 0.01, .precondition_frequency = 4, .start_preconditioning_step = 2},
      ShampooOptions{.lr = 0.02,
                     .betas = {0.0, 1.0},
                     .weight_decay = 0.1,
                     .use_decoupled_weight_decay = false,
                     .precondition_frequency = 1,
                     .start_preconditioning_step = 1,
                     .maximize = true});
}

// f(W) = ½‖A·W·B − C‖² for A and B of condition number 10: a Hessian (AᵀA) ⊗ (BBᵀ) of condition number 10⁴ with
// exactly Shampoo's Kronecker structure. With the same learning rate and Adam's step norm, Shampoo's direction
// solves it to rounding in 400 steps; Adam's stalls a thousandfold above that.
template <class Opt, class Options>
double least_squares_ratio(const Options& options) {
  const int64_t n = 6;
  const Matrix qa = random_orthogonal(n, 5), qb = random_orthogonal(n, 6);
  const Tensor a = Tensor::from(std::span<const double>(compose(qa, {1, 1.5, 2, 3, 5, 10})), {n, n}, kFloat64);
  const Tensor b = Tensor::from(std::span<const double>(compose(qb, {1, 2, 3, 4, 6, 10})), {n, n}, kFloat64);
  const Tensor c = testing::sample({n, n}, kFloat64, 9);
  Tensor w = Tensor::zeros({n, n}, kFloat64);
  w.set_requires_grad(true);
  Opt opt({w}, options);
  double first = 0.0, last = 0.0;
  for (int s = 0; s < 400; ++s) {
    opt.zero_grad();
    const Tensor r = matmul(matmul(a, w), b) - c;
    const Tensor l = 0.5 * sum(r * r);
    l.backward();
    opt.step();
    last = l.item();
    if (s == 0) first = last;
  }
  return last / first;
}

TEST(ShampooTest, SolvesAKroneckerConditionedLeastSquaresProblemThatStallsAdam) {
  EXPECT_LT(least_squares_ratio<Shampoo>(ShampooOptions{
                .lr = 0.1, .betas = {0.9, 1.0}, .precondition_frequency = 5, .start_preconditioning_step = 5}),
            1e-10);
  EXPECT_GT(least_squares_ratio<Adam>(AdamOptions{.lr = 0.1}), 1e-4);
}

TEST(ShampooTest, ByNameAndInvalidHyperparameters) {
  Tensor w = param({2, 2}, 1);
  auto opt = make_optimizer("shampoo", {{"w", w}});
  EXPECT_EQ(opt->name(), "Shampoo");
  EXPECT_EQ(opt->lr(), 1e-3);
  EXPECT_ERROR_MENTIONS(Shampoo({w}, {.betas = {0.9, 0.0}}), "Shampoo: betas[1] = 0 is outside (0, 1]");
  EXPECT_ERROR_MENTIONS(Shampoo({w}, {.epsilon = 0.0}), "Shampoo: epsilon = 0 must be a finite number > 0");
  EXPECT_ERROR_MENTIONS(Shampoo({w}, {.precondition_frequency = 0}),
                        "Shampoo: precondition_frequency = 0 must be >= 1");
  EXPECT_ERROR_MENTIONS(opt->set("max_preconditioner_dim", int64_t{0}),
                        "Shampoo: max_preconditioner_dim = 0 must be >= 1");
  EXPECT_ERROR_MENTIONS(opt->set("grafting_beta2", 1.0), "Shampoo: grafting_beta2 = 1 is outside [0, 1)");
}

}  // namespace
}  // namespace descent::optim
