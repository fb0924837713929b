// Newton-CG and damped Newton: Hessian-vector products (double backward against the exact Hessian and against
// finite differences), negative curvature, the damped Cholesky, convergence on the test functions, state dicts
// and refused options.
#include <gtest/gtest.h>

#include <cmath>

#include "descent/optim/minimize.hpp"
#include "descent/optim/newton.hpp"
#include "descent/optim/newton_cg.hpp"
#include "descent/optim/problems.hpp"
#include "flat_problem.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

using testing::FlatProblem;

// f(x) = Σ exp(A·x) + ¼ Σ x⁴, written with descent's ops; its Hessian is Aᵀ·diag(exp(A·x))·A + 3·diag(x²).
struct ExpQuartic {
  static constexpr int64_t m = 4, n = 3;
  std::vector<double> a = {0.3, -0.2, 0.5, 0.1, 0.4, -0.3, -0.5, 0.2, 0.1, 0.2, 0.2, 0.2};  // row-major [m, n]
  Tensor operator()(const Tensor& x) const {
    const Tensor at = Tensor::from(std::span<const double>(a), {m, n}, x.dtype());
    return sum(exp(matmul(at, x))) + 0.25 * sum(x * x * x * x);
  }
  std::vector<double> hessian_times(const std::vector<double>& x, const std::vector<double>& v) const {
    std::vector<double> out(n, 0.0);
    for (int64_t r = 0; r < m; ++r) {
      double ax = 0.0, av = 0.0;
      for (int64_t c = 0; c < n; ++c) {
        ax += a[r * n + c] * x[c];
        av += a[r * n + c] * v[c];
      }
      for (int64_t c = 0; c < n; ++c) out[c] += a[r * n + c] * std::exp(ax) * av;
    }
    for (int64_t c = 0; c < n; ++c) out[c] += 3.0 * x[c] * x[c] * v[c];
    return out;
  }
};

// Exposes the Hessian-vector product for the test.
class ProbeNewtonCG : public NewtonCG {
 public:
  using NewtonCG::NewtonCG;
  using SecondOrderBase::Hvp;
  std::vector<double> hvp(const Closure& closure, Hvp mode, const std::vector<double>& v) {
    const size_t n = v.size();
    std::vector<double> x(n), g(n), hv(n);
    evaluate(closure, g, false);
    read_params(x);
    hessian_vector(closure, mode, x, g, v, hv);
    return hv;
  }
};

TEST(NewtonCGTest, DoubleBackwardHvpIsExactAndFiniteDifferencesAgree) {
  const ExpQuartic f;
  const std::vector<double> x0 = {0.7, -1.1, 0.4}, v = {0.3, 1.0, -2.0};
  Tensor x = Tensor::from(std::span<const double>(x0), {3}, kFloat64);
  x.set_requires_grad(true);
  ProbeNewtonCG opt({x});
  const Closure with_graph = [&] {
    opt.zero_grad();
    const Tensor loss = f(x);
    loss.backward(Tensor(), false, /*create_graph=*/true);
    return loss.item();
  };
  const std::vector<double> exact = f.hessian_times(x0, v);
  const std::vector<double> by_autograd = opt.hvp(with_graph, ProbeNewtonCG::Hvp::Autograd, v);
  const std::vector<double> by_differences = opt.hvp(with_graph, ProbeNewtonCG::Hvp::FiniteDifference, v);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(by_autograd[i], exact[i], 1e-12 * std::max(1.0, std::abs(exact[i]))) << i;
    EXPECT_NEAR(by_differences[i], exact[i], 1e-6 * std::max(1.0, std::abs(exact[i]))) << i;
  }
  EXPECT_EQ(x.to_vector(), x0);  // the finite difference put the parameters back
  opt.zero_grad();  // hvp() alone leaves x.grad's graph, which refers to x (step() drops it itself)
}

TEST(NewtonCGTest, AutogradHvpWithoutAGraphIsRefused) {
  const Problem rosen = make_problem("rosenbrock", 2);
  FlatProblem p(rosen.x0, rosen.evaluate);
  NewtonCG opt(p.params, {{.hvp = "autograd"}});
  EXPECT_ERROR_MENTIONS(opt.step(p.closure()), "NewtonCG: hvp = autograd needs gradients that carry their graph");
  NewtonCG automatic(p.params);  // auto: finite differences for this closure
  automatic.step(p.closure());
  EXPECT_GT(automatic.last_step().hessian_products, 0);
  EXPECT_GT(automatic.last_step().evaluations, automatic.last_step().iterations + 1);  // products cost evaluations
}

// f(x, y) = x² − y² + y⁴/4: H = diag(2, 3y² − 2) is indefinite for y² < 2/3; minima at y = ±√2, f = −1.
double saddle(std::span<const double> v, std::span<double> g) {
  const double x = v[0], y = v[1];
  g[0] = 2.0 * x;
  g[1] = -2.0 * y + y * y * y;
  return x * x - y * y + 0.25 * y * y * y * y;
}

TEST(NewtonCGTest, NegativeCurvatureAtTheFirstCgStepFallsBackToSteepestDescent) {
  // At (0.01, 0.5) the first CG direction −g has pᵀHp = 4e-4·2 − 0.766·1.25 < 0.
  FlatProblem p({0.01, 0.5}, saddle);
  NewtonCG opt(p.params, {{.max_iter = 1}});
  std::vector<double> g(2);
  const double f0 = saddle(std::vector<double>{0.01, 0.5}, g);
  opt.step(p.closure());
  EXPECT_EQ(opt.cg_iterations(), 1);
  const std::vector<double> x1 = p.flat();
  const double sx = x1[0] - 0.01, sy = x1[1] - 0.5;
  EXPECT_NEAR(sx * g[1] - sy * g[0], 0.0, 1e-12);  // the step is parallel to −g
  EXPECT_LT(sx * g[0] + sy * g[1], 0.0);
  std::vector<double> scratch(2);
  EXPECT_LT(saddle(x1, scratch), f0);
  // And from there to a minimum.
  const MinimizeResult r = minimize(saddle, std::vector<double>{0.01, 0.5}, "newton-cg", {.max_iterations = 50});
  EXPECT_TRUE(r.converged) << r.reason;
  EXPECT_NEAR(r.f, -1.0, 1e-12);
  EXPECT_NEAR(std::abs(r.x[1]), std::sqrt(2.0), 1e-6);
}

TEST(NewtonCGTest, ReachesRosenbrocksMinimum) {
  for (int64_t n : {2, 10, 100}) {
    const Problem rosen = make_problem("rosenbrock", n);
    const MinimizeResult r = minimize(rosen.evaluate, rosen.x0, "newton-cg", {.max_iterations = 500});
    EXPECT_TRUE(r.converged) << n << ": " << r.reason;
    EXPECT_LT(r.f, 1e-10) << n;
  }
}

TEST(NewtonCGTest, SolvesLogisticRegressionWithinTwentyIterations) {
  const Problem logistic = make_problem("logistic-regression", 20);
  const MinimizeResult r = minimize(logistic.evaluate, logistic.x0, "newton-cg", {.max_iterations = 20});
  EXPECT_TRUE(r.converged) << r.reason;
  EXPECT_LE(r.iterations, 20);
  EXPECT_LT(r.grad_norm, 1e-7);
  // L-BFGS with strong Wolfe finds the same minimum.
  const MinimizeResult check = minimize(logistic.evaluate, logistic.x0, "lbfgs",
                                        {.settings = {"line_search_fn=strong_wolfe", "tolerance_change=1e-14"}});
  EXPECT_NEAR(r.f, check.f, 1e-12);
}

TEST(NewtonCGTest, AutogradAndFiniteDifferencesReachTheSameMinimum) {
  const ExpQuartic f;
  const std::vector<double> x0 = {0.7, -1.1, 0.4};
  const MinimizeResult exact = minimize(Objective(f), x0, "newton-cg", {.settings = {"hvp=autograd"}});
  const MinimizeResult differences = minimize(Objective(f), x0, "newton-cg", {.settings = {"hvp=finite_difference"}});
  ASSERT_TRUE(exact.converged && differences.converged) << exact.reason << " " << differences.reason;
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(exact.x[i], differences.x[i], 1e-7);
  // Double backward costs no evaluations; finite differences cost one per product.
  EXPECT_LT(exact.evaluations, differences.evaluations);
}

// f = exp(x) − 2x from x = −30: the Newton step (≈ 2e13) overflows f; the line search steps back, and the run
// reaches x = ln 2 with the Hessian by double backward.
TEST(NewtonCGTest, RecoversFromAnOverflowingNewtonStep) {
  const Objective f = [](const Tensor& x) { return sum(exp(x) - 2.0 * x); };
  for (const char* method : {"newton-cg", "newton"}) {
    const MinimizeResult r = minimize(f, std::vector<double>{-30.0}, method, {.max_iterations = 200});
    EXPECT_TRUE(r.converged) << method << ": " << r.reason;
    EXPECT_NEAR(r.x[0], std::log(2.0), 1e-9) << method;
  }
}

TEST(NewtonTest, DampedCholeskyShiftsIndefiniteMatricesOnly) {
  // Positive definite: τ = 0 and the plain solution.
  std::vector<double> b = {1.0, 2.0};
  EXPECT_EQ(damped_cholesky_solve(std::vector<double>{4.0, 1.0, 1.0, 3.0}, b, 1e-3), 0.0);
  EXPECT_NEAR(4.0 * b[0] + 1.0 * b[1], 1.0, 1e-14);
  EXPECT_NEAR(1.0 * b[0] + 3.0 * b[1], 2.0, 1e-14);
  // Indefinite (eigenvalues 1 and −2): τ0 = 2 + β with β = 1e-3·2; H + τI is then positive definite.
  const std::vector<double> h = {1.0, 0.0, 0.0, -2.0};
  b = {1.0, 1.0};
  const double tau = damped_cholesky_solve(h, b, 1e-3);
  EXPECT_DOUBLE_EQ(tau, 2.002);
  EXPECT_NEAR((1.0 + tau) * b[0], 1.0, 1e-12);
  EXPECT_NEAR((-2.0 + tau) * b[1], 1.0, 1e-12);
  // A positive diagonal that hides an indefinite matrix (eigenvalues 3 and −1): τ doubles from β until it works.
  b = {1.0, 0.0};
  const double tau2 = damped_cholesky_solve(std::vector<double>{1.0, 2.0, 2.0, 1.0}, b, 1e-3);
  EXPECT_GT(tau2, 1.0);
  EXPECT_NEAR((1.0 + tau2) * b[0] + 2.0 * b[1], 1.0, 1e-12);
  EXPECT_ERROR_MENTIONS(damped_cholesky_solve(std::vector<double>{NAN, 0.0, 0.0, 1.0}, b, 1e-3), "NaN or infinite");
}

TEST(NewtonTest, IndefiniteHessianIsDampedIntoADescentStep) {
  FlatProblem p({1.0, 0.5}, saddle);  // H = diag(2, −1.25)
  Newton opt(p.params, {{.max_iter = 1}});
  std::vector<double> g(2), scratch(2);
  const double f0 = saddle(std::vector<double>{1.0, 0.5}, g);
  opt.step(p.closure());
  EXPECT_GT(opt.last_damping(), 1.25);
  EXPECT_LT(saddle(p.flat(), scratch), f0);
  const MinimizeResult r = minimize(saddle, std::vector<double>{1.0, 0.5}, "newton", {.max_iterations = 50});
  EXPECT_TRUE(r.converged) << r.reason;
  EXPECT_NEAR(r.f, -1.0, 1e-12);
}

TEST(NewtonTest, QuadraticTakesOneIteration) {
  const Problem quad = make_problem("quadratic", 20, {.condition_number = 1000});
  // From the function's own gradient, H is by finite differences: exact for a quadratic but for the rounding of
  // ∇f (|∇f| ~ 1e3 at x0, divided by h ~ 7e-8), which leaves ‖∇f‖ ~ 1e-6 after the first step; a second finishes.
  for (const std::string hvp : {"finite_difference", "auto"}) {
    const MinimizeResult r = minimize(quad.evaluate, quad.x0, "newton", {.settings = {"hvp=" + hvp}});
    EXPECT_TRUE(r.converged) << r.reason;
    EXPECT_LE(r.iterations, 2) << hvp;
    EXPECT_LT(r.f, 1e-12);
  }
  // Written with ops, the Hessian comes from double backward: exact, and no evaluations for it.
  const Objective f = [](const Tensor& x) {
    return sum(x * x * (Tensor::arange(5, x.dtype()) + 1.0)) + sum(x);  // H = diag(2, 4, …, 10)
  };
  const MinimizeResult r = minimize(f, std::vector<double>(5, 1.0), "newton", {.settings = {"hvp=autograd"}});
  EXPECT_EQ(r.iterations, 1);
  EXPECT_EQ(r.evaluations, 2);  // x0 and the one line-search trial, accepted
  for (size_t i = 0; i < 5; ++i) EXPECT_NEAR(r.x[i], -1.0 / (2.0 * static_cast<double>(i + 1)), 1e-15);
}

TEST(NewtonTest, ReachesRosenbrocksMinimum) {
  const Problem rosen = make_problem("rosenbrock", 2);
  const MinimizeResult r = minimize(rosen.evaluate, rosen.x0, "newton", {.max_iterations = 200});
  EXPECT_TRUE(r.converged) << r.reason;
  EXPECT_LT(r.f, 1e-10);
  // With 10 variables, pure Newton steps from (−1.2, 1, …) lead to the other minimum of the n-dimensional
  // Rosenbrock function (n ≥ 4), near (−1, 1, …, 1) at f ≈ 3.9866; Newton-CG's and L-BFGS's shorter early steps
  // reach the global one.
  const Problem rosen10 = make_problem("rosenbrock", 10);
  const MinimizeResult local = minimize(rosen10.evaluate, rosen10.x0, "newton", {.max_iterations = 200});
  EXPECT_EQ(local.reason, "gradient_tolerance");
  EXPECT_NEAR(local.f, 3.98658, 1e-5);
  EXPECT_NEAR(local.x[0], -0.9932, 1e-3);
}

TEST(NewtonTest, StateDictCarriesCountersAndOptions) {
  const Problem rosen = make_problem("rosenbrock", 2);
  FlatProblem p(rosen.x0, rosen.evaluate);
  Newton opt(p.params, {{.max_iter = 3, .line_search_fn = "backtracking"}, 0.01});
  opt.step(p.closure());
  const StateDict dict = opt.state_dict();
  Newton fresh(p.params);
  fresh.load_state_dict(dict);
  EXPECT_EQ(fresh.hypers(), opt.hypers());
  EXPECT_EQ(fresh.iterations(), opt.iterations());
  EXPECT_EQ(fresh.evaluations(), opt.evaluations());
  EXPECT_EQ(fresh.last_damping(), opt.last_damping());
  NewtonCG other(p.params);
  EXPECT_ERROR_MENTIONS(other.load_state_dict(dict), "NewtonCG: load_state_dict got a state dict of Newton");
}

TEST(NewtonTest, BadOptionsAreRefusedNamingThem) {
  Tensor w = Tensor::zeros({2}, kFloat64);
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(Newton({w}, {{}, 0.0}), "Newton: damping = 0 must be a finite number > 0");
  EXPECT_ERROR_MENTIONS(NewtonCG({w}, {{.line_search_fn = "none"}}),
                        "NewtonCG: line_search_fn = 'none' is not one of strong_wolfe, backtracking");
  EXPECT_ERROR_MENTIONS(NewtonCG({w}, {{.hvp = "exact"}}),
                        "NewtonCG: hvp = 'exact' is not one of auto, autograd, finite_difference");
  EXPECT_ERROR_MENTIONS(NewtonCG({w}, {{}, -1}), "NewtonCG: max_cg_iter = -1");
  EXPECT_ERROR_MENTIONS(NewtonCG({w}, {{.max_iter = 0}}), "NewtonCG: max_iter = 0 must be >= 1");
  Tensor big = Tensor::zeros({Newton::kMaxParameters + 1}, kFloat64);
  big.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(Newton({big}), "use newton-cg");
  Newton opt({w});
  EXPECT_ERROR_MENTIONS(opt.step(), "Newton: step() needs a closure");
}

}  // namespace
}  // namespace descent::optim
