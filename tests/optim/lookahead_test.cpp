// Lookahead against the paper's algorithm around torch.optim.SGD and Adam (fixtures/averaging.json), its state dict,
// and its place among the optimizers (hyperparameters, schedules).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>

#include "descent/optim/lookahead.hpp"
#include "descent/optim/schedule.hpp"
#include "golden.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

std::unique_ptr<Optimizer> make_inner(const nlohmann::json& c, const NamedTensors& params) {
  std::unique_ptr<Optimizer> opt;
  if (c["optimizer"] == "SGD") {
    opt = std::make_unique<SGD>(params);
  } else {
    opt = std::make_unique<Adam>(params);
  }
  for (const auto& [key, value] : c["hypers"].items()) opt->set(key, testing::hyper_from_json(value));
  return opt;
}

void set_grad(Tensor& p, const std::vector<double>& h, const std::vector<double>& target) {
  const std::vector<double> x = p.to_vector();
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) g[i] = h[i] * (x[i] - target[i]);
  NoGradGuard no_grad;
  p.grad().copy_(Tensor::from(std::span<const double>(g), {static_cast<int64_t>(g.size())}, kFloat64));
}

TEST(LookaheadTest, MatchesThePapersAlgorithmAroundTorchOptimizers) {
  const nlohmann::json doc = testing::load_fixture("averaging.json");
  for (const auto& c : doc["lookahead"]) {
    nn::ParamArena arena;
    Tensor p = arena.add("p", {5}, kFloat64);
    {
      NoGradGuard no_grad;
      const std::vector<double> init = c["init"];
      p.copy_(Tensor::from(std::span<const double>(init), {5}, kFloat64));
    }
    auto inner = make_inner(c, NamedTensors{{"p", p}});
    Lookahead opt(*inner, {.k = c["k"], .alpha = c["alpha"]});
    for (size_t t = 0; t < c["trajectory"].size(); ++t) {
      set_grad(p, c["h"], c["target"]);
      opt.step();
      const std::vector<double> want = c["trajectory"][t], got = p.to_vector();
      for (size_t e = 0; e < want.size(); ++e)
        ASSERT_NEAR(got[e], want[e], 1e-12 * std::max(std::abs(want[e]), 1.0))
            << opt.name() << " step " << t + 1 << ", element " << e;
    }
  }
}

TEST(LookaheadTest, StateDictResumesBitIdentically) {
  const std::vector<double> h = {1.0, 2.0, 0.5}, target = {0.3, -1.0, 2.0};
  auto make_param = [] {
    Tensor p = Tensor::from({1.0, 1.0, 1.0}, {3}, kFloat64);
    p.set_requires_grad(true);
    p.set_grad(Tensor::zeros({3}, kFloat64));
    return p;
  };
  Tensor a = make_param(), b = make_param();
  Adam inner_a({a}, {.lr = 0.05}), inner_b({b}, {.lr = 0.05});
  Lookahead straight(inner_a, {.k = 4, .alpha = 0.6}), first(inner_b, {.k = 4, .alpha = 0.6});
  for (int t = 0; t < 6; ++t) {  // mid-cycle: 2 fast steps since the last synchronisation
    set_grad(a, h, target);
    straight.step();
    set_grad(b, h, target);
    first.step();
  }
  const StateDict saved = first.state_dict();
  EXPECT_EQ(saved.optimizer, "Lookahead(Adam)");
  EXPECT_EQ(saved.state.at("0").buffers.count("lookahead_slow_buff"), 1u);
  EXPECT_EQ(std::get<int64_t>(saved.groups[0].at("lookahead_k")), 4);

  Tensor c = make_param();
  {
    NoGradGuard no_grad;
    c.copy_(b);
  }
  Adam inner_c({c}, {.lr = 1.0});
  Lookahead resumed(inner_c, {.k = 2, .alpha = 0.1});  // options come from the dict
  resumed.load_state_dict(saved);
  EXPECT_EQ(resumed.options().k, 4);
  EXPECT_EQ(resumed.steps(), 6);
  EXPECT_EQ(inner_c.lr(), 0.05);
  for (int t = 0; t < 9; ++t) {
    set_grad(a, h, target);
    straight.step();
    set_grad(c, h, target);
    resumed.step();
  }
  EXPECT_EQ(a.to_vector(), c.to_vector());
}

TEST(LookaheadTest, StateDictBeforeAnyStepRoundTrips) {
  Tensor p = Tensor::from({1.0, 2.0}, {2}, kFloat64);
  p.set_requires_grad(true);
  SGD inner({p}, {.lr = 0.1});
  Lookahead opt(inner);
  const StateDict fresh = opt.state_dict();  // only the slow weights: the inner optimizer has no state yet
  Lookahead again(inner);
  again.load_state_dict(fresh);
  EXPECT_EQ(again.slow_weights(0).to_vector(), (std::vector<double>{1.0, 2.0}));
  EXPECT_ERROR_MENTIONS(again.load_state_dict(inner.state_dict()),
                        "Lookahead(SGD): load_state_dict got a state dict of SGD");
}

TEST(LookaheadTest, HyperparametersAndSchedulesReachTheInnerOptimizer) {
  Tensor p = Tensor::zeros({2}, kFloat64);
  p.set_requires_grad(true);
  SGD inner({p}, {.lr = 0.1, .momentum = 0.9});
  Lookahead opt(inner, {.k = 3});
  EXPECT_EQ(std::get<int64_t>(opt.get("lookahead_k")), 3);
  EXPECT_EQ(std::get<double>(opt.get("momentum")), 0.9);
  opt.set("lookahead_alpha", 0.25);
  EXPECT_EQ(opt.options().alpha, 0.25);
  EXPECT_ERROR_MENTIONS(opt.set("lookahead_k", int64_t{0}), "Lookahead: lookahead_k = 0 must be an integer >= 1");
  StepLR schedule(opt, {.step_size = 1, .gamma = 0.5});
  schedule.step();
  EXPECT_EQ(inner.lr(), 0.05);
  EXPECT_EQ(opt.params(0).size(), 1u);
}

TEST(LookaheadTest, SlowWeightsFollowTheArenaWhenItGrows) {
  nn::ParamArena arena;
  Tensor p = arena.add("p", {2}, kFloat64);
  SGD inner(NamedTensors{{"p", p}}, {.lr = 1.0});
  Lookahead opt(inner, {.k = 2, .alpha = 0.5});
  NoGradGuard no_grad;
  p.grad().fill_(1.0);
  opt.step();                                                                            // p = −1
  for (int i = 0; i < 20; ++i) arena.add("grow" + std::to_string(i), {1000}, kFloat64);  // moves the buffers
  p.grad().fill_(1.0);
  opt.step();  // p = −2, then the slow weights: 0 + 0.5·(−2 − 0) = −1
  EXPECT_EQ(p.to_vector(), (std::vector<double>{-1.0, -1.0}));
  EXPECT_EQ(opt.slow_weights(0).to_vector(), (std::vector<double>{-1.0, -1.0}));
}

}  // namespace
}  // namespace descent::optim
