#include <gtest/gtest.h>

#include "descent/optim/lion.hpp"
#include "extra_roundtrip.hpp"
#include "golden.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(LionTest, MatchesLionPytorchWithWeightDecayAndMaximize) {
  testing::expect_matches_fixture("lion.json", testing::make<Lion>());
}

TEST(LionTest, EveryCoordinateMovesByLr) {
  Tensor w = Tensor::from({1.0, -2.0, 0.5}, {3}, kFloat64);
  w.set_requires_grad(true);
  Lion opt({w}, {.lr = 0.25});
  w.set_grad(Tensor::from({3.0, -1e-6, 0.0}, {3}, kFloat64));
  opt.step();
  EXPECT_EQ(w.to_vector(), (std::vector<double>{0.75, -1.75, 0.5}));  // sign(0) = 0 leaves it in place
}

TEST(LionTest, DefaultsAreLionPytorchs) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  Lion opt({w});
  EXPECT_EQ(opt.lr(), 1e-4);
  EXPECT_EQ(std::get<std::vector<double>>(opt.get("betas")), (std::vector<double>{0.9, 0.99}));
  EXPECT_EQ(std::get<double>(opt.get("weight_decay")), 0.0);
}

TEST(LionTest, InvalidHyperparametersNameTheRange) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(Lion({w}, {.lr = -1.0}), "Lion: lr = -1 must be a finite number >= 0");
  EXPECT_ERROR_MENTIONS(Lion({w}, {.betas = {0.9, 1.5}}), "Lion: betas[1] = 1.5 is outside [0, 1]");
  Lion opt({w});
  EXPECT_ERROR_MENTIONS(opt.set("weight_decay", -0.1), "weight_decay = -0.1");
}

TEST(LionTest, StateDictRoundTripContinuesBitIdentically) {
  const StateDict saved = testing::expect_extra_round_trip<Lion>(
      LionOptions{.lr = 0.01, .weight_decay = 0.1}, LionOptions{.lr = 0.02, .betas = {0.8, 0.9}, .maximize = true});
  EXPECT_EQ(testing::state_shapes(saved, "0"), (std::map<std::string, Shape>{{"exp_avg", {2, 3}}}));
}

}  // namespace
}  // namespace descent::optim
