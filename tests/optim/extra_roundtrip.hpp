// Checks shared by the tests of the rules beyond torch.optim (Lion … Prodigy).
//
// expect_extra_round_trip: two parameter groups — a [2, 3] matrix and a [4] vector, so per-tensor rules and
// Adafactor's factored and unfactored state all travel — ten steps, save, load into a fresh optimizer built with
// other options, ten more steps: bit-identical to an optimizer that never stopped, in float32 and float64.
// Schedule-free rules can be saved in eval mode (as their reference asks) and put back in train mode after.
//
// expect_eval_train_swap_matches: replays a schedule-free fixture's cases (written by
// tools/fixtures/gen_extra_optim.py) to their end, then checks the parameters after eval() and after train()
// against the package's, and five steps after that.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "descent/descent.hpp"
#include "golden.hpp"
#include "support/testing.hpp"

namespace descent::testing {

// Gradient of 0.5·(i+1)·‖p − 1‖² plus a step-dependent wobble that changes sign, for parameter i at step s.
inline void extra_grads(const std::vector<Tensor>& params, int step) {
  NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    const double wobble = 0.3 * std::cos(1.7 * step + static_cast<double>(i));
    Tensor g = (params[i].detach() - 1.0) * static_cast<double>(i + 1) + wobble;
    Tensor p = params[i];
    if (p.grad().defined()) {
      p.grad().copy_(g);
    } else {
      p.set_grad(g);
    }
  }
}

inline std::vector<uint8_t> extra_bytes(const std::vector<Tensor>& params) {
  std::vector<uint8_t> out;
  for (const Tensor& p : params) {
    const auto* b = static_cast<const uint8_t*>(p.raw_data());
    out.insert(out.end(), b, b + p.numel() * static_cast<int64_t>(element_size(p.dtype())));
  }
  return out;
}

enum class SaveIn { TrainMode, EvalMode };

// Returns the float64 run's saved dict for further checks (state names and shapes, per-group scalars).
template <class Opt, class Options>
optim::StateDict expect_extra_round_trip(const Options& first, const Options& second, Options other = {},
                                         SaveIn save_in = SaveIn::TrainMode) {
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
      extra_grads(straight, s);
      reference.step();
      extra_grads(resumed, s);
      before.step();
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
      extra_grads(straight, s);
      reference.step();
      extra_grads(resumed, s);
      after.step();
    }
    EXPECT_EQ(extra_bytes(straight), extra_bytes(resumed)) << Opt::kName << " " << dtype;
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
      extra_grads(params, s);
      opt.step();
    }
    results.push_back(extra_bytes(params));
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

template <class T>
void expect_eval_train_swap_case(const nlohmann::json& doc, const nlohmann::json& c, const MakeOptimizer& make) {
  const DType dtype = dtype_of<T>();
  const auto& prob = doc["problem"];
  const std::vector<double> h = prob["h"], t = prob["t"], init = prob["init"];
  const T k = static_cast<T>(prob["k"].get<double>());
  const std::vector<std::vector<int64_t>> shapes = doc["shapes"];
  optim::NamedTensors params;
  size_t start = 0;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Shape shape(shapes[i].begin(), shapes[i].end());
    Tensor p = Tensor::empty(shape, dtype);
    {
      NoGradGuard no_grad;
      const std::vector<double> values(init.begin() + static_cast<int64_t>(start),
                                       init.begin() + static_cast<int64_t>(start) + p.numel());
      p.copy_(Tensor::from(std::span<const double>(values), shape, kFloat64));
    }
    p.set_requires_grad(true);
    start += static_cast<size_t>(p.numel());
    params.emplace_back("p" + std::to_string(i), p);
  }
  auto opt = make(params);
  for (const auto& [key, value] : c["hypers"].items()) opt->set(key, hyper_from_json(value));
  const bool negate = c["hypers"].value("maximize", false);
  const auto step = [&] {  // the gradient exactly as golden.hpp computes it
    std::vector<T> flat;
    for (const auto& [_, p] : params)
      for (double v : p.to_vector()) flat.push_back(static_cast<T>(v));
    size_t offset = 0;
    for (auto& [_, p] : params) {
      Tensor g = Tensor::empty(p.shape(), dtype);
      T* gp = g.data<T>();
      for (int64_t e = 0; e < p.numel(); ++e, ++offset) {
        const T x = flat[offset];
        gp[e] = static_cast<T>(h[offset]) * (x - static_cast<T>(t[offset])) + k * (x * x * x);
        if (negate) gp[e] = -gp[e];
      }
      p.set_grad(g);
    }
    opt->step();
  };
  const double rtol = dtype == kFloat64 ? 1e-12 : 1e-6;
  const auto expect_params = [&](const nlohmann::json& expected, const std::string& what) {
    const std::vector<double> want = expected;
    size_t e = 0;
    for (const auto& [_, p] : params) {
      for (double got : p.to_vector()) {
        ASSERT_LE(std::abs(got - want[e]), rtol * std::max(std::abs(want[e]), 1.0))
            << c["name"].get<std::string>() << " " << c["dtype"].get<std::string>() << ", " << what << ", element " << e
            << ": got " << got << ", reference " << want[e];
        ++e;
      }
    }
  };
  const auto& trajectory = c["trajectory"];
  for (size_t s = 0; s < trajectory.size(); ++s) step();
  expect_params(trajectory.back(), "end of the trajectory");
  opt->eval();
  expect_params(c["eval"], "after eval()");
  opt->eval();  // a second eval() changes nothing, as in the package
  expect_params(c["eval"], "after a second eval()");
  opt->train();
  expect_params(c["train"], "after train()");
  for (size_t s = 0; s < c["after_train"].size(); ++s) {
    step();
    expect_params(c["after_train"][s], "step " + std::to_string(s + 1) + " after train()");
  }
}

inline void expect_eval_train_swap_matches(const std::string& file, const MakeOptimizer& make) {
  const nlohmann::json doc = load_fixture(file);
  for (const auto& c : doc["cases"]) {
    ASSERT_TRUE(c.contains("eval")) << file << " has no eval/train swap (regenerate it)";
    if (c["dtype"] == "float64") {
      expect_eval_train_swap_case<double>(doc, c, make);
    } else {
      expect_eval_train_swap_case<float>(doc, c, make);
    }
  }
}

}  // namespace descent::testing
