// Loss objects: names and aliases as Keras' losses.get, agreement with the functional forms, and the
// with_logits() twins Sequential substitutes when a model ends in softmax or sigmoid.
#include <gtest/gtest.h>

#include "descent/nn/loss.hpp"
#include "descent/ops/loss.hpp"
#include "support/testing.hpp"

namespace descent::nn {
namespace {

using descent::testing::sample;

TEST(LossObjectTest, MakeLossAcceptsKerasNamesAliasesAndClassNames) {
  const std::vector<std::pair<std::string, std::string>> names = {
      {"mse", "mean_squared_error"},
      {"mean_squared_error", "mean_squared_error"},
      {"MeanSquaredError", "mean_squared_error"},
      {"mae", "mean_absolute_error"},
      {"huber", "huber"},
      {"huber_loss", "huber"},
      {"bce", "binary_crossentropy"},
      {"binary_crossentropy", "binary_crossentropy"},
      {"categorical_crossentropy", "categorical_crossentropy"},
      {"cce", "categorical_crossentropy"},
      {"sparse_categorical_crossentropy", "sparse_categorical_crossentropy"},
      {"SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"},
  };
  for (const auto& [given, canonical] : names) {
    const auto loss = make_loss(given);
    ASSERT_NE(loss, nullptr) << given;
    EXPECT_EQ(loss->name(), canonical) << given;
    EXPECT_FALSE(loss->from_logits()) << given;
  }
}

TEST(LossObjectTest, UnknownNameIsAnErrorListingTheKnownOnes) {
  EXPECT_ERROR_MENTIONS(make_loss("cross_entropy"), "unknown loss 'cross_entropy' (mse, mae, huber");
}

TEST(LossObjectTest, ObjectsComputeTheFunctionalForms) {
  const Tensor p = sample({4, 3}, kFloat64, 1, 0.05, 0.95);
  const Tensor t = sample({4, 3}, kFloat64, 2, 0.0, 1.0);
  const Tensor labels = Tensor::from({0, 2, 1, 1}, {4}, kFloat64);
  EXPECT_EQ(MeanSquaredError()(p, t).item(), mse(p, t).item());
  EXPECT_EQ(MeanAbsoluteError()(p, t).item(), mae(p, t).item());
  EXPECT_EQ(Huber(0.3)(p, t).item(), huber(p, t, 0.3).item());
  EXPECT_EQ(BinaryCrossentropy(true)(p, t).item(), binary_crossentropy(p, t, true).item());
  EXPECT_EQ(CategoricalCrossentropy()(p, t).item(), categorical_crossentropy(p, t).item());
  EXPECT_EQ(SparseCategoricalCrossentropy()(p, labels).item(), sparse_categorical_crossentropy(p, labels).item());
  EXPECT_ERROR_MENTIONS(Huber(0.0), "Huber: delta = 0");
}

TEST(LossObjectTest, WithLogitsGivesTheFusedTwinOfEachCrossentropy) {
  EXPECT_EQ(MeanSquaredError().with_logits(), nullptr);
  EXPECT_EQ(Huber().with_logits(), nullptr);
  for (const std::string name :
       {"binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"}) {
    const auto twin = make_loss(name)->with_logits();
    ASSERT_NE(twin, nullptr) << name;
    EXPECT_TRUE(twin->from_logits()) << name;
    EXPECT_EQ(twin->name(), name);
    EXPECT_EQ(twin->with_logits(), nullptr) << name;  // already on logits
  }
}

TEST(LossObjectTest, LogitsTwinAgreesWithTheLossOnActivatedOutputs) {
  const Tensor z = sample({6, 4}, kFloat64, 3, -3.0, 3.0);
  const Tensor labels = Tensor::from({0, 3, 1, 2, 2, 1}, {6}, kFloat64);
  const Tensor onehot =
      Tensor::from({1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0}, {6, 4}, kFloat64);
  const auto scce = make_loss("sparse_categorical_crossentropy");
  EXPECT_NEAR((*scce)(softmax(z, -1), labels).item(), (*scce->with_logits())(z, labels).item(), 1e-12);
  const auto cce = make_loss("categorical_crossentropy");
  EXPECT_NEAR((*cce)(softmax(z, -1), onehot).item(), (*cce->with_logits())(z, onehot).item(), 1e-12);
  const auto bce = make_loss("binary_crossentropy");
  const Tensor t = sample({6, 4}, kFloat64, 4, 0.0, 1.0);
  EXPECT_NEAR((*bce)(sigmoid(z), t).item(), (*bce->with_logits())(z, t).item(), 1e-12);
}

}  // namespace
}  // namespace descent::nn
