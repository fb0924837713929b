#include <gtest/gtest.h>

#include <cmath>

#include "descent/optim/adadelta.hpp"
#include "golden.hpp"
#include "roundtrip.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(AdadeltaTest, MatchesTorchWithRhoEpsWeightDecayAndMaximize) {
  testing::expect_matches_fixture("adadelta.json", testing::make<Adadelta>());
}

TEST(AdadeltaTest, DefaultsAreTorchs) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  Adadelta opt({w});
  EXPECT_EQ(opt.lr(), 1.0);
  EXPECT_EQ(std::get<double>(opt.get("rho")), 0.9);
  EXPECT_EQ(std::get<double>(opt.get("eps")), 1e-6);
}

TEST(AdadeltaTest, InvalidHyperparametersNameTheRange) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(Adadelta({w}, {.rho = 1.5}), "Adadelta: rho = 1.5 is outside [0, 1]");
  EXPECT_ERROR_MENTIONS(Adadelta({w}, {.lr = -1.0}), "Adadelta: lr = -1 must be a finite number >= 0");
  Adadelta opt({w});
  EXPECT_ERROR_MENTIONS(opt.set("eps", -1.0), "Adadelta: eps = -1");
}

TEST(AdadeltaTest, StateBuffersUseTorchNames) {
  Tensor w = Tensor::ones({2}, kFloat64);
  w.set_requires_grad(true);
  Adadelta opt({w}, {.rho = 0.5, .eps = 0.01});
  w.set_grad(Tensor::ones({2}, kFloat64));
  opt.step();
  EXPECT_EQ(opt.state(w, "square_avg").to_vector(), std::vector<double>(2, 0.5));
  const double delta = std::sqrt(0.01) / std::sqrt(0.51);
  EXPECT_EQ(opt.state(w, "acc_delta").to_vector(), std::vector<double>(2, 0.5 * delta * delta));
}

TEST(AdadeltaTest, StateDictRoundTripContinuesBitIdentically) {
  testing::expect_round_trip_continues_bit_identically<Adadelta>(
      AdadeltaOptions{.lr = 1.0, .eps = 1e-3},
      AdadeltaOptions{.lr = 0.5, .rho = 0.8, .weight_decay = 0.1, .maximize = true});
}

TEST(AdadeltaTest, ArenaRunMatchesSeparateTensorsBitwise) {
  testing::expect_arena_run_matches_separate_tensors<Adadelta>(AdadeltaOptions{.weight_decay = 0.1, .maximize = true});
}

}  // namespace
}  // namespace descent::optim
