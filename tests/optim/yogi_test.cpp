#include <gtest/gtest.h>

#include "descent/optim/yogi.hpp"
#include "extra_roundtrip.hpp"
#include "golden.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(YogiTest, MatchesPytorchOptimizerWithCoupledAndFixedDecayAndMaximize) {
  testing::expect_matches_fixture("yogi.json", testing::make<Yogi>());
}

TEST(YogiTest, MomentsStartAtTheInitialAccumulator) {
  Tensor w = Tensor::zeros({2}, kFloat64);
  w.set_requires_grad(true);
  Yogi opt({w}, {.initial_accumulator = 0.5});
  w.set_grad(Tensor::from({1.0, 0.0}, {2}, kFloat64));
  opt.step();
  // v − (1 − β2)·sign(v − g²)·g²: grows towards g² = 1 by 0.001, stays put where g = 0.
  EXPECT_NEAR(opt.state(w, "exp_avg_sq").at({0}), 0.5 + 0.001, 1e-15);
  EXPECT_EQ(opt.state(w, "exp_avg_sq").at({1}), 0.5);
  EXPECT_NEAR(opt.state(w, "exp_avg").at({1}), 0.45, 1e-15);
}

TEST(YogiTest, InvalidHyperparametersNameTheRange) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(Yogi({w}, {.betas = {1.0, 0.999}}), "Yogi: betas[0] = 1 is outside [0, 1)");
  EXPECT_ERROR_MENTIONS(Yogi({w}, {.initial_accumulator = -1.0}), "Yogi: initial_accumulator = -1");
  Yogi opt({w});
  EXPECT_ERROR_MENTIONS(opt.set("eps", -1e-3), "Yogi: eps = -0.001");
}

TEST(YogiTest, StateDictRoundTripContinuesBitIdentically) {
  const StateDict saved = testing::expect_extra_round_trip<Yogi>(
      YogiOptions{.lr = 0.05, .weight_decay = 0.1},
      YogiOptions{
          .lr = 0.02, .initial_accumulator = 0.01, .weight_decay = 0.05, .weight_decouple = false, .maximize = true});
  EXPECT_EQ(testing::state_shapes(saved, "1"), (std::map<std::string, Shape>{{"exp_avg", {4}}, {"exp_avg_sq", {4}}}));
}

}  // namespace
}  // namespace descent::optim
