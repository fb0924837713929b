#include <gtest/gtest.h>

#include "descent/optim/rprop.hpp"
#include "golden.hpp"
#include "roundtrip.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(RpropTest, MatchesTorchWithEtasStepSizesAndMaximize) {
  testing::expect_matches_fixture("rprop.json", testing::make<Rprop>());
}

TEST(RpropTest, InvalidHyperparametersNameTheRange) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(Rprop({w}, {.etas = {1.5, 1.2}}), "Rprop: etas[0] = 1.5 is outside (0, 1)");
  EXPECT_ERROR_MENTIONS(Rprop({w}, {.etas = {0.5, 0.75}}), "Rprop: etas[1] = 0.75 must be a finite number > 1");
  EXPECT_ERROR_MENTIONS(Rprop({w}, {.step_sizes = {2.0, 1.0}}), "Rprop: step_sizes = (2, 1) must be (min, max)");
  Rprop opt({w});
  EXPECT_ERROR_MENTIONS(opt.set("etas", std::vector<double>{0.0, 1.2}), "Rprop: etas[0] = 0 is outside (0, 1)");
}

TEST(RpropTest, StepSizeStartsAtLrGrowsAndShrinksOnASignFlip) {
  Tensor w = Tensor::zeros({2}, kFloat64);
  w.set_requires_grad(true);
  Rprop opt({w}, {.lr = 0.1});
  w.set_grad(Tensor::from({1.0, -1.0}, {2}, kFloat64));
  opt.step();  // prev = 0: factor 1, step_size stays at lr
  EXPECT_EQ(opt.state(w, "step_size").to_vector(), (std::vector<double>{0.1, 0.1}));
  EXPECT_EQ(w.to_vector(), (std::vector<double>{-0.1, 0.1}));
  w.set_grad(Tensor::from({2.0, 3.0}, {2}, kFloat64));
  opt.step();  // same sign: ×1.2 and a step; flipped: ×0.5, no step, prev ← 0
  EXPECT_EQ(opt.state(w, "step_size").to_vector(), (std::vector<double>{0.1 * 1.2, 0.1 * 0.5}));
  EXPECT_EQ(w.to_vector(), (std::vector<double>{-0.1 - 0.1 * 1.2, 0.1}));
  EXPECT_EQ(opt.state(w, "prev").to_vector(), (std::vector<double>{2.0, 0.0}));
}

TEST(RpropTest, StateDictRoundTripContinuesBitIdentically) {
  const StateDict saved = testing::expect_round_trip_continues_bit_identically<Rprop>(
      RpropOptions{.lr = 0.01},
      RpropOptions{.lr = 0.05, .etas = {0.3, 1.5}, .step_sizes = {1e-3, 0.2}, .maximize = true});
  EXPECT_EQ(saved.state.at("1").buffers.count("step_size"), 1u);
}

TEST(RpropTest, ArenaRunMatchesSeparateTensorsBitwise) {
  testing::expect_arena_run_matches_separate_tensors<Rprop>(RpropOptions{.lr = 0.05, .maximize = true});
}

}  // namespace
}  // namespace descent::optim
