#include <gtest/gtest.h>

#include "descent/optim/schedule_free_sgd.hpp"
#include "extra_roundtrip.hpp"
#include "golden.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(ScheduleFreeSGDTest, MatchesSchedulefreeWithWarmupDecayWeightsAndMaximize) {
  testing::expect_matches_fixture("schedulefreesgd.json", testing::make<ScheduleFreeSGD>());
}

TEST(ScheduleFreeSGDTest, EvalAndTrainSwapLikeThePackage) {
  testing::expect_eval_train_swap_matches("schedulefreesgd.json", testing::make<ScheduleFreeSGD>());
}

TEST(ScheduleFreeSGDTest, FirstStepIsPlainSgdThenTheAverageLagsBehindZ) {
  // Step 1: c_1 = 1, so y ← lerp(y, z, 1) − lr·g = z − lr·g, and z ← z − lr·g: y = z = x.
  Tensor w = Tensor::from({1.0, -2.0}, {2}, kFloat64);
  w.set_requires_grad(true);
  ScheduleFreeSGD opt({w}, {.lr = 0.5});
  w.set_grad(Tensor::from({0.5, 1.0}, {2}, kFloat64));
  opt.step();
  EXPECT_EQ(opt.state(w, "z").to_vector(), (std::vector<double>{0.75, -2.5}));
  EXPECT_EQ(w.to_vector(), (std::vector<double>{0.75, -2.5}));
  // Step 2: c_2 = 1/2, so x₂ = (x₁ + z₂)/2 with z₂ = z₁ − lr·g, and y₂ = 0.9·x₂ + 0.1·z₂.
  w.set_grad(Tensor::from({1.0, 0.0}, {2}, kFloat64));
  opt.step();
  EXPECT_NEAR(w.at({0}), 0.9 * 0.5 + 0.1 * 0.25, 1e-15);
  opt.eval();
  EXPECT_NEAR(w.at({0}), (0.75 + 0.25) / 2.0, 1e-15);
  EXPECT_NEAR(w.at({1}), -2.5, 1e-15);
  opt.train();
  EXPECT_NEAR(w.at({0}), 0.9 * 0.5 + 0.1 * 0.25, 1e-15);
}

TEST(ScheduleFreeSGDTest, InvalidHyperparametersNameTheRange) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(ScheduleFreeSGD({w}, {.momentum = 1.0}),
                        "ScheduleFreeSGD: momentum = 1 must be between 0 and 1 exclusive");
  EXPECT_ERROR_MENTIONS(ScheduleFreeSGD({w}, {.lr = -1.0}), "ScheduleFreeSGD: lr = -1");
}

TEST(ScheduleFreeSGDTest, StateAndScalarsRoundTripInTrainAndEvalMode) {
  for (testing::SaveIn mode : {testing::SaveIn::TrainMode, testing::SaveIn::EvalMode}) {
    const StateDict saved = testing::expect_extra_round_trip<ScheduleFreeSGD>(
        ScheduleFreeSGDOptions{.lr = 0.05, .weight_decay = 0.01, .warmup_steps = 4},
        ScheduleFreeSGDOptions{.lr = 0.02, .momentum = 0.8, .r = 1.0, .maximize = true}, {}, mode);
    EXPECT_EQ(testing::state_shapes(saved, "1"), (std::map<std::string, Shape>{{"z", {4}}}));
    EXPECT_EQ(saved.scalars[0].at("k"), 10.0);
  }
}

}  // namespace
}  // namespace descent::optim
