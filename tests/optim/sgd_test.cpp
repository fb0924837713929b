#include <gtest/gtest.h>

#include "golden.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(SGDTest, MatchesTorchTrajectoriesAndArticlesEmaMomentum) {
  testing::expect_matches_fixture("sgd.json", testing::make<SGD>());
}

TEST(SGDTest, PlainStepIsWMinusLrTimesGrad) {
  Tensor w = Tensor::from({1.0, -2.0}, {2}, kFloat64);
  w.set_requires_grad(true);
  SGD opt({w}, {.lr = 0.1});
  w.set_grad(Tensor::from({0.5, 1.0}, {2}, kFloat64));
  opt.step();
  EXPECT_EQ(w.to_vector(), (std::vector<double>{1.0 - 0.1 * 0.5, -2.0 - 0.1 * 1.0}));
}

TEST(SGDTest, EmaMomentumTakesOneMinusBetaOfTheFirstGradient) {
  Tensor w = Tensor::zeros({1}, kFloat64);
  w.set_requires_grad(true);
  SGD ema({w}, {.lr = 1.0, .momentum = 0.9, .ema_momentum = true});
  w.set_grad(Tensor::ones({1}, kFloat64));
  ema.step();
  EXPECT_NEAR(w.item(), -0.1, 1e-15);  // v = 0.1·g
  Tensor u = Tensor::zeros({1}, kFloat64);
  u.set_requires_grad(true);
  SGD torch_form({u}, {.lr = 1.0, .momentum = 0.9});
  u.set_grad(Tensor::ones({1}, kFloat64));
  torch_form.step();
  EXPECT_EQ(u.item(), -1.0);  // PyTorch: b = g on the first step
}

TEST(SGDTest, InvalidHyperparametersNameTheRange) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(SGD({w}, {.lr = -1.0}), "SGD: lr = -1 must be a finite number >= 0");
  EXPECT_ERROR_MENTIONS(SGD({w}, {.nesterov = true}), "nesterov = true needs momentum > 0");
  SGD opt({w});
  EXPECT_ERROR_MENTIONS(opt.set("momentum", -0.5), "momentum = -0.5");
  EXPECT_ERROR_MENTIONS(opt.set("mommentum", 0.5), "unknown hyperparameter 'mommentum' (lr, momentum");
  EXPECT_ERROR_MENTIONS(opt.set("nesterov", 0.5), "expected true or false");
}

TEST(SGDTest, ParametersMustBeLeavesThatRequireGrad) {
  Tensor w = Tensor::zeros({2});
  EXPECT_ERROR_MENTIONS(SGD({w}), "parameter '0' does not require grad");
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(SGD({w * 2.0}), "is not a leaf");
  EXPECT_ERROR_MENTIONS(SGD({w, w}), "given more than once");
  EXPECT_ERROR_MENTIONS(SGD(std::vector<Tensor>{}), "at least one parameter");
}

TEST(SGDTest, ParameterWithoutGradientIsSkipped) {
  Tensor a = Tensor::ones({1}, kFloat64);
  Tensor b = Tensor::ones({1}, kFloat64);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  SGD opt({a, b}, {.lr = 0.5});
  a.set_grad(Tensor::ones({1}, kFloat64));
  opt.step();
  EXPECT_EQ(a.item(), 0.5);
  EXPECT_EQ(b.item(), 1.0);
}

}  // namespace
}  // namespace descent::optim
