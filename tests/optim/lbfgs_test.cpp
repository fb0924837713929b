// L-BFGS: trajectories against torch.optim.LBFGS (tools/fixtures/gen_lbfgs.py), state-dict round trips, option
// checks, and what a step reports.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>

#include "descent/optim/lbfgs.hpp"
#include "descent/optim/problems.hpp"
#include "flat_problem.hpp"
#include "golden.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

using testing::FlatProblem;

// The generator's objectives of the flat vector x (gen_lbfgs.py), with their gradients, in double.
double quartic(const nlohmann::json& prob, std::span<const double> x, std::span<double> g) {
  const std::vector<double> h = prob["h"], t = prob["t"];
  const double k = prob["k"];
  double f = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double r = x[i] - t[i];
    f += 0.5 * h[i] * r * r + 0.25 * k * x[i] * x[i] * x[i] * x[i];
    g[i] = h[i] * r + k * x[i] * x[i] * x[i];
  }
  return f;
}

FlatProblem fixture_problem(const nlohmann::json& doc, const nlohmann::json& c) {
  const std::vector<double> x0 = c["x0"];
  const nlohmann::json& hypers = c["hypers"];
  const double sign = hypers.contains("maximize") && hypers["maximize"].get<bool>() ? -1.0 : 1.0;
  const auto shapes = c["shapes"].get<std::vector<Shape>>();
  if (c["objective"] == "quartic") {
    const nlohmann::json prob = doc["problem"];
    return FlatProblem(
        x0, [prob](auto x, auto g) { return quartic(prob, x, g); }, sign, shapes);
  }
  return FlatProblem(x0, make_problem("rosenbrock", static_cast<int64_t>(x0.size())).evaluate, sign, shapes);
}

// Every case of tools/fixtures/gen_lbfgs.py: the loss step() returns, torch's func_evals and n_iter after every
// step, and the parameters after every step ("trajectory") or after the last ("counts_and_end", a run whose
// middle amplifies rounding beyond 1e-10 — see the generator).
TEST(LBFGSTest, MatchesTorchWithAndWithoutStrongWolfe) {
  const nlohmann::json doc = testing::load_fixture("lbfgs.json");
  ASSERT_EQ(doc["cases"].size(), 8u);
  for (const auto& c : doc["cases"]) {
    const std::string name = c["name"];
    const bool every_step = c["compare"] == "trajectory";
    FlatProblem problem = fixture_problem(doc, c);
    LBFGS opt(problem.params);
    for (const auto& [key, value] : c["hypers"].items()) opt.set(key, testing::hyper_from_json(value));
    int step = 0;
    const auto last = static_cast<int>(c["steps"].size());
    for (const auto& expected : c["steps"]) {
      ++step;
      const double loss = opt.step(problem.closure());
      EXPECT_EQ(opt.evaluations(), expected["func_evals"].get<int64_t>()) << name << " step " << step;
      EXPECT_EQ(opt.iterations(), expected["n_iter"].get<int64_t>()) << name << " step " << step;
      EXPECT_EQ(problem.calls, opt.evaluations()) << name;
      if (!every_step && step != last) continue;
      const double want_loss = expected["loss"];
      EXPECT_NEAR(loss, want_loss, 1e-10 * std::max(1.0, std::abs(want_loss))) << name << " step " << step;
      const std::vector<double> want = expected["params"], got = problem.flat();
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_NEAR(got[i], want[i], 1e-10 * std::max(1.0, std::abs(want[i])))
            << name << " step " << step << " element " << i;
      }
    }
  }
}

TEST(LBFGSTest, ReportsWhyAStepStopped) {
  const Problem rosen = make_problem("rosenbrock", 2);
  FlatProblem problem(rosen.x0, rosen.evaluate);
  const Closure closure = problem.closure();
  LBFGS opt(problem.params, {.max_iter = 5, .line_search_fn = "strong_wolfe"});  // max_eval = 5·5/4 = 6
  opt.step(closure);
  EXPECT_EQ(opt.last_step().reason, "max_eval");
  EXPECT_FALSE(opt.last_step().converged);
  EXPECT_EQ(opt.last_step().evaluations, opt.evaluations());
  EXPECT_GE(opt.last_step().evaluations, 6);
  opt.set("max_eval", HyperValue(int64_t{1000}));
  opt.step(closure);
  EXPECT_EQ(opt.last_step().reason, "max_iter");
  EXPECT_EQ(opt.last_step().iterations, 5);
  opt.set("max_iter", HyperValue(int64_t{1000}));
  opt.set("tolerance_change", 1e-12);
  const int64_t before = opt.evaluations();
  opt.step(closure);
  EXPECT_TRUE(opt.last_step().converged) << opt.last_step().reason;
  ASSERT_TRUE(opt.last_step().loss.has_value());
  EXPECT_LT(*opt.last_step().loss, 1e-10);
  EXPECT_EQ(opt.last_step().evaluations, opt.evaluations() - before);
  EXPECT_EQ(opt.iterations(), opt.last_step().iterations + 5 + 4);

  // At the minimum the first evaluation already meets tolerance_grad: no iteration.
  NoGradGuard no_grad;
  problem.params[0].copy_(Tensor::from({1.0, 1.0}, {2}, kFloat64));
  opt.step(closure);
  EXPECT_EQ(opt.last_step().reason, "gradient_tolerance");
  EXPECT_EQ(opt.last_step().iterations, 0);
  EXPECT_EQ(opt.last_step().evaluations, 1);
}

// A run of `steps` steps, optionally interrupted after `stop` by a state-dict round trip into a fresh optimizer
// built with other options; returns the final parameters.
std::vector<double> run_interrupted(int steps, int stop, const LBFGSOptions& options, StateDict* saved = nullptr) {
  FlatProblem problem(make_problem("rosenbrock", 10).x0, make_problem("rosenbrock", 10).evaluate);
  auto opt = std::make_unique<LBFGS>(problem.params, options);
  for (int s = 0; s < steps; ++s) {
    if (s == stop) {
      const StateDict dict = opt->state_dict();
      if (saved) *saved = dict;
      opt = std::make_unique<LBFGS>(problem.params, LBFGSOptions{.lr = 0.5, .history_size = 50});
      opt->load_state_dict(dict);
    }
    opt->step(problem.closure());
  }
  return problem.flat();
}

TEST(LBFGSTest, StateDictRoundTripContinuesBitIdentically) {
  for (const std::string ls : {"strong_wolfe", "none"}) {
    const LBFGSOptions options{.lr = ls == "none" ? 0.05 : 1.0, .max_iter = 4, .history_size = 3, .line_search_fn = ls};
    StateDict saved;
    const std::vector<double> straight = run_interrupted(8, -1, options);
    EXPECT_EQ(run_interrupted(8, 4, options, &saved), straight) << ls;
    EXPECT_EQ(saved.optimizer, "LBFGS");
    const ParamState& state = saved.state.at("0");
    EXPECT_GE(state.step, 12);  // four steps of up to four iterations each
    EXPECT_EQ(saved.scalars[0].at("n_iter"), static_cast<double>(state.step));
    EXPECT_EQ(state.buffers.at("old_dirs").shape(), (Shape{3, 10})) << ls;  // history_size pairs
    EXPECT_EQ(state.buffers.at("ro").shape(), (Shape{3}));
    EXPECT_EQ(std::get<std::string>(saved.groups[0].at("line_search_fn")), ls);
  }
  // After one iteration the history is still empty ([0, n] buffers) and the round trip still continues exactly.
  const LBFGSOptions one{.max_iter = 1, .max_eval = 10, .line_search_fn = "strong_wolfe"};
  StateDict saved;
  EXPECT_EQ(run_interrupted(5, 1, one, &saved), run_interrupted(5, -1, one));
  EXPECT_EQ(saved.state.at("0").buffers.at("old_stps").shape(), (Shape{0, 10}));
}

TEST(LBFGSTest, StateDictsForOtherParametersAreRefused) {
  Tensor a = Tensor::zeros({3}, kFloat64), b = Tensor::zeros({4}, kFloat64);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  LBFGS small({a}), large({b});
  const Closure quad_a = [&] {
    a.set_grad(Tensor::from({1.0, 2.0, 3.0}, {3}, kFloat64));
    return 1.0;
  };
  small.step(quad_a);
  StateDict dict = small.state_dict();
  EXPECT_ERROR_MENTIONS(large.load_state_dict(dict), "'d' and 'prev_flat_grad' must have shape [4]");
  dict.optimizer = "Adam";
  EXPECT_ERROR_MENTIONS(small.load_state_dict(dict), "LBFGS: load_state_dict got a state dict of Adam");
  dict = small.state_dict();
  dict.groups[0]["history_size"] = int64_t{0};
  EXPECT_ERROR_MENTIONS(small.load_state_dict(dict), "history_size = 0 must be >= 1");
  EXPECT_EQ(std::get<int64_t>(small.get("history_size")), 100);  // refused: nothing changed
}

TEST(LBFGSTest, BadOptionsAreRefusedNamingThem) {
  Tensor w = Tensor::zeros({2}, kFloat64);
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(LBFGS({w}, {.history_size = 0}), "LBFGS: history_size = 0 must be >= 1");
  EXPECT_ERROR_MENTIONS(LBFGS({w}, {.max_iter = 0}), "LBFGS: max_iter = 0 must be >= 1");
  EXPECT_ERROR_MENTIONS(LBFGS({w}, {.lr = -1.0}), "LBFGS: lr = -1 must be a finite number >= 0");
  EXPECT_ERROR_MENTIONS(LBFGS({w}, {.tolerance_grad = -1e-3}), "LBFGS: tolerance_grad = -0.001");
  LBFGS opt({w});
  EXPECT_ERROR_MENTIONS(opt.set("line_search_fn", "wolfe"),
                        "LBFGS: line_search_fn = 'wolfe' is not one of none, strong_wolfe, backtracking");
  EXPECT_ERROR_MENTIONS(opt.set("line_search_fn", 1.0), "hyperparameter 'line_search_fn': got 1, expected a name");
  EXPECT_ERROR_MENTIONS(opt.step(), "LBFGS: step() needs a closure");
  EXPECT_EQ(std::get<std::string>(opt.get("line_search_fn")), "none");
  EXPECT_EQ(opt.lr(), 1.0);
  EXPECT_EQ(std::get<int64_t>(opt.get("max_iter")), 20);
  EXPECT_EQ(std::get<double>(opt.get("tolerance_grad")), 1e-7);
  EXPECT_EQ(std::get<double>(opt.get("tolerance_change")), 1e-9);
}

TEST(LBFGSTest, Float32ParametersConvergeWithBacktracking) {
  const Problem quad = make_problem("quadratic", 6, {.condition_number = 50});
  FlatProblem problem(quad.x0, quad.evaluate, 1.0, {}, kFloat32);
  LBFGS opt(problem.params,
            {.max_iter = 100, .max_eval = 200, .tolerance_grad = 1e-5, .line_search_fn = "backtracking"});
  opt.step(problem.closure());
  EXPECT_TRUE(opt.last_step().converged) << opt.last_step().reason;
  EXPECT_LT(*opt.last_step().loss, 1e-9);
  EXPECT_EQ(problem.params[0].dtype(), kFloat32);
}

}  // namespace
}  // namespace descent::optim
