#include <gtest/gtest.h>

#include "descent/optim/prodigy.hpp"
#include "extra_roundtrip.hpp"
#include "golden.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(ProdigyTest, MatchesProdigyoptWithBiasCorrectionSafeguardDecaysAndMaximize) {
  testing::expect_matches_fixture("prodigy.json", testing::make<Prodigy>());
}

TEST(ProdigyTest, EstimateGrowsFromD0AndIsKeptPerGroup) {
  Tensor w = Tensor::from({1.0, -2.0, 3.0}, {3}, kFloat64);
  w.set_requires_grad(true);
  Prodigy opt({w});
  EXPECT_EQ(opt.d(), 1e-6);
  for (int s = 0; s < 20; ++s) {
    testing::roundtrip_grads({w}, s);
    opt.step();
  }
  EXPECT_GT(opt.d(), 1e-4);  // the parameters moved, so d grew from d0
  const StateDict dict = opt.state_dict();
  EXPECT_EQ(dict.scalars[0].at("d"), opt.d());
  EXPECT_EQ(dict.scalars[0].at("k"), 20.0);
  EXPECT_GE(dict.scalars[0].at("d_max"), opt.d());
}

TEST(ProdigyTest, ZeroGradientsChangeNothing) {
  Tensor w = Tensor::from({1.0, -2.0}, {2}, kFloat64);
  w.set_requires_grad(true);
  Prodigy opt({w});
  w.set_grad(Tensor::zeros({2}, kFloat64));
  opt.step();
  EXPECT_EQ(w.to_vector(), (std::vector<double>{1.0, -2.0}));
  EXPECT_EQ(opt.state_step(w), 0);  // as in the package, the step is not counted
  EXPECT_EQ(opt.d(), 1e-6);
}

TEST(ProdigyTest, GroupsMustShareLrOrHaveZero) {
  Tensor a = Tensor::ones({1}, kFloat64), b = Tensor::ones({1}, kFloat64), c = Tensor::ones({1}, kFloat64);
  for (Tensor* t : {&a, &b, &c}) {
    t->set_requires_grad(true);
    t->set_grad(Tensor::ones({1}, kFloat64));
  }
  Prodigy opt({a});
  opt.add_param_group({b}, {.lr = 0.0});  // frozen: moments untouched, d shared
  opt.step();
  EXPECT_EQ(b.item(), 1.0);
  opt.add_param_group({c}, {.lr = 0.5});
  EXPECT_ERROR_MENTIONS(opt.step(), "Prodigy: group 2 has lr = 0.5, another 1; groups must share lr");
}

TEST(ProdigyTest, InvalidHyperparametersNameTheRange) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(Prodigy({w}, {.d0 = 0.0}), "Prodigy: d0 = 0 must be a finite number > 0");
  EXPECT_ERROR_MENTIONS(Prodigy({w}, {.beta3 = 1.5}), "Prodigy: beta3 = 1.5 is outside [0, 1]");
  Prodigy opt({w});
  EXPECT_ERROR_MENTIONS(opt.set("growth_rate", 0.0), "Prodigy: growth_rate = 0 must be > 0");
}

TEST(ProdigyTest, StateAndEstimateRoundTrip) {
  const StateDict saved = testing::expect_extra_round_trip<Prodigy>(
      ProdigyOptions{.weight_decay = 0.01, .d0 = 1e-3},
      ProdigyOptions{.weight_decay = 0.05, .decouple = false, .safeguard_warmup = true, .maximize = true});
  EXPECT_EQ(testing::state_shapes(saved, "0"),
            (std::map<std::string, Shape>{{"exp_avg", {2, 3}}, {"exp_avg_sq", {2, 3}}, {"p0", {2, 3}}, {"s", {2, 3}}}));
  EXPECT_EQ(saved.scalars[0].at("d"), saved.scalars[1].at("d"));
}

TEST(ProdigyTest, StepsDoNotDependOnTheThreadCount) {
  testing::expect_same_bits_with_any_thread_count<Prodigy>(ProdigyOptions{.weight_decay = 0.01});
}

}  // namespace
}  // namespace descent::optim
