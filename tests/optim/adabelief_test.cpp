#include <gtest/gtest.h>

#include "descent/optim/adabelief.hpp"
#include "extra_roundtrip.hpp"
#include "golden.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(AdaBeliefTest, MatchesAdabeliefPytorchRectifiedPlainAmsgradAndDecays) {
  testing::expect_matches_fixture("adabelief.json", testing::make<AdaBelief>());
}

TEST(AdaBeliefTest, DefaultsAreTheAuthorsPackages) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  AdaBelief opt({w});
  EXPECT_EQ(std::get<double>(opt.get("eps")), 1e-16);
  EXPECT_TRUE(std::get<bool>(opt.get("rectify")));
  EXPECT_TRUE(std::get<bool>(opt.get("weight_decouple")));
  EXPECT_TRUE(std::get<bool>(opt.get("degenerated_to_sgd")));
}

TEST(AdaBeliefTest, FirstRectifiedStepIsMomentumSgd) {
  // ρ_1 = 1 < 5: the rectified rule takes lr·m/(1 − β1) = lr·g, or nothing without degenerated_to_sgd.
  Tensor w = Tensor::from({1.0, -1.0}, {2}, kFloat64);
  w.set_requires_grad(true);
  AdaBelief opt({w}, {.lr = 0.5});
  w.set_grad(Tensor::from({0.25, 2.0}, {2}, kFloat64));
  opt.step();
  EXPECT_NEAR(w.at({0}), 1.0 - 0.5 * 0.25, 1e-15);
  EXPECT_NEAR(w.at({1}), -1.0 - 0.5 * 2.0, 1e-15);
  Tensor u = Tensor::ones({1}, kFloat64);
  u.set_requires_grad(true);
  AdaBelief still({u}, {.lr = 0.5, .degenerated_to_sgd = false});
  u.set_grad(Tensor::ones({1}, kFloat64));
  still.step();
  EXPECT_EQ(u.item(), 1.0);
}

TEST(AdaBeliefTest, InvalidHyperparametersNameTheRange) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(AdaBelief({w}, {.betas = {0.9, 1.0}}), "AdaBelief: betas[1] = 1 is outside [0, 1)");
  EXPECT_ERROR_MENTIONS(AdaBelief({w}, {.eps = -1.0}), "AdaBelief: eps = -1");
}

TEST(AdaBeliefTest, StateUsesTheReferenceNamesAndRoundTrips) {
  const StateDict saved = testing::expect_extra_round_trip<AdaBelief>(
      AdaBeliefOptions{.lr = 0.05, .weight_decay = 0.1, .amsgrad = true},
      AdaBeliefOptions{.lr = 0.02, .weight_decay = 0.05, .weight_decouple = false, .rectify = false, .maximize = true});
  EXPECT_EQ(testing::state_shapes(saved, "0"),
            (std::map<std::string, Shape>{{"exp_avg", {2, 3}}, {"exp_avg_var", {2, 3}}, {"max_exp_avg_var", {2, 3}}}));
  EXPECT_EQ(testing::state_shapes(saved, "1"), (std::map<std::string, Shape>{{"exp_avg", {4}}, {"exp_avg_var", {4}}}));
}

}  // namespace
}  // namespace descent::optim
