// The shared machinery: parameter groups, hyperparameters between steps, state dicts, runs over the arena.
#include <gtest/gtest.h>

#include <cstring>

#include "support/testing.hpp"

namespace descent::optim {
namespace {

Tensor param(std::initializer_list<double> v, DType dtype = kFloat64) {
  Tensor t = Tensor::from(v, {static_cast<int64_t>(v.size())}, dtype);
  t.set_requires_grad(true);
  return t;
}

// Gradient of 0.5·‖p − 1‖²·(i+1) for parameter i: deterministic and different per parameter.
void fill_grads(const std::vector<Tensor>& params) {
  NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor g = (params[i].detach() - 1.0) * static_cast<double>(i + 1);
    Tensor p = params[i];
    if (p.grad().defined()) {
      p.grad().copy_(g);
    } else {
      p.set_grad(g);
    }
  }
}

std::vector<uint8_t> bytes_of(const std::vector<Tensor>& params) {
  std::vector<uint8_t> out;
  for (const Tensor& p : params) {
    const auto* b = static_cast<const uint8_t*>(p.raw_data());
    out.insert(out.end(), b, b + p.numel() * static_cast<int64_t>(element_size(p.dtype())));
  }
  return out;
}

TEST(OptimizerTest, GroupsKeepTheirOwnHyperparameters) {
  Tensor a = param({0.0});
  Tensor b = param({0.0});
  SGD opt({a}, {.lr = 0.1});
  opt.add_param_group({b}, {.lr = 0.01});
  fill_grads({a, b});
  opt.step();
  EXPECT_DOUBLE_EQ(a.item(), 0.1);   // −0.1 · (0 − 1)
  EXPECT_DOUBLE_EQ(b.item(), 0.02);  // −0.01 · 2 · (0 − 1)
  EXPECT_EQ(opt.num_groups(), 2u);
  EXPECT_DOUBLE_EQ(opt.lr(1), 0.01);
}

TEST(OptimizerTest, LearningRateChangesBetweenSteps) {
  Tensor a = param({0.0});
  SGD opt({a}, {.lr = 0.1});
  fill_grads({a});
  opt.step();
  opt.set_lr(0.5);
  fill_grads({a});
  opt.step();
  EXPECT_DOUBLE_EQ(a.item(), 0.1 + 0.5 * 0.9);
  EXPECT_EQ(hyper_str(opt.get("lr")), "0.5");
}

TEST(OptimizerTest, ZeroGradZeroesInPlace) {
  Tensor a = param({1.0, 2.0});
  SGD opt({a});
  fill_grads({a});
  const void* before = a.grad().raw_data();
  opt.zero_grad();
  EXPECT_EQ(a.grad().raw_data(), before);
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{0.0, 0.0}));
}

// After backward with create_graph the gradient carries its graph; zero_grad must drop it, or the next gradient
// is added to it and a Hessian-vector product differentiates the old graph as well.
TEST(OptimizerTest, ZeroGradDropsTheGraphOfACreateGraphGradient) {
  Tensor a = param({1.0, 2.0});
  SGD opt({a});
  sum(a * a * a).backward(Tensor(), false, /*create_graph=*/true);  // ∇ = 3a², H = diag(6a)
  ASSERT_TRUE(a.grad().requires_grad());
  opt.zero_grad();
  EXPECT_FALSE(a.grad().requires_grad());
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{0.0, 0.0}));
  sum(a * a).backward(Tensor(), false, /*create_graph=*/true);  // ∇ = 2a, H = 2I
  const Tensor v = Tensor::from({1.0, 1.0}, {2}, kFloat64);
  const std::vector<Tensor> hv = autograd::grad({sum(a.grad() * v)}, {a});
  EXPECT_EQ(hv[0].to_vector(), (std::vector<double>{2.0, 2.0}));  // not 2 + 6a
  opt.zero_grad();  // the graph of a.grad refers to a (a cycle, as in PyTorch): dropped, or both leak
  EXPECT_FALSE(a.grad().requires_grad());
}

TEST(OptimizerTest, StepWithClosureEvaluatesThenSteps) {
  Tensor a = param({3.0});
  SGD opt({a}, {.lr = 0.25});
  const double loss = opt.step([&] {
    opt.zero_grad();
    Tensor l = sum(a * a);
    l.backward();
    return l.item();
  });
  EXPECT_EQ(loss, 9.0);
  EXPECT_DOUBLE_EQ(a.item(), 3.0 - 0.25 * 6.0);
}

TEST(OptimizerTest, StateDictRoundTripContinuesBitIdentically) {
  for (DType dtype : {kFloat32, kFloat64}) {
    auto make_params = [&] { return std::vector<Tensor>{param({0.5, -1.5, 2.0}, dtype), param({3.0}, dtype)}; };
    std::vector<Tensor> straight = make_params();
    Adam reference({straight[0]}, {.lr = 0.05, .amsgrad = true});
    reference.add_param_group({straight[1]}, {.lr = 0.02, .weight_decay = 0.1});
    std::vector<Tensor> resumed = make_params();
    Adam first({resumed[0]}, {.lr = 0.05, .amsgrad = true});
    first.add_param_group({resumed[1]}, {.lr = 0.02, .weight_decay = 0.1});

    for (int s = 0; s < 10; ++s) {
      fill_grads(straight);
      reference.step();
      fill_grads(resumed);
      first.step();
    }
    const StateDict saved = first.state_dict();
    EXPECT_EQ(saved.state.at("0").step, 10);
    EXPECT_EQ(saved.state.at("0").buffers.count("max_exp_avg_sq"), 1u);

    // A fresh optimizer with other hyperparameters takes everything from the dict.
    Adam second({resumed[0]}, {.lr = 1.0});
    second.add_param_group({resumed[1]}, {.lr = 1.0});
    second.load_state_dict(saved);
    EXPECT_DOUBLE_EQ(second.lr(1), 0.02);
    for (int s = 0; s < 10; ++s) {
      fill_grads(straight);
      reference.step();
      fill_grads(resumed);
      second.step();
    }
    EXPECT_EQ(bytes_of(straight), bytes_of(resumed)) << dtype;
  }
}

TEST(OptimizerTest, MismatchedStateDictsAreRefusedAndChangeNothing) {
  Tensor a = param({1.0, 2.0});
  Adam adam({a}, {.lr = 0.1});
  fill_grads({a});
  adam.step();
  const StateDict dict = adam.state_dict();

  Tensor b = param({1.0, 2.0});
  SGD sgd({b});
  EXPECT_ERROR_MENTIONS(sgd.load_state_dict(dict), "SGD: load_state_dict got a state dict of Adam");

  Tensor c = param({1.0, 2.0, 3.0});
  Adam other_shape({c}, {.lr = 0.3});
  EXPECT_ERROR_MENTIONS(other_shape.load_state_dict(dict), "the parameter is Tensor(float64, [3])");
  EXPECT_DOUBLE_EQ(other_shape.lr(), 0.3);  // unchanged after the refusal

  Adam two_params({param({1.0, 2.0}), param({1.0})});
  EXPECT_ERROR_MENTIONS(two_params.load_state_dict(dict), "has 1 parameters, this optimizer's has 2");

  Adam named(NamedTensors{{"w", param({1.0, 2.0})}});
  EXPECT_ERROR_MENTIONS(named.load_state_dict(dict), "state dict parameter '0' does not match this optimizer's 'w'");
}

TEST(OptimizerTest, ArenaParametersAreSteppedAsOneRun) {
  nn::ParamArena arena;
  std::vector<Tensor> params{arena.add("a", {5}, kFloat64), arena.add("b", {3}, kFloat64),
                             arena.add("c", {7}, kFloat64)};
  std::vector<Tensor> loose{param({0, 0, 0, 0, 0}), param({0, 0, 0}), param({0, 0, 0, 0, 0, 0, 0})};
  Adam fused(params, {.lr = 0.1, .weight_decay = 0.01, .decoupled_weight_decay = true});
  Adam separate(loose, {.lr = 0.1, .weight_decay = 0.01, .decoupled_weight_decay = true});
  for (int s = 0; s < 5; ++s) {
    fill_grads(params);
    fused.step();
    fill_grads(loose);
    separate.step();
  }
  EXPECT_EQ(bytes_of(params), bytes_of(loose));
  // The padding between parameters stays zero in parameters, gradients and state.
  const auto p = arena.params<double>();
  for (size_t i = 5; i < 8; ++i) EXPECT_EQ(p[i], 0.0);
}

TEST(OptimizerTest, StateFollowsParametersWhenTheArenaGrows) {
  nn::ParamArena arena;
  Tensor a = arena.add("a", {4}, kFloat64);
  Tensor loose = param({0, 0, 0, 0});
  Adam opt(NamedTensors{{"a", a}}, {.lr = 0.1});
  Adam reference({loose}, {.lr = 0.1});
  fill_grads({a});
  opt.step();
  fill_grads({loose});
  reference.step();
  for (int i = 0; i < 20; ++i) arena.add("grow" + std::to_string(i), {1000}, kFloat64);  // moves the buffers
  fill_grads({a});
  opt.step();
  fill_grads({loose});
  reference.step();
  EXPECT_EQ(bytes_of({a}), bytes_of({loose}));
}

TEST(OptimizerTest, NamedParametersKeyTheStateDict) {
  nn::ParamArena arena;
  Tensor w = arena.add("layer.weight", {2}, kFloat64);
  SGD opt(NamedTensors{{"layer.weight", w}}, {.lr = 0.1, .momentum = 0.9});
  fill_grads({w});
  opt.step();
  const StateDict dict = opt.state_dict();
  ASSERT_EQ(dict.state.count("layer.weight"), 1u);
  EXPECT_EQ(dict.state.at("layer.weight").buffers.count("momentum_buffer"), 1u);
}

}  // namespace
}  // namespace descent::optim
