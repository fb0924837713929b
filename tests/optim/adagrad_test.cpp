#include <gtest/gtest.h>

#include "descent/optim/adagrad.hpp"
#include "golden.hpp"
#include "roundtrip.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(AdagradTest, MatchesTorchWithLrDecayInitialAccumulatorWeightDecayAndMaximize) {
  testing::expect_matches_fixture("adagrad.json", testing::make<Adagrad>());
}

TEST(AdagradTest, InvalidHyperparametersNameTheRange) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(Adagrad({w}, {.lr_decay = -0.5}), "Adagrad: lr_decay = -0.5 must be a finite number >= 0");
  EXPECT_ERROR_MENTIONS(Adagrad({w}, {.initial_accumulator_value = -1.0}),
                        "Adagrad: initial_accumulator_value = -1 must be a finite number >= 0");
  Adagrad opt({w});
  EXPECT_ERROR_MENTIONS(opt.set("eps", -1e-3), "Adagrad: eps = -0.001 must be a finite number >= 0");
  EXPECT_EQ(std::get<double>(opt.get("eps")), 1e-10);
}

TEST(AdagradTest, AccumulatorIsTorchsSumStartingAtInitialValue) {
  Tensor w = Tensor::ones({3}, kFloat64);
  w.set_requires_grad(true);
  Adagrad opt({w}, {.lr = 0.5, .initial_accumulator_value = 3.0});
  w.set_grad(Tensor::ones({3}, kFloat64));
  opt.step();
  EXPECT_EQ(opt.state(w, "sum").to_vector(), std::vector<double>(3, 4.0));
  EXPECT_EQ(w.to_vector(), std::vector<double>(3, 1.0 - 0.5 / (2.0 + 1e-10)));
  EXPECT_EQ(opt.state_dict().state.at("0").buffers.size(), 1u);
}

TEST(AdagradTest, StateDictRoundTripContinuesBitIdentically) {
  testing::expect_round_trip_continues_bit_identically<Adagrad>(
      AdagradOptions{.lr = 0.1, .lr_decay = 0.01, .initial_accumulator_value = 0.2},
      AdagradOptions{.lr = 0.05, .weight_decay = 0.1, .maximize = true});
}

TEST(AdagradTest, ArenaRunMatchesSeparateTensorsBitwise) {
  testing::expect_arena_run_matches_separate_tensors<Adagrad>(
      AdagradOptions{.lr = 0.1, .lr_decay = 0.01, .weight_decay = 0.1, .initial_accumulator_value = 0.2});
}

}  // namespace
}  // namespace descent::optim
