#include <gtest/gtest.h>

#include <cmath>

#include "descent/optim/lamb.hpp"
#include "extra_roundtrip.hpp"
#include "golden.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(LAMBTest, MatchesPytorchOptimizerWithDecaysAveragingAdamAndMaximize) {
  testing::expect_matches_fixture("lamb.json", testing::make<LAMB>());
}

TEST(LAMBTest, TrustRatioScalesEachTensorAndCapsTheWeightNorm) {
  // First step from m = v = 0, eps = 0: u = sign(g)·(1 − β1)/√(1 − β2), and lr/(1 − β1ᵗ) = 1 for lr = 0.1, so
  // p ← p − r·u with r = min(‖p‖, 10)/‖u‖: every coordinate moves by min(‖p‖, 10)/√2.
  const auto first_step = [](std::initializer_list<double> init, std::initializer_list<double> grad) {
    Tensor w = Tensor::from(init, {static_cast<int64_t>(init.size())}, kFloat64);
    w.set_requires_grad(true);
    LAMB opt({w}, {.lr = 0.1, .eps = 0.0});
    w.set_grad(Tensor::from(grad, {static_cast<int64_t>(grad.size())}, kFloat64));
    opt.step();
    return w.to_vector();
  };
  std::vector<double> moved = first_step({3.0, 4.0}, {1.0, -2.0});
  EXPECT_NEAR(moved[0], 3.0 - 5.0 / std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(moved[1], 4.0 + 5.0 / std::sqrt(2.0), 1e-12);
  moved = first_step({30.0, 40.0}, {1.0, 1.0});  // ‖p‖ = 50, capped at 10
  EXPECT_NEAR(moved[0], 30.0 - 10.0 / std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(moved[1], 40.0 - 10.0 / std::sqrt(2.0), 1e-12);
}

TEST(LAMBTest, ZeroWeightsTakeTheUnscaledStep) {
  Tensor w = Tensor::zeros({2}, kFloat64);
  w.set_requires_grad(true);
  LAMB opt({w}, {.lr = 0.1, .eps = 0.0});
  w.set_grad(Tensor::from({1.0, -1.0}, {2}, kFloat64));
  opt.step();
  const double u = 0.1 / std::sqrt(0.001);
  EXPECT_NEAR(w.at({0}), -u, 1e-12);  // trust ratio 1: −lr/(1 − β1)·u = −u
  EXPECT_NEAR(w.at({1}), u, 1e-12);
}

TEST(LAMBTest, InvalidHyperparametersNameTheRange) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(LAMB({w}, {.betas = {-0.5, 0.999}}), "LAMB: betas[0] = -0.5 is outside [0, 1)");
  EXPECT_ERROR_MENTIONS(LAMB({w}, {.eps = -1.0}), "LAMB: eps = -1");
  LAMB opt({w});
  EXPECT_ERROR_MENTIONS(opt.set("weight_decay", -1.0), "LAMB: weight_decay = -1");
}

TEST(LAMBTest, StateUsesAdamNamesAndRoundTrips) {
  const StateDict saved = testing::expect_extra_round_trip<LAMB>(
      LAMBOptions{.lr = 0.05, .weight_decay = 0.1},
      LAMBOptions{
          .lr = 0.02, .weight_decay = 0.05, .weight_decouple = false, .grad_averaging = false, .maximize = true});
  EXPECT_EQ(testing::state_shapes(saved, "0"),
            (std::map<std::string, Shape>{{"exp_avg", {2, 3}}, {"exp_avg_sq", {2, 3}}}));
}

TEST(LAMBTest, ArenaParametersStepTensorByTensor) {
  // Per-tensor trust ratios: the same result whether the parameters sit side by side in an arena or not.
  nn::ParamArena arena;
  std::vector<Tensor> fused{arena.add("a", {5}, kFloat64), arena.add("b", {3}, kFloat64)};
  std::vector<Tensor> loose{Tensor::zeros({5}, kFloat64), Tensor::zeros({3}, kFloat64)};
  for (auto* list : {&fused, &loose}) {
    NoGradGuard no_grad;
    (*list)[0].copy_(Tensor::from({1.0, 2.0, 3.0, 4.0, 5.0}, {5}, kFloat64));
    (*list)[1].copy_(Tensor::from({-0.5, 0.25, 8.0}, {3}, kFloat64));
    for (Tensor& t : *list) t.set_requires_grad(true);
  }
  LAMB a(fused, {.lr = 0.1});
  LAMB b(loose, {.lr = 0.1});
  for (int s = 0; s < 3; ++s) {
    testing::roundtrip_grads(fused, s);
    a.step();
    testing::roundtrip_grads(loose, s);
    b.step();
  }
  EXPECT_EQ(testing::roundtrip_bytes(fused), testing::roundtrip_bytes(loose));
}

TEST(LAMBTest, StepsDoNotDependOnTheThreadCount) {
  testing::expect_same_bits_with_any_thread_count<LAMB>(LAMBOptions{.lr = 0.01, .weight_decay = 0.1});
}

}  // namespace
}  // namespace descent::optim
