#include <gtest/gtest.h>

#include "descent/optim/radam.hpp"
#include "golden.hpp"
#include "roundtrip.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(RAdamTest, MatchesTorchAcrossTheRectificationSwitchWithDecayDecoupledAndMaximize) {
  testing::expect_matches_fixture("radam.json", testing::make<RAdam>());
}

TEST(RAdamTest, InvalidHyperparametersNameTheRange) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(RAdam({w}, {.betas = {0.9, 1.0}}), "RAdam: betas[1] = 1 is outside [0, 1)");
  EXPECT_ERROR_MENTIONS(RAdam({w}, {.eps = -1e-8}), "RAdam: eps = -1e-08 must be a finite number >= 0");
  RAdam opt({w});
  EXPECT_ERROR_MENTIONS(opt.set("betas", std::vector<double>{0.9, 0.99, 0.999}), "expected 2 comma-separated");
}

TEST(RAdamTest, EarlyStepsAreUnadaptedMomentumSgd) {
  // ρ_1 = 1 ≤ 5: the first step is p − lr·m/(1 − β1) = p − lr·g, whatever v is.
  Tensor w = Tensor::zeros({2}, kFloat64);
  w.set_requires_grad(true);
  RAdam opt({w}, {.lr = 0.5});
  w.set_grad(Tensor::from({4.0, -1e-6}, {2}, kFloat64));
  opt.step();
  EXPECT_NEAR(w.to_vector()[0], -2.0, 1e-14);
  EXPECT_NEAR(w.to_vector()[1], 0.5e-6, 1e-20);
  EXPECT_TRUE(opt.state(w, "exp_avg_sq").defined());
  EXPECT_EQ(opt.state_dict().state.at("0").buffers.size(), 2u);
}

TEST(RAdamTest, StateDictRoundTripContinuesBitIdentically) {
  testing::expect_round_trip_continues_bit_identically<RAdam>(
      RAdamOptions{.lr = 0.01, .weight_decay = 0.01},
      RAdamOptions{
          .lr = 0.02, .betas = {0.8, 0.9}, .weight_decay = 0.1, .decoupled_weight_decay = true, .maximize = true});
}

TEST(RAdamTest, ArenaRunMatchesSeparateTensorsBitwise) {
  testing::expect_arena_run_matches_separate_tensors<RAdam>(RAdamOptions{.lr = 0.01, .weight_decay = 0.1});
}

}  // namespace
}  // namespace descent::optim
