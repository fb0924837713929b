// Replays the trajectories tools/fixtures/gen_hessian_optim.py writes for the Hessian-based optimizers (AdaHessian,
// Sophia): the same loss built with descent's autograd and differentiated twice (the backward pass runs with
// create_graph whenever needs_create_graph() says so, as a training loop must), the fixture's Hutchinson probes handed
// to the optimizer through set_probe_source, and the parameters compared after every step — as separate tensors and
// inside a ParamArena. Tolerances as golden.hpp's: 1e-12 in float64 and 1e-6 in float32, relative to
// max(|reference|, 1).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "golden.hpp"
#include "roundtrip.hpp"

namespace descent::testing {

void expect_hessian_rule_matches_fixture(const std::string& file, const MakeOptimizer& make_optimizer);

// The fixture problem's loss at `params` (the shapes of the fixture, in order), for other tests that want a
// non-diagonal Hessian: Σ 0.5·h·(x − t)² + 0.25·k·x⁴ + 0.5·c·(Σ x)².
Tensor hessian_fixture_loss(const nlohmann::json& problem, const std::vector<Tensor>& params);

// A loss with a non-diagonal Hessian for round trips: Σᵢ Σ 0.5·(i+1)·(pᵢ − 1)² + 0.25·pᵢ⁴, plus 0.05·(Σ p)².
Tensor round_trip_loss(const std::vector<Tensor>& params);

// expect_extra_round_trip (extra_roundtrip.hpp) for the Hessian-based rules: a [2, 3] matrix and a [4] vector in
// two groups, ten steps through step(loss_fn) (so the probes come from the seeded default source), save, load into
// a fresh optimizer built with other options, ten more steps: bit-identical to an optimizer that never stopped,
// in float32 and float64. Returns the float64 run's saved dict.
template <class Opt, class Options>
optim::StateDict expect_hessian_round_trip(const Options& first, const Options& second) {
  optim::StateDict saved64;
  for (DType dtype : {kFloat32, kFloat64}) {
    auto make_params = [&] {
      Tensor matrix = Tensor::from({0.5, -1.5, 2.0, 0.25, 1.0, -0.75}, {2, 3}, dtype);
      matrix.set_requires_grad(true);
      return std::vector<Tensor>{matrix, roundtrip_param({3.0, -0.25, 0.5, -2.0}, dtype)};
    };
    std::vector<Tensor> straight = make_params(), resumed = make_params();
    Opt reference({straight[0]}, first);
    reference.add_param_group({straight[1]}, second);
    Opt before({resumed[0]}, first);
    before.add_param_group({resumed[1]}, second);
    for (int s = 0; s < 10; ++s) {
      reference.step([&] { return round_trip_loss(straight); });
      before.step([&] { return round_trip_loss(resumed); });
    }
    const optim::StateDict saved = before.state_dict();
    EXPECT_EQ(saved.state.at("0").step, 10);
    Options other;
    other.lr = 3.0 * first.lr + 0.5;
    Opt after({resumed[0]}, other);
    after.add_param_group({resumed[1]}, other);
    after.load_state_dict(saved);
    EXPECT_EQ(after.hypers(0), before.hypers(0));
    for (int s = 10; s < 20; ++s) {
      reference.step([&] { return round_trip_loss(straight); });
      after.step([&] { return round_trip_loss(resumed); });
    }
    EXPECT_EQ(roundtrip_bytes(straight), roundtrip_bytes(resumed)) << Opt::kName << " " << dtype;
    if (dtype == kFloat64) saved64 = saved;
  }
  return saved64;
}

}  // namespace descent::testing
