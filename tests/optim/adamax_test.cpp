#include <gtest/gtest.h>

#include "descent/optim/adamax.hpp"
#include "golden.hpp"
#include "roundtrip.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(AdamaxTest, MatchesTorchWithBetasWeightDecayEpsAndMaximize) {
  testing::expect_matches_fixture("adamax.json", testing::make<Adamax>());
}

TEST(AdamaxTest, InvalidHyperparametersNameTheRange) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(Adamax({w}, {.betas = {1.0, 0.999}}), "Adamax: betas[0] = 1 is outside [0, 1)");
  Adamax opt({w});
  EXPECT_ERROR_MENTIONS(opt.set("weight_decay", -0.5), "Adamax: weight_decay = -0.5 must be");
  EXPECT_EQ(opt.lr(), 2e-3);
}

TEST(AdamaxTest, StateBuffersUseTorchNames) {
  Tensor w = Tensor::ones({2}, kFloat64);
  w.set_requires_grad(true);
  Adamax opt({w}, {.betas = {0.5, 0.5}, .eps = 0.25});
  w.set_grad(Tensor::from({-2.0, 1.0}, {2}, kFloat64));
  opt.step();
  EXPECT_EQ(opt.state(w, "exp_avg").to_vector(), (std::vector<double>{-1.0, 0.5}));
  EXPECT_EQ(opt.state(w, "exp_inf").to_vector(), (std::vector<double>{2.25, 1.25}));
}

TEST(AdamaxTest, StateDictRoundTripContinuesBitIdentically) {
  testing::expect_round_trip_continues_bit_identically<Adamax>(
      AdamaxOptions{.lr = 0.01}, AdamaxOptions{.lr = 0.02, .betas = {0.8, 0.9}, .weight_decay = 0.1, .maximize = true});
}

TEST(AdamaxTest, ArenaRunMatchesSeparateTensorsBitwise) {
  testing::expect_arena_run_matches_separate_tensors<Adamax>(AdamaxOptions{.lr = 0.01, .weight_decay = 0.1});
}

}  // namespace
}  // namespace descent::optim
