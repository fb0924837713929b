// TensorDataset, the Keras validation split and DataLoader: batch contents, drop_last, seeded per-epoch
// shuffling that keeps features and targets paired, buffer reuse.
#include "descent/data/dataset.hpp"

#include <algorithm>
#include <numeric>
#include <set>

#include "support/testing.hpp"

namespace descent::data {
namespace {

// n examples: x row i = [i, 100 + i, 200 + i] (shape [n, 3]), y[i] = i.
TensorDataset numbered(int64_t n, DType dtype = kFloat32) {
  std::vector<double> x, y;
  for (int64_t i = 0; i < n; ++i) {
    for (int j = 0; j < 3; ++j) x.push_back(static_cast<double>(100 * j + i));
    y.push_back(static_cast<double>(i));
  }
  return TensorDataset(Tensor::from(std::span<const double>(x), {n, 3}, dtype),
                       Tensor::from(std::span<const double>(y), {n}, dtype));
}

// The example ids of a batch, checking that its x rows and y values belong together.
std::vector<int64_t> ids_of(const Batch& b) {
  std::vector<int64_t> ids;
  EXPECT_TRUE(b.x.is_contiguous());
  for (int64_t k = 0; k < b.x.size(0); ++k) {
    const auto id = static_cast<int64_t>(b.y.at({k}));
    for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(b.x.at({k, j}), static_cast<double>(100 * j + id));
    ids.push_back(id);
  }
  return ids;
}

std::vector<int64_t> one_pass(DataLoader& loader) {
  std::vector<int64_t> all;
  for (const Batch& b : loader) {
    const auto ids = ids_of(b);
    all.insert(all.end(), ids.begin(), ids.end());
  }
  return all;
}

TEST(TensorDatasetTest, RefusesMismatchedFirstDimensions) {
  EXPECT_ERROR_MENTIONS(TensorDataset(Tensor::zeros({4, 2}), Tensor::zeros({3})),
                        "x has shape [4, 2] but y has shape [3]");
  EXPECT_ERROR_MENTIONS(TensorDataset(Tensor::scalar(1.0)), "at least one dimension");
  EXPECT_EQ(TensorDataset(Tensor::zeros({4, 2})).size(), 4);
}

TEST(TensorDatasetTest, ValidationSplitTakesTheLastFractionAsKerasDoes) {
  const auto [train, val] = split_validation(numbered(10), 0.2);
  EXPECT_EQ(train.size(), 8);
  EXPECT_EQ(val.size(), 2);
  EXPECT_EQ(val.y().to_vector(), std::vector<double>({8, 9}));
  EXPECT_EQ(val.x().at({0, 2}), 208.0);
  // Keras: floor(7 · (1 - 0.3)) = floor(4.8999999999999995) = 4 training examples.
  const auto [train7, val7] = split_validation(numbered(7), 0.3);
  EXPECT_EQ(train7.size(), 4);
  EXPECT_EQ(val7.size(), 3);
  EXPECT_ERROR_MENTIONS(split_validation(numbered(10), 0.0), "0 is not in (0, 1)");
  EXPECT_ERROR_MENTIONS(split_validation(numbered(10), 1.0), "1 is not in (0, 1)");
  EXPECT_ERROR_MENTIONS(split_validation(numbered(1), 0.5), "1 examples are too few");
}

TEST(DataLoaderTest, SequentialBatchesCoverTheDataInOrder) {
  DataLoader loader(numbered(10), {.batch_size = 4});
  EXPECT_EQ(loader.size(), 3);
  std::vector<int64_t> sizes;
  int64_t index = 0;
  for (const Batch& b : loader) {
    EXPECT_EQ(b.index, index++);
    sizes.push_back(b.x.size(0));
    EXPECT_EQ(b.y.shape(), Shape({b.x.size(0)}));
  }
  EXPECT_EQ(sizes, std::vector<int64_t>({4, 4, 2}));
  std::vector<int64_t> all = one_pass(loader);
  std::vector<int64_t> want(10);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(all, want);
}

TEST(DataLoaderTest, DropLastLeavesOutTheShortBatch) {
  DataLoader loader(numbered(10), {.batch_size = 4, .drop_last = true});
  EXPECT_EQ(loader.size(), 2);
  EXPECT_EQ(one_pass(loader).size(), 8u);
  EXPECT_EQ(DataLoader(numbered(8), {.batch_size = 4, .drop_last = true}).size(), 2);
  EXPECT_EQ(DataLoader(numbered(3), {.batch_size = 4, .drop_last = true}).size(), 0);
}

TEST(DataLoaderTest, ShuffledEpochVisitsEveryExampleOnceWithItsTarget) {
  DataLoader loader(numbered(50), {.batch_size = 8, .shuffle = true, .seed = 7});
  std::vector<int64_t> ids = one_pass(loader);  // ids_of checks each x row against its y
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), 50u);
  std::vector<int64_t> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_NE(ids, sorted);  // 50! orders: the identity would be a broken shuffle
  EXPECT_EQ(ids, loader.order());
}

TEST(DataLoaderTest, ShuffleIsAFunctionOfSeedAndEpoch) {
  DataLoader a(numbered(30), {.shuffle = true, .seed = 11});
  DataLoader b(numbered(30), {.shuffle = true, .seed = 11});
  DataLoader c(numbered(30), {.shuffle = true, .seed = 12});
  EXPECT_EQ(a.order(), b.order());
  EXPECT_NE(a.order(), c.order());
  EXPECT_NE(a.epoch_order(0), a.epoch_order(1));
  // The shuffle is descent's Fisher–Yates (randperm) on a Generator seeded from (seed, epoch).
  Generator gen(11 ^ (0x9E3779B97F4A7C15ull * 3));
  EXPECT_EQ(a.epoch_order(2), randperm(30, gen));
}

TEST(DataLoaderTest, EachPassIsTheNextEpochUnlessSetEpochChoseOne) {
  DataLoader loader(numbered(20), {.batch_size = 6, .shuffle = true, .seed = 3});
  EXPECT_EQ(one_pass(loader), loader.epoch_order(0));
  EXPECT_EQ(one_pass(loader), loader.epoch_order(1));
  EXPECT_EQ(loader.epoch(), 1);
  loader.set_epoch(5);
  EXPECT_EQ(one_pass(loader), loader.epoch_order(5));
  EXPECT_EQ(one_pass(loader), loader.epoch_order(6));
  loader.set_epoch(0);  // a resumed run sees the same batches again
  const std::vector<int64_t> first = loader.epoch_order(0);
  EXPECT_EQ(ids_of(loader.batch(1)), std::vector<int64_t>(first.begin() + 6, first.begin() + 12));
}

TEST(DataLoaderTest, SeedComesFromTheDefaultGeneratorWhenNotGiven) {
  manual_seed(42);
  const DataLoader a(numbered(30), {.shuffle = true});
  manual_seed(42);
  const DataLoader b(numbered(30), {.shuffle = true});
  EXPECT_EQ(a.seed(), b.seed());
  EXPECT_EQ(a.order(), b.order());
}

TEST(DataLoaderTest, ReusedBuffersKeepTheirStorage) {
  DataLoader loader(numbered(10, kFloat64), {.batch_size = 4, .shuffle = true, .seed = 1, .reuse_buffers = true});
  const void* storage = nullptr;
  std::vector<int64_t> all;
  for (const Batch& b : loader) {
    if (!storage) storage = b.x.storage()->data();
    EXPECT_EQ(b.x.storage()->data(), storage);
    EXPECT_EQ(b.x.dtype(), kFloat64);
    const auto ids = ids_of(b);
    all.insert(all.end(), ids.begin(), ids.end());
  }
  EXPECT_EQ(all, loader.order());
}

TEST(DataLoaderTest, CopiesRowsOfAnyShapeFromStridedSourcesWithoutTargets) {
  // x: [4, 2, 3] built as a transposed view, so the loader must not assume the caller's layout.
  const Tensor base = Tensor::arange(24).reshape({3, 2, 4});
  const Tensor x = base.permute({2, 1, 0});  // [4, 2, 3]
  DataLoader loader(TensorDataset(x), {.batch_size = 3});
  const Batch last = loader.batch(1);
  EXPECT_FALSE(last.y.defined());
  EXPECT_EQ(last.x.shape(), Shape({1, 2, 3}));
  EXPECT_EQ(last.x.to_vector(), x.select(0, 3).to_vector());
  EXPECT_ERROR_MENTIONS(loader.batch(2), "batch 2 is out of range (2 batches per epoch)");
  EXPECT_ERROR_MENTIONS(DataLoader(numbered(3), {.batch_size = 0}), "batch_size = 0 must be positive");
}

}  // namespace
}  // namespace descent::data
