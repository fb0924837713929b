#include <gtest/gtest.h>

#include "support/testing.hpp"

namespace descent {
namespace {

using testing::values;

TEST(TensorTest, FactoriesHaveShapeDtypeAndValues) {
  const Tensor z = Tensor::zeros({2, 3}, kFloat64);
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.dtype(), kFloat64);
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(values(z), std::vector<double>(6, 0.0));
  EXPECT_EQ(values(Tensor::full({2}, 2.5)), (std::vector<double>{2.5, 2.5}));
  EXPECT_EQ(values(Tensor::arange(4)), (std::vector<double>{0, 1, 2, 3}));
  EXPECT_EQ(Tensor::scalar(3.0).dim(), 0);
  EXPECT_DOUBLE_EQ(Tensor::scalar(3.0).item(), 3.0);
}

TEST(TensorTest, StorageIs64ByteAligned) {
  for (int64_t n : {1, 3, 17, 1000}) {
    const Tensor t = Tensor::empty({n});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u) << n;
  }
}

TEST(TensorTest, FromChecksElementCount) {
  EXPECT_ERROR_MENTIONS(Tensor::from({1, 2, 3}, {2, 2}), "do not fill shape [2, 2]");
}

TEST(TensorTest, DataRefusesWrongType) {
  const Tensor t = Tensor::zeros({2}, kFloat32);
  EXPECT_ERROR_MENTIONS(t.data<double>(), "tensor is float32, asked for float64");
}

TEST(TensorTest, UndefinedTensorGivesErrorNotCrash) {
  const Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_ERROR_MENTIONS(t.shape(), "undefined Tensor");
}

TEST(TensorTest, ItemNeedsOneElement) { EXPECT_ERROR_MENTIONS(Tensor::zeros({2}).item(), "exactly one"); }

TEST(TensorTest, AtIsBoundsChecked) {
  const Tensor t = Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(t.at({1, 2}), 6.0);
  EXPECT_ERROR_MENTIONS(t.at({2, 0}), "out of range for axis 0");
  EXPECT_ERROR_MENTIONS(t.at({0}), "1 indices for a tensor of shape [2, 3]");
}

TEST(TensorTest, NegativeDimensionIsRefused) { EXPECT_ERROR_MENTIONS(Tensor::zeros({2, -1}), "negative dimension"); }

TEST(TensorTest, CopyBroadcastsAndConvertsDtype) {
  Tensor dst = Tensor::zeros({2, 3}, kFloat64);
  dst.copy_(Tensor::from({1, 2, 3}, {3}, kFloat32));
  EXPECT_EQ(values(dst), (std::vector<double>{1, 2, 3, 1, 2, 3}));
  EXPECT_ERROR_MENTIONS(dst.copy_(Tensor::zeros({2})), "copy_");
}

TEST(TensorTest, FillWritesThroughStridedView) {
  Tensor t = Tensor::zeros({3, 4});
  Tensor column = t.slice(1, 1, 2);
  column.fill_(7.0);
  EXPECT_EQ(values(t), (std::vector<double>{0, 7, 0, 0, 0, 7, 0, 0, 0, 7, 0, 0}));
}

TEST(TensorTest, InPlaceOnLeafThatRequiresGradIsRefused) {
  Tensor w = Tensor::zeros({2});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(w.fill_(1.0), "in-place change of a leaf");
  NoGradGuard no_grad;
  w.fill_(1.0);
  EXPECT_EQ(values(w), (std::vector<double>{1, 1}));
}

TEST(TensorTest, ToVectorReadsNonContiguousInLogicalOrder) {
  const Tensor t = Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(values(t.t()), (std::vector<double>{1, 4, 2, 5, 3, 6}));
}

TEST(TensorTest, StrNamesDtypeAndShape) { EXPECT_EQ(Tensor::zeros({2, 3}).str(), "Tensor(float32, [2, 3])"); }

TEST(DTypeTest, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(parse_dtype("float64"), kFloat64);
  EXPECT_EQ(parse_dtype("f32"), kFloat32);
  EXPECT_ERROR_MENTIONS(parse_dtype("int8"), "unknown dtype 'int8'");
}

TEST(ShapeTest, BroadcastFollowsNumpy) {
  EXPECT_EQ(broadcast_shapes({3, 1}, {1, 4}, "t"), (Shape{3, 4}));
  EXPECT_EQ(broadcast_shapes({4}, {2, 3, 4}, "t"), (Shape{2, 3, 4}));
  EXPECT_EQ(broadcast_shapes({}, {2}, "t"), (Shape{2}));
  EXPECT_ERROR_MENTIONS(broadcast_shapes({2, 3}, {4, 3}, "myop"), "myop: shapes [2, 3] and [4, 3] cannot be broadcast");
}

TEST(ShapeTest, NormalizeAxisWrapsAndChecks) {
  EXPECT_EQ(normalize_axis(-1, 3, "t"), 2);
  EXPECT_ERROR_MENTIONS(normalize_axis(3, 3, "myop"), "myop: axis 3 is out of range");
}

TEST(ThreadingTest, SetNumThreadsValidates) {
  const int before = num_threads();
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(before);
  EXPECT_ERROR_MENTIONS(set_num_threads(0), "at least 1");
}

TEST(ThreadingTest, ParallelForCoversRangeExactlyOnce) {
  const int before = num_threads();
  set_num_threads(2);
  std::vector<int> hits(100000, 0);
  parallel_for(static_cast<int64_t>(hits.size()), 1000, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) ++hits[i];
  });
  set_num_threads(before);
  for (int h : hits) ASSERT_EQ(h, 1);
}

}  // namespace
}  // namespace descent
