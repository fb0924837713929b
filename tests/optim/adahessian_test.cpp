#include <gtest/gtest.h>

#include <cmath>

#include "descent/optim/adahessian.hpp"
#include "descent/optim/registry.hpp"
#include "hessian_golden.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(AdaHessianTest, MatchesTheReferenceWithTheSameProbes) {
  testing::expect_hessian_rule_matches_fixture("adahessian.json", testing::make<AdaHessian>());
}

TEST(AdaHessianTest, ConvolutionKernelsAverageOverTheWindow) {
  // [kh, kw, C_in, filters] = [2, 2, 1, 2]: each filter's four window entries share the mean of their |Hz|.
  const std::vector<double> hz{1, -10, -2, 20, 3, -30, -4, 40};
  std::vector<double> out(8);
  adahessian_diagonal<double>(hz, {2, 2, 1, 2}, out);
  EXPECT_EQ(out, (std::vector<double>{2.5, 25, 2.5, 25, 2.5, 25, 2.5, 25}));
  adahessian_diagonal<double>(hz, {2, 4}, out);  // matrices are not averaged, as in the reference
  EXPECT_EQ(out, (std::vector<double>{1, 10, 2, 20, 3, 30, 4, 40}));
}

TEST(AdaHessianTest, NeedsTheGradientsGraphAndSaysHowToGetIt) {
  Tensor w = Tensor::from({1.0, 2.0}, {2}, kFloat64);
  w.set_requires_grad(true);
  AdaHessian opt({w});
  EXPECT_TRUE(opt.needs_create_graph());
  sum(w * w * w).backward();  // without create_graph
  EXPECT_ERROR_MENTIONS(opt.step(), "AdaHessian: the gradients carry no graph");
  EXPECT_ERROR_MENTIONS(opt.step(), "loss.backward({}, false, true)");
}

// On f = ½·Σ λᵢxᵢ² the Hessian is diagonal, so z ⊙ Hz = λ exactly: the step is lr·m̂/λ, Newton's step with
// momentum, and every coordinate converges alike although λ spans four decades (plain gradient descent with a
// stable step would need ~10⁴ times more steps for the flattest one).
TEST(AdaHessianTest, ConvergesOnAnIllConditionedQuadraticAtTheRateOfTheBestConditionedOne) {
  Tensor x = Tensor::ones({8}, kFloat64);
  x.set_requires_grad(true);
  const Tensor lambda = Tensor::from({1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 1e4}, {8}, kFloat64);
  AdaHessian opt({x});
  const auto f = [&] { return sum(0.5 * lambda * x * x); };
  double first = 0.0, last = 0.0;
  for (int s = 0; s < 250; ++s) {
    last = opt.step(f);
    if (s == 0) first = last;
  }
  EXPECT_LT(last, 1e-8 * first);
  for (double v : x.to_vector()) EXPECT_LT(std::abs(v), 1e-4);
}

TEST(AdaHessianTest, StateDictRoundTripContinuesBitIdentically) {
  const StateDict saved = testing::expect_extra_round_trip<AdaHessian>(
      AdaHessianOptions{.lr = 0.05, .weight_decay = 0.01},
      AdaHessianOptions{.lr = 0.02, .hessian_power = 0.5, .seed = 3, .maximize = true}, {}, testing::SaveIn::TrainMode,
      testing::LossStep{});
  EXPECT_EQ(saved.state.at("1").buffers.count("exp_hessian_diag_sq"), 1u);
  EXPECT_EQ(saved.state.at("1").buffers.count("exp_avg"), 1u);
}

TEST(AdaHessianTest, ByNameAndInvalidHyperparameters) {
  Tensor w = Tensor::zeros({2});
  w.set_requires_grad(true);
  auto opt = make_optimizer("AdaHessian", {{"w", w}});
  EXPECT_EQ(opt->lr(), 0.15);
  EXPECT_TRUE(opt->needs_create_graph());
  EXPECT_ERROR_MENTIONS(AdaHessian({w}, {.hessian_power = 1.5}), "AdaHessian: hessian_power = 1.5 is outside [0, 1]");
  EXPECT_ERROR_MENTIONS(AdaHessian({w}, {.betas = {1.0, 0.999}}), "AdaHessian: betas[0] = 1 is outside [0, 1)");
  EXPECT_ERROR_MENTIONS(opt->set("eps", -1.0), "AdaHessian: eps = -1 must be a finite number >= 0");
}

}  // namespace
}  // namespace descent::optim
