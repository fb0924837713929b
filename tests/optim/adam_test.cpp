#include <gtest/gtest.h>

#include "golden.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(AdamTest, MatchesTorchWithAmsgradWeightDecayMaximizeAndDecoupled) {
  testing::expect_matches_fixture("adam.json", testing::make<Adam>());
}

TEST(AdamWTest, MatchesTorchAdamW) { testing::expect_matches_fixture("adamw.json", testing::make<AdamW>()); }

TEST(AdamWTest, DefaultsAreTorchs) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  AdamW opt({w});
  EXPECT_EQ(std::get<double>(opt.get("weight_decay")), 1e-2);
  EXPECT_EQ(std::get<bool>(opt.get("decoupled_weight_decay")), true);
  EXPECT_EQ(opt.lr(), 1e-3);
}

TEST(AdamTest, BetasOutsideUnitIntervalAreRefused) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(Adam({w}, {.betas = {0.9, 1.2}}), "Adam: betas[1] = 1.2 is outside [0, 1)");
  Adam opt({w});
  EXPECT_ERROR_MENTIONS(opt.set("betas", std::vector<double>{0.9}), "expected 2 comma-separated numbers");
  EXPECT_EQ(std::get<std::vector<double>>(opt.get("betas")), (std::vector<double>{0.9, 0.999}));
}

TEST(AdamTest, StateBuffersUseTorchNames) {
  Tensor w = Tensor::ones({3}, kFloat64);
  w.set_requires_grad(true);
  Adam opt({w}, {.amsgrad = true});
  w.set_grad(Tensor::ones({3}, kFloat64));
  opt.step();
  EXPECT_EQ(opt.state(w, "exp_avg").to_vector(), std::vector<double>(3, 1.0 - 0.9));
  EXPECT_TRUE(opt.state(w, "max_exp_avg_sq").defined());
  EXPECT_EQ(opt.state_step(w), 1);
}

}  // namespace
}  // namespace descent::optim
