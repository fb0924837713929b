// Replays the golden trajectories written by tools/fixtures/*.py: the same problem, the same hyperparameters
// (set by name through the optimizer's generic setter), compared step by step with the reference framework —
// to 1e-12 relative in float64 and 1e-6 in float32 (relative to max(|reference|, 1): the parameters are of order
// one, and an element passing through zero has no meaningful relative error). Each case runs twice: with the
// parameters as separate tensors (stepped tensor by tensor) and inside a ParamArena (stepped as one fused run), so
// both paths of the driver are held to the reference.
//
// The replay itself is compiled once, in golden.cpp: only the optimizer's constructor is instantiated per test.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json_fwd.hpp>

#include <functional>
#include <memory>
#include <string>

#include "descent/descent.hpp"

namespace descent::testing {

// The fixture `file` from this layer's fixtures folder (include <nlohmann/json.hpp> to use the result).
nlohmann::json load_fixture(const std::string& file);

// A fixture's hyperparameter value as the optimizer's generic setter takes it.
optim::HyperValue hyper_from_json(const nlohmann::json& v);

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(const optim::NamedTensors&)>;

template <class Opt>
MakeOptimizer make() {
  return [](const optim::NamedTensors& params) { return std::make_unique<Opt>(params); };
}

// Parameters as separate tensors (stepped tensor by tensor) or inside a ParamArena (one fused run).
enum class Placement { SeparateTensors, Arena };

// Every case of the fixture, in both placements; a mismatch fails the test with the step and element.
void expect_matches_fixture(const std::string& file, const MakeOptimizer& make_optimizer);

// For schedule-free fixtures (tools/fixtures/gen_extra_optim.py): replays each case to its end, then checks the
// parameters after eval(), after a second eval(), after train(), and for the steps after that.
void expect_eval_train_swap_matches(const std::string& file, const MakeOptimizer& make_optimizer);

}  // namespace descent::testing
