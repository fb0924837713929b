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

#include "extra_roundtrip.hpp"
#include "golden.hpp"

namespace descent::testing {

void expect_hessian_rule_matches_fixture(const std::string& file, const MakeOptimizer& make_optimizer);

// The fixture problem's loss at `params` (the shapes of the fixture, in order), for other tests that want a
// non-diagonal Hessian: Σ 0.5·h·(x − t)² + 0.25·k·x⁴ + 0.5·c·(Σ x)².
Tensor hessian_fixture_loss(const nlohmann::json& problem, const std::vector<Tensor>& params);

// A loss with a non-diagonal Hessian for round trips: Σᵢ Σ 0.5·(i+1)·(pᵢ − 1)² + 0.25·pᵢ⁴, plus 0.05·(Σ p)².
Tensor round_trip_loss(const std::vector<Tensor>& params);

// A round-trip step for the Hessian-based rules (expect_extra_round_trip's last argument): step(loss_fn) on
// round_trip_loss, so the probes come from the seeded default source and a resumed run must draw the same ones.
struct LossStep {
  template <class Opt>
  void operator()(Opt& opt, const std::vector<Tensor>& params, int /*s*/) const {
    opt.step([&] { return round_trip_loss(params); });
  }
};

}  // namespace descent::testing
