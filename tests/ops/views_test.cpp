#include <gtest/gtest.h>

#include "support/testing.hpp"

namespace descent {
namespace {

using testing::expect_gradcheck;
using testing::sample;
using testing::values;

TEST(ViewsTest, ViewsShareStorage) {
  const Tensor x = Tensor::arange(12, kFloat64).reshape({3, 4});
  EXPECT_EQ(x.transpose(0, 1).storage(), x.storage());
  EXPECT_EQ(x.slice(1, 1, 3).storage(), x.storage());
  EXPECT_EQ(x.unsqueeze(0).storage(), x.storage());
  EXPECT_EQ(x.select(0, 1).storage(), x.storage());
  EXPECT_EQ(x.reshape({4, 3}).storage(), x.storage());
  EXPECT_EQ(x.slice(0, 0, 1).expand({5, 4}).storage(), x.storage());
}

TEST(ViewsTest, ReshapeInfersOneAxisAndChecksCount) {
  const Tensor x = Tensor::arange(12);
  EXPECT_EQ(x.reshape({3, -1}).shape(), (Shape{3, 4}));
  EXPECT_ERROR_MENTIONS(x.reshape({5, -1}), "cannot reshape [12]");
  EXPECT_ERROR_MENTIONS(x.reshape({-1, -1}), "more than one -1");
}

TEST(ViewsTest, ReshapeOfTransposedViewCopiesInLogicalOrder) {
  const Tensor x = Tensor::arange(6, kFloat64).reshape({2, 3});
  EXPECT_EQ(values(x.t().reshape({6})), (std::vector<double>{0, 3, 1, 4, 2, 5}));
}

TEST(ViewsTest, SliceFollowsPythonRules) {
  const Tensor x = Tensor::arange(10, kFloat64);
  EXPECT_EQ(values(x.slice(0, 2, 8, 3)), (std::vector<double>{2, 5}));
  EXPECT_EQ(values(x.slice(0, -3, 100)), (std::vector<double>{7, 8, 9}));
  EXPECT_EQ(x.slice(0, 5, 2).numel(), 0);
  EXPECT_ERROR_MENTIONS(x.slice(0, 0, 5, 0), "step 0 must be positive");
  EXPECT_ERROR_MENTIONS(x.slice(1, 0, 5), "slice: axis 1 is out of range");
}

TEST(ViewsTest, PermuteAndTransposeReorderAxes) {
  const Tensor x = Tensor::arange(24, kFloat64).reshape({2, 3, 4});
  const Tensor p = x.permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.at({3, 1, 2}), x.at({1, 2, 3}));
  EXPECT_ERROR_MENTIONS(x.permute({0, 0, 1}), "appears twice");
  EXPECT_ERROR_MENTIONS(x.t(), "at most 2 dimensions");
}

TEST(ViewsTest, ExpandBroadcastsWithStrideZero) {
  const Tensor x = Tensor::from({1, 2, 3}, {3, 1}, kFloat64);
  const Tensor e = x.expand({2, 3, 4});
  EXPECT_EQ(e.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(e.strides()[0], 0);
  EXPECT_EQ(e.at({1, 2, 3}), 3.0);
  EXPECT_ERROR_MENTIONS(x.expand({2, 4}), "cannot expand [3, 1] to [2, 4]");
}

TEST(ViewsTest, SqueezeRefusesNonUnitAxis) {
  const Tensor x = Tensor::zeros({2, 1});
  EXPECT_EQ(x.squeeze(1).shape(), (Shape{2}));
  EXPECT_ERROR_MENTIONS(x.squeeze(0), "has size 2, not 1");
}

TEST(ViewsTest, ContiguousCopiesOnlyWhenNeeded) {
  const Tensor x = Tensor::arange(6).reshape({2, 3});
  EXPECT_EQ(x.contiguous().impl(), x.impl());
  const Tensor t = x.t().contiguous();
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_NE(t.storage(), x.storage());
}

TEST(ViewsTest, CatAndStackJoinAlongAxis) {
  const Tensor a = Tensor::from({1, 2}, {1, 2}, kFloat64);
  const Tensor b = Tensor::from({3, 4, 5, 6}, {2, 2}, kFloat64);
  EXPECT_EQ(values(cat({a, b}, 0)), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(stack({a, a}, 0).shape(), (Shape{2, 1, 2}));
  EXPECT_ERROR_MENTIONS(cat({a, b}, 1), "differ outside axis 1");
  EXPECT_ERROR_MENTIONS(cat({a, a.to(kFloat32)}), "dtypes differ");
}

TEST(ViewsTest, ToConvertsDtype) {
  const Tensor x = Tensor::from({1.5, 2.5}, {2}, kFloat64);
  EXPECT_EQ(x.to(kFloat32).dtype(), kFloat32);
  EXPECT_EQ(values(x.to(kFloat32)), (std::vector<double>{1.5, 2.5}));
}

// Every view is differentiable: checked against finite differences, multiplied by a fixed tensor so that the
// gradient reaching the view is not all ones.
TEST(ViewsGradTest, EveryViewPassesGradcheck) {
  const Tensor x = sample({2, 3, 4});
  auto weighted = [](const Tensor& y) { return y * sample(y.shape(), kFloat64, 99); };
  expect_gradcheck([&](const std::vector<Tensor>& in) { return weighted(in[0].reshape({4, 6})); }, {x});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return weighted(in[0].transpose(0, 2)); }, {x});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return weighted(in[0].permute({1, 2, 0})); }, {x});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return weighted(in[0].slice(2, 1, 4, 2)); }, {x});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return weighted(in[0].select(1, -1)); }, {x});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return weighted(in[0].unsqueeze(1).squeeze(1)); }, {x});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return weighted(in[0].transpose(0, 1).contiguous()); }, {x});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return weighted(in[0].clone()); }, {x});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return weighted(in[0].slice(0, 0, 1).expand({3, 3, 4})); },
                   {x});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return weighted(in[0].t().reshape({-1})); },
                   {sample({3, 5})});
}

TEST(ViewsGradTest, CatAndStackPassGradcheck) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return cat({in[0], in[1]}, 1) * sample({2, 5}, kFloat64, 7); },
                   (std::vector<Tensor>{sample({2, 2}), sample({2, 3}, kFloat64, 2)}));
  expect_gradcheck([](const std::vector<Tensor>& in) { return stack({in[0], in[1]}, 1) * sample({2, 2, 3}, kFloat64, 8); },
                   (std::vector<Tensor>{sample({2, 3}), sample({2, 3}, kFloat64, 3)}));
}

TEST(ViewsGradTest, SliceSecondDerivativeFlows) {
  Tensor x = sample({4});
  x.set_requires_grad(true);
  const Tensor y = sum(x.slice(0, 1, 3) * x.slice(0, 1, 3) * x.slice(0, 1, 3));
  const auto g = autograd::grad({y}, {x}, {}, false, true);
  const auto h = autograd::grad({sum(g[0])}, {x});
  const auto xv = values(x);
  EXPECT_EQ(values(h[0]), (std::vector<double>{0, 6 * xv[1], 6 * xv[2], 0}));
}

}  // namespace
}  // namespace descent
