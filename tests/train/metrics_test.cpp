// Metrics: values against Keras' definitions over batches of different sizes (tests/train/fixtures/metrics.json
// from tools/fixtures/gen_loss.py), resolution of "accuracy" by loss and by shapes, thresholds on logits,
// user-defined metrics, and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <stdexcept>
#include <nlohmann/json.hpp>

#include "descent/train/metrics.hpp"
#include "support/fixtures.hpp"
#include "support/testing.hpp"

namespace descent::train {
namespace {

nlohmann::json load_fixture(const std::string& file) {
  return testing::load_fixture(file, "tools/fixtures/gen_loss.py");
}

Tensor tensor_of(const nlohmann::json& v, const Shape& shape, DType dtype = kFloat32) {
  return testing::tensor_of(v, shape, dtype);
}

TEST(MetricsTest, AccumulateOverBatchesWeightedByBatchSizeAsKeras) {
  const auto fixture = load_fixture("metrics.json");
  auto sparse = make_metric("accuracy", "sparse_categorical_crossentropy");
  auto categorical = make_metric("accuracy", "categorical_crossentropy");
  auto binary = make_metric("binary_accuracy", "mse");
  auto mse = make_metric("mse", "mse");
  auto mae = make_metric("mean_absolute_error", "mse");
  for (const auto& b : fixture["batches"]) {
    const int64_t n = b["n"];
    const Tensor probs = tensor_of(b["probs"], {n, 4});
    sparse->update(probs, tensor_of(b["labels"], {n}));
    categorical->update(probs, tensor_of(b["onehot"], {n, 4}));
    binary->update(tensor_of(b["binary_pred"], {n, 1}), tensor_of(b["binary_true"], {n, 1}));
    mse->update(tensor_of(b["reg_pred"], {n, 2}, kFloat64), tensor_of(b["reg_true"], {n, 2}, kFloat64));
    mae->update(tensor_of(b["reg_pred"], {n, 2}, kFloat64), tensor_of(b["reg_true"], {n, 2}, kFloat64));
  }
  const auto& want = fixture["expected"];
  EXPECT_NEAR(sparse->result(), want["sparse_acc"].get<double>(), 1e-15);
  EXPECT_NEAR(categorical->result(), want["cat_acc"].get<double>(), 1e-15);
  EXPECT_NEAR(binary->result(), want["bin_acc"].get<double>(), 1e-15);
  EXPECT_NEAR(mse->result(), want["mse"].get<double>(), 1e-14);
  EXPECT_NEAR(mae->result(), want["mae"].get<double>(), 1e-14);
  EXPECT_EQ(sparse->name(), "accuracy");
  EXPECT_EQ(mae->name(), "mean_absolute_error");
  sparse->reset();
  EXPECT_EQ(sparse->result(), 0.0);
}

TEST(MetricsTest, AccuracyResolvesByLossAsKeras) {
  const auto kind = [](std::string_view metric, std::string_view loss) {
    const auto accuracy = std::dynamic_pointer_cast<Accuracy>(make_metric(metric, loss));
    if (!accuracy) throw std::logic_error("not an Accuracy");
    return accuracy->kind();
  };
  EXPECT_EQ(kind("accuracy", "sparse_categorical_crossentropy"), AccuracyKind::Sparse);
  EXPECT_EQ(kind("acc", "scce"), AccuracyKind::Sparse);
  EXPECT_EQ(kind("accuracy", "categorical_crossentropy"), AccuracyKind::Categorical);
  EXPECT_EQ(kind("accuracy", "binary_crossentropy"), AccuracyKind::Binary);
  EXPECT_EQ(kind("accuracy", "mse"), AccuracyKind::Auto);
  EXPECT_EQ(kind("accuracy", "my_custom_loss"), AccuracyKind::Auto);
  EXPECT_EQ(kind("sparse_categorical_accuracy", "mse"), AccuracyKind::Sparse);
  EXPECT_EQ(kind("categorical_accuracy", ""), AccuracyKind::Categorical);
}

TEST(MetricsTest, AutoAccuracyDecidesByShapes) {
  const Tensor probs = Tensor::from({0.1, 0.7, 0.2, 0.5, 0.3, 0.2}, {2, 3});
  auto acc = make_metric("accuracy", "huber");
  acc->update(probs, Tensor::from({1, 2}, {2}));  // targets one rank lower: sparse
  EXPECT_EQ(acc->result(), 0.5);
  acc->reset();
  acc->update(probs, Tensor::from({0, 1, 0, 1, 0, 0}, {2, 3}));  // same shape: categorical
  EXPECT_EQ(acc->result(), 1.0);
  acc->reset();
  acc->update(Tensor::from({0.9, 0.2}, {2, 1}), Tensor::from({1, 1}, {2, 1}));  // one unit: binary
  EXPECT_EQ(acc->result(), 0.5);
}

TEST(MetricsTest, BinaryAccuracyOnLogitsThresholdsAtZero) {
  auto acc = make_metric("accuracy", "binary_crossentropy");
  acc->update(Tensor::from({-0.5, 0.2, 3.0, -2.0}, {4, 1}), Tensor::from({0, 1, 1, 1}, {4, 1}), true);
  EXPECT_EQ(acc->result(), 0.75);
  acc->reset();
  acc->update(Tensor::from({0.4, 0.6}, {2}), Tensor::from({0, 1}, {2, 1}));  // [N] against [N, 1]
  EXPECT_EQ(acc->result(), 1.0);
}

TEST(MetricsTest, ArgmaxAccuracyIsTheSameOnLogits) {
  auto acc = make_metric("accuracy", "sparse_categorical_crossentropy");
  acc->update(Tensor::from({-3.0, 5.0, 1.0, 2.0, -1.0, 0.0}, {2, 3}), Tensor::from({1, 1}, {2}), true);
  EXPECT_EQ(acc->result(), 0.5);
}

TEST(MetricsTest, UserDefinedMetricIsWeightedByBatchSize) {
  auto m = make_metric("max_pred", [](const Tensor& y_pred, const Tensor&) { return max(y_pred).item(); });
  EXPECT_EQ(m->name(), "max_pred");
  m->update(Tensor::from({1.0, 3.0}, {2, 1}), Tensor::zeros({2, 1}));
  m->update(Tensor::from({6.0}, {1, 1}), Tensor::zeros({1, 1}));
  EXPECT_DOUBLE_EQ(m->result(), (3.0 * 2 + 6.0 * 1) / 3.0);
}

TEST(MetricsTest, UserDefinedMetricsRecordNoGraph) {
  bool saw_grad_mode = true;
  auto m = make_metric("probe", [&](const Tensor& y_pred, const Tensor&) {
    saw_grad_mode = is_grad_enabled();
    return sum(y_pred).item();
  });
  m->update(Tensor::ones({2, 2}).set_requires_grad(), Tensor::zeros({2, 2}));
  EXPECT_FALSE(saw_grad_mode);
}

TEST(MetricsTest, MeanMetricAveragesValues) {
  MeanMetric loss("loss");
  loss.update_value(2.0, 32);
  loss.update_value(1.0, 16);
  EXPECT_DOUBLE_EQ(loss.result(), (2.0 * 32 + 1.0 * 16) / 48);
  loss.reset();
  loss.update(Tensor::from({1.0, 2.0, 6.0}, {3}), Tensor());
  EXPECT_DOUBLE_EQ(loss.result(), 3.0);
  EXPECT_ERROR_MENTIONS(loss.update_value(1.0, -1.0), "metric 'loss': weight -1");
}

TEST(MetricsTest, UnknownNamesAndMismatchedShapesAreErrors) {
  EXPECT_ERROR_MENTIONS(make_metric("precision", "mse"), "unknown metric 'precision'");
  auto acc = make_metric("accuracy", "sparse_categorical_crossentropy");
  EXPECT_ERROR_MENTIONS(acc->update(Tensor::zeros({4, 3}), Tensor::zeros({5})),
                        "metric 'accuracy' (sparse categorical accuracy): y_true [5] does not match y_pred [4, 3]");
  auto mse = make_metric("mse", "mse");
  EXPECT_ERROR_MENTIONS(mse->update(Tensor::zeros({4, 3}), Tensor::zeros({4, 2})), "does not match y_pred [4, 3]");
  EXPECT_ERROR_MENTIONS(make_metric("f", std::function<double(const Tensor&, const Tensor&)>()),
                        "metric 'f': the function is empty");
}

}  // namespace
}  // namespace descent::train
