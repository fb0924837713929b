#include <gtest/gtest.h>

#include "descent/optim/rmsprop.hpp"
#include "golden.hpp"
#include "roundtrip.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(RMSpropTest, MatchesTorchPlainCenteredWithMomentumWeightDecayAndMaximize) {
  testing::expect_matches_fixture("rmsprop.json", testing::make<RMSprop>());
}

TEST(RMSpropTest, InvalidHyperparametersNameTheRange) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(RMSprop({w}, {.alpha = 1.5}), "RMSprop: alpha = 1.5 is outside [0, 1]");
  EXPECT_ERROR_MENTIONS(RMSprop({w}, {.momentum = -0.5}), "RMSprop: momentum = -0.5 must be a finite number >= 0");
  RMSprop opt({w});
  EXPECT_ERROR_MENTIONS(opt.set("weight_decay", -1.0), "RMSprop: weight_decay = -1");
  EXPECT_ERROR_MENTIONS(opt.set("centred", true), "unknown hyperparameter 'centred'");
}

TEST(RMSpropTest, StateBuffersUseTorchNamesAndOnlyWhatTheOptionsNeed) {
  Tensor a = Tensor::ones({2}, kFloat64);
  Tensor b = Tensor::ones({2}, kFloat64);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  RMSprop opt({a}, {.lr = 0.1, .alpha = 0.5});
  opt.add_param_group({b}, {.lr = 0.1, .alpha = 0.5, .momentum = 0.9, .centered = true});
  a.set_grad(Tensor::ones({2}, kFloat64));
  b.set_grad(Tensor::ones({2}, kFloat64));
  opt.step();
  EXPECT_EQ(opt.state(a, "square_avg").to_vector(), std::vector<double>(2, 0.5));
  const StateDict dict = opt.state_dict();
  EXPECT_EQ(dict.state.at("0").buffers.size(), 1u);
  EXPECT_EQ(dict.state.at("1").buffers.count("momentum_buffer"), 1u);
  EXPECT_EQ(opt.state(b, "grad_avg").to_vector(), std::vector<double>(2, 0.5));
  // centered: v − ḡ² = 0.5 − 0.25, so the buffer holds 1 / (√0.25 + eps)
  EXPECT_EQ(opt.state(b, "momentum_buffer").to_vector(), std::vector<double>(2, 1.0 / (0.5 + 1e-8)));
}

TEST(RMSpropTest, StateDictRoundTripContinuesBitIdentically) {
  testing::expect_round_trip_continues_bit_identically<RMSprop>(
      RMSpropOptions{.lr = 0.01, .momentum = 0.9, .centered = true},
      RMSpropOptions{.lr = 0.02, .alpha = 0.9, .weight_decay = 0.1, .maximize = true});
}

TEST(RMSpropTest, ArenaRunMatchesSeparateTensorsBitwise) {
  testing::expect_arena_run_matches_separate_tensors<RMSprop>(
      RMSpropOptions{.lr = 0.01, .weight_decay = 0.1, .momentum = 0.9, .centered = true});
}

}  // namespace
}  // namespace descent::optim
