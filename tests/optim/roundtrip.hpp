// Bitwise checks any rule should pass, in float32 and float64:
// - a state-dict round trip: two parameter groups, ten steps, save, load into a fresh optimizer built with other
//   hyperparameters, ten more steps — bit-identical to an optimizer that never stopped;
// - the arena's one fused run (the vectorised loop, padding included) against the same parameters stepped tensor
//   by tensor, with the padding left at zero.
// The gradients change sign now and then, so sign-driven rules (Rprop) and maxima (Adamax) move too.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "descent/descent.hpp"
#include "support/testing.hpp"

namespace descent::testing {

Tensor roundtrip_param(std::initializer_list<double> values, DType dtype);

// Gradient of 0.5·(i+1)·‖p − 1‖² plus a small step-dependent wobble that changes sign, for parameter i at step s.
void roundtrip_grads(const std::vector<Tensor>& params, int step);

// The parameters' raw bytes, end to end, for bitwise comparisons.
std::vector<uint8_t> roundtrip_bytes(const std::vector<Tensor>& params);

// Runs the round trip with `first` and `second` as the two groups' options; returns the float64 run's saved dict
// for further checks (state names, per-group scalars).
template <class Opt, class Options>
optim::StateDict expect_round_trip_continues_bit_identically(const Options& first, const Options& second) {
  optim::StateDict saved64;
  for (DType dtype : {kFloat32, kFloat64}) {
    auto make_params = [&] {
      return std::vector<Tensor>{roundtrip_param({0.5, -1.5, 2.0}, dtype), roundtrip_param({3.0, -0.25}, dtype)};
    };
    std::vector<Tensor> straight = make_params();
    Opt reference({straight[0]}, first);
    reference.add_param_group({straight[1]}, second);
    std::vector<Tensor> resumed = make_params();
    Opt before({resumed[0]}, first);
    before.add_param_group({resumed[1]}, second);
    int s = 0;
    for (; s < 10; ++s) {
      roundtrip_grads(straight, s);
      reference.step();
      roundtrip_grads(resumed, s);
      before.step();
    }
    const optim::StateDict saved = before.state_dict();
    EXPECT_EQ(saved.state.at("0").step, 10);

    // A fresh optimizer with another lr takes everything from the dict.
    Options other;
    other.lr = 3.0 * first.lr + 0.5;
    Opt after({resumed[0]}, other);
    after.add_param_group({resumed[1]}, other);
    after.load_state_dict(saved);
    EXPECT_EQ(after.hypers(0), before.hypers(0));
    EXPECT_EQ(after.hypers(1), before.hypers(1));
    for (; s < 20; ++s) {
      roundtrip_grads(straight, s);
      reference.step();
      roundtrip_grads(resumed, s);
      after.step();
    }
    EXPECT_EQ(roundtrip_bytes(straight), roundtrip_bytes(resumed)) << Opt::kName << " " << dtype;
    if (dtype == kFloat64) saved64 = saved;
  }
  return saved64;
}

// Three parameters in a ParamArena (sizes that leave padding between them and vector-loop remainders) against
// copies stepped as separate tensors, eight steps.
template <class Opt, class Options>
void expect_arena_run_matches_separate_tensors(const Options& options) {
  for (DType dtype : {kFloat32, kFloat64}) {
    nn::ParamArena arena;
    const std::vector<Shape> shapes{{37}, {5, 7}, {101}};
    std::vector<Tensor> fused, loose;
    for (size_t i = 0; i < shapes.size(); ++i) {
      Tensor start = sample(shapes[i], dtype, 7 + i, -2.0, 2.0);
      std::string name = "p";  // not "p" + std::to_string(i): GCC 12 warns falsely (-Wrestrict) about that one
      name += std::to_string(i);
      Tensor p = arena.add(name, shapes[i], dtype);
      {
        NoGradGuard no_grad;
        p.copy_(start);
      }
      fused.push_back(p);
      start.set_requires_grad(true);
      loose.push_back(start);
    }
    Opt one_run(fused, options);
    Opt per_tensor(loose, options);
    for (int s = 0; s < 8; ++s) {
      roundtrip_grads(fused, s);
      one_run.step();
      roundtrip_grads(loose, s);
      per_tensor.step();
    }
    EXPECT_EQ(roundtrip_bytes(fused), roundtrip_bytes(loose)) << Opt::kName << " " << dtype;
    const Tensor all = arena.params_tensor(dtype);
    const std::vector<double> values = all.to_vector();
    std::vector<bool> covered(values.size(), false);
    for (const auto& entry : arena.entries())
      for (int64_t e = 0; e < entry.param.numel(); ++e) covered[static_cast<size_t>(entry.offset + e)] = true;
    for (size_t e = 0; e < values.size(); ++e) {
      if (!covered[e]) {
        EXPECT_EQ(values[e], 0.0) << Opt::kName << " " << dtype << ": padding element " << e;
      }
    }
  }
}

}  // namespace descent::testing
