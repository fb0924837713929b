// Line searches: the cubic step, the strong-Wolfe and Armijo conditions at the points they accept (on their own
// and at every step L-BFGS takes with them), and backtracking's failure mode.
#include <gtest/gtest.h>

#include <cmath>

#include "descent/optim/lbfgs.hpp"
#include "descent/optim/line_search.hpp"
#include "descent/optim/problems.hpp"
#include "flat_problem.hpp"

namespace descent::optim {
namespace {

double dot(std::span<const double> a, std::span<const double> b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// The line function of `p` along d from x, counting its calls.
struct Line {
  const Problem& p;
  std::vector<double> x, d;
  int64_t calls = 0;
  LineFunction function() {
    return [this](double t, std::span<double> g) {
      ++calls;
      std::vector<double> at(x.size());
      for (size_t i = 0; i < x.size(); ++i) at[i] = x[i] + t * d[i];
      return p.evaluate(at, g);
    };
  }
};

// Checks sufficient decrease and strong curvature for the step s from x (s = t·d), with c1 = 1e-4, c2 = 0.9.
void expect_strong_wolfe(const testing::FlatProblem& p, const std::vector<double>& x, const std::vector<double>& s,
                         const std::string& where) {
  std::vector<double> g(x.size()), g_new(x.size()), x_new(x.size());
  const double f = p.value(x, g);
  for (size_t i = 0; i < x.size(); ++i) x_new[i] = x[i] + s[i];
  const double f_new = p.value(x_new, g_new);
  const double gs = dot(g, s);
  ASSERT_LT(gs, 0.0) << where << ": not a descent step";
  EXPECT_LE(f_new, f + 1e-4 * gs) << where << ": no sufficient decrease";
  EXPECT_LE(std::abs(dot(g_new, s)), 0.9 * std::abs(gs)) << where << ": strong curvature condition fails";
}

TEST(LineSearchTest, CubicInterpolationFindsTheCubicsMinimiser) {
  // φ(x) = x³ − 3x: minimum at 1; from (0, 0, −3) and (2, 2, 9) the cubic is φ itself.
  EXPECT_NEAR(cubic_interpolate(0.0, 0.0, -3.0, 2.0, 2.0, 9.0), 1.0, 1e-15);
  EXPECT_NEAR(cubic_interpolate(2.0, 2.0, 9.0, 0.0, 0.0, -3.0), 1.0, 1e-15);  // either order
  // Clipped to the bounds given.
  EXPECT_EQ(cubic_interpolate(0.0, 0.0, -3.0, 2.0, 2.0, 9.0, {{1.5, 3.0}}), 1.5);
  // No minimiser (d1² < g1·g2): the middle of the bounds.
  EXPECT_EQ(cubic_interpolate(0.0, 0.0, 2.0, 1.0, 4.0 / 3.0, 2.0), 0.5);
}

TEST(LineSearchTest, StrongWolfeAcceptsPointsMeetingBothConditions) {
  const Problem rosen = make_problem("rosenbrock", 2);
  std::vector<double> g(2);
  const double f = rosen.evaluate(rosen.x0, g);
  // Along −g: a step of 1 overshoots (zoom), a step of 1e-5 falls short (extrapolation).
  for (double t0 : {1.0, 1e-5}) {
    Line line{rosen, rosen.x0, {-g[0], -g[1]}};
    const double gtd = dot(g, line.d);
    const LineSearchResult r = strong_wolfe(line.function(), line.d, t0, f, g, gtd);
    EXPECT_EQ(r.evaluations, line.calls);
    EXPECT_GT(r.t, 0.0);
    EXPECT_LE(r.f, f + 1e-4 * r.t * gtd) << "t0 = " << t0;
    EXPECT_LE(std::abs(dot(r.grad, line.d)), 0.9 * std::abs(gtd)) << "t0 = " << t0;
    std::vector<double> check(2);
    EXPECT_EQ(line.function()(r.t, check), r.f);  // f and ∇f returned are those at x + t·d
    EXPECT_EQ(check, r.grad);
  }
}

TEST(LineSearchTest, EveryStepOfLBFGSWithStrongWolfeMeetsTheConditions) {
  for (int64_t n : {2, 10}) {
    const Problem rosen = make_problem("rosenbrock", n);
    testing::FlatProblem p(rosen.x0, rosen.evaluate);
    // One iteration per step, so each step's start and end are the line search's x and x + t·d.
    LBFGS opt(p.params, {.max_iter = 1, .max_eval = 26, .line_search_fn = "strong_wolfe"});
    int checked = 0;
    for (int k = 0; k < 200; ++k) {
      const std::vector<double> x = p.flat();
      opt.step(p.closure());
      if (opt.last_step().iterations == 0) break;  // converged at the start
      std::vector<double> s = p.flat();
      for (size_t i = 0; i < s.size(); ++i) s[i] -= x[i];
      if (opt.last_step().reason != "max_iter") break;  // a tolerance stopped the search, or it failed
      expect_strong_wolfe(p, x, s, "n = " + std::to_string(n) + ", iteration " + std::to_string(k + 1));
      ++checked;
    }
    EXPECT_GT(checked, n == 2 ? 30 : 60);
    std::vector<double> g(static_cast<size_t>(n));
    EXPECT_LT(p.value(p.flat(), g), 1e-8) << n;
  }
}

// φ(t) = exp(x) − 2x at x = −30 + t·d, d = 2e13 (the Newton step there): the first trial overflows to +inf.
// PyTorch's search would go on with NaN (or halve the step); this one treats the trial as too far and steps back
// by tenths.
TEST(LineSearchTest, StrongWolfeStepsBackFromAnOverflowingTrial) {
  const double x0 = -30.0, d = 2e13;
  const LineFunction phi = [&](double t, std::span<double> g) {
    const double x = x0 + t * d;
    g[0] = std::exp(x) - 2.0;
    return std::exp(x) - 2.0 * x;
  };
  std::vector<double> g0(1);
  const double f0 = phi(0.0, g0);
  const std::vector<double> dir{d};
  const LineSearchResult r = strong_wolfe(phi, dir, 1.0, f0, g0, g0[0] * d, {.max_ls = 2000});
  ASSERT_TRUE(std::isfinite(r.f));
  EXPECT_GT(r.t, 0.0);
  EXPECT_LE(r.f, f0 + 1e-4 * r.t * g0[0] * d);
  EXPECT_LT(r.evaluations, 25);  // tenfold shorter trials: 2e13 is 13 orders of magnitude too long
}

// φ(t) = −t has no minimum: the search extrapolates tenfold per trial until the step would overflow, then
// takes the last finite one, instead of going on with infinities and NaN.
TEST(LineSearchTest, StrongWolfeStopsOnAFunctionUnboundedBelow) {
  const LineFunction phi = [](double t, std::span<double> g) {
    g[0] = -1.0;
    return -t;
  };
  const std::vector<double> g0{-1.0}, dir{1.0};
  const LineSearchResult r = strong_wolfe(phi, dir, 1.0, 0.0, g0, -1.0, {.max_ls = 2000});
  EXPECT_TRUE(std::isfinite(r.t) && std::isfinite(r.f));
  EXPECT_GT(r.t, 1e300);
  EXPECT_LT(r.evaluations, 400);
}

TEST(LineSearchTest, BacktrackingMeetsArmijoAndGivesUpWithoutDescent) {
  // f(x) = x⁴ from x = 1 along −f'(1) = −4: t = 1 lands at −3 (f = 81), so it must shrink.
  const LineFunction quartic = [](double t, std::span<double> g) {
    const double x = 1.0 - 4.0 * t;
    g[0] = 4.0 * x * x * x;
    return x * x * x * x;
  };
  const std::vector<double> g0{4.0};
  const LineSearchResult r = backtracking(quartic, 1.0, 1.0, g0, -16.0);
  EXPECT_LT(r.t, 1.0);
  EXPECT_GT(r.t, 0.0);
  EXPECT_LE(r.f, 1.0 + 1e-4 * r.t * -16.0);
  EXPECT_GT(r.evaluations, 1);
  EXPECT_TRUE(r.last_evaluated);
  // Told the slope is negative while f only rises: no step is accepted, x stays.
  const LineFunction rising = [](double t, std::span<double> g) {
    g[0] = 1.0;
    return 1.0 + t;
  };
  const LineSearchResult none = backtracking(rising, 1.0, 1.0, g0, -1.0, {.max_ls = 5});
  EXPECT_EQ(none.t, 0.0);
  EXPECT_EQ(none.f, 1.0);
  EXPECT_EQ(none.grad, g0);
  EXPECT_EQ(none.evaluations, 6);
}

}  // namespace
}  // namespace descent::optim
