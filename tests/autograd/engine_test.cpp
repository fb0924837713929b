#include <gtest/gtest.h>

#include "support/testing.hpp"

namespace descent {
namespace {

using testing::values;

Tensor leaf(std::initializer_list<double> v, const Shape& shape) {
  Tensor t = Tensor::from(v, shape, kFloat64);
  t.set_requires_grad(true);
  return t;
}

TEST(EngineTest, ScalarBackwardFillsLeafGradients) {
  Tensor x = leaf({1, 2, 3}, {3});
  Tensor w = leaf({4, 5, 6}, {3});
  sum(x * w).backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{4, 5, 6}));
  EXPECT_EQ(values(w.grad()), (std::vector<double>{1, 2, 3}));
}

TEST(EngineTest, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = leaf({1, 2}, {2});
  sum(x * x).backward();
  sum(x * x).backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{4, 8}));
}

TEST(EngineTest, TensorUsedTwiceSumsItsGradients) {
  Tensor x = leaf({3}, {1});
  Tensor y = x * x + x;  // dy/dx = 2x + 1
  y.backward(Tensor::ones({1}, kFloat64));
  EXPECT_EQ(values(x.grad()), (std::vector<double>{7}));
}

TEST(EngineTest, NonScalarNeedsSeed) {
  Tensor x = leaf({1, 2}, {2});
  EXPECT_ERROR_MENTIONS((x * x).backward(), "is not a scalar; pass a seed");
  EXPECT_ERROR_MENTIONS((x * x).backward(Tensor::ones({3}, kFloat64)), "does not match output");
}

TEST(EngineTest, BackwardOnTensorWithoutGradIsAnError) {
  const Tensor x = Tensor::ones({1}, kFloat64);
  EXPECT_ERROR_MENTIONS((x * x).backward(), "does not require grad");
}

TEST(EngineTest, SecondBackwardThroughFreedGraphIsAnError) {
  Tensor x = leaf({1, 2}, {2});
  Tensor loss = sum(x * x);
  loss.backward();
  EXPECT_ERROR_MENTIONS(loss.backward(), "was freed by an earlier backward");
}

TEST(EngineTest, RetainGraphAllowsSecondBackward) {
  Tensor x = leaf({1, 2}, {2});
  Tensor loss = sum(x * x);
  loss.backward(Tensor(), /*retain_graph=*/true);
  loss.backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{4, 8}));
}

TEST(EngineTest, NoGradRecordsNothing) {
  Tensor x = leaf({1, 2}, {2});
  NoGradGuard no_grad;
  const Tensor y = x * x;
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(y.is_leaf());
}

TEST(EngineTest, DetachCutsTheGraphButSharesStorage) {
  Tensor x = leaf({1, 2}, {2});
  const Tensor d = (x * x).detach();
  EXPECT_FALSE(d.requires_grad());
  Tensor y = x * d;  // d is a constant here
  sum(y).backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{1, 4}));
  const Tensor view = x.detach();
  EXPECT_EQ(view.raw_data(), x.raw_data());
}

TEST(EngineTest, RetainGradKeepsNonLeafGradient) {
  Tensor x = leaf({1, 2}, {2});
  Tensor h = x * x;
  h.retain_grad();
  Tensor other = x * x;
  sum(h * 3.0 + other).backward();
  EXPECT_EQ(values(h.grad()), (std::vector<double>{3, 3}));
  EXPECT_FALSE(other.grad().defined());
}

TEST(EngineTest, LeafGradientIsNotAliasedWithAnotherLeaf) {
  Tensor a = leaf({1}, {1});
  Tensor b = leaf({2}, {1});
  sum(a + b).backward();
  {
    NoGradGuard no_grad;
    a.grad().fill_(10.0);
  }
  EXPECT_EQ(values(b.grad()), (std::vector<double>{1}));
}

TEST(EngineTest, CreateGraphGivesSecondDerivatives) {
  Tensor x = leaf({2, 3}, {2});
  Tensor y = sum(x * x * x);  // dy/dx = 3x², d²y/dx² = 6x
  const auto first = autograd::grad({y}, {x}, {}, /*retain_graph=*/false, /*create_graph=*/true);
  EXPECT_EQ(values(first[0]), (std::vector<double>{12, 27}));
  const auto second = autograd::grad({sum(first[0])}, {x});
  EXPECT_EQ(values(second[0]), (std::vector<double>{12, 18}));
}

TEST(EngineTest, GradDoesNotTouchDotGrad) {
  Tensor x = leaf({1, 2}, {2});
  Tensor z = leaf({5}, {1});
  const auto g = autograd::grad({sum(x * x)}, {x, z});
  EXPECT_EQ(values(g[0]), (std::vector<double>{2, 4}));
  EXPECT_EQ(values(g[1]), (std::vector<double>{0}));  // z did not take part
  EXPECT_FALSE(x.grad().defined());
}

TEST(EngineTest, DeepChainDoesNotOverflowTheStack) {
  Tensor x = leaf({1}, {1});
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y * 1.0;
  sum(y).backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{1}));
}

TEST(EngineTest, DtypeMixIsRefused) {
  const Tensor a = Tensor::ones({2}, kFloat32);
  const Tensor b = Tensor::ones({2}, kFloat64);
  EXPECT_ERROR_MENTIONS(a + b, "add: dtypes differ");
}

TEST(GradcheckTest, CatchesAWrongBackward) {
  // x² recorded with a backward that returns x instead of 2x.
  const auto wrong_square = [](const std::vector<Tensor>& in) {
    const Tensor& x = in[0];
    Tensor out;
    {
      NoGradGuard no_grad;
      out = x * x;
    }
    return autograd::record("wrong_square", out, {x}, [x](const Tensor& g) { return std::vector<Tensor>{g * x}; });
  };
  const auto result = autograd::gradcheck(wrong_square, {Tensor::from({1.5, -2.0}, {2}, kFloat64)});
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.message.find("analytical"), std::string::npos);
}

TEST(GradcheckTest, RefusesFloat32Inputs) {
  EXPECT_ERROR_MENTIONS(autograd::gradcheck([](const std::vector<Tensor>& in) { return in[0]; },
                                            {Tensor::ones({1}, kFloat32)}),
                        "must be float64");
}

}  // namespace
}  // namespace descent
