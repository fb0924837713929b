#include <gtest/gtest.h>

#include "support/testing.hpp"

namespace descent::nn {
namespace {

using descent::testing::values;

TEST(ArenaTest, ParametersAreAlignedViewsOfOneBuffer) {
  ParamArena arena;
  const Tensor a = arena.add("a", {3});
  const Tensor b = arena.add("b", {2, 5});
  const Tensor c = arena.add("c", {4}, kFloat64);
  EXPECT_EQ(a.storage(), b.storage());
  EXPECT_EQ(a.offset(), 0);
  EXPECT_EQ(b.offset(), 16);  // next 64-byte line of float32
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.raw_data()) % 64, 0u);
  EXPECT_EQ(arena.buffer_size(kFloat32), 26);
  EXPECT_EQ(arena.buffer_size(kFloat64), 4);
  EXPECT_EQ(arena.num_parameters(), 17);
  EXPECT_NE(c.storage(), a.storage());
  EXPECT_TRUE(a.requires_grad());
  EXPECT_EQ(a.grad().storage(), b.grad().storage());
  EXPECT_EQ(a.grad().offset(), a.offset());
}

TEST(ArenaTest, SpansSeeWritesThroughTensors) {
  ParamArena arena;
  Tensor w = arena.add("w", {2});
  {
    NoGradGuard no_grad;
    w.copy_(Tensor::from({1.5, 2.5}, {2}));
  }
  const auto params = arena.params<float>();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0], 1.5f);
  params[1] = 7.0f;
  EXPECT_EQ(values(w), (std::vector<double>{1.5, 7.0}));
}

TEST(ArenaTest, BackwardAccumulatesIntoTheGradientBuffer) {
  ParamArena arena;
  Tensor w = arena.add("w", {3}, kFloat64);
  {
    NoGradGuard no_grad;
    w.copy_(Tensor::from({1, 2, 3}, {3}, kFloat64));
  }
  sum(w * w).backward();
  sum(w * w).backward();
  const auto grads = arena.grads<double>();
  EXPECT_EQ(std::vector<double>(grads.begin(), grads.end()), (std::vector<double>{4, 8, 12}));
  arena.zero_grad();
  EXPECT_EQ(values(w.grad()), (std::vector<double>{0, 0, 0}));
}

TEST(ArenaTest, GrowthKeepsValuesAndRebindsHandles) {
  ParamArena arena;
  Tensor first = arena.add("first", {10});
  {
    NoGradGuard no_grad;
    first.fill_(3.0);
  }
  Tensor grad_handle = first.grad();
  for (int i = 0; i < 50; ++i) arena.add("p" + std::to_string(i), {100});
  EXPECT_EQ(values(first), std::vector<double>(10, 3.0));
  EXPECT_EQ(arena.params<float>().data(), first.data<float>());
  EXPECT_EQ(grad_handle.storage(), first.grad().storage());
}

TEST(ArenaTest, AdoptMovesParametersWithPrefix) {
  ParamArena parent;
  ParamArena child;
  parent.add("bias", {2});
  Tensor w = child.add("weight", {3});
  {
    NoGradGuard no_grad;
    w.fill_(2.0);
  }
  parent.adopt(child, "layer");
  EXPECT_TRUE(child.entries().empty());
  EXPECT_EQ(parent.entry("layer.weight").param.impl(), w.impl());
  EXPECT_EQ(w.storage(), parent.entry("bias").param.storage());
  EXPECT_EQ(values(w), std::vector<double>(3, 2.0));
}

TEST(ArenaTest, ErrorsNameTheParameter) {
  ParamArena arena;
  arena.add("w", {2});
  EXPECT_ERROR_MENTIONS(arena.add("w", {2}), "parameter 'w' exists");
  EXPECT_ERROR_MENTIONS(arena.entry("nope"), "no parameter named 'nope'");
  EXPECT_ERROR_MENTIONS(arena.add("x", {-1}), "negative dimension");
}

TEST(ArenaTest, ZeroGradRestoresArenaViewAfterReplacement) {
  ParamArena arena;
  Tensor w = arena.add("w", {2}, kFloat64);
  w.set_grad(Tensor::ones({2}, kFloat64));
  EXPECT_NE(w.grad().storage(), arena.grads_tensor(kFloat64).storage());
  arena.zero_grad();
  EXPECT_EQ(w.grad().storage(), arena.grads_tensor(kFloat64).storage());
}

}  // namespace
}  // namespace descent::nn
