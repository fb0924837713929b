// Losses: values against Keras' formulas and gradients against PyTorch autograd (tests/ops/fixtures/loss.json,
// written by tools/fixtures/gen_loss.py), first and second derivatives by finite differences, the fused
// from-logits kernels' stability and graph shape, and the errors for bad labels and shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include <fstream>
#include <nlohmann/json.hpp>

#include "descent/ops/loss.hpp"
#include "support/fixtures.hpp"
#include "support/testing.hpp"

namespace descent {
namespace {

using testing::sample;
using testing::values;

nlohmann::json load_fixture(const std::string& file) {
  return testing::load_fixture(file, "tools/fixtures/gen_loss.py");
}

Tensor from_json(const nlohmann::json& v, const nlohmann::json& shape, DType dtype) {
  return testing::tensor_of(v, shape.get<Shape>(), dtype);
}

Tensor run_case(const nlohmann::json& c, const Tensor& p, const Tensor& t) {
  const std::string name = c["name"];
  const bool logits = c.value("from_logits", false);
  if (name == "mse") return mse(p, t);
  if (name == "mae") return mae(p, t);
  if (name == "huber") return huber(p, t, c["delta"].get<double>());
  if (name == "bce") return binary_crossentropy(p, t, logits);
  if (name == "cce") return categorical_crossentropy(p, t, logits);
  if (name == "scce") return sparse_categorical_crossentropy(p, t, logits);
  throw Error("unknown case " + name);
}

std::string label_of(const nlohmann::json& c, size_t i) {
  return c["name"].get<std::string>() + (c.value("from_logits", false) ? " (logits)" : "") + " case " +
         std::to_string(i);
}

TEST(LossTest, ValuesMatchKerasAndGradientsMatchTorchInFloat64) {
  const auto cases = load_fixture("loss.json")["cases"];
  ASSERT_EQ(cases.size(), 13u);
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    Tensor p = from_json(c["y_pred"], c["pred_shape"], kFloat64).set_requires_grad();
    const Tensor t = from_json(c["y_true"], c["true_shape"], kFloat64);
    const Tensor loss = run_case(c, p, t);
    EXPECT_EQ(loss.dim(), 0) << label_of(c, i);
    const double want = c["loss"];
    EXPECT_NEAR(loss.item(), want, 1e-12 * (1 + std::abs(want))) << label_of(c, i);
    loss.backward();
    const auto grad = c["grad"].get<std::vector<double>>();
    const auto got = values(p.grad());
    ASSERT_EQ(got.size(), grad.size()) << label_of(c, i);
    for (size_t j = 0; j < got.size(); ++j)
      EXPECT_NEAR(got[j], grad[j], 1e-12 * (1 + std::abs(grad[j]))) << label_of(c, i) << " grad " << j;
  }
}

TEST(LossTest, Float32ValuesAndGradientsAgreeWithTheReference) {
  const auto cases = load_fixture("loss.json")["cases"];
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    Tensor p = from_json(c["y_pred"], c["pred_shape"], kFloat32).set_requires_grad();
    const Tensor t = from_json(c["y_true"], c["true_shape"], kFloat32);
    const Tensor loss = run_case(c, p, t);
    EXPECT_EQ(loss.dtype(), kFloat32);
    const double want = c["loss"];
    // float32 inputs differ from the float64 ones by rounding; the clipped cases amplify it through log(eps).
    EXPECT_NEAR(loss.item(), want, 2e-5 * (1 + std::abs(want))) << label_of(c, i);
    loss.backward();
    const auto grad = c["grad"].get<std::vector<double>>();
    const auto got = values(p.grad());
    for (size_t j = 0; j < got.size(); ++j)
      // 1e-4: d/dp of log(1 - p) is 1 / (1 - p), which magnifies the rounding of p = 0.999 to float32.
      EXPECT_NEAR(got[j], grad[j], 1e-4 * (1 + std::abs(grad[j]))) << label_of(c, i) << " grad " << j;
  }
}

// ---- derivatives by finite differences --------------------------------------------------------------------

TEST(LossGradTest, RegressionLossesPassGradcheckInBothArguments) {
  const Tensor p = sample({4, 3}, kFloat64, 1, -2.0, 2.0);
  const Tensor t = sample({4, 3}, kFloat64, 2, -2.0, 2.0);  // no element sits on a kink (|e| = 0 or delta)
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return mse(in[0], in[1]); }, {p, t});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return mae(in[0], in[1]); }, {p, t});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return huber(in[0], in[1], 0.7); }, {p, t});
}

TEST(LossGradTest, BinaryCrossentropyPassesGradcheckOnProbabilitiesAndLogits) {
  const Tensor p = sample({3, 4}, kFloat64, 3, 0.05, 0.95);
  const Tensor x = sample({3, 4}, kFloat64, 4, -6.0, 6.0);
  const Tensor t = sample({3, 4}, kFloat64, 5, 0.0, 1.0);  // soft targets: the y_true gradient is exercised
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return binary_crossentropy(in[0], in[1], false); }, {p, t});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return binary_crossentropy(in[0], in[1], true); }, {x, t});
}

TEST(LossGradTest, CategoricalCrossentropyPassesGradcheckOnProbabilitiesAndLogits) {
  const Tensor p = sample({3, 5}, kFloat64, 6, 0.1, 1.0);  // unnormalised: the normalisation is differentiated
  const Tensor x = sample({3, 5}, kFloat64, 7, -4.0, 4.0);
  const Tensor t = sample({3, 5}, kFloat64, 8, 0.0, 1.0);  // rows not summing to 1: the general formula
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return categorical_crossentropy(in[0], in[1], false); }, {p, t});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return categorical_crossentropy(in[0], in[1], true); }, {x, t});
}

TEST(LossGradTest, SparseCategoricalCrossentropyPassesGradcheckOnProbabilitiesAndLogits) {
  const Tensor p = sample({4, 3}, kFloat64, 9, 0.05, 0.9);
  const Tensor x = sample({2, 3, 4}, kFloat64, 10, -5.0, 5.0);
  const Tensor labels = Tensor::from({2, 0, 1, 1}, {4}, kFloat32);
  const Tensor labels3 = Tensor::from({3, 0, 1, 2, 2, 0}, {2, 3}, kFloat64);
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return sparse_categorical_crossentropy(in[0], labels, false); },
                   {p});
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return sparse_categorical_crossentropy(in[0], labels3, true); },
                   {x});
}

// The fused from-logits backward records itself; under create_graph it is rebuilt from differentiable ops.
Tensor loss_gradient(const std::function<Tensor(const Tensor&)>& f, const Tensor& x) {
  EnableGradGuard enable;  // gradcheck evaluates with grad mode off
  return autograd::grad({f(x)}, {x}, {}, false, true)[0];
}

TEST(LossGradTest, FromLogitsLossesHaveCorrectSecondDerivatives) {
  const Tensor x = sample({3, 4}, kFloat64, 11, -3.0, 3.0);
  const Tensor t = sample({3, 4}, kFloat64, 12, 0.0, 1.0);
  const Tensor labels = Tensor::from({3, 0, 2}, {3}, kFloat64);
  const std::vector<std::function<Tensor(const Tensor&)>> fns = {
      [&](const Tensor& z) { return sparse_categorical_crossentropy(z, labels, true); },
      [&](const Tensor& z) { return categorical_crossentropy(z, t, true); },
      [&](const Tensor& z) { return binary_crossentropy(z, t, true); },
  };
  for (const auto& f : fns)
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return loss_gradient(f, in[0]); }, {x});
}

// ---- the fused kernels ------------------------------------------------------------------------------------

TEST(LossTest, FromLogitsLossesAreOneFusedNodeEach) {
  Tensor x = sample({4, 3}, kFloat32, 13).set_requires_grad();
  const Tensor labels = Tensor::from({0, 2, 1, 1}, {4}, kFloat32);
  EXPECT_EQ(sparse_categorical_crossentropy(x, labels, true).grad_fn()->name(), "sparse_categorical_crossentropy");
  EXPECT_EQ(categorical_crossentropy(x, Tensor::ones({4, 3}), true).grad_fn()->name(), "categorical_crossentropy");
  EXPECT_EQ(binary_crossentropy(x, Tensor::zeros({4, 3}), true).grad_fn()->name(), "binary_crossentropy");
}

TEST(LossTest, SparseFromLogitsGradientIsSoftmaxMinusOneHotOverN) {
  Tensor x = sample({5, 4}, kFloat64, 14, -3.0, 3.0).set_requires_grad();
  const Tensor labels = Tensor::from({3, 0, 1, 2, 3}, {5}, kFloat64);
  sparse_categorical_crossentropy(x, labels, true).backward();
  const auto p = values(softmax(x.detach(), -1));
  const auto g = values(x.grad());
  const auto l = values(labels);
  for (size_t r = 0; r < 5; ++r)
    for (size_t j = 0; j < 4; ++j) {
      const double onehot = static_cast<double>(j) == l[r] ? 1.0 : 0.0;
      EXPECT_NEAR(g[r * 4 + j], (p[r * 4 + j] - onehot) / 5.0, 1e-15);
    }
}

TEST(LossTest, FromLogitsFormsStayFiniteAtExtremeLogits) {
  const Tensor x = Tensor::from({1e4, -1e4, 0.0, -1e4, 1e4, 5.0}, {2, 3}, kFloat32);
  const Tensor labels = Tensor::from({1, 0}, {2}, kFloat32);
  // Row 0 misses by 2e4, row 1 misses by 2e4: the exact loss is 2e4.
  EXPECT_NEAR(sparse_categorical_crossentropy(x, labels, true).item(), 2e4, 1e-2);
  const Tensor onehot = Tensor::from({0, 1, 0, 1, 0, 0}, {2, 3}, kFloat32);
  EXPECT_NEAR(categorical_crossentropy(x, onehot, true).item(), 2e4, 1e-2);
  const Tensor t = Tensor::from({0, 1, 1, 0, 1, 0}, {2, 3}, kFloat32);
  EXPECT_TRUE(std::isfinite(binary_crossentropy(x, t, true).item()));
}

TEST(LossTest, ProbabilityFormsClipZerosLikeKeras) {
  // p = 0 for the true class: -log(eps) = 16.118..., not infinity.
  const Tensor p = Tensor::from({0.0, 1.0}, {1, 2}, kFloat64);
  EXPECT_NEAR(sparse_categorical_crossentropy(p, Tensor::from({0}, {1}, kFloat64), false).item(),
              -std::log(kLossEpsilon) + std::log(kLossEpsilon + 1.0 - kLossEpsilon), 1e-9);
  EXPECT_TRUE(std::isfinite(
      binary_crossentropy(Tensor::from({0.0, 1.0}, {2}, kFloat64), Tensor::from({1.0, 0.0}, {2}, kFloat64)).item()));
}

TEST(LossTest, LabelsMayCarryATrailingOneAndAnyFloatDtype) {
  const Tensor x = sample({3, 4}, kFloat32, 15);
  const double a = sparse_categorical_crossentropy(x, Tensor::from({1, 3, 0}, {3}, kFloat32), true).item();
  const double b = sparse_categorical_crossentropy(x, Tensor::from({1, 3, 0}, {3, 1}, kFloat64), true).item();
  EXPECT_EQ(a, b);
}

TEST(LossTest, RegressionTargetsOfShapeNMatchPredictionsOfShapeNBy1) {
  const Tensor p = Tensor::from({1.0, 2.0, 3.0}, {3, 1}, kFloat64);
  const Tensor t = Tensor::from({1.0, 0.0, 0.0}, {3}, kFloat64);
  EXPECT_DOUBLE_EQ(mse(p, t).item(), (0.0 + 4.0 + 9.0) / 3.0);  // not the [3, 3] broadcast
  EXPECT_DOUBLE_EQ(mae(t, p).item(), (0.0 + 2.0 + 3.0) / 3.0);
}

TEST(LossTest, ResultDoesNotDependOnThreadCount) {
  const Tensor x = sample({3000, 20}, kFloat32, 16, -4.0, 4.0);
  Tensor labels = Tensor::zeros({3000}, kFloat32);
  for (int64_t i = 0; i < 3000; ++i) labels.data<float>()[i] = static_cast<float>((i * 7) % 20);
  const int before = num_threads();
  set_num_threads(1);
  const double one = sparse_categorical_crossentropy(x, labels, true).item();
  set_num_threads(std::max(2, before));
  const double many = sparse_categorical_crossentropy(x, labels, true).item();
  set_num_threads(before);
  EXPECT_EQ(one, many);
}

// ---- errors -----------------------------------------------------------------------------------------------

TEST(LossTest, BadLabelsAreErrorsNamingTheLabelAndPosition) {
  const Tensor x = Tensor::zeros({3, 4});
  EXPECT_ERROR_MENTIONS(sparse_categorical_crossentropy(x, Tensor::from({0, 4, 1}, {3}), true),
                        "sparse_categorical_crossentropy: label 4 at position 1 is not a class id in [0, 4)");
  EXPECT_ERROR_MENTIONS(sparse_categorical_crossentropy(x, Tensor::from({0, 1, -1}, {3}), false), "label -1");
  EXPECT_ERROR_MENTIONS(sparse_categorical_crossentropy(x, Tensor::from({0.5, 1, 1}, {3}), true),
                        "label 0.5 at position 0");
  EXPECT_ERROR_MENTIONS(sparse_categorical_crossentropy(x, Tensor::from({NAN, 1, 1}, {3}), true), "label nan");
}

TEST(LossTest, MismatchedShapesAreErrorsNamingBoth) {
  const Tensor x = Tensor::zeros({3, 4});
  EXPECT_ERROR_MENTIONS(sparse_categorical_crossentropy(x, Tensor::zeros({4}), true),
                        "labels [4] do not match y_pred [3, 4]");
  EXPECT_ERROR_MENTIONS(categorical_crossentropy(x, Tensor::zeros({3, 5}), true),
                        "y_pred [3, 4] and y_true [3, 5] must have the same shape");
  EXPECT_ERROR_MENTIONS(mse(x, Tensor::zeros({3})), "mse: y_pred [3, 4] and y_true [3] have different shapes");
  EXPECT_ERROR_MENTIONS(binary_crossentropy(Tensor::zeros({0, 2}), Tensor::zeros({0, 2})), "is empty");
  EXPECT_ERROR_MENTIONS(huber(x, x, -1.0), "huber: delta = -1");
}

}  // namespace
}  // namespace descent
