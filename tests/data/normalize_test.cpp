// StandardScaler and MinMaxScaler against scikit-learn's formulas evaluated by NumPy
// (tools/fixtures/gen_data_csv.py writes scalers.json), including a constant feature.
#include "descent/data/normalize.hpp"

#include "data/data_testing.hpp"

namespace descent::data {
namespace {

Tensor from_rows(const nlohmann::json& rows, DType dtype = kFloat64) {
  const auto r = rows.get<std::vector<std::vector<double>>>();
  std::vector<double> flat;
  for (const auto& row : r) flat.insert(flat.end(), row.begin(), row.end());
  return Tensor::from(std::span<const double>(flat),
                      {static_cast<int64_t>(r.size()), static_cast<int64_t>(r[0].size())}, dtype);
}

void expect_near(const Tensor& got, const Tensor& want, double tol) {
  ASSERT_EQ(got.shape(), want.shape());
  const auto g = got.to_vector(), w = want.to_vector();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], w[i], tol) << "element " << i;
}

TEST(StandardScalerTest, MatchesScikitLearnsStatisticsAndTransform) {
  const auto f = testing::read_json("scalers.json");
  const Tensor x = from_rows(f["x"]);
  StandardScaler scaler;
  const Tensor z = scaler.fit_transform(x);
  expect_near(scaler.mean(), Tensor::from(f["mean"].get<std::vector<double>>(), {3}, kFloat64), 1e-14);
  expect_near(scaler.scale(), Tensor::from(f["scale"].get<std::vector<double>>(), {3}, kFloat64), 1e-15);
  EXPECT_EQ(scaler.scale().at({2}), 1.0);  // the constant column: std 0 counted as 1
  expect_near(z, from_rows(f["standardized"]), 1e-12);
  expect_near(scaler.inverse_transform(z), x, 1e-12);
}

TEST(StandardScalerTest, KeepsTheInputDtypeAndChecksFeatureShapes) {
  const auto f = testing::read_json("scalers.json");
  StandardScaler scaler;
  const Tensor z = scaler.fit_transform(from_rows(f["x"], kFloat32));
  EXPECT_EQ(z.dtype(), kFloat32);
  expect_near(z, from_rows(f["standardized"]), 1e-5);
  EXPECT_ERROR_MENTIONS(scaler.transform(Tensor::zeros({2, 4})), "fitted on features of shape [3], got");
  EXPECT_ERROR_MENTIONS(StandardScaler().transform(Tensor::zeros({2, 3})), "call fit first");
  EXPECT_ERROR_MENTIONS(StandardScaler().fit(Tensor::zeros({0, 3})), "no examples");
}

TEST(MinMaxScalerTest, MatchesScikitLearnForBothRanges) {
  const auto f = testing::read_json("scalers.json");
  const Tensor x = from_rows(f["x"]);
  for (const char* key : {"minmax01", "minmax_m1_2"}) {
    SCOPED_TRACE(key);
    const auto range = f[key]["range"].get<std::vector<double>>();
    MinMaxScaler scaler({range[0], range[1]});
    const Tensor y = scaler.fit_transform(x);
    expect_near(scaler.scale(), Tensor::from(f[key]["scale"].get<std::vector<double>>(), {3}, kFloat64), 1e-15);
    expect_near(scaler.min(), Tensor::from(f[key]["min"].get<std::vector<double>>(), {3}, kFloat64), 1e-13);
    expect_near(y, from_rows(f[key]["transformed"]), 1e-13);
    expect_near(scaler.inverse_transform(y), x, 1e-12);
  }
  EXPECT_ERROR_MENTIONS(MinMaxScaler({1.0, 1.0}), "feature_range (1, 1) is empty");
}

TEST(MinMaxScalerTest, ScalesImagesPerPixel) {
  // [2, 2, 2] "images": statistics per pixel position over the examples.
  const Tensor x = Tensor::from({0, 10, 20, 30, 255, 10, 40, 30}, {2, 2, 2});
  const Tensor y = MinMaxScaler().fit_transform(x);
  EXPECT_EQ(y.shape(), x.shape());
  EXPECT_EQ(y.to_vector(), std::vector<double>({0, 0, 0, 0, 1, 0, 1, 0}));
}

}  // namespace
}  // namespace descent::data
