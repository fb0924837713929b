#include <gtest/gtest.h>

#include <cmath>

#include "descent/optim/adafactor.hpp"
#include "extra_roundtrip.hpp"
#include "golden.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(AdafactorTest, MatchesTransformersWithRelativeStepWarmupBeta1ManualLrAndMaximize) {
  testing::expect_matches_fixture("adafactor.json", testing::make<Adafactor>());
}

TEST(AdafactorTest, MatricesKeepRowAndColumnMomentsVectorsAFullOne) {
  const StateDict saved = testing::expect_extra_round_trip<Adafactor>(
      AdafactorOptions{.beta1 = 0.9, .weight_decay = 0.01},
      AdafactorOptions{.lr = 0.05, .clip_threshold = 0.5, .relative_step = false, .maximize = true});
  EXPECT_EQ(testing::state_shapes(saved, "0"),
            (std::map<std::string, Shape>{{"exp_avg", {2, 3}}, {"exp_avg_sq_row", {2}}, {"exp_avg_sq_col", {3}}}));
  EXPECT_EQ(testing::state_shapes(saved, "1"), (std::map<std::string, Shape>{{"exp_avg_sq", {4}}}));
}

TEST(AdafactorTest, HigherDimensionalParametersFactorTheLastTwoAxes) {
  Tensor w = testing::sample({2, 3, 4}, kFloat64, 3);
  w.set_requires_grad(true);
  Adafactor opt({w});
  w.set_grad(testing::sample({2, 3, 4}, kFloat64, 4));
  opt.step();
  EXPECT_EQ(opt.state(w, "exp_avg_sq_row").shape(), (Shape{2, 3}));
  EXPECT_EQ(opt.state(w, "exp_avg_sq_col").shape(), (Shape{2, 4}));
  // On the first step (β2_1 = 0) the row moment is the row mean of g² + eps[0].
  const std::vector<double> g = w.grad().to_vector();
  double first_row = 0.0;
  for (int c = 0; c < 4; ++c) first_row += g[static_cast<size_t>(c)] * g[static_cast<size_t>(c)] + 1e-30;
  EXPECT_NEAR(opt.state(w, "exp_avg_sq_row").at({0, 0}), first_row / 4.0, 1e-15);
}

TEST(AdafactorTest, FactoredStepMatchesTheOuterProductFormula) {
  // One step, relative step off, no parameter scaling or clipping: u = g / √(R·C/mean(R)) · lr.
  Tensor w = Tensor::zeros({2, 2}, kFloat64);
  w.set_requires_grad(true);
  Adafactor opt(
      {w}, {.lr = 0.1, .eps = {0.0, 1e-3}, .clip_threshold = 1e9, .scale_parameter = false, .relative_step = false});
  w.set_grad(Tensor::from({1.0, 2.0, 3.0, 4.0}, {2, 2}, kFloat64));
  opt.step();
  const double r[2] = {(1 + 4) / 2.0, (9 + 16) / 2.0}, c[2] = {(1 + 9) / 2.0, (4 + 16) / 2.0};
  const double mean_r = (r[0] + r[1]) / 2.0, g[2][2] = {{1, 2}, {3, 4}};
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      EXPECT_NEAR(w.at({i, j}), -0.1 * g[i][j] / std::sqrt(r[i] * c[j] / mean_r), 1e-14) << i << j;
}

TEST(AdafactorTest, InvalidHyperparametersNameTheRange) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(Adafactor({w}, {.decay_rate = 0.5}), "Adafactor: decay_rate = 0.5 must be < 0");
  EXPECT_ERROR_MENTIONS(Adafactor({w}, {.relative_step = false, .warmup_init = true}),
                        "warmup_init = true needs relative_step = true");
  EXPECT_ERROR_MENTIONS(Adafactor({w}, {.beta1 = 1.0}), "Adafactor: beta1 = 1 is outside [0, 1)");
  Adafactor opt({w});
  EXPECT_ERROR_MENTIONS(opt.set("clip_threshold", 0.0), "Adafactor: clip_threshold = 0 must be a finite number > 0");
}

TEST(AdafactorTest, StepsDoNotDependOnTheThreadCount) {
  testing::expect_same_bits_with_any_thread_count<Adafactor>(AdafactorOptions{.beta1 = 0.9});
}

}  // namespace
}  // namespace descent::optim
