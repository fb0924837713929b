// minimize(): every stop reason, evaluation counting, both kinds of objective, and L-BFGS's evaluation counts on
// Rosenbrock against scipy's.
#include <gtest/gtest.h>

#include <cmath>

#include "descent/optim/minimize.hpp"
#include "descent/optim/problems.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(MinimizeTest, FirstOrderMethodsStepOncePerEvaluation) {
  const Problem booth = make_problem("booth", 2);
  int64_t seen = 0, last_iteration = -1;
  MinimizeOptions options{.settings = {"lr=0.05"}};
  options.on_evaluation = [&](const Evaluation& e) {
    ++seen;
    EXPECT_EQ(e.evaluation, seen);
    EXPECT_EQ(e.iteration, last_iteration + 1);
    last_iteration = e.iteration;
  };
  const MinimizeResult r = minimize(booth.evaluate, booth.x0, "sgd", options);
  EXPECT_TRUE(r.converged);
  EXPECT_EQ(r.reason, "gradient_tolerance");
  EXPECT_LE(r.grad_norm, 1e-8);
  EXPECT_EQ(r.evaluations, r.iterations + 1);
  EXPECT_EQ(r.evaluations, seen);
  EXPECT_NEAR(r.x[0], 1.0, 1e-8);
  EXPECT_NEAR(r.x[1], 3.0, 1e-8);
}

TEST(MinimizeTest, StopsOnTheBudgetOrANonFiniteValue) {
  const Problem quad = make_problem("quadratic", 4);
  MinimizeResult r = minimize(quad.evaluate, quad.x0, "sgd", {.max_iterations = 7, .settings = {"lr=0.001"}});
  EXPECT_EQ(r.reason, "max_iterations");
  EXPECT_FALSE(r.converged);
  EXPECT_EQ(r.iterations, 7);
  r = minimize(quad.evaluate, quad.x0, "sgd", {.max_evaluations = 5, .settings = {"lr=0.001"}});
  EXPECT_EQ(r.reason, "max_evaluations");
  EXPECT_EQ(r.evaluations, 5);
  r = minimize(quad.evaluate, quad.x0, "sgd", {.max_iterations = 500, .settings = {"lr=10"}});
  EXPECT_EQ(r.reason, "non_finite");
  EXPECT_FALSE(r.converged);
  // The closure methods: L-BFGS without a line search diverges with lr = 10 as well.
  r = minimize(quad.evaluate, quad.x0, "lbfgs", {.max_iterations = 500, .settings = {"lr=10"}});
  EXPECT_EQ(r.reason, "non_finite");
  r = minimize(quad.evaluate, quad.x0, "lbfgs", {.max_iterations = 3, .settings = {"line_search_fn=strong_wolfe"}});
  EXPECT_EQ(r.reason, "max_iterations");
  EXPECT_EQ(r.iterations, 3);
  // The budget is checked between iterations: one iteration's line search (and Hessian products) may pass it.
  r = minimize(quad.evaluate, quad.x0, "lbfgs", {.max_evaluations = 4, .settings = {"line_search_fn=strong_wolfe"}});
  EXPECT_EQ(r.reason, "max_evaluations");
  EXPECT_GE(r.evaluations, 4);
  r = minimize(quad.evaluate, quad.x0, "newton-cg", {.max_evaluations = 4});
  EXPECT_EQ(r.reason, "max_evaluations");
  EXPECT_GE(r.evaluations, 4);
}

TEST(MinimizeTest, ClosureMethodsCountEveryEvaluation) {
  const Problem rosen = make_problem("rosenbrock", 2);
  int64_t seen = 0;
  for (const std::string name : {"lbfgs", "newton-cg", "newton"}) {
    seen = 0;
    MinimizeOptions options{.max_iterations = 200, .settings = {"line_search_fn=strong_wolfe"}};
    options.on_evaluation = [&](const Evaluation&) { ++seen; };
    const MinimizeResult r = minimize(rosen.evaluate, rosen.x0, name, options);
    EXPECT_TRUE(r.converged) << name << ": " << r.reason;
    EXPECT_EQ(r.evaluations, seen) << name;
    EXPECT_GE(r.evaluations, r.iterations) << name;
    std::vector<double> g(2);
    EXPECT_EQ(rosen.evaluate(r.x, g), r.f) << name;  // f is that of the x returned
  }
}

// L-BFGS with strong Wolfe from (−1.2, 1, …): f < 1e-10 in no more evaluations than scipy's L-BFGS-B needs to stop
// (44, 88 and 604 with scipy 1.17.1, as bench/second_order_vs_scipy.py measures them; the issue quotes 46, 94 and
// 642 for scipy 1.10).
// tolerance_change is lowered from PyTorch's 1e-9, at which the 2-variable run stops at f = 4e-10.
TEST(MinimizeTest, LBFGSReachesRosenbrocksMinimumInScipysEvaluations) {
  const std::vector<std::pair<int64_t, int64_t>> cases = {{2, 44}, {10, 88}, {100, 604}};
  for (const auto& [n, scipy] : cases) {
    const Problem rosen = make_problem("rosenbrock", n);
    const MinimizeResult r = minimize(rosen.evaluate, rosen.x0, "lbfgs",
                                      {.settings = {"line_search_fn=strong_wolfe", "tolerance_change=1e-12"}});
    EXPECT_TRUE(r.converged) << n << ": " << r.reason;
    EXPECT_LT(r.f, 1e-10) << n;
    EXPECT_LE(r.evaluations, scipy) << n;
  }
}

TEST(MinimizeTest, ObjectivesWrittenWithOpsAreDifferentiatedByAutograd) {
  const Tensor c = Tensor::from({1.0, -2.0, 0.5}, {3}, kFloat64);
  const Objective f = [&](const Tensor& x) { return sum((x - c) * (x - c)) + 0.1 * sum(x * x * x * x); };
  const std::vector<double> x0 = {0.0, 0.0, 0.0};
  const MinimizeResult lbfgs =
      minimize(f, x0, "lbfgs", {.settings = {"line_search_fn=strong_wolfe", "tolerance_change=1e-14"}});
  const MinimizeResult adam = minimize(f, x0, "adam", {.max_iterations = 5000, .settings = {"lr=0.01"}});
  const MinimizeResult newton = minimize(f, x0, "newton");  // Hessian by double backward
  ASSERT_TRUE(lbfgs.converged && newton.converged) << lbfgs.reason << " " << newton.reason;
  ASSERT_EQ(lbfgs.x.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    // ∂f/∂x = 2(x − c) + 0.4x³ = 0 at the minimum
    const double x = lbfgs.x[i];
    EXPECT_NEAR(2.0 * (x - c.to_vector()[i]) + 0.4 * x * x * x, 0.0, 1e-7);
    EXPECT_NEAR(adam.x[i], x, 1e-4);
    EXPECT_NEAR(newton.x[i], x, 1e-7);
  }
}

// AdaHessian and Sophia differentiate the gradient once more: through the recorded backward for a function of ops,
// through a forward difference of the gradient (one more evaluation per Hessian-vector product) for a function
// with its own. Both roads give the same run, to the difference's accuracy.
TEST(MinimizeTest, HessianDiagonalMethodsTakeBothKindsOfObjective) {
  const std::vector<double> cv = {1.0, -2.0, 0.5};
  const Tensor c = Tensor::from(std::span<const double>(cv), {3}, kFloat64);
  const Objective by_ops = [&](const Tensor& x) { return sum((x - c) * (x - c)) + 0.1 * sum(x * x * x * x); };
  const ObjectiveWithGradient by_hand = [&](std::span<const double> x, std::span<double> grad) {
    double f = 0.0;
    for (size_t i = 0; i < 3; ++i) {
      f += (x[i] - cv[i]) * (x[i] - cv[i]) + 0.1 * std::pow(x[i], 4);
      grad[i] = 2.0 * (x[i] - cv[i]) + 0.4 * std::pow(x[i], 3);
    }
    return f;
  };
  const std::vector<double> x0 = {0.0, 0.0, 0.0};
  for (const auto& [name, settings] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"adahessian", {"lr=0.1"}}, {"sophia", {"lr=0.05", "weight_decay=0", "update_period=5"}}}) {
    const MinimizeOptions o{.max_iterations = 100, .settings = settings};
    const MinimizeResult a = minimize(by_ops, x0, name, o);
    const MinimizeResult b = minimize(by_hand, x0, name, o);
    const int64_t products = name == "adahessian" ? 100 : 20;  // Sophia: every update_period steps
    EXPECT_EQ(a.evaluations, 101) << name;
    EXPECT_EQ(b.evaluations, 101 + products) << name;
    std::vector<double> g0(3);
    EXPECT_LT(a.f, 0.5 * by_hand(x0, g0)) << name;
    for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(a.x[i], b.x[i], 1e-6) << name << " " << i;
  }
}

TEST(MinimizeTest, BadInputIsRefusedNamingIt) {
  const Objective vector_valued = [](const Tensor& x) { return x * 2.0; };
  EXPECT_ERROR_MENTIONS(minimize(vector_valued, std::vector<double>{1.0, 2.0}, "sgd"),
                        "minimize: f returned Tensor(float64, [2]), expected one value");
  const Problem booth = make_problem("booth", 2);
  EXPECT_ERROR_MENTIONS(minimize(booth.evaluate, std::vector<double>{}, "sgd"), "minimize: x0 is empty");
  EXPECT_ERROR_MENTIONS(minimize(booth.evaluate, booth.x0, "lbfgs", {.settings = {"line_search_fn=wolfe"}}),
                        "LBFGS: line_search_fn = 'wolfe' is not one of");
  EXPECT_ERROR_MENTIONS(minimize(booth.evaluate, booth.x0, "sgd", {.max_iterations = -1}),
                        "minimize: max_iterations = -1 must be >= 0");
}

}  // namespace
}  // namespace descent::optim
