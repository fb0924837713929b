// Checks shared by the tests of the rules beyond torch.optim (Lion … Prodigy).
//
// expect_extra_round_trip: two parameter groups — a [2, 3] matrix and a [4] vector, so per-tensor rules and
// Adafactor's factored and unfactored state all travel — ten steps, save, load into a fresh optimizer built with
// other options, ten more steps: bit-identical to an optimizer that never stopped, in float32 and float64.
// Schedule-free rules can be saved in eval mode (as their reference asks) and put back in train mode after.
//
// The schedule-free rules' eval/train swap against their fixtures is golden.hpp's expect_eval_train_swap_matches.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "descent/descent.hpp"
#include "golden.hpp"
#include "roundtrip.hpp"
#include "support/testing.hpp"

namespace descent::testing {

enum class SaveIn { TrainMode, EvalMode };

// One step of the round trip: the test gradients of step s, then opt.step(). Rules that compute their own
// gradients (the Hessian-based ones, through step(loss_fn)) pass another.
struct GradientStep {
  template <class Opt>
  void operator()(Opt& opt, const std::vector<Tensor>& params, int s) const {
    roundtrip_grads(params, s);
    opt.step();
  }
};

// Returns the float64 run's saved dict for further checks (state names and shapes, per-group scalars).
template <class Opt, class Options, class Step = GradientStep>
optim::StateDict expect_extra_round_trip(const Options& first, const Options& second, Options other = {},
                                         SaveIn save_in = SaveIn::TrainMode, Step step = {}) {
  optim::StateDict saved64;
  for (DType dtype : {kFloat32, kFloat64}) {
    auto make_params = [&] {
      Tensor matrix = Tensor::from({0.5, -1.5, 2.0, 0.25, 1.0, -0.75}, {2, 3}, dtype);
      Tensor vector = Tensor::from({3.0, -0.25, 0.5, -2.0}, {4}, dtype);
      matrix.set_requires_grad(true);
      vector.set_requires_grad(true);
      return std::vector<Tensor>{matrix, vector};
    };
    std::vector<Tensor> straight = make_params();
    Opt reference({straight[0]}, first);
    reference.add_param_group({straight[1]}, second);
    std::vector<Tensor> resumed = make_params();
    Opt before({resumed[0]}, first);
    before.add_param_group({resumed[1]}, second);
    int s = 0;
    for (; s < 10; ++s) {
      step(reference, straight, s);
      step(before, resumed, s);
    }
    if (save_in == SaveIn::EvalMode) {
      reference.eval();
      before.eval();
    }
    const optim::StateDict saved = before.state_dict();
    EXPECT_EQ(saved.state.at("0").step, 10);

    other.lr = 3.0 * first.lr + 0.5;
    Opt after({resumed[0]}, other);
    after.add_param_group({resumed[1]}, other);
    after.load_state_dict(saved);
    EXPECT_EQ(after.hypers(0), before.hypers(0));
    EXPECT_EQ(after.hypers(1), before.hypers(1));
    if (save_in == SaveIn::EvalMode) {
      reference.train();
      after.train();
    }
    for (; s < 20; ++s) {
      step(reference, straight, s);
      step(after, resumed, s);
    }
    EXPECT_EQ(roundtrip_bytes(straight), roundtrip_bytes(resumed)) << Opt::kName << " " << dtype;
    EXPECT_EQ(after.state_dict().scalars, reference.state_dict().scalars) << Opt::kName << " " << dtype;
    if (dtype == kFloat64) saved64 = saved;
  }
  return saved64;
}

// Rules that reduce over their parameters (trust ratios, RMS, Prodigy's d) sum in fixed blocks: a [300, 300]
// matrix and a [70000] vector (several blocks each) take bit-identical steps with one thread and with four.
template <class Opt, class Options>
void expect_same_bits_with_any_thread_count(const Options& options) {
  std::vector<std::vector<uint8_t>> results;
  const int before = num_threads();
  for (int threads : {1, 4}) {
    set_num_threads(threads);
    Tensor matrix = sample({300, 300}, kFloat32, 11);
    Tensor vector = sample({70000}, kFloat32, 12);
    matrix.set_requires_grad(true);
    vector.set_requires_grad(true);
    std::vector<Tensor> params{matrix, vector};
    Opt opt(params, options);
    for (int s = 0; s < 3; ++s) {
      roundtrip_grads(params, s);
      opt.step();
    }
    results.push_back(roundtrip_bytes(params));
  }
  set_num_threads(before);
  EXPECT_EQ(results[0], results[1]) << Opt::kName;
}

// Names and shapes of one parameter's state in a saved dict, for "state uses the reference's names" tests.
inline std::map<std::string, Shape> state_shapes(const optim::StateDict& dict, const std::string& key) {
  std::map<std::string, Shape> out;
  for (const auto& [name, tensor] : dict.state.at(key).buffers) out[name] = tensor.shape();
  return out;
}

}  // namespace descent::testing
