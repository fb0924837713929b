#include <gtest/gtest.h>

#include "descent/optim/nadam.hpp"
#include "golden.hpp"
#include "roundtrip.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(NAdamTest, MatchesTorchWithMomentumDecayWeightDecayDecoupledAndMaximize) {
  testing::expect_matches_fixture("nadam.json", testing::make<NAdam>());
}

TEST(NAdamTest, InvalidHyperparametersNameTheRange) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(NAdam({w}, {.betas = {0.9, -0.5}}), "NAdam: betas[1] = -0.5 is outside [0, 1)");
  EXPECT_ERROR_MENTIONS(NAdam({w}, {.momentum_decay = -0.25}),
                        "NAdam: momentum_decay = -0.25 must be a finite number >= 0");
  NAdam opt({w});
  EXPECT_ERROR_MENTIONS(opt.set("decoupled_weight_decay", 1.0), "expected true or false");
}

TEST(NAdamTest, MuProductIsAGroupScalarAdvancedOncePerStep) {
  Tensor a = Tensor::ones({2}, kFloat64);
  Tensor b = Tensor::ones({3}, kFloat64);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  NAdam opt({a, b});  // two tensors: two runs of the same step share Π_t
  for (int s = 0; s < 3; ++s) {
    a.set_grad(Tensor::ones({2}, kFloat64));
    b.set_grad(Tensor::ones({3}, kFloat64));
    opt.step();
  }
  const StateDict dict = opt.state_dict();
  EXPECT_EQ(dict.scalars.at(0).at("mu_product_step"), 3.0);
  // Π_3 = μ_1·μ_2·μ_3, multiplied in float32 as torch does.
  float product = 1.0f;
  for (int t = 1; t <= 3; ++t) product *= static_cast<float>(nadam_mu(opt.options(), t));
  EXPECT_EQ(dict.scalars.at(0).at("mu_product"), static_cast<double>(product));
  EXPECT_EQ(dict.state.at("1").buffers.count("exp_avg_sq"), 1u);
  EXPECT_EQ(opt.state(a, "exp_avg").to_vector().front(), opt.state(b, "exp_avg").to_vector().front());
}

TEST(NAdamTest, StateDictRoundTripContinuesBitIdentically) {
  const StateDict saved = testing::expect_round_trip_continues_bit_identically<NAdam>(
      NAdamOptions{.lr = 0.01, .weight_decay = 0.01},
      NAdamOptions{
          .lr = 0.02, .weight_decay = 0.1, .momentum_decay = 0.01, .decoupled_weight_decay = true, .maximize = true});
  EXPECT_EQ(saved.scalars.at(1).count("mu_product"), 1u);
}

TEST(NAdamTest, ArenaRunMatchesSeparateTensorsBitwise) {
  testing::expect_arena_run_matches_separate_tensors<NAdam>(
      NAdamOptions{.lr = 0.01, .weight_decay = 0.1, .decoupled_weight_decay = true});
}

}  // namespace
}  // namespace descent::optim
