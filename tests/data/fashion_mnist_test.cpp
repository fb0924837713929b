// Fashion-MNIST: the real files of Debian's dataset-fashion-mnist against facts computed from them by
// tools/fixtures/gen_data_idx.py (skipped where the package is not installed), and a directory of small IDX
// files standing in for them, including broken ones.
#include "descent/data/fashion_mnist.hpp"

#include <filesystem>

#include "data/data_testing.hpp"
#include "descent/data/idx.hpp"

namespace descent::data {
namespace {

namespace fs = std::filesystem;

TEST(FashionMnistTest, LoadsTheInstalledDataSet) {
  if (!fs::is_directory(kFashionMnistDir))
    GTEST_SKIP() << kFashionMnistDir << " is absent (Debian package dataset-fashion-mnist not installed)";
  const auto facts = testing::read_json("fashion_mnist.json");
  const ImageData raw = load_fashion_mnist(kFashionMnistDir, {.normalize = false});
  const std::pair<const Tensor*, const Tensor*> splits[] = {{&raw.x_train, &raw.y_train}, {&raw.x_test, &raw.y_test}};
  const char* names[] = {"train", "test"};
  for (int s = 0; s < 2; ++s) {
    SCOPED_TRACE(names[s]);
    const auto& want = facts[names[s]];
    const Tensor& x = *splits[s].first;
    const Tensor& y = *splits[s].second;
    const int64_t n = want["count"].get<int64_t>();
    EXPECT_EQ(x.shape(), Shape({n, 784}));
    EXPECT_EQ(y.shape(), Shape({n}));
    EXPECT_EQ(x.dtype(), kFloat32);
    const std::vector<double> labels = y.to_vector();
    std::vector<int64_t> counts(10, 0);
    for (double l : labels) ++counts.at(static_cast<size_t>(l));
    EXPECT_EQ(counts, want["class_counts"].get<std::vector<int64_t>>());
    EXPECT_EQ(std::vector<double>(labels.begin(), labels.begin() + 10),
              want["first_labels"].get<std::vector<double>>());
    const std::vector<double> pixels = x.to_vector();
    double first = 0, total = 0;
    for (size_t i = 0; i < pixels.size(); ++i) (i < 784 ? first : total) += pixels[i];
    EXPECT_EQ(first, want["first_image_pixel_sum"].get<double>());
    EXPECT_EQ(first + total, want["pixel_sum"].get<double>());
  }
  const ImageData scaled = load_fashion_mnist(kFashionMnistDir, {.flatten = false});
  EXPECT_EQ(scaled.x_test.shape(), Shape({10000, 28, 28, 1}));
  EXPECT_EQ(scaled.x_test.at({0, 14, 14, 0}), static_cast<float>(raw.x_test.at({0, 14 * 28 + 14}) / 255.0f));
  EXPECT_EQ(scaled.class_names.at(9), "Ankle boot");
}

class FashionMnistDirTest : public testing::TempDirTest {
 protected:
  // A stand-in data set: 3 training and 2 test images of 2 × 2 pixels.
  void write_set(const Tensor& train_labels, bool gzip = false) {
    const IdxWriteOptions u8{.type = IdxType::UInt8, .gzip = gzip};
    const std::string gz = gzip ? ".gz" : "";
    write_idx(path("train-images-idx3-ubyte" + gz), Tensor::from({0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8}, {3, 2, 2}),
              u8);
    write_idx(path("train-labels-idx1-ubyte" + gz), train_labels, u8);
    write_idx(path("t10k-images-idx3-ubyte" + gz), Tensor::from({9, 9, 9, 9, 255, 0, 0, 0}, {2, 2, 2}), u8);
    write_idx(path("t10k-labels-idx1-ubyte" + gz), Tensor::from({9, 0}, {2}), u8);
  }
};

TEST_F(FashionMnistDirTest, ReadsAnyDirectoryOfTheFourFiles) {
  for (bool gzip : {false, true}) {
    SCOPED_TRACE(gzip ? "gzip" : "raw");
    fs::remove_all(dir_);
    fs::create_directory(dir_);
    write_set(Tensor::from({3, 1, 4}, {3}), gzip);
    const ImageData d = load_fashion_mnist(dir_);
    EXPECT_EQ(d.x_train.shape(), Shape({3, 4}));
    EXPECT_EQ(d.x_train.to_vector()[1], 1.0);
    EXPECT_EQ(d.x_train.at({0, 2}), 0.2f);  // 51 / 255
    EXPECT_EQ(d.y_train.to_vector(), std::vector<double>({3, 1, 4}));
    EXPECT_EQ(d.y_test.to_vector(), std::vector<double>({9, 0}));
    const ImageData img = load_fashion_mnist(dir_, {.flatten = false, .dtype = kFloat64});
    EXPECT_EQ(img.x_test.shape(), Shape({2, 2, 2, 1}));
    EXPECT_EQ(img.x_test.dtype(), kFloat64);
    EXPECT_EQ(img.y_test.dtype(), kFloat64);
  }
}

TEST_F(FashionMnistDirTest, NamesMissingFilesAndTheDebianPackage) {
  EXPECT_ERROR_MENTIONS(load_fashion_mnist(dir_), "train-images-idx3-ubyte.gz' exists");
  EXPECT_ERROR_MENTIONS(load_fashion_mnist(dir_ + "/nowhere"), "dataset-fashion-mnist");
  write_set(Tensor::from({3, 1, 4}, {3}));
  fs::remove(path("t10k-labels-idx1-ubyte"));
  EXPECT_ERROR_MENTIONS(load_fashion_mnist(dir_), path("t10k-labels-idx1-ubyte"));
}

TEST_F(FashionMnistDirTest, RefusesLabelsOutsideTheClassesAndMismatchedCounts) {
  write_set(Tensor::from({3, 10, 4}, {3}));
  EXPECT_ERROR_MENTIONS(load_fashion_mnist(dir_), "label 1 = 10 is not a class id 0 … 9");
  write_set(Tensor::from({3, 1}, {2}));
  EXPECT_ERROR_MENTIONS(load_fashion_mnist(dir_), "has 3 images but");
  write_idx(path("train-images-idx3-ubyte"), Tensor::from({1, 2, 3}, {3}), {.type = IdxType::UInt8});
  EXPECT_ERROR_MENTIONS(load_fashion_mnist(dir_), "images must be [N, rows, cols]");
  write_idx(path("train-images-idx3-ubyte"), Tensor::from({1, 2, 3, 300}, {1, 2, 2}), {.type = IdxType::Int16});
  EXPECT_ERROR_MENTIONS(load_fashion_mnist(dir_), "pixel 3 = 300 is not a grey level");
}

}  // namespace
}  // namespace descent::data
