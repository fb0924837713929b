// Weight averages against torch.optim.swa_utils.AveragedModel (fixtures/averaging.json), the exact swap round trip,
// state dicts, and parameters that move when the arena grows. SWALR's lrs are replayed with the schedules.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>

#include "descent/optim/averaging.hpp"
#include "golden.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

using testing::load_fixture;
using testing::Placement;

struct Model {
  std::unique_ptr<nn::ParamArena> arena = std::make_unique<nn::ParamArena>();
  NamedTensors params;
  std::vector<Tensor> tensors;
};

// Parameters a [3] and b [2, 2], zero-initialised as in the generator.
Model make_model(DType dtype, Placement placement) {
  Model m;
  for (const auto& [name, shape] : {std::pair<std::string, Shape>{"a", {3}}, {"b", {2, 2}}}) {
    Tensor p = placement == Placement::Arena ? m.arena->add(name, shape, dtype) : Tensor::zeros(shape, dtype);
    p.set_requires_grad(true);
    m.params.emplace_back(name, p);
    m.tensors.push_back(p);
  }
  return m;
}

void load(const Model& m, const std::vector<double>& values, size_t offset) {
  NoGradGuard no_grad;
  Tensor(m.tensors[0]).copy_(Tensor::from(std::span<const double>(values.data() + offset, 3), {3}, kFloat64));
  Tensor(m.tensors[1]).copy_(Tensor::from(std::span<const double>(values.data() + offset + 3, 4), {2, 2}, kFloat64));
}

std::vector<double> averaged_values(const WeightAverage& avg) {
  std::vector<double> out;
  for (size_t i = 0; i < avg.size(); ++i)
    for (double v : avg.averaged(i).to_vector()) out.push_back(v);
  return out;
}

std::vector<uint8_t> bytes_of(const std::vector<Tensor>& params) {
  std::vector<uint8_t> out;
  for (const Tensor& p : params) {
    const auto* b = static_cast<const uint8_t*>(p.raw_data());
    out.insert(out.end(), b, b + p.numel() * static_cast<int64_t>(element_size(p.dtype())));
  }
  return out;
}

std::unique_ptr<WeightAverage> make_average(const nlohmann::json& c, const NamedTensors& params) {
  if (c["kind"] == "swa") return std::make_unique<StochasticWeightAverage>(params, SWAOptions{.start = c["start"]});
  EMAOptions o{.decay = c["decay"]};
  if (c["kind"] == "ema_warmup") {
    o.warmup = true;
    o.warmup_gamma = c["warmup_gamma"];
    o.warmup_power = c["warmup_power"];
  }
  return std::make_unique<ExponentialMovingAverage>(params, o);
}

TEST(AveragingTest, MatchesTorchAveragedModel) {
  const nlohmann::json doc = load_fixture("averaging.json");
  ASSERT_EQ(doc["averaging"].size(), 10u);
  for (const auto& c : doc["averaging"]) {
    for (Placement placement : {Placement::SeparateTensors, Placement::Arena}) {
      const DType dtype = c["dtype"] == "float64" ? kFloat64 : kFloat32;
      const double rtol = dtype == kFloat64 ? 1e-12 : 1e-6;
      Model m = make_model(dtype, placement);
      auto avg = make_average(c, m.params);
      const std::vector<double> values = c["values"];
      for (size_t t = 0; t < c["averaged"].size(); ++t) {
        load(m, values, 7 * t);
        avg->update();
        const std::vector<double> want = c["averaged"][t];
        const std::vector<double> got = averaged_values(*avg);
        for (size_t e = 0; e < want.size(); ++e)
          ASSERT_LE(std::abs(got[e] - want[e]), rtol * std::max(std::abs(want[e]), 1.0))
              << c["kind"].get<std::string>() << " " << c["dtype"].get<std::string>() << " update " << t << ", element "
              << e << ": got " << got[e] << ", torch " << want[e];
      }
    }
  }
}

TEST(AveragingTest, SwapRoundTripIsExact) {
  for (Placement placement : {Placement::SeparateTensors, Placement::Arena}) {
    Model m = make_model(kFloat32, placement);
    ExponentialMovingAverage ema(m.params, {.decay = 0.9});
    const std::vector<double> values = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7};
    load(m, values, 0);
    ema.update();
    load(m, values, 7);
    ema.update();
    const std::vector<uint8_t> training = bytes_of(m.tensors);
    const std::vector<double> average = averaged_values(ema);
    {
      SwapInGuard swapped(ema);
      EXPECT_TRUE(ema.swapped_in());
      std::vector<double> in_params;
      for (const Tensor& p : m.tensors)
        for (double v : p.to_vector()) in_params.push_back(v);
      EXPECT_EQ(in_params, average);
      EXPECT_EQ(averaged_values(ema), average);  // still reachable while swapped in
      EXPECT_ERROR_MENTIONS(ema.update(), "update() while the average is swapped in");
    }
    EXPECT_FALSE(ema.swapped_in());
    EXPECT_EQ(bytes_of(m.tensors), training);
    EXPECT_EQ(averaged_values(ema), average);
    EXPECT_ERROR_MENTIONS(ema.swap_out(), "swap_out() without swap_in()");
    ema.copy_to_params();
    std::vector<double> copied;
    for (const Tensor& p : m.tensors)
      for (double v : p.to_vector()) copied.push_back(v);
    EXPECT_EQ(copied, average);
  }
}

TEST(AveragingTest, StateDictResumesBitIdentically) {
  const std::vector<double> values = [] {
    std::vector<double> v(7 * 30);
    for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.37 * static_cast<double>(i));
    return v;
  }();
  for (int kind = 0; kind < 2; ++kind) {
    Model a = make_model(kFloat64, Placement::Arena), b = make_model(kFloat64, Placement::Arena);
    auto make = [&](const NamedTensors& p) -> std::unique_ptr<WeightAverage> {
      if (kind == 0) return std::make_unique<ExponentialMovingAverage>(p, EMAOptions{.decay = 0.95, .warmup = true});
      return std::make_unique<StochasticWeightAverage>(p, SWAOptions{.start = 5, .every = 3});
    };
    auto straight = make(a.params), first = make(b.params);
    for (size_t t = 0; t < 12; ++t) {
      load(a, values, 7 * t);
      straight->update();
      load(b, values, 7 * t);
      first->update();
    }
    const StateDict saved = first->state_dict();
    EXPECT_EQ(saved.state.count("b"), 1u);
    Model c = make_model(kFloat64, Placement::SeparateTensors);
    auto resumed = make(c.params);
    resumed->load_state_dict(saved);
    EXPECT_EQ(resumed->num_averaged(), straight->num_averaged());
    for (size_t t = 12; t < 30; ++t) {
      load(a, values, 7 * t);
      straight->update();
      load(c, values, 7 * t);
      resumed->update();
    }
    EXPECT_EQ(averaged_values(*resumed), averaged_values(*straight)) << resumed->name();
  }
}

TEST(AveragingTest, RefusesStateDictsOfOtherAveragesOrParameters) {
  Model m = make_model(kFloat64, Placement::SeparateTensors);
  ExponentialMovingAverage ema(m.params);
  StochasticWeightAverage swa(m.params);
  EXPECT_ERROR_MENTIONS(swa.load_state_dict(ema.state_dict()),
                        "StochasticWeightAverage: load_state_dict got a state dict of ExponentialMovingAverage");
  ExponentialMovingAverage unnamed_ema(m.tensors);
  EXPECT_ERROR_MENTIONS(unnamed_ema.load_state_dict(ema.state_dict()), "the state dict is for other parameters");
}

TEST(AveragingTest, AverageFollowsParametersWhenTheArenaGrows) {
  nn::ParamArena arena;
  Tensor w = arena.add("w", {4}, kFloat64);
  StochasticWeightAverage swa(NamedTensors{{"w", w}});
  const auto set = [&](double v) {
    NoGradGuard no_grad;
    w.fill_(v);
  };
  set(1.0);
  swa.update();
  for (int i = 0; i < 20; ++i) arena.add("grow" + std::to_string(i), {1000}, kFloat64);  // moves the buffers
  set(3.0);
  swa.update();
  EXPECT_EQ(swa.averaged(0).to_vector(), (std::vector<double>(4, 2.0)));
  swa.swap_in();
  EXPECT_EQ(w.to_vector(), (std::vector<double>(4, 2.0)));
  swa.swap_out();
  EXPECT_EQ(w.to_vector(), (std::vector<double>(4, 3.0)));
}

TEST(AveragingTest, SwaStartsAndSkipsAsAsked) {
  Tensor w = Tensor::zeros({1}, kFloat64);
  w.set_requires_grad(true);
  StochasticWeightAverage swa({w}, {.start = 2, .every = 2});
  for (int t = 0; t < 7; ++t) {
    NoGradGuard no_grad;
    w.fill_(static_cast<double>(t));
    swa.update();
  }
  EXPECT_EQ(swa.num_updates(), 7);
  EXPECT_EQ(swa.num_averaged(), 3);                // updates 2, 4, 6
  EXPECT_EQ(swa.averaged(0).to_vector()[0], 4.0);  // (2 + 4 + 6) / 3
  EXPECT_ERROR_MENTIONS(StochasticWeightAverage({w}, {.every = 0}), "StochasticWeightAverage: every = 0");
  EXPECT_ERROR_MENTIONS(ExponentialMovingAverage({w}, {.decay = 1.5}), "ExponentialMovingAverage: decay = 1.5");
}

TEST(AveragingTest, EmaWarmupRampsTheDecay) {
  Tensor w = Tensor::zeros({1}, kFloat64);
  w.set_requires_grad(true);
  ExponentialMovingAverage ema({w}, {.decay = 0.999, .warmup = true});
  EXPECT_NEAR(ema.decay_at(1), 1 - std::pow(2.0, -0.75), 1e-15);
  EXPECT_EQ(ema.decay_at(100000000), 0.999);
}

}  // namespace
}  // namespace descent::optim
