#include <gtest/gtest.h>

#include "descent/optim/schedule_free_adamw.hpp"
#include "extra_roundtrip.hpp"
#include "golden.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(ScheduleFreeAdamWTest, MatchesSchedulefreeWithWarmupPolynomialWeightsDecayAndMaximize) {
  testing::expect_matches_fixture("schedulefreeadamw.json", testing::make<ScheduleFreeAdamW>());
}

TEST(ScheduleFreeAdamWTest, EvalAndTrainSwapLikeThePackage) {
  testing::expect_eval_train_swap_matches("schedulefreeadamw.json", testing::make<ScheduleFreeAdamW>());
}

TEST(ScheduleFreeAdamWTest, StepInEvalModeIsRefused) {
  Tensor w = Tensor::ones({2}, kFloat64);
  w.set_requires_grad(true);
  ScheduleFreeAdamW opt({w});
  EXPECT_TRUE(opt.train_mode());
  w.set_grad(Tensor::ones({2}, kFloat64));
  opt.step();
  opt.eval();
  EXPECT_FALSE(opt.train_mode());
  EXPECT_ERROR_MENTIONS(opt.step(), "ScheduleFreeAdamW: step() in eval mode; call train() first");
  opt.train();
  opt.step();
  EXPECT_EQ(opt.state_step(w), 2);
}

TEST(ScheduleFreeAdamWTest, DefaultsAreThePackages) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  ScheduleFreeAdamW opt({w});
  EXPECT_EQ(opt.lr(), 0.0025);
  EXPECT_EQ(std::get<int64_t>(opt.get("warmup_steps")), 0);
  EXPECT_EQ(std::get<double>(opt.get("weight_lr_power")), 2.0);
  EXPECT_EQ(std::get<double>(opt.get("r")), 0.0);
}

TEST(ScheduleFreeAdamWTest, InvalidHyperparametersNameTheRange) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(ScheduleFreeAdamW({w}, {.betas = {0.0, 0.999}}), "ScheduleFreeAdamW: betas[0] = 0 leaves");
  EXPECT_ERROR_MENTIONS(ScheduleFreeAdamW({w}, {.warmup_steps = -5}), "ScheduleFreeAdamW: warmup_steps = -5");
  ScheduleFreeAdamW opt({w});
  EXPECT_ERROR_MENTIONS(opt.set("warmup_steps", 2.5), "expected an integer");
}

TEST(ScheduleFreeAdamWTest, StateAndScalarsRoundTripInTrainAndEvalMode) {
  for (testing::SaveIn mode : {testing::SaveIn::TrainMode, testing::SaveIn::EvalMode}) {
    const StateDict saved = testing::expect_extra_round_trip<ScheduleFreeAdamW>(
        ScheduleFreeAdamWOptions{.lr = 0.05, .weight_decay = 0.01, .warmup_steps = 4},
        ScheduleFreeAdamWOptions{.lr = 0.02, .betas = {0.8, 0.99}, .r = 1.0, .maximize = true}, {}, mode);
    EXPECT_EQ(testing::state_shapes(saved, "0"), (std::map<std::string, Shape>{{"exp_avg_sq", {2, 3}}, {"z", {2, 3}}}));
    ASSERT_EQ(saved.scalars.size(), 2u);
    EXPECT_EQ(saved.scalars[1].at("k"), 10.0);
    EXPECT_EQ(saved.scalars[1].at("lr_max"), 0.02);
    EXPECT_EQ(saved.scalars[0].at("train_mode"), mode == testing::SaveIn::TrainMode ? 1.0 : 0.0);
  }
}

}  // namespace
}  // namespace descent::optim
