#include <gtest/gtest.h>

#include <cmath>

#include "descent/optim/lars.hpp"
#include "extra_roundtrip.hpp"
#include "golden.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(LARSTest, MatchesTimmWithAdaptationMomentumNesterovTrustClipAndMaximize) {
  testing::expect_matches_fixture("lars.json", testing::make<LARS>());
}

TEST(LARSTest, TrustRatioIsTrustCoeffTimesWeightOverGradNorm) {
  Tensor w = Tensor::from({3.0, 4.0}, {2}, kFloat64);
  w.set_requires_grad(true);
  LARS opt({w}, {.lr = 2.0, .trust_coeff = 0.01, .eps = 0.0, .always_adapt = true});
  w.set_grad(Tensor::from({0.6, 0.8}, {2}, kFloat64));  // ‖g‖ = 1, ‖p‖ = 5: r = 0.05
  opt.step();
  EXPECT_NEAR(w.at({0}), 3.0 - 2.0 * 0.05 * 0.6, 1e-15);
  EXPECT_NEAR(w.at({1}), 4.0 - 2.0 * 0.05 * 0.8, 1e-15);
}

TEST(LARSTest, WithoutWeightDecayOrAlwaysAdaptItIsSgd) {
  Tensor w = Tensor::from({3.0, 4.0}, {2}, kFloat64);
  w.set_requires_grad(true);
  LARS opt({w}, {.lr = 0.5});
  w.set_grad(Tensor::from({0.6, 0.8}, {2}, kFloat64));
  opt.step();
  EXPECT_EQ(w.to_vector(), (std::vector<double>{3.0 - 0.3, 4.0 - 0.4}));
}

TEST(LARSTest, InvalidHyperparametersNameTheRange) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(LARS({w}, {.nesterov = true}), "LARS: nesterov = true needs momentum > 0");
  EXPECT_ERROR_MENTIONS(LARS({w}, {.trust_coeff = -1.0}), "LARS: trust_coeff = -1");
  LARS opt({w});
  EXPECT_ERROR_MENTIONS(opt.set("dampening", 2.0), "LARS: dampening = 2 is outside [0, 1]");
}

TEST(LARSTest, StateUsesTorchNamesAndRoundTrips) {
  const StateDict saved = testing::expect_extra_round_trip<LARS>(
      LARSOptions{.lr = 5.0, .momentum = 0.9, .weight_decay = 0.01},
      LARSOptions{.lr = 0.1, .momentum = 0.8, .nesterov = true, .always_adapt = true, .maximize = true});
  EXPECT_EQ(testing::state_shapes(saved, "0"), (std::map<std::string, Shape>{{"momentum_buffer", {2, 3}}}));
}

TEST(LARSTest, StepsDoNotDependOnTheThreadCount) {
  testing::expect_same_bits_with_any_thread_count<LARS>(LARSOptions{.lr = 1.0, .momentum = 0.9, .weight_decay = 0.01});
}

}  // namespace
}  // namespace descent::optim
