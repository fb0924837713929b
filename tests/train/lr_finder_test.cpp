// The learning-rate range test: on least squares with standardised features, where plain gradient descent is
// stable below lr = 1 (the loss's Hessian is about 2·I) and diverges above it, the sweep must stop near there and
// suggest a rate inside the stable range; the model, optimizer and random generator must be left as they were;
// the suggestion rule on constructed curves; train_on_batch; and the errors.
#include "descent/train/lr_finder.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "descent/nn/linear.hpp"
#include "descent/optim/adam.hpp"
#include "descent/train/sequential.hpp"
#include "support/testing.hpp"

namespace descent::train {
namespace {

using nn::Dense;

// y = x · (1, -2, 0.5, 3) + 0.7 + noise, x standard normal, n rows.
std::pair<Tensor, Tensor> regression(int64_t n, uint64_t seed = 3) {
  Generator gen(seed);
  const double w[4] = {1.0, -2.0, 0.5, 3.0};
  std::vector<double> x(static_cast<size_t>(4 * n)), y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    double t = 0.7 + 0.1 * gen.normal();
    for (int j = 0; j < 4; ++j) {
      x[4 * i + j] = gen.normal();
      t += w[j] * x[4 * i + j];
    }
    y[i] = t;
  }
  return {Tensor::from(std::span<const double>(x), {n, 4}, kFloat64),
          Tensor::from(std::span<const double>(y), {n, 1}, kFloat64)};
}

std::unique_ptr<Sequential> linear_model(const OptimizerSpec& optimizer = "sgd") {
  auto model = std::make_unique<Sequential>();
  model->add(Dense(1, nn::DenseOptions{.dtype = kFloat64}, /*input_dim=*/4));
  model->compile(optimizer, "mse");
  return model;
}

TEST(LrFinderTest, StopsWhereGradientDescentDivergesAndSuggestsAStableRate) {
  const auto [x, y] = regression(2048);
  auto model = linear_model();
  const LrFinderResult r = find_lr(*model, x, y, {.start_lr = 1e-5, .end_lr = 100.0, .steps = 200, .batch_size = 256,
                                                  .seed = 1});
  ASSERT_TRUE(r.diverged);
  EXPECT_GT(r.lrs.back(), 0.5);  // not before the stability limit (≈ 1)…
  EXPECT_LT(r.lrs.back(), 5.0);  // …and soon after it
  EXPECT_EQ(r.lrs.size(), r.losses.size());
  EXPECT_EQ(r.lrs.size(), r.raw_losses.size());
  for (size_t i = 1; i < r.lrs.size(); ++i) EXPECT_NEAR(r.lrs[i] / r.lrs[i - 1], std::pow(1e7, 1.0 / 199), 1e-9);
  EXPECT_GT(r.suggested_lr, 1e-3);
  EXPECT_LT(r.suggested_lr, 1.0);
  EXPECT_GT(r.min_loss_lr, 1e-2);
  EXPECT_LT(r.min_loss_lr, 2.0);
  EXPECT_DOUBLE_EQ(r.min_loss_lr_div10, r.min_loss_lr / 10.0);
  // The loss did fall, to the noise level (0.01) from about 15, before the blow-up.
  EXPECT_LT(*std::min_element(r.raw_losses.begin(), r.raw_losses.end()), 0.05);
  EXPECT_GT(r.raw_losses.front(), 5.0);
}

TEST(LrFinderTest, RunsToTheEndWhenNothingDiverges) {
  const auto [x, y] = regression(256);
  auto model = linear_model();
  const LrFinderResult r = find_lr(*model, x, y, {.start_lr = 1e-6, .end_lr = 1e-2, .steps = 50, .batch_size = 64});
  EXPECT_FALSE(r.diverged);
  ASSERT_EQ(r.lrs.size(), 50u);
  EXPECT_NEAR(r.lrs.front(), 1e-6, 1e-18);
  EXPECT_NEAR(r.lrs.back(), 1e-2, 1e-12);
}

TEST(LrFinderTest, LeavesWeightsOptimizerStateAndGeneratorAsTheyWere) {
  const auto [x, y] = regression(512);
  auto model = linear_model(OptimizerSpec("adam"));
  model->fit(x, y, {.epochs = 1, .batch_size = 64, .verbose = 0, .seed = 2});  // some Adam state to keep
  const std::vector<Tensor> weights = model->get_weights();
  const optim::StateDict state = model->optimizer().state_dict();
  const Generator::State rng = default_generator().state();

  find_lr(*model, x, y, {.steps = 100, .batch_size = 64, .seed = 5});

  const std::vector<Tensor> after = model->get_weights();
  ASSERT_EQ(after.size(), weights.size());
  for (size_t i = 0; i < after.size(); ++i) EXPECT_EQ(after[i].to_vector(), weights[i].to_vector()) << i;
  const optim::StateDict state_after = model->optimizer().state_dict();
  EXPECT_DOUBLE_EQ(model->optimizer().lr(), 0.001);
  ASSERT_EQ(state_after.state.size(), state.state.size());
  for (const auto& [key, s] : state.state) {
    EXPECT_EQ(state_after.state.at(key).step, s.step) << key;
    for (const auto& [buffer, t] : s.buffers)
      EXPECT_EQ(state_after.state.at(key).buffers.at(buffer).to_vector(), t.to_vector()) << key << " " << buffer;
  }
  EXPECT_EQ(default_generator().state(), rng);
  EXPECT_TRUE(model->is_training());
}

TEST(LrFinderTest, ContinuingTrainingAfterTheTestMatchesNeverHavingRunIt) {
  const auto [x, y] = regression(512);
  manual_seed(11);
  auto probed = linear_model();
  manual_seed(11);
  auto plain = linear_model();
  find_lr(*probed, x, y, {.steps = 60, .batch_size = 32, .seed = 4});
  probed->fit(x, y, {.epochs = 2, .batch_size = 32, .verbose = 0, .seed = 9});
  plain->fit(x, y, {.epochs = 2, .batch_size = 32, .verbose = 0, .seed = 9});
  EXPECT_EQ(probed->get_weights()[0].to_vector(), plain->get_weights()[0].to_vector());
  EXPECT_EQ(probed->get_weights()[1].to_vector(), plain->get_weights()[1].to_vector());
}

TEST(LrFinderTest, SteepestDescentOfAConstructedCurve) {
  // loss = -tanh(2·(log10(lr) + 3)): falls fastest at lr = 1e-3.
  std::vector<double> lrs, losses;
  for (int i = 0; i <= 120; ++i) {
    const double e = -6.0 + 0.05 * i;
    lrs.push_back(std::pow(10.0, e));
    losses.push_back(-std::tanh(2.0 * (e + 3.0)));
  }
  EXPECT_NEAR(std::log10(steepest_descent_lr(lrs, losses, 10, 5)), -3.0, 1e-9);
  // The skipped ends are really skipped: a steeper drop inside the first points is ignored.
  for (int i = 0; i < 5; ++i) losses[i] = 100.0;
  EXPECT_NEAR(std::log10(steepest_descent_lr(lrs, losses, 10, 5)), -3.0, 1e-9);
  EXPECT_LT(std::log10(steepest_descent_lr(lrs, losses, 0, 0)), -5.5);
  // Noise of single points does not pass for a slope: alternate ±0.05 around the curve.
  for (int i = 0; i <= 120; ++i) losses[i] = -std::tanh(2.0 * (-6.0 + 0.05 * i + 3.0)) + (i % 2 ? 0.05 : -0.05);
  EXPECT_NEAR(std::log10(steepest_descent_lr(lrs, losses, 10, 5)), -3.0, 0.1);
  // A short curve keeps all its points rather than none.
  EXPECT_DOUBLE_EQ(steepest_descent_lr({1e-3, 1e-2, 1e-1}, {1.0, 0.2, 0.1}, 10, 5), 1e-3);
  EXPECT_ERROR_MENTIONS(steepest_descent_lr({1e-3, 1e-2}, {1.0, 0.5}, 0, 0), "at least 3 points");
  EXPECT_ERROR_MENTIONS(steepest_descent_lr({1e-3, 0.0, 1e-1}, {1.0, 0.5, 0.2}, 0, 0), "not a positive number");
}

TEST(LrFinderTest, RefusesBadOptionsAndUncompiledModels) {
  const auto [x, y] = regression(64);
  auto model = linear_model();
  EXPECT_ERROR_MENTIONS(find_lr(*model, x, y, {.start_lr = 0.0}), "start_lr = 0");
  EXPECT_ERROR_MENTIONS(find_lr(*model, x, y, {.start_lr = 1e-3, .end_lr = 1e-4}), "end_lr");
  EXPECT_ERROR_MENTIONS(find_lr(*model, x, y, {.steps = 2}), "steps = 2");
  EXPECT_ERROR_MENTIONS(find_lr(*model, x, y, {.batch_size = 0}), "batch_size = 0");
  EXPECT_ERROR_MENTIONS(find_lr(*model, x, y, {.smoothing = 1.0}), "smoothing = 1");
  EXPECT_ERROR_MENTIONS(find_lr(*model, x, y, {.diverge_factor = 1.0}), "diverge_factor");
  EXPECT_ERROR_MENTIONS(find_lr(*model, x, y.slice(0, 0, 10), {}), "same number of rows");
  Sequential uncompiled({Dense(1, "linear", 4)});
  EXPECT_ERROR_MENTIONS(find_lr(uncompiled, x, y, {}), "not compiled");
  Sequential by_line_search({Dense(1, "linear", 4)});
  by_line_search.compile("lbfgs", "mse");
  EXPECT_ERROR_MENTIONS(find_lr(by_line_search, x, y, {}), "find_lr: LBFGS chooses its own step length");
}

TEST(LrFinderTest, DivergingFromTheStartIsAnErrorAndRestoresTheModel) {
  const auto [x, y] = regression(256);
  auto model = linear_model();
  const std::vector<double> before = model->get_weights()[0].to_vector();
  EXPECT_ERROR_MENTIONS(find_lr(*model, x, y, {.start_lr = 1e3, .end_lr = 1e6, .steps = 20, .batch_size = 64}),
                        "start lower");
  EXPECT_EQ(model->get_weights()[0].to_vector(), before);
}

TEST(LrFinderTest, ChartMarksBothSuggestions) {
  LrFinderResult r;
  for (int i = 0; i < 20; ++i) {
    r.lrs.push_back(std::pow(10.0, -5 + 0.25 * i));
    r.losses.push_back(2.0 - 0.05 * i);
    r.raw_losses.push_back(2.1 - 0.05 * i);
  }
  r.suggested_lr = 1e-3;
  r.min_loss_lr = 0.5;
  r.min_loss_lr_div10 = 0.05;
  const std::string svg = lr_finder_svg(r);
  EXPECT_NE(svg.find("steepest: 0.001"), std::string::npos);
  EXPECT_NE(svg.find("min/10: 0.05"), std::string::npos);
  EXPECT_NE(svg.find("smoothed loss"), std::string::npos);
  EXPECT_NE(svg.find("learning rate (log scale)"), std::string::npos);
}

TEST(SequentialTrainOnBatchTest, OneStepEqualsOneBatchOfFit) {
  const auto [x, y] = regression(32);
  manual_seed(5);
  auto stepped = linear_model();
  manual_seed(5);
  auto fitted = linear_model();
  const double loss = stepped->train_on_batch(x, y);
  const History h = fitted->fit(x, y, {.epochs = 1, .batch_size = 32, .shuffle = false, .verbose = 0});
  EXPECT_DOUBLE_EQ(loss, h.history().at("loss").at(0));
  EXPECT_EQ(stepped->get_weights()[0].to_vector(), fitted->get_weights()[0].to_vector());
  EXPECT_ERROR_MENTIONS(stepped->train_on_batch(x, y.slice(0, 0, 3)), "different numbers of rows");
}

}  // namespace
}  // namespace descent::train
