// Replays the golden trajectories written by tools/fixtures/*.py: the same problem, the same hyperparameters
// (set by name through the optimizer's generic setter), compared step by step with the reference framework —
// to 1e-12 relative in float64 and 1e-6 in float32 (relative to max(|reference|, 1): the parameters are of order
// one, and an element passing through zero has no meaningful relative error). Each case runs twice: with the parameters as separate
// tensors (stepped tensor by tensor) and inside a ParamArena (stepped as one fused run), so both paths of the
// driver are held to the reference.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <functional>
#include <memory>
#include <string>

#include "descent/descent.hpp"

namespace descent::testing {

inline nlohmann::json load_fixture(const std::string& file) {
  const std::string path = std::string(DESCENT_FIXTURE_DIR) + "/" + file;
  std::ifstream in(path);
  if (!in) throw Error("fixture " + path + " is missing (generate it with tools/fixtures/)");
  return nlohmann::json::parse(in);
}

inline optim::HyperValue hyper_from_json(const nlohmann::json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number()) return v.get<double>();
  return v.get<std::vector<double>>();
}

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(const optim::NamedTensors&)>;

template <class Opt>
MakeOptimizer make() {
  return [](const optim::NamedTensors& params) { return std::make_unique<Opt>(params); };
}

enum class Placement { SeparateTensors, Arena };

// Runs one case and compares every step; returns the number of mismatching steps (reported with details).
template <class T>
void replay_case(const nlohmann::json& doc, const nlohmann::json& c, const MakeOptimizer& make_optimizer,
                 Placement placement) {
  const DType dtype = dtype_of<T>();
  const auto& prob = doc["problem"];
  const std::vector<double> h = prob["h"], t = prob["t"], init = prob["init"];
  const T k = static_cast<T>(prob["k"].get<double>());
  const std::vector<std::vector<int64_t>> shapes = doc["shapes"];

  nn::ParamArena arena;
  optim::NamedTensors params;
  size_t start = 0;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Shape shape(shapes[i].begin(), shapes[i].end());
    const std::string name = "p" + std::to_string(i);
    Tensor p = placement == Placement::Arena ? arena.add(name, shape, dtype) : Tensor::empty(shape, dtype);
    {
      NoGradGuard no_grad;
      const std::vector<double> values(init.begin() + start, init.begin() + start + p.numel());
      p.copy_(Tensor::from(std::span<const double>(values), shape, kFloat64));
    }
    p.set_requires_grad(true);
    start += static_cast<size_t>(p.numel());
    params.emplace_back(name, p);
  }
  auto opt = make_optimizer(params);
  for (const auto& [key, value] : c["hypers"].items()) opt->set(key, hyper_from_json(value));

  const double rtol = dtype == kFloat64 ? 1e-12 : 1e-6;
  const bool negate = c["hypers"].value("maximize", false);  // see tools/fixtures/optim_golden.py
  const auto& trajectory = c["trajectory"];
  for (size_t s = 0; s < trajectory.size(); ++s) {
    // The gradient, one operation at a time as the generator computes it.
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
      if (placement == Placement::Arena) {
        NoGradGuard no_grad;
        p.grad().copy_(g);
      } else {
        p.set_grad(g);
      }
    }
    opt->step();
    const std::vector<double> expected = trajectory[s];
    size_t e = 0;
    for (const auto& [name, p] : params) {
      for (double got : p.to_vector()) {
        const double want = expected[e++];
        if (!(std::abs(got - want) <= rtol * std::max(std::abs(want), 1.0))) {
          FAIL() << doc["optimizer"].get<std::string>() << " case '" << c["name"].get<std::string>() << "' ("
                 << c["dtype"].get<std::string>() << ", "
                 << (placement == Placement::Arena ? "arena" : "separate tensors") << "): step " << s + 1
                 << ", element " << e - 1 << ": got " << got << ", reference " << want << " (rel. diff "
                 << std::abs(got - want) / std::max(std::abs(want), 1e-300) << ")";
        }
      }
    }
  }
}

inline void expect_matches_fixture(const std::string& file, const MakeOptimizer& make_optimizer) {
  const nlohmann::json doc = load_fixture(file);
  ASSERT_FALSE(doc["cases"].empty());
  for (const auto& c : doc["cases"]) {
    for (Placement placement : {Placement::SeparateTensors, Placement::Arena}) {
      SCOPED_TRACE(c["name"].get<std::string>() + " " + c["dtype"].get<std::string>());
      if (c["dtype"] == "float64") {
        replay_case<double>(doc, c, make_optimizer, placement);
      } else {
        replay_case<float>(doc, c, make_optimizer, placement);
      }
    }
  }
}

}  // namespace descent::testing
