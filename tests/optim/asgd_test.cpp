#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "descent/optim/asgd.hpp"
#include "golden.hpp"
#include "roundtrip.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(ASGDTest, MatchesTorchWithAndWithoutAveragingWeightDecayAndMaximize) {
  testing::expect_matches_fixture("asgd.json", testing::make<ASGD>());
}

// The average ax is ASGD's answer, and the parameter trajectories do not show it: asgd_ax.json holds torch's ax
// after every step of the same cases (tools/fixtures/gen_torch_optim.py). Replayed on separate tensors with the
// golden problem's gradient, computed as golden.hpp computes it.
template <class T>
void expect_ax_matches(const nlohmann::json& doc, const nlohmann::json& c) {
  const DType dtype = dtype_of<T>();
  const auto& prob = doc["problem"];
  const std::vector<double> h = prob["h"], t = prob["t"], init = prob["init"];
  const T k = static_cast<T>(prob["k"].get<double>());
  const std::vector<std::vector<int64_t>> shapes = doc["shapes"];
  std::vector<Tensor> params;
  size_t start = 0;
  for (const auto& dims : shapes) {
    const Shape shape(dims.begin(), dims.end());
    Tensor p = Tensor::empty(shape, dtype);
    const std::vector<double> values(init.begin() + start, init.begin() + start + p.numel());
    p.copy_(Tensor::from(std::span<const double>(values), shape, kFloat64));
    p.set_requires_grad(true);
    start += static_cast<size_t>(p.numel());
    params.push_back(p);
  }
  ASGD opt(params);
  for (const auto& [key, value] : c["hypers"].items()) opt.set(key, testing::hyper_from_json(value));
  const bool negate = c["hypers"].value("maximize", false);
  const double rtol = dtype == kFloat64 ? 1e-12 : 1e-6;
  const auto& expected = c["ax"];
  for (size_t s = 0; s < expected.size(); ++s) {
    size_t offset = 0;
    for (Tensor& p : params) {
      Tensor g = Tensor::empty(p.shape(), dtype);
      const T* pp = p.data<T>();
      T* gp = g.data<T>();
      for (int64_t e = 0; e < p.numel(); ++e, ++offset) {
        const T x = pp[e];
        gp[e] = static_cast<T>(h[offset]) * (x - static_cast<T>(t[offset])) + k * (x * x * x);
        if (negate) gp[e] = -gp[e];
      }
      p.set_grad(g);
    }
    opt.step();
    std::vector<double> got;
    for (const Tensor& p : params)
      for (double v : opt.state(p, "ax").to_vector()) got.push_back(v);
    const std::vector<double> want = expected[s];
    for (size_t e = 0; e < want.size(); ++e) {
      ASSERT_LE(std::abs(got[e] - want[e]), rtol * std::max(std::abs(want[e]), 1.0))
          << "case '" << c["name"].get<std::string>() << "' (" << c["dtype"].get<std::string>() << "): step " << s + 1
          << ", element " << e << ": ax " << got[e] << ", torch " << want[e];
    }
  }
}

TEST(ASGDTest, AverageMatchesTorchsAx) {
  const nlohmann::json doc = testing::load_fixture("asgd_ax.json");
  ASSERT_FALSE(doc["cases"].empty());
  for (const auto& c : doc["cases"]) {
    if (c["dtype"] == "float64") {
      expect_ax_matches<double>(doc, c);
    } else {
      expect_ax_matches<float>(doc, c);
    }
  }
}

TEST(ASGDTest, InvalidHyperparametersNameTheRange) {
  Tensor w = Tensor::zeros({1});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(ASGD({w}, {.lambd = -0.25}), "ASGD: lambd = -0.25 must be a finite number >= 0");
  EXPECT_ERROR_MENTIONS(ASGD({w}, {.t0 = -1.0}), "ASGD: t0 = -1 is outside [0, inf]");
  ASGD opt({w});
  EXPECT_ERROR_MENTIONS(opt.set("alpha", -0.75), "ASGD: alpha = -0.75");
}

TEST(ASGDTest, AxFollowsTheParametersUntilT0ThenAverages) {
  Tensor w = Tensor::zeros({1}, kFloat64);
  w.set_requires_grad(true);
  ASGD opt({w}, {.lr = 0.5, .lambd = 0.0, .t0 = 1.0});
  std::vector<double> trajectory;
  for (int s = 0; s < 4; ++s) {
    w.set_grad(Tensor::from({-1.0}, {1}, kFloat64));
    opt.step();
    trajectory.push_back(w.item());
  }
  EXPECT_EQ(trajectory, (std::vector<double>{0.5, 1.0, 1.5, 2.0}));  // λ = 0: plain SGD with η = lr
  // Step t uses μ = 1/max(1, t − 1 − t0), computed after step t − 1: steps 1–3 copy p, step 4 averages with ½.
  EXPECT_EQ(opt.state(w, "ax").item(), 1.5 + (2.0 - 1.5) * 0.5);
  // After step 4, μ = 1/3 held in float32 as torch holds it; λ = 0 keeps η at lr.
  const StateDict dict = opt.state_dict();
  EXPECT_EQ(dict.scalars.at(0).at("mu"), static_cast<double>(static_cast<float>(1.0 / 3.0)));
  EXPECT_EQ(dict.scalars.at(0).at("eta"), 0.5);
}

TEST(ASGDTest, StateDictRoundTripContinuesBitIdentically) {
  const StateDict saved = testing::expect_round_trip_continues_bit_identically<ASGD>(
      ASGDOptions{.lr = 0.05, .lambd = 0.01, .t0 = 4.0},
      ASGDOptions{.lr = 0.02, .lambd = 0.1, .alpha = 0.5, .t0 = 2.0, .weight_decay = 0.1, .maximize = true});
  EXPECT_EQ(saved.scalars.at(1).count("eta"), 1u);
  EXPECT_EQ(saved.state.at("0").buffers.count("ax"), 1u);
}

TEST(ASGDTest, ArenaRunMatchesSeparateTensorsBitwise) {
  testing::expect_arena_run_matches_separate_tensors<ASGD>(
      ASGDOptions{.lr = 0.05, .lambd = 0.01, .t0 = 3.0, .weight_decay = 0.1});
}

}  // namespace
}  // namespace descent::optim
