// The test functions: gradients against central differences, known minima, and convergence of the optimizers
// on them.
#include <gtest/gtest.h>

#include <cmath>

#include "descent/optim/closure_method.hpp"
#include "descent/optim/problems.hpp"
#include "descent/optim/registry.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

double evaluate(const Problem& p, const std::vector<double>& x, std::vector<double>* g = nullptr) {
  std::vector<double> scratch(x.size());
  const double f = p.evaluate(x, scratch);
  if (g) *g = scratch;
  return f;
}

TEST(ProblemsTest, GradientsMatchCentralDifferences) {
  Generator gen(3);
  for (const std::string& name : problem_names()) {
    const int64_t dim = name == "beale" || name == "booth" ? 2 : 5;
    const Problem p = make_problem(name, dim);
    for (int trial = 0; trial < 3; ++trial) {
      std::vector<double> x(static_cast<size_t>(dim));
      for (double& v : x) v = gen.uniform() * 2.0 - 1.0;
      std::vector<double> g;
      evaluate(p, x, &g);
      for (int64_t i = 0; i < dim; ++i) {
        const double h = 1e-6;
        std::vector<double> xp = x, xm = x;
        xp[i] += h;
        xm[i] -= h;
        const double numerical = (evaluate(p, xp) - evaluate(p, xm)) / (2 * h);
        EXPECT_NEAR(g[i], numerical, 1e-5 * std::max(1.0, std::abs(numerical))) << name << " coordinate " << i;
      }
    }
  }
}

TEST(ProblemsTest, KnownMinimaAreWhereTheLiteratureSays) {
  EXPECT_EQ(evaluate(make_problem("rosenbrock", 4), {1, 1, 1, 1}), 0.0);
  EXPECT_EQ(evaluate(make_problem("beale", 2), {3, 0.5}), 0.0);
  EXPECT_EQ(evaluate(make_problem("booth", 2), {1, 3}), 0.0);
  EXPECT_NEAR(evaluate(make_problem("ackley", 3), {0, 0, 0}), 0.0, 1e-15);
  EXPECT_NEAR(evaluate(make_problem("rastrigin", 3), {0, 0, 0}), 0.0, 1e-15);
  const Problem st = make_problem("styblinski-tang", 2);
  EXPECT_NEAR(evaluate(st, {-2.903534027771178, -2.903534027771178}), *st.minimum, 1e-12);
  EXPECT_EQ(make_problem("rosenbrock", 3).x0, (std::vector<double>{-1.2, 1.0, -1.2}));
}

TEST(ProblemsTest, BadNamesAndDimensionsAreErrors) {
  EXPECT_ERROR_MENTIONS(make_problem("himmelblau", 2), "unknown function 'himmelblau' (rosenbrock");
  EXPECT_ERROR_MENTIONS(make_problem("beale", 3), "beale: dim = 3");
  EXPECT_ERROR_MENTIONS(make_problem("rosenbrock", 1), "at least 2");
  EXPECT_ERROR_MENTIONS(make_problem("quadratic", 3, {.condition_number = 0.5}), "condition_number = 0.5");
}

// Runs `steps` steps of an optimizer from the registry with settings: a gradient and step() each for the
// first-order methods, step(closure) for the closure methods (L-BFGS, Newton-CG, Newton).
double minimize_with(const std::string& optimizer, const std::vector<std::string>& settings, const Problem& p,
                     int steps) {
  Tensor x = Tensor::from(std::span<const double>(p.x0), {p.dim}, kFloat64);
  x.set_requires_grad(true);
  auto opt = make_optimizer(optimizer, {{"x", x}});
  apply_settings(*opt, settings);
  std::vector<double> g(static_cast<size_t>(p.dim));
  const auto gradient = [&] {
    const double f = p.evaluate(x.to_vector(), g);
    x.set_grad(Tensor::from(std::span<const double>(g), {p.dim}, kFloat64));
    return f;
  };
  const bool closure_method = dynamic_cast<ClosureMethodBase*>(opt.get()) != nullptr;
  for (int s = 0; s < steps; ++s) {
    if (closure_method) {
      opt->step(gradient);
    } else {
      gradient();
      opt->step();
    }
  }
  return p.evaluate(x.to_vector(), g);
}

// The same for the Hessian-based optimizers, which differentiate the gradient again: the sphere ‖x‖² through
// autograd, its backward pass with create_graph when the optimizer asks for it.
double minimize_sphere_with_autograd(const std::string& optimizer, const std::vector<std::string>& settings,
                                     const std::vector<double>& x0, int steps) {
  Tensor x = Tensor::from(std::span<const double>(x0), {static_cast<int64_t>(x0.size())}, kFloat64);
  x.set_requires_grad(true);
  auto opt = make_optimizer(optimizer, {{"x", x}});
  apply_settings(*opt, settings);
  for (int s = 0; s < steps; ++s) {
    opt->zero_grad();
    sum(x * x).backward(Tensor(), false, opt->needs_create_graph());
    opt->step();
  }
  return sum(x * x).item();
}

TEST(ConvergenceTest, GradientDescentSolvesSphereAndBooth) {
  EXPECT_LT(minimize_with("sgd", {"lr=0.1"}, make_problem("sphere", 10), 200), 1e-15);
  EXPECT_LT(minimize_with("sgd", {"lr=0.05"}, make_problem("booth", 2), 500), 1e-15);
}

TEST(ConvergenceTest, MomentumBeatsPlainDescentOnIllConditionedQuadratic) {
  const Problem q = make_problem("quadratic", 20, {.condition_number = 1000});
  const double plain = minimize_with("sgd", {"lr=0.0019"}, q, 300);
  const double heavy_ball = minimize_with("sgd", {"lr=0.0019", "momentum=0.9"}, q, 300);
  // Nesterov is stable only for lr·λmax < 2(1+β)/(1+2β) ≈ 1.36 here, so it gets a smaller step.
  const double nesterov = minimize_with("nesterov", {"lr=0.001"}, q, 300);
  EXPECT_LT(heavy_ball, plain / 10);
  EXPECT_LT(nesterov, plain / 10);
}

TEST(ConvergenceTest, AdamSolvesRosenbrockAndLogisticRegression) {
  EXPECT_LT(minimize_with("adam", {"lr=0.01"}, make_problem("rosenbrock", 2), 6000), 1e-8);
  const Problem lr = make_problem("logistic-regression", 10);
  const double start = minimize_with("adam", {"lr=0.0"}, lr, 1);
  const double end = minimize_with("adam", {"lr=0.05"}, lr, 1000);
  EXPECT_LT(end, 0.6 * start);
}

// Every registered optimizer, at its default hyperparameters with only the learning rate scaled to the
// method's habits, reduces the sphere function (‖x‖² from x0 = 1…1) a hundredfold in 500 steps.
TEST(ConvergenceTest, EveryRegisteredOptimizerDescendsOnTheSphere) {
  const Problem sphere = make_problem("sphere", 8, {});
  std::vector<double> ones(8, 1.0);
  Problem p = sphere;
  p.x0 = ones;
  const double start = evaluate(p, p.x0);
  for (const std::string& name : optimizer_names()) {
    std::vector<std::string> settings;
    // Sign-based and trust-ratio methods move each coordinate by about lr per step; Adadelta and Prodigy
    // find their own step size (lr = 1 by design), as do the closure methods (lr = 1 is their first trial
    // step); the rest take a plain lr.
    if (name == "adadelta" || name == "prodigy" || name == "rprop" || name == "lbfgs" || name == "newton-cg" ||
        name == "newton") {
    } else if (name == "lion" || name == "lamb" || name == "lars" || name == "adafactor") {
      settings = {"lr=0.01"};
    } else if (name == "muon") {  // a vector: Muon's AdamW part
      settings = {"adamw_lr=0.05"};
    } else if (name == "sophia") {  // lr/rho scales its Newton-like steps once the clipping lets go
      settings = {"lr=0.05", "rho=1"};
    } else {
      settings = {"lr=0.05"};
    }
    Tensor probe = Tensor::zeros({1}, kFloat64);
    probe.set_requires_grad(true);
    const bool hessian = make_optimizer(name, {{"x", probe}})->needs_create_graph();
    const double end =
        hessian ? minimize_sphere_with_autograd(name, settings, p.x0, 500) : minimize_with(name, settings, p, 500);
    EXPECT_LT(end, start / 100) << name;
  }
}

TEST(RegistryTest, EveryOptimizerByNameAndAliases) {
  Tensor x = Tensor::zeros({2}, kFloat32);
  x.set_requires_grad(true);
  EXPECT_GE(optimizer_names().size(), 24u);
  for (const std::string& name : optimizer_names()) EXPECT_NO_THROW(make_optimizer(name, {{"x", x}})) << name;
  EXPECT_EQ(make_optimizer("Schedule-Free-AdamW", {{"x", x}})->name(), "ScheduleFreeAdamW");
  EXPECT_EQ(make_optimizer("schedule_free_sgd", {{"x", x}})->name(), "ScheduleFreeSGD");
  EXPECT_EQ(make_optimizer("RMSProp", {{"x", x}})->name(), "RMSprop");
  EXPECT_TRUE(std::get<bool>(make_optimizer("ema_momentum", {{"x", x}})->get("ema_momentum")));
}

TEST(RegistryTest, ShorthandsAndSettings) {
  Tensor x = Tensor::zeros({2}, kFloat64);
  x.set_requires_grad(true);
  auto nesterov = make_optimizer("Nesterov", {{"x", x}});
  EXPECT_EQ(nesterov->name(), "SGD");
  EXPECT_EQ(std::get<bool>(nesterov->get("nesterov")), true);
  apply_settings(*nesterov, {"lr=0.5", "momentum=0.8"});
  EXPECT_EQ(nesterov->lr(), 0.5);
  EXPECT_ERROR_MENTIONS(apply_settings(*nesterov, {"lr"}), "not of the form key=value");
  EXPECT_ERROR_MENTIONS(apply_settings(*nesterov, {"lr=fast"}), "'fast' is not a number");
  EXPECT_ERROR_MENTIONS(make_optimizer("adamax2", {{"x", x}}), "unknown optimizer 'adamax2' (sgd, momentum");
}

}  // namespace
}  // namespace descent::optim
